//! The live configuration: the state ipvsadm's verbs change (`live_verbs.rs`), what it was
//! built from, and the snapshot it gives the workers. Ids live in `ids.rs`, reloads in
//! `reload.rs`, sync roles in `sync_roles.rs`.

use crate::config::{Check, Config, HaMode, PortConf};
use rvs_core::service::{Forward, Interface, Protocol, Service, Timeouts, UNBOUND_DEST};
use rvs_core::wire::Mac;
use rvs_core::Snapshot;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The service named does not exist.
    #[error("no such service: {0}")]
    NoService(String),
    /// The service already exists.
    #[error("service already exists: {0}")]
    ServiceExists(String),
    /// The real server named does not exist.
    #[error("no such real server: {0}")]
    NoReal(String),
    /// The real server already exists.
    #[error("real server already exists: {0}")]
    RealExists(String),
    /// A field has a bad value.
    #[error("{field}: {msg}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// Out of ids.
    #[error("too many {0}")]
    Full(&'static str),
}

/// A service's identity: (protocol, VIP, port), or a firewall mark and a family (`vip` the
/// family's unspecified address, `port` 0, `protocol` TCP, as [`Service::fwmark`] says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvcKey {
    /// Protocol.
    pub protocol: Protocol,
    /// VIP (either family).
    pub vip: IpAddr,
    /// Port.
    pub port: u16,
    /// Firewall mark (0: none).
    pub fwmark: u32,
}

impl SvcKey {
    /// The key of (protocol, VIP, port).
    pub fn addr(protocol: Protocol, vip: IpAddr, port: u16) -> Self {
        SvcKey { protocol, vip, port, fwmark: 0 }
    }

    /// The key of firewall mark `mark` of one family.
    pub fn mark(mark: u32, ipv6: bool) -> Self {
        let vip = if ipv6 {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        };
        SvcKey { protocol: Protocol::Tcp, vip, port: 0, fwmark: mark }
    }

    /// The key of service `s`.
    pub fn of(s: &Service) -> Self {
        SvcKey { protocol: s.protocol, vip: s.vip, port: s.port, fwmark: s.fwmark }
    }

    /// True when `s` is the service this key names.
    pub fn names(&self, s: &Service) -> bool {
        *self == SvcKey::of(s)
    }
}

impl std::fmt::Display for SvcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.fwmark, self.vip.is_ipv6()) {
            (0, _) => write!(f, "{} {}", self.protocol, SocketAddr::new(self.vip, self.port)),
            (m, false) => write!(f, "fwmark {m}"),
            (m, true) => write!(f, "fwmark {m} IPv6"),
        }
    }
}

/// Service options (`-s -b -p -M`); `None` keeps the current value on edit, or the default on add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SvcOpts {
    /// Scheduler.
    pub scheduler: Option<String>,
    /// Scheduler flags, as ipvsadm's `-b` names them.
    pub sched_flags: Option<String>,
    /// Persistence seconds (0 = off).
    pub persistence: Option<u32>,
    /// Persistence netmask prefix.
    pub netmask: Option<u8>,
    /// One-packet scheduling (`-o`).
    pub ops: Option<bool>,
    /// Persistence engine (`--pe`): Some(true) SIP, Some(false) none.
    pub pe_sip: Option<bool>,
    /// FULLNAT's local port range (`--lports`).
    pub lports: Option<rvs_core::service::LocalPorts>,
    /// TOA for FULLNAT TCP (`--toa`).
    pub toa: Option<bool>,
    /// The PROXY protocol for FULLNAT TCP (`--proxy-protocol`).
    pub proxy_protocol: Option<rvs_core::wire::proxy_protocol::ProxyProtocol>,
    /// UOA for FULLNAT UDP (`--uoa`).
    pub uoa: Option<bool>,
    /// The SYN proxy (`--synproxy`).
    pub synproxy: Option<bool>,
}

/// Real-server options (`-m -g -i -w -x -y`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RealOpts {
    /// Forwarding method.
    pub forward: Option<Forward>,
    /// Weight.
    pub weight: Option<u32>,
    /// Upper connection threshold.
    pub u_threshold: Option<u32>,
    /// Lower connection threshold.
    pub l_threshold: Option<u32>,
    /// Slow start seconds (`--slow-start`; 0 = off).
    pub slow_start: Option<u32>,
    /// `--drain [--deadline SECS]`: Some(deadline seconds, None = none).
    pub drain: Option<Option<u32>>,
    /// `--tun-type/--tun-port/--tun-*csum`: the encapsulation of a TUN real server.
    pub tunnel: Option<rvs_core::service::Tunnel>,
}

use super::ids::IdPool;
pub use super::ids::ID_QUARANTINE_S;

/// The live configuration.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub(super) ports: Vec<PortConf>,
    /// Port MACs (as the dataplane found them).
    pub macs: Vec<Mac>,
    pub(super) neighbours: Vec<(IpAddr, Mac)>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// The connection table's defences (`[overload]`).
    pub overload: rvs_core::service::OverloadPolicy,
    /// The SYN proxy's answers and limits (`[synproxy]`).
    pub synproxy: rvs_core::synproxy::SynProxyPolicy,
    /// IPVS's knobs that act on packets (`[ipvs]`, `--set-knob`).
    pub knobs: rvs_core::knobs::Knobs,
    /// The sync daemon's settings and running roles (`[sync]`, `--start-daemon`).
    pub sync: Option<crate::config::SyncConf>,
    /// Every service steered to owner cores (fixed at start: [`crate::config::Config::steer_all`]).
    pub steer_all: bool,
    /// `[ha]`: in `vrrp` mode only the VIPs in `held` are served; in `ecmp` mode `held` are
    /// the VIPs announced.
    pub ha: crate::config::HaConf,
    /// VRRP: the VIPs keepalived put on an exception interface (MASTER for them). ECMP: the
    /// VIPs rvsd put there for the routing daemon.
    pub held: BTreeSet<IpAddr>,
    /// Changes of `held` so far.
    pub vip_changes: u64,
    /// Services in order (listing order, as ipvsadm keeps insertion order).
    pub services: Vec<Service>,
    pub(super) kernel_exception: bool,
    /// Fixed at start: the owner-core prefix, and whether there is more than one worker.
    pub(super) steer_prefix: u8,
    pub(super) steer_prefix6: u8,
    pub(super) multi_worker: bool,
    pub(super) dest_ids: IdPool,
    pub(super) svc_ids: IdPool,
    /// Deleted services by identity -> id: one re-added within the quarantine gets its id back.
    pub(super) svc_trash: Vec<(SvcKey, u16)>,
    /// Deleted real servers by identity (service, address, port) -> id, as IPVS's dest trash:
    /// one re-added within the quarantine gets its old id back, so the connections still
    /// draining to it keep counting on it.
    pub(super) trash: Vec<(SvcKey, IpAddr, u16, u16)>,
    /// Health checks by real-server id.
    pub checks: BTreeMap<u16, Check>,
    /// Real servers whose health check failed.
    pub down: BTreeSet<u16>,
    /// Per checked real server: when its last probe ended, and whether it passed.
    pub last_check: BTreeMap<u16, (std::time::Instant, bool)>,
    /// Checked real servers that have passed a probe since rvsd started: ECMP mode announces a
    /// VIP only for those (a node that restarts pulls no traffic before its checks ran).
    pub proven: BTreeSet<u16>,
    /// Health transitions so far (up or down).
    pub health_transitions: u64,
    /// Slow start seconds by real-server id (`--slow-start`, `slow_start`).
    pub slow_start: BTreeMap<u16, u32>,
    /// Real servers whose weight is ramping up ([`super::real_lifecycle`]).
    pub ramps: BTreeMap<u16, super::real_lifecycle::Ramp>,
    /// Real servers being drained ([`super::real_lifecycle`]).
    pub draining: BTreeMap<u16, super::real_lifecycle::Drain>,
    /// Drains completed so far.
    pub drains_completed: u64,
    /// Deleted TUN real servers with another encapsulation than IP-in-IP, by id while it
    /// rests: their connections still drain, wrapped as the server expects.
    pub(super) retired_tunnels: BTreeMap<u16, rvs_core::service::Tunnel>,
    /// The firewall-mark classifier's rules, in order (`[[fwmark]]`, `--add-mark-rule`).
    pub mark_rules: Vec<rvs_core::fwmark::MarkRule>,
    /// FULLNAT local addresses deleted while their connections drain ([`super::local_addrs`]).
    pub(super) draining_laddrs: BTreeSet<IpAddr>,
    /// SNAT rules, in order (`[[snat]]`, `--add-snat`: [`super::snat_rules`]).
    pub snat: Vec<rvs_core::snat::SnatRule>,
    /// The last SNAT rule id given (the next rule takes the next free one).
    pub(super) snat_next_id: u16,
    /// The director's allow and deny lists (`[access]`; services carry their own).
    pub access: rvs_core::access::Access,
    /// `[access] blackhole`.
    pub blackhole: bool,
}

pub(super) fn check_thresholds(upper: u32, lower: u32) -> Result<(), OpError> {
    for (v, field) in [(upper, "u_threshold"), (lower, "l_threshold")] {
        if v > crate::limits::MAX_THRESHOLD {
            return Err(OpError::Invalid { field, msg: format!("{v} is above {}", crate::limits::MAX_THRESHOLD) });
        }
    }
    Ok(())
}

pub(super) fn check_weight(w: u32) -> Result<u32, OpError> {
    crate::limits::weight(w).map_err(|e| OpError::Invalid { field: "weight", msg: e.to_string() })
}

impl LiveConfig {
    /// The state a configuration file describes.
    pub fn from_config(cfg: &Config, macs: Vec<Mac>) -> Self {
        LiveConfig {
            ports: cfg.ports.clone(),
            macs,
            neighbours: cfg.neighbours.clone(),
            timeouts: cfg.timeouts,
            overload: cfg.overload,
            synproxy: cfg.synproxy,
            knobs: cfg.knobs,
            sync: cfg.sync.clone(),
            steer_all: cfg.steer_all(),
            ha: cfg.ha,
            held: BTreeSet::new(),
            vip_changes: 0,
            services: cfg.services.clone(),
            kernel_exception: cfg.ports.iter().any(|p| p.exception_iface.is_some()),
            steer_prefix: cfg.steer_prefix,
            steer_prefix6: cfg.steer_prefix6,
            multi_worker: cfg.lcores.len() > 1,
            dest_ids: IdPool::new(
                usize::from(UNBOUND_DEST),
                cfg.services.iter().flat_map(|s| s.dests.iter().map(|d| d.id)),
            ),
            svc_ids: IdPool::new(usize::from(rvs_core::snat::SNAT_SVC_BASE), cfg.services.iter().map(|s| s.id)),
            svc_trash: Vec::new(),
            trash: Vec::new(),
            checks: cfg.checks.iter().cloned().collect(),
            down: BTreeSet::new(),
            last_check: BTreeMap::new(),
            proven: BTreeSet::new(),
            health_transitions: 0,
            slow_start: cfg.slow_start.iter().copied().filter(|s| s.1 > 0).collect(),
            ramps: BTreeMap::new(),
            draining: BTreeMap::new(),
            drains_completed: 0,
            retired_tunnels: BTreeMap::new(),
            mark_rules: cfg.mark_rules.clone(),
            draining_laddrs: BTreeSet::new(),
            snat: cfg.snat.clone(),
            snat_next_id: cfg.snat.len().saturating_sub(1) as u16,
            access: cfg.access.clone(),
            blackhole: cfg.blackhole,
        }
    }

    /// The VIPs of service `s`: its own, or for a firewall-mark service the single addresses
    /// of its mark's classifier rules ([`rvs_core::fwmark`]).
    pub fn vips_of(&self, s: &Service) -> Vec<IpAddr> {
        if !s.is_fwmark() {
            return vec![s.vip];
        }
        let mine =
            |r: &&rvs_core::fwmark::MarkRule| r.mark == s.fwmark && r.dst.is_ipv6() == s.vip.is_ipv6() && r.is_host();
        self.mark_rules.iter().filter(mine).map(|r| r.dst).collect()
    }

    /// Every service's VIPs ([`LiveConfig::vips_of`]).
    pub fn all_vips(&self) -> BTreeSet<IpAddr> {
        self.services.iter().flat_map(|s| self.vips_of(s)).collect()
    }

    /// What VRRP may float between a pair: every VIP and every FULLNAT local address (the
    /// services' and those draining), each served only while keepalived holds it here.
    pub fn floating_addrs(&self) -> BTreeSet<IpAddr> {
        let mut all = self.all_vips();
        all.extend(self.services.iter().flat_map(|s| s.laddrs.iter().copied()));
        all.extend(self.draining_laddrs.iter().copied());
        all.extend(self.snat_pools());
        all
    }

    /// True in `[ha] mode = "vrrp"`.
    pub fn vrrp(&self) -> bool {
        self.ha.mode == HaMode::Vrrp
    }

    /// The services as the dataplane gets them: failed real servers quiesced (weight 0) or,
    /// where their check says so, removed; draining ones at weight 0, ramping ones at their
    /// ramp's weight.
    pub fn effective_services(&self) -> Vec<Service> {
        let mut v = self.services.clone();
        for s in &mut v {
            s.dests.retain(|d| !(self.down.contains(&d.id) && self.checks.get(&d.id).is_some_and(|c| c.remove)));
            for d in &mut s.dests {
                d.weight = if self.down.contains(&d.id) { 0 } else { self.weight_in_force(d.id, d.weight) };
            }
        }
        v
    }

    /// The VIPs worth announcing (ECMP): those with a real server of weight above 0, not down,
    /// and either unchecked or past its first passing probe.
    pub fn usable_vips(&self) -> BTreeSet<IpAddr> {
        let usable = |d: &rvs_core::service::Dest| {
            d.weight > 0
                && !self.down.contains(&d.id)
                && (!self.checks.contains_key(&d.id) || self.proven.contains(&d.id))
        };
        self.services.iter().filter(|s| s.dests.iter().any(usable)).flat_map(|s| self.vips_of(s)).collect()
    }

    /// The VIPs new connections are made to (None: all): in VRRP mode those held; none while
    /// the sync backup role runs under `backup_only`.
    fn served_vips(&self) -> Option<Vec<IpAddr>> {
        if self.knobs.backup_only && self.effective_sync().is_some_and(|c| c.backup) {
            return Some(Vec::new());
        }
        self.vrrp().then(|| self.held.iter().copied().collect())
    }

    /// The dataplane snapshot of this state.
    pub fn snapshot(&self) -> Result<Snapshot, OpError> {
        let interfaces = self
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| Interface {
                mac: self.macs.get(i).copied().unwrap_or(Mac::ZERO),
                addr: p.addr,
                prefix_len: p.prefix_len,
                gateway: p.gateway,
                mtu: p.mtu,
                addr6: p.addr6,
                gateway6: p.gateway6,
            })
            .collect();
        if self.multi_worker {
            // Templates are per core: a persistent client network must map to one owner core.
            let steer = |s: &Service| if s.vip.is_ipv6() { self.steer_prefix6 } else { self.steer_prefix };
            if let Some(s) = self.services.iter().find(|s| s.persistence > 0 && s.persistence_prefix < steer(s)) {
                let key = if s.vip.is_ipv6() { "steer_prefix6" } else { "steer_prefix" };
                return Err(OpError::Invalid {
                    field: "netmask",
                    msg: format!(
                        "/{} for {} is coarser than the workers' steering prefix /{} ([dataplane] {key}, fixed at start)",
                        s.persistence_prefix,
                        s.name(),
                        steer(s)
                    ),
                });
            }
        }
        Snapshot::new(interfaces, self.effective_services(), self.neighbours.clone(), self.timeouts)
            .and_then(|s| s.with_mark_rules(&self.mark_rules))
            .and_then(|s| s.with_snat(self.snat.clone()))
            .map(|s| s.with_access(self.access.clone(), self.blackhole))
            .map(|s| {
                s.with_kernel_exception(self.kernel_exception)
                    .with_steer_prefix(self.steer_prefix)
                    .with_steer_prefix6(self.steer_prefix6)
                    .with_overload(self.overload)
                    .with_synproxy(self.synproxy)
                    .with_sync_master(self.effective_sync().filter(|s| s.master).map(|s| s.policy))
                    .with_steer_all(self.steer_all)
                    .with_draining_laddrs(self.draining_laddrs.iter().copied().collect())
                    .with_held_vips(self.served_vips().as_deref())
                    .with_ecmp(self.ha.mode == HaMode::Ecmp, self.ha.sloppy_tcp)
                    .with_retired_tunnels(self.retired_tunnels.iter().map(|(&id, &t)| (id, t)).collect())
                    .with_knobs(self.knobs)
            })
            .map_err(|e| OpError::Invalid { field: "service", msg: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hardening (ECMP): a VIP whose real servers have checks is announced only after one of
    /// them passed its first probe, so a node that restarts pulls no traffic it cannot serve;
    /// one without checks is announced at once; a real server down or of weight 0 never counts.
    #[test]
    fn a_vip_is_announced_only_after_a_real_server_passed_its_first_check() {
        let text = "[ha]\nmode = \"ecmp\"\n[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\nexception = true\n\
            [[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n  [[service.real]]\n  address = \"10.0.0.11\"\n  [service.real.check]\n  kind = \"tcp\"\n\
            [[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.101\"\nport = 80\n  [[service.real]]\n  address = \"10.0.0.12\"\n";
        let mut s = LiveConfig::from_config(&Config::parse("t.toml", text).unwrap(), vec![]);
        let vips = |s: &LiveConfig| s.usable_vips().into_iter().map(|v| v.to_string()).collect::<Vec<_>>();
        assert_eq!(vips(&s), ["10.0.0.101"], "the checked service waits for its first check");
        let id = s.services[0].dests[0].id;
        s.proven.insert(id);
        assert_eq!(vips(&s), ["10.0.0.100", "10.0.0.101"]);
        s.down.insert(id);
        assert_eq!(vips(&s), ["10.0.0.101"], "down: withdrawn");
    }
}
