//! `rvs.toml`: the daemon's configuration, parsed with serde/toml into raw types that keep
//! their source positions, then validated into [`Config`]. A bad file is refused with the file,
//! line, column and key named; nothing starts half-configured. Shape: `../shared/spec/INTERFACE.md`.

use rvs_core::service::{ConfigError, Dest, Forward, Interface, Protocol, Service, Timeouts};
use rvs_core::wire::Mac;
use rvs_core::Snapshot;
use serde::Deserialize;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A configuration error: where, and what.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{col}: {key}: {msg}")]
pub struct ConfigFileError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// The key (`service[1].real[0].address`).
    pub key: String,
    /// What is wrong.
    pub msg: String,
}

/// Default worker connection-table capacity (per core).
pub const DEFAULT_CONN_CAPACITY: usize = 262_144;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    dataplane: Option<RawDataplane>,
    #[serde(default)]
    port: Vec<RawPort>,
    control: Option<RawControl>,
    timeouts: Option<RawTimeouts>,
    #[serde(default)]
    service: Vec<RawService>,
    #[serde(default)]
    neighbour: Vec<RawNeighbour>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataplane {
    #[serde(default)]
    eal_args: Vec<String>,
    lcores: Option<Spanned<Vec<u32>>>,
    #[serde(default)]
    busy_poll: bool,
    conn_capacity: Option<Spanned<usize>>,
    mbufs: Option<Spanned<u32>>,
    steer_prefix: Option<Spanned<u8>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Spanned<String>,
    device: Spanned<String>,
    address: Spanned<String>,
    gateway: Option<Spanned<String>>,
    mtu: Option<Spanned<u16>>,
    /// Hand traffic that is not for a VIP or connection to the kernel through a TAP device.
    #[serde(default)]
    exception: bool,
    /// The kernel-side name of that TAP device (default: the port's name).
    exception_iface: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    socket: Option<String>,
    metrics: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    tcp: Option<Spanned<u32>>,
    tcpfin: Option<Spanned<u32>>,
    udp: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    protocol: Spanned<String>,
    vip: Spanned<String>,
    port: Spanned<u16>,
    scheduler: Option<Spanned<String>>,
    persistence: Option<Spanned<u32>>,
    netmask: Option<Spanned<String>>,
    #[serde(default)]
    real: Vec<RawReal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReal {
    address: Spanned<String>,
    port: Option<u16>,
    weight: Option<Spanned<u32>>,
    forward: Option<Spanned<String>>,
    check: Option<Spanned<RawCheck>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    kind: Spanned<String>,
    interval: Option<u32>,
    timeout: Option<u32>,
    rise: Option<u32>,
    fall: Option<u32>,
    port: Option<u16>,
    path: Option<String>,
    expect: Option<u16>,
    action: Option<Spanned<String>>,
}

/// A health check of one real server (keepalived's TCP_CHECK / HTTP_GET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// HTTP GET (with `path` and `expect`) rather than a TCP connect.
    pub http: bool,
    /// Seconds between probes.
    pub interval: u32,
    /// Seconds a probe may take.
    pub timeout: u32,
    /// Successes in a row that bring a failed server back.
    pub rise: u32,
    /// Failures in a row that take a server out.
    pub fall: u32,
    /// Port probed (default: the real server's).
    pub port: Option<u16>,
    /// HTTP path.
    pub path: String,
    /// Expected HTTP status.
    pub expect: u16,
    /// Remove a failed server instead of setting its weight to 0.
    pub remove: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbour {
    address: Spanned<String>,
    mac: Spanned<String>,
}

/// A port as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConf {
    /// Name (for logs and stats).
    pub name: String,
    /// DPDK device string (vdev or PCI address).
    pub device: String,
    /// The director's own address on the port.
    pub addr: Ipv4Addr,
    /// Prefix length of the connected network.
    pub prefix_len: u8,
    /// Default next hop through this port.
    pub gateway: Option<Ipv4Addr>,
    /// MTU.
    pub mtu: u16,
    /// Kernel-side interface of the TAP exception port, if any.
    pub exception_iface: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from.
    pub file: PathBuf,
    /// Extra EAL arguments.
    pub eal_args: Vec<String>,
    /// CPUs of the worker cores, one worker each.
    pub lcores: Vec<u32>,
    /// Never sleep when idle.
    pub busy_poll: bool,
    /// Connections per worker.
    pub conn_capacity: usize,
    /// Mbufs in the pool.
    pub mbufs: u32,
    /// Client addresses are masked to this prefix to pick a connection's owner core; fixed for
    /// the daemon's life (see [`Config::steer_prefix`]'s key in the README).
    pub steer_prefix: u8,
    /// Ports, in order (interface index = position).
    pub ports: Vec<PortConf>,
    /// Control socket path.
    pub socket: PathBuf,
    /// Prometheus endpoint.
    pub metrics: Option<std::net::SocketAddr>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Services with their real servers (ids assigned in file order).
    pub services: Vec<Service>,
    /// Static neighbours.
    pub neighbours: Vec<(Ipv4Addr, Mac)>,
    /// Health checks by real-server id.
    pub checks: Vec<(u16, Check)>,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, key: impl Into<String>, msg: impl Into<String>) -> ConfigFileError {
        let upto = &self.text[..span.start.min(self.text.len())];
        let line = upto.matches('\n').count() + 1;
        let col = upto.len() - upto.rfind('\n').map_or(0, |i| i + 1) + 1;
        ConfigFileError { file: self.file.to_owned(), line, col, key: key.into(), msg: msg.into() }
    }

    fn ip(&self, v: &Spanned<String>, key: &str) -> Result<Ipv4Addr, ConfigFileError> {
        v.get_ref().parse().map_err(|_| self.err(v.span(), key, format!("{:?} is not an IPv4 address", v.get_ref())))
    }
}

/// Parses a dotted netmask (`255.255.255.0`) into a prefix length, refusing non-contiguous masks.
pub fn netmask_prefix(s: &str) -> Option<u8> {
    let m = u32::from(s.parse::<Ipv4Addr>().ok()?);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
            file: path.display().to_string(),
            line: 0,
            col: 0,
            key: "(file)".into(),
            msg: e.to_string(),
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Validates the text of a configuration named `file`.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigFileError> {
        let cx = Ctx { file, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim().to_owned();
            let key = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"))
                .unwrap_or("(syntax)")
                .to_owned();
            cx.err(span, key, msg)
        })?;

        let dp = raw.dataplane.unwrap_or(RawDataplane {
            eal_args: vec![],
            lcores: None,
            busy_poll: false,
            conn_capacity: None,
            mbufs: None,
            steer_prefix: None,
        });
        let lcores = match &dp.lcores {
            Some(l) if l.get_ref().is_empty() => {
                return Err(cx.err(l.span(), "dataplane.lcores", "needs at least one worker core"))
            }
            Some(l) => {
                let mut v = l.get_ref().clone();
                v.sort_unstable();
                v.dedup();
                if v.len() != l.get_ref().len() {
                    return Err(cx.err(l.span(), "dataplane.lcores", "a core is listed twice"));
                }
                l.get_ref().clone()
            }
            None => vec![1],
        };
        let conn_capacity = match &dp.conn_capacity {
            Some(c) if *c.get_ref() < 1024 || *c.get_ref() > 64 << 20 => {
                return Err(cx.err(c.span(), "dataplane.conn_capacity", "must be 1024 ..= 67108864"))
            }
            Some(c) => *c.get_ref(),
            None => DEFAULT_CONN_CAPACITY,
        };
        let mbufs = match &dp.mbufs {
            Some(m) if *m.get_ref() < 1024 => return Err(cx.err(m.span(), "dataplane.mbufs", "at least 1024")),
            Some(m) => *m.get_ref(),
            None => 16383,
        };

        if raw.port.is_empty() {
            return Err(cx.err(0..0, "port", "at least one [[port]] is needed"));
        }
        let mut ports = Vec::new();
        for (i, p) in raw.port.iter().enumerate() {
            let key = |k: &str| format!("port[{i}].{k}");
            let (a, len) =
                p.address.get_ref().split_once('/').ok_or_else(|| {
                    cx.err(p.address.span(), key("address"), "expected ADDRESS/PREFIX, e.g. 10.0.0.1/24")
                })?;
            let addr: Ipv4Addr = a
                .parse()
                .map_err(|_| cx.err(p.address.span(), key("address"), format!("{a:?} is not an IPv4 address")))?;
            let prefix_len: u8 = len
                .parse()
                .ok()
                .filter(|&l: &u8| (1..=32).contains(&l))
                .ok_or_else(|| cx.err(p.address.span(), key("address"), format!("prefix {len:?} is not 1..=32")))?;
            let gateway = p.gateway.as_ref().map(|g| cx.ip(g, &key("gateway"))).transpose()?;
            if let (Some(g), Some(gs)) = (gateway, &p.gateway) {
                if !rvs_core::service::same_prefix(addr, g, prefix_len) {
                    return Err(cx.err(gs.span(), key("gateway"), format!("{g} is not on {addr}/{prefix_len}")));
                }
            }
            let mtu = match &p.mtu {
                Some(m) if !(576..=9000).contains(m.get_ref()) => {
                    return Err(cx.err(m.span(), key("mtu"), "must be 576 ..= 9000"))
                }
                Some(m) => *m.get_ref(),
                None => 1500,
            };
            if p.device.get_ref().trim().is_empty() {
                return Err(cx.err(p.device.span(), key("device"), "empty device string"));
            }
            if ports.iter().any(|q: &PortConf| q.name == *p.name.get_ref()) {
                return Err(cx.err(p.name.span(), key("name"), format!("port name {:?} used twice", p.name.get_ref())));
            }
            let exception_iface = match (&p.exception_iface, p.exception) {
                (Some(i), true) => {
                    let n = i.get_ref();
                    if n.is_empty()
                        || n.len() > 15
                        || !n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    {
                        return Err(cx.err(
                            i.span(),
                            key("exception_iface"),
                            "an interface name of 1..=15 characters [A-Za-z0-9-_.]",
                        ));
                    }
                    Some(n.clone())
                }
                (Some(i), false) => return Err(cx.err(i.span(), key("exception_iface"), "needs exception = true")),
                (None, true) => {
                    let n = p.name.get_ref();
                    if n.len() > 15 {
                        return Err(cx.err(
                            p.name.span(),
                            key("name"),
                            "longer than 15 characters: set exception_iface",
                        ));
                    }
                    Some(n.clone())
                }
                (None, false) => None,
            };
            ports.push(PortConf {
                name: p.name.get_ref().clone(),
                device: p.device.get_ref().clone(),
                addr,
                prefix_len,
                gateway,
                mtu,
                exception_iface,
            });
        }

        let control = raw.control.unwrap_or(RawControl { socket: None, metrics: None });
        let metrics = control
            .metrics
            .as_ref()
            .map(|m| {
                m.get_ref()
                    .parse()
                    .map_err(|_| cx.err(m.span(), "control.metrics", "expected ADDRESS:PORT, e.g. 127.0.0.1:9390"))
            })
            .transpose()?;

        let mut timeouts = Timeouts::default();
        if let Some(t) = &raw.timeouts {
            for (v, slot, name) in [
                (&t.tcp, &mut timeouts.tcp, "tcp"),
                (&t.tcpfin, &mut timeouts.tcpfin, "tcpfin"),
                (&t.udp, &mut timeouts.udp, "udp"),
            ] {
                if let Some(v) = v {
                    if let Err(e) = crate::limits::timeout(*v.get_ref()) {
                        return Err(cx.err(v.span(), format!("timeouts.{name}"), format!("{e} seconds")));
                    }
                    *slot = *v.get_ref();
                }
            }
        }

        let mut services = Vec::new();
        let mut checks = Vec::new();
        let mut next_dest = 0u16;
        for (si, s) in raw.service.iter().enumerate() {
            let key = |k: &str| format!("service[{si}].{k}");
            let protocol: Protocol =
                s.protocol.get_ref().parse().map_err(|e| cx.err(s.protocol.span(), key("protocol"), format!("{e}")))?;
            let vip = cx.ip(&s.vip, &key("vip"))?;
            if *s.port.get_ref() == 0 {
                return Err(cx.err(s.port.span(), key("port"), "port 0 is not supported"));
            }
            let scheduler = s.scheduler.as_ref().map_or_else(|| "wlc".to_owned(), |x| x.get_ref().clone());
            if rvs_core::sched::new_scheduler(&scheduler).is_none() {
                let span = s.scheduler.as_ref().map_or(0..0, |x| x.span());
                return Err(cx.err(
                    span,
                    key("scheduler"),
                    format!("unknown scheduler {scheduler:?}; one of {}", rvs_core::sched::NAMES.join(" ")),
                ));
            }
            let persistence_prefix = match &s.netmask {
                Some(m) => netmask_prefix(m.get_ref())
                    .ok_or_else(|| cx.err(m.span(), key("netmask"), format!("{:?} is not a netmask", m.get_ref())))?,
                None => 32,
            };
            let mut dests = Vec::new();
            for (ri, r) in s.real.iter().enumerate() {
                let rkey = |k: &str| format!("service[{si}].real[{ri}].{k}");
                let addr = cx.ip(&r.address, &rkey("address"))?;
                let forward = match &r.forward {
                    None => Forward::DirectRoute,
                    Some(f) => f.get_ref().parse().map_err(|e| cx.err(f.span(), rkey("forward"), format!("{e}")))?,
                };
                let port = r.port.unwrap_or(*s.port.get_ref());
                if forward != Forward::Nat && port != *s.port.get_ref() {
                    return Err(cx.err(r.address.span(), rkey("port"), "dr and tun real servers use the virtual port"));
                }
                if dests.iter().any(|d: &Dest| d.addr == addr && d.port == port) {
                    return Err(cx.err(r.address.span(), rkey("address"), format!("{addr}:{port} listed twice")));
                }
                if let Some(c) = &r.check {
                    let ck = rkey("check");
                    let c_ref = c.get_ref();
                    let http = match c_ref.kind.get_ref().as_str() {
                        "tcp" => false,
                        "http" => true,
                        k => {
                            return Err(cx.err(
                                c_ref.kind.span(),
                                format!("{ck}.kind"),
                                format!("{k:?}: expected tcp or http"),
                            ))
                        }
                    };
                    let remove = match &c_ref.action {
                        None => false,
                        Some(a) => match a.get_ref().as_str() {
                            "quiesce" => false,
                            "remove" => true,
                            other => {
                                return Err(cx.err(
                                    a.span(),
                                    format!("{ck}.action"),
                                    format!("{other:?}: expected quiesce or remove"),
                                ))
                            }
                        },
                    };
                    let check = Check {
                        http,
                        interval: c_ref.interval.unwrap_or(2),
                        timeout: c_ref.timeout.unwrap_or(1),
                        rise: c_ref.rise.unwrap_or(2),
                        fall: c_ref.fall.unwrap_or(2),
                        port: c_ref.port,
                        path: c_ref.path.clone().unwrap_or_else(|| "/".into()),
                        expect: c_ref.expect.unwrap_or(200),
                        remove,
                    };
                    for (v, name) in [
                        (check.interval, "interval"),
                        (check.timeout, "timeout"),
                        (check.rise, "rise"),
                        (check.fall, "fall"),
                    ] {
                        if let Err(e) = crate::limits::check_setting(name, v) {
                            return Err(cx.err(c.span(), format!("{ck}.{name}"), e.to_string()));
                        }
                    }
                    if !check.path.starts_with('/') {
                        return Err(cx.err(c.span(), format!("{ck}.path"), "must start with /"));
                    }
                    checks.push((next_dest, check));
                }
                let weight = match &r.weight {
                    None => 1,
                    Some(w) => crate::limits::weight(*w.get_ref())
                        .map_err(|e| cx.err(w.span(), rkey("weight"), e.to_string()))?,
                };
                dests.push(Dest { id: next_dest, addr, port, weight, forward });
                next_dest += 1;
            }
            let persistence = match &s.persistence {
                None => 0,
                Some(p) => crate::limits::persistence(*p.get_ref())
                    .map_err(|e| cx.err(p.span(), key("persistence"), format!("{e} seconds")))?,
            };
            let svc = Service {
                id: si as u16,
                protocol,
                vip,
                port: *s.port.get_ref(),
                scheduler,
                persistence,
                persistence_prefix,
                dests,
            };
            if services.iter().any(|o: &Service| o.protocol == svc.protocol && o.vip == svc.vip && o.port == svc.port) {
                return Err(cx.err(s.vip.span(), key("vip"), format!("service {} defined twice", svc.name())));
            }
            services.push(svc);
        }

        let mut neighbours = Vec::new();
        for (i, n) in raw.neighbour.iter().enumerate() {
            let ip = cx.ip(&n.address, &format!("neighbour[{i}].address"))?;
            let mac: Mac = n.mac.get_ref().parse().map_err(|_| {
                cx.err(
                    n.mac.span(),
                    format!("neighbour[{i}].mac"),
                    format!("{:?} is not a MAC address", n.mac.get_ref()),
                )
            })?;
            neighbours.push((ip, mac));
        }

        // The owner core of a connection must not move while it lives, so the prefix is fixed
        // at start: the file's, else the coarsest persistence netmask configured (32 if none).
        let steer_prefix = match &dp.steer_prefix {
            Some(p) => crate::limits::prefix(*p.get_ref())
                .map_err(|e| cx.err(p.span(), "dataplane.steer_prefix", e.to_string()))?,
            None => services.iter().filter(|s| s.persistence > 0).map(|s| s.persistence_prefix).min().unwrap_or(32),
        };
        if lcores.len() > 1 {
            if let Some(s) = services.iter().find(|s| s.persistence > 0 && s.persistence_prefix < steer_prefix) {
                let span = dp.steer_prefix.as_ref().map_or(0..0, |p| p.span());
                return Err(cx.err(
                    span,
                    "dataplane.steer_prefix",
                    format!(
                        "{steer_prefix} is finer than service {}'s persistence netmask /{}",
                        s.name(),
                        s.persistence_prefix
                    ),
                ));
            }
        }
        let cfg = Config {
            file: PathBuf::from(file),
            eal_args: dp.eal_args,
            lcores,
            busy_poll: dp.busy_poll,
            conn_capacity,
            mbufs,
            steer_prefix,
            ports,
            socket: PathBuf::from(control.socket.unwrap_or_else(|| "/run/rvs/rvs.sock".into())),
            metrics,
            timeouts,
            services,
            neighbours,
            checks,
        };
        // The dataplane's own checks (ids, duplicates) with the file named.
        cfg.snapshot(&[]).map_err(|e| cx.err(0..0, "service", e.to_string()))?;
        Ok(cfg)
    }

    /// The dataplane snapshot of this configuration, for ports with the given MACs (missing
    /// MACs are zero: fine for validation).
    pub fn snapshot(&self, macs: &[Mac]) -> Result<Snapshot, ConfigError> {
        let interfaces = self
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| Interface {
                mac: macs.get(i).copied().unwrap_or(Mac::ZERO),
                addr: p.addr,
                prefix_len: p.prefix_len,
                gateway: p.gateway,
                mtu: p.mtu,
            })
            .collect();
        Snapshot::new(interfaces, self.services.clone(), self.neighbours.clone(), self.timeouts).map(|s| {
            s.with_kernel_exception(self.ports.iter().any(|p| p.exception_iface.is_some()))
                .with_steer_prefix(self.steer_prefix)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[dataplane]
eal_args = ["--no-huge"]
lcores = [1]

[[port]]
name = "eth0"
device = "net_af_packet0,iface=veth-lb"
address = "10.0.0.1/24"
gateway = "10.0.0.254"

[control]
socket = "/run/rvs/rvs.sock"
metrics = "127.0.0.1:9390"

[timeouts]
tcp = 900
tcpfin = 120
udp = 300

[[service]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "wlc"
persistence = 0
  [[service.real]]
  address = "10.0.1.11"
  port = 80
  weight = 1
  forward = "nat"
  [service.real.check]
  kind = "tcp"
"#;

    #[test]
    fn the_interface_example_parses() {
        let c = Config::parse("rvs.toml", GOOD).unwrap();
        assert_eq!(c.lcores, vec![1]);
        assert_eq!(c.ports[0].addr, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(c.ports[0].prefix_len, 24);
        assert_eq!(c.services[0].dests[0].forward, Forward::Nat);
        assert_eq!(c.metrics.unwrap().port(), 9390);
        assert_eq!(c.timeouts.tcp, 900);
        let (id, ck) = &c.checks[0];
        assert_eq!((*id, ck.http, ck.interval, ck.fall, ck.rise, ck.remove), (0, false, 2, 2, 2, false));
    }

    #[test]
    fn defaults_follow_ipvsadm() {
        let text = r#"
[[port]]
name = "p"
device = "net_null0"
address = "10.0.0.1/24"
[[service]]
protocol = "udp"
vip = "10.0.0.100"
port = 53
  [[service.real]]
  address = "10.0.0.11"
"#;
        let c = Config::parse("x.toml", text).unwrap();
        let s = &c.services[0];
        assert_eq!(s.scheduler, "wlc");
        assert_eq!(s.dests[0].forward, Forward::DirectRoute, "-g is ipvsadm's default");
        assert_eq!((s.dests[0].weight, s.dests[0].port), (1, 53));
        assert_eq!(c.socket, PathBuf::from("/run/rvs/rvs.sock"));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("vip = \"10.0.0.100\"", "vip = \"10.0.0.300\"", "service[0].vip", "is not an IPv4 address"),
            ("scheduler = \"wlc\"", "scheduler = \"fastest\"", "service[0].scheduler", "unknown scheduler"),
            ("forward = \"nat\"", "forward = \"masq\"", "service[0].real[0].forward", "expected nat, dr or tun"),
            ("address = \"10.0.0.1/24\"", "address = \"10.0.0.1\"", "port[0].address", "ADDRESS/PREFIX"),
            ("gateway = \"10.0.0.254\"", "gateway = \"10.9.0.254\"", "port[0].gateway", "is not on 10.0.0.1/24"),
            ("udp = 300", "udp = 0", "timeouts.udp", "seconds"),
            ("udp = 300", "udp = 2678401", "timeouts.udp", "1..=2678400"),
            ("weight = 1", "weight = 65536", "service[0].real[0].weight", "0..=65535"),
            ("persistence = 0", "persistence = 2678401", "service[0].persistence", "0..=2678400"),
            ("persistence = 0", "persistence = 0\nvipp = 1", "vipp", "unknown field"),
            ("lcores = [1]", "lcores = []", "dataplane.lcores", "at least one"),
            ("metrics = \"127.0.0.1:9390\"", "metrics = \"localhost\"", "control.metrics", "ADDRESS:PORT"),
            ("kind = \"tcp\"", "kind = \"icmp\"", "service[0].real[0].check.kind", "expected tcp or http"),
        ];
        for (from, to, key, msg) in cases {
            let text = GOOD.replace(from, to);
            let e = Config::parse("rvs.toml", &text).unwrap_err();
            let line = text[..text.find(to.lines().last().unwrap()).unwrap()].matches('\n').count() + 1;
            assert_eq!(e.key, *key, "{e}");
            assert!(e.msg.contains(msg), "{e}");
            assert_eq!(e.file, "rvs.toml");
            if *key != "vipp" {
                assert_eq!(e.line, line, "{e}");
            }
            assert!(e.to_string().starts_with(&format!("rvs.toml:{}:", e.line)), "{e}");
        }
        let dup = GOOD.to_owned() + "\n[[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n";
        let e = Config::parse("rvs.toml", &dup).unwrap_err();
        assert!(e.to_string().contains("defined twice"), "{e}");
        let broken = GOOD.replace("[timeouts]", "[timeouts");
        assert_eq!(Config::parse("rvs.toml", &broken).unwrap_err().key, "(syntax)");
    }

    #[test]
    fn the_steering_prefix_is_fixed_at_start_and_covers_every_persistent_network() {
        let two = GOOD.replace("lcores = [1]", "lcores = [1, 2]");
        assert_eq!(Config::parse("rvs.toml", &two).unwrap().steer_prefix, 32, "no persistence: /32");
        let persistent = two.replace("persistence = 0", "persistence = 300\nnetmask = \"255.255.255.0\"");
        assert_eq!(Config::parse("rvs.toml", &persistent).unwrap().steer_prefix, 24, "the coarsest netmask");
        let set = persistent.replace("lcores = [1, 2]", "lcores = [1, 2]\nsteer_prefix = 16");
        assert_eq!(Config::parse("rvs.toml", &set).unwrap().steer_prefix, 16);
        let too_fine = persistent.replace("lcores = [1, 2]", "lcores = [1, 2]\nsteer_prefix = 28");
        let e = Config::parse("rvs.toml", &too_fine).unwrap_err().to_string();
        assert!(e.contains("dataplane.steer_prefix") && e.contains("/24"), "{e}");
        let bad = two.replace("lcores = [1, 2]", "lcores = [1, 2]\nsteer_prefix = 33");
        assert!(Config::parse("rvs.toml", &bad).unwrap_err().to_string().contains("0..=32"));
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask_prefix("255.255.255.0"), Some(24));
        assert_eq!(netmask_prefix("255.255.255.255"), Some(32));
        assert_eq!(netmask_prefix("0.0.0.0"), Some(0));
        assert_eq!(netmask_prefix("255.0.255.0"), None);
    }
}
