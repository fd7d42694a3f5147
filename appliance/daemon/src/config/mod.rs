//! `rvs.toml`: the daemon's configuration, parsed with serde/toml into raw types that keep
//! their source positions, then validated into [`Config`]. A bad file is refused with the file,
//! line, column and key named; nothing starts half-configured. Shape: `../shared/spec/INTERFACE.md`.

use rvs_core::service::{ConfigError, Dest, Forward, Interface, OverloadPolicy, Service, Timeouts};
use rvs_core::wire::Mac;
use rvs_core::Snapshot;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

mod access_conf;
mod fwmark_conf;
pub mod laddr_conf;
pub use laddr_conf::parse_lports;
mod raw;
mod sections;
mod service_conf;
pub mod sync_conf;
mod synproxy_conf;
use raw::RawConfig;
pub use sync_conf::{HaConf, HaMode, SyncConf};

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
    /// The director's IPv6 address and prefix length on a dual-stack port.
    pub addr6: Option<(Ipv6Addr, u8)>,
    /// Default IPv6 next hop through this port.
    pub gateway6: Option<Ipv6Addr>,
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
    /// IPv4 connections per worker.
    pub conn_capacity: usize,
    /// IPv6 connections per worker (a table of their own).
    pub conn6_capacity: usize,
    /// Mbufs in the pool.
    pub mbufs: u32,
    /// Client addresses are masked to this prefix to pick a connection's owner core; fixed for
    /// the daemon's life (see [`Config::steer_prefix`]'s key in the README).
    pub steer_prefix: u8,
    /// The same for IPv6 clients (`steer_prefix6`).
    pub steer_prefix6: u8,
    /// Ports, in order (interface index = position).
    pub ports: Vec<PortConf>,
    /// Control socket path.
    pub socket: PathBuf,
    /// Prometheus endpoint.
    pub metrics: Option<std::net::SocketAddr>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// The connection table's defences (`[overload]`).
    pub overload: OverloadPolicy,
    /// The SYN proxy's answers and limits (`[synproxy]`).
    pub synproxy: rvs_core::synproxy::SynProxyPolicy,
    /// IPVS's knobs that act on packets (`[ipvs]`).
    pub knobs: rvs_core::knobs::Knobs,
    /// The connection sync daemon (`[sync]`), if configured.
    pub sync: Option<SyncConf>,
    /// `[ha]`: VRRP (serve a VIP only while keepalived has put it on an exception interface),
    /// ECMP (announce the usable VIPs there), or standalone.
    pub ha: HaConf,
    /// Services with their real servers (ids assigned in file order).
    pub services: Vec<Service>,
    /// Static neighbours (either family).
    pub neighbours: Vec<(IpAddr, Mac)>,
    /// Health checks by real-server id.
    pub checks: Vec<(u16, Check)>,
    /// Slow start seconds by real-server id (`slow_start`).
    pub slow_start: Vec<(u16, u32)>,
    /// The firewall-mark classifier's rules (`[[fwmark]]`), in order.
    pub mark_rules: Vec<rvs_core::fwmark::MarkRule>,
    /// `[[snat]]`: SNAT rules, in order.
    pub snat: Vec<rvs_core::snat::SnatRule>,
    /// `[access]`: the director's allow and deny lists.
    pub access: rvs_core::access::Access,
    /// `[access] blackhole`: the deny list drops every packet of its sources.
    pub blackhole: bool,
}

pub(crate) struct Ctx<'a> {
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

    fn ip(&self, v: &Spanned<String>, key: &str) -> Result<IpAddr, ConfigFileError> {
        v.get_ref()
            .parse()
            .map_err(|_| self.err(v.span(), key, format!("{:?} is not an IPv4 or IPv6 address", v.get_ref())))
    }
}

/// Parses a persistence netmask as ipvsadm's `-M` takes it: a dotted IPv4 mask
/// (`255.255.255.0`) or, for either family, a prefix length (`64`, `/64`); `v6` allows up to 128.
pub fn persistence_netmask(s: &str, v6: bool) -> Option<u8> {
    let digits = s.strip_prefix('/').unwrap_or(s);
    if let Ok(p) = digits.parse::<u8>() {
        return (p <= if v6 { 128 } else { 32 }).then_some(p);
    }
    if v6 {
        return None;
    }
    netmask_prefix(s)
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

        let dp = cx.dataplane(raw.dataplane)?;
        let ports = cx.ports(&raw.port)?;
        let (socket, metrics) = cx.control(raw.control)?;
        let timeouts = cx.timeouts(raw.timeouts.as_ref())?;
        let overload = cx.overload(raw.overload.as_ref())?;
        let synproxy = cx.synproxy(raw.synproxy.as_ref())?;
        let ha = cx.ha(raw.ha.as_ref(), &ports)?;
        let knobs = cx.knobs(raw.ipvs.as_ref())?;
        let mut sync = cx.sync(raw.sync.as_ref(), &ports)?;
        if let (Some(s), HaMode::Vrrp) = (sync.as_mut(), ha.mode) {
            s.follow_vrrp = raw.sync.as_ref().is_none_or(|r| r.role.is_none());
        }
        let (services, checks, slow_start) = cx.services(&raw.service)?;
        let neighbours = cx.neighbours(&raw.neighbour)?;
        let mark_rules = cx.mark_rules(&raw.fwmark)?;
        let (access, blackhole) = match &raw.access {
            None => (Default::default(), false),
            Some(a) => (
                cx.access_lists([(&a.allow, &a.allow_files), (&a.deny, &a.deny_files)], &|k| format!("access.{k}"))?,
                a.blackhole,
            ),
        };
        let specs: Vec<_> = raw.snat.iter().map(|s| s.get_ref().clone()).collect();
        let snat = crate::control::snat_rules::rules_of(&specs, &ports)
            .map_err(|(i, e)| cx.err(raw.snat[i].span(), format!("snat[{i}]"), e.to_string()))?;
        let steer_prefix = cx.steer_prefix(dp.steer_prefix.as_ref(), &services, dp.lcores.len(), false)?;
        let steer_prefix6 = cx.steer_prefix(dp.steer_prefix6.as_ref(), &services, dp.lcores.len(), true)?;
        let cfg = Config {
            file: PathBuf::from(file),
            eal_args: dp.eal_args,
            lcores: dp.lcores,
            busy_poll: dp.busy_poll,
            conn_capacity: dp.conn_capacity,
            conn6_capacity: dp.conn6_capacity,
            mbufs: dp.mbufs,
            steer_prefix,
            steer_prefix6,
            ports,
            socket,
            metrics,
            timeouts,
            overload,
            synproxy,
            knobs,
            sync,
            ha,
            services,
            neighbours,
            checks,
            slow_start,
            mark_rules,
            snat,
            access,
            blackhole,
        };
        // The dataplane's own checks (ids, duplicates) with the file named.
        cfg.snapshot(&[]).map_err(|e| cx.err(0..0, "service", e.to_string()))?;
        Ok(cfg)
    }

    /// True in `[ha] mode = "vrrp"`.
    pub fn vrrp(&self) -> bool {
        self.ha.mode == HaMode::Vrrp
    }

    /// Whether every service is steered to owner cores, fixed for the daemon's life: with more
    /// than one worker and `[sync]` configured, a received record must land on the core that
    /// will see its flow (and moving this live would strand established connections).
    pub fn steer_all(&self) -> bool {
        self.lcores.len() > 1 && self.sync.is_some()
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
                addr6: p.addr6,
                gateway6: p.gateway6,
            })
            .collect();
        Snapshot::new(interfaces, self.services.clone(), self.neighbours.clone(), self.timeouts)
            .and_then(|s| s.with_mark_rules(&self.mark_rules))
            .and_then(|s| s.with_snat(self.snat.clone()))
            .map(|s| s.with_access(self.access.clone(), self.blackhole))
            .map(|s| {
                s.with_kernel_exception(self.ports.iter().any(|p| p.exception_iface.is_some()))
                    .with_steer_prefix(self.steer_prefix)
                    .with_steer_prefix6(self.steer_prefix6)
                    .with_overload(self.overload)
                    .with_synproxy(self.synproxy)
                    // Following VRRP, the master role waits for a VIP (none is held at start).
                    .with_sync_master(
                        self.sync.as_ref().filter(|s| s.master && !(s.follow_vrrp && self.vrrp())).map(|s| s.policy),
                    )
                    .with_steer_all(self.steer_all())
                    .with_held_vips(self.vrrp().then_some(&[][..]))
                    .with_ecmp(self.ha.mode == HaMode::Ecmp, self.ha.sloppy_tcp)
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
            ("vip = \"10.0.0.100\"", "vip = \"10.0.0.300\"", "service[0].vip", "is not an IPv4 or IPv6 address"),
            (
                "address = \"10.0.1.11\"",
                "address = \"2001:db8::11\"",
                "service[0].real[0].address",
                "not of the VIP's address family",
            ),
            (
                "address = \"10.0.0.1/24\"",
                "address = [\"10.0.0.1/24\", \"10.0.9.1/24\"]",
                "port[0].address",
                "one address of each family",
            ),
            (
                "address = \"10.0.0.1/24\"",
                "address = [\"10.0.0.1/24\", \"2001:db8::1/129\"]",
                "port[0].address",
                "not 1..=128",
            ),
            ("address = \"10.0.0.1/24\"", "address = \"2001:db8::1/64\"", "port[0].address", "IPv4 address is needed"),
            (
                "gateway = \"10.0.0.254\"",
                "gateway = [\"10.0.0.254\", \"2001:db8:9::1\"]",
                "port[0].gateway",
                "neither link-local nor on the port's IPv6 network",
            ),
            ("scheduler = \"wlc\"", "scheduler = \"fastest\"", "service[0].scheduler", "unknown scheduler"),
            (
                "forward = \"nat\"",
                "forward = \"masq\"",
                "service[0].real[0].forward",
                "expected nat, dr, tun or fullnat",
            ),
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
            ("persistence = 0", "persistence = 0\nsched_flags = \"mh-port\"", "service[0].sched_flags", "incompatible"),
            (
                "weight = 1",
                "weight = 1\n  u_threshold = 3000000000",
                "service[0].real[0].u_threshold",
                "0 ..= 2147483647",
            ),
            ("udp = 300", "udp = 300\n[overload]\npressure_percent = 5", "overload.pressure_percent", "10 ..= 100"),
            ("udp = 300", "udp = 300\n[overload]\nsyn_timeout = 1", "overload.syn_timeout", "2 ..= 60"),
            ("weight = 1", "weight = 1\n  tun_type = \"gue\"", "service[0].real[0].tun_type", "'tun-port'"),
            ("weight = 1", "weight = 1\n  tun_type = \"vxlan\"", "service[0].real[0].tun_type", "ipip, gue or gre"),
            ("weight = 1", "weight = 1\n  tun_type = \"gre\"", "service[0].real[0].tun_type", "need forward = \"tun\""),
            ("weight = 1", "weight = 1\n  slow_start = 90000", "service[0].real[0].slow_start", "0..=86400"),
            ("forward = \"nat\"", "forward = \"fullnat\"", "service[0].laddrs", "at least one local address"),
            ("vip = \"10.0.0.100\"", "vip = \"10.0.0.100\"\nlports = \"9-8\"", "service[0].lports", "ordered"),
            (
                "vip = \"10.0.0.100\"",
                "vip = \"10.0.0.100\"\nladdrs = [\"2001:db8::1\"]",
                "service[0].laddrs",
                "address family",
            ),
            ("udp = 300", "udp = 300\n[ipvs]\nconn_reuse_mode = 4", "ipvs.conn_reuse_mode", "0..=3"),
            ("udp = 300", "udp = 300\n[synproxy]\nwscale = 15", "synproxy.wscale", "at most 14"),
            ("udp = 300", "udp = 300\n[synproxy]\nmss = 100", "synproxy.mss", "at least 536"),
            ("udp = 300", "udp = 300\n[synproxy]\nretries = 3", "retries", "unknown field"),
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
    fn a_synproxy_over_dr_real_servers_is_refused_at_its_key() {
        let text = GOOD
            .replace("persistence = 0", "persistence = 0\nsynproxy = true")
            .replace("forward = \"nat\"", "forward = \"dr\"");
        let e = Config::parse("rvs.toml", &text).unwrap_err();
        assert_eq!(e.key, "service[0].synproxy", "{e}");
        assert!(e.msg.contains("is DR") && e.msg.contains("NAT or FULLNAT"), "{e}");
        let ok = GOOD.replace("persistence = 0", "persistence = 0\nsynproxy = true");
        let c = Config::parse("rvs.toml", &ok).unwrap();
        assert!(c.services[0].synproxy);
    }

    #[test]
    fn overload_and_thresholds_reach_the_snapshot() {
        let c = Config::parse("rvs.toml", GOOD).unwrap();
        assert_eq!(c.overload, OverloadPolicy::default(), "IPVS-like defaults when the section is absent");
        let text = GOOD
            .replace("udp = 300", "udp = 300\n[overload]\npressure_percent = 60\nsyn_timeout = 3\nstateless_fallback = false\nnew_conn_rate = 50000")
            .replace("weight = 1", "weight = 1\n  u_threshold = 50\n  l_threshold = 20");
        let c = Config::parse("rvs.toml", &text).unwrap();
        let want =
            OverloadPolicy { pressure_percent: 60, syn_timeout: 3, stateless_fallback: false, new_conn_rate: 50000 };
        assert_eq!(c.overload, want);
        assert_eq!((c.services[0].dests[0].u_threshold, c.services[0].dests[0].l_threshold), (50, 20));
        let snap = c.snapshot(&[]).unwrap();
        assert_eq!(*snap.overload(), want);
        assert_eq!(snap.thresholded(), &[c.services[0].dests[0].id]);
    }

    #[test]
    fn ecmp_mode_turns_sloppy_tcp_on_and_refuses_sloppy_udp() {
        let with_tap = GOOD.replace("address = \"10.0.0.1/24\"", "exception = true\naddress = \"10.0.0.1/24\"");
        let ha = |body: &str| with_tap.replace("udp = 300", &format!("udp = 300\n[ha]\n{body}"));
        let c = Config::parse("rvs.toml", &ha("mode = \"ecmp\"")).unwrap();
        assert_eq!(c.ha, HaConf { mode: HaMode::Ecmp, sloppy_tcp: true, vip_rescan_ms: 500, announce_grace: 0 });
        assert!(c.snapshot(&[]).unwrap().vips_routed());
        let c = Config::parse("rvs.toml", &ha("mode = \"ecmp\"\nsloppy_tcp = false")).unwrap();
        assert!(!c.ha.sloppy_tcp);
        let c = Config::parse("rvs.toml", &ha("sloppy_tcp = true")).unwrap();
        assert_eq!(c.ha, HaConf { mode: HaMode::Standalone, sloppy_tcp: true, vip_rescan_ms: 500, announce_grace: 0 });
        assert_eq!(Config::parse("rvs.toml", &with_tap).unwrap().ha, HaConf::default(), "standalone, not sloppy");
        let e = Config::parse("rvs.toml", &ha("sloppy_udp = true")).unwrap_err();
        assert_eq!(e.key, "ha.sloppy_udp", "{e}");
        let e = Config::parse("rvs.toml", &GOOD.replace("udp = 300", "udp = 300\n[ha]\nmode = \"ecmp\"")).unwrap_err();
        assert!(e.key == "ha.mode" && e.msg.contains("exception = true"), "{e}");
        let e = Config::parse("rvs.toml", &ha("mode = \"bgp\"")).unwrap_err();
        assert!(e.msg.contains("standalone, vrrp or ecmp"), "{e}");
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask_prefix("255.255.255.0"), Some(24));
        assert_eq!(netmask_prefix("255.255.255.255"), Some(32));
        assert_eq!(netmask_prefix("0.0.0.0"), Some(0));
        assert_eq!(netmask_prefix("255.0.255.0"), None);
        assert_eq!(persistence_netmask("64", true), Some(64));
        assert_eq!(persistence_netmask("/64", true), Some(64));
        assert_eq!(persistence_netmask("129", true), None);
        assert_eq!(persistence_netmask("255.255.255.0", true), None, "no dotted mask for IPv6");
        assert_eq!(persistence_netmask("255.255.255.0", false), Some(24));
        assert_eq!(persistence_netmask("33", false), None);
    }

    #[test]
    fn a_dual_stack_port_and_ipv6_services_parse() {
        let text = r#"
[dataplane]
lcores = [1, 2]
[[port]]
name = "p"
device = "net_null0"
address = ["10.0.0.1/24", "2001:db8::1/64"]
gateway = ["10.0.0.254", "fe80::1"]
[[service]]
protocol = "tcp"
vip = "2001:db8::100"
port = 80
persistence = 300
netmask = "64"
  [[service.real]]
  address = "2001:db8:1::11"
  forward = "nat"
  port = 8080
[[neighbour]]
address = "fe80::1"
mac = "02:00:00:00:00:01"
"#;
        let c = Config::parse("x.toml", text).unwrap();
        let p = &c.ports[0];
        assert_eq!(p.addr6, Some(("2001:db8::1".parse().unwrap(), 64)));
        assert_eq!(p.gateway6, Some("fe80::1".parse().unwrap()));
        assert_eq!(p.gateway, Some(Ipv4Addr::new(10, 0, 0, 254)));
        let s = &c.services[0];
        assert_eq!(s.name(), "tcp [2001:db8::100]:80");
        assert_eq!(s.persistence_prefix, 64);
        assert_eq!((c.steer_prefix, c.steer_prefix6), (32, 64), "IPv6 clients steered by their /64");
        assert_eq!(c.neighbours[0].0, "fe80::1".parse::<IpAddr>().unwrap());
        let snap = c.snapshot(&[Mac([2, 0, 0, 0, 0, 9])]).unwrap();
        assert!(snap.service_ip(6, "2001:db8::100".parse().unwrap(), 80).is_some());
    }
}
