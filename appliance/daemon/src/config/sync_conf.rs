//! `[sync]`: IPVS's connection sync daemon (protocol version 1) as rvs.toml configures it, with
//! IPVS's defaults: group 224.0.0.81, port 8848, TTL 1, datagrams of at most 1472 bytes,
//! `sync_threshold = [3, 50]`, `sync_persist_mode = 0`. The datagrams are ordinary UDP of the
//! host's kernel, sent and received through the exception interface (TAP) of the port
//! `interface` names, so that they leave and arrive through that port as the director's own
//! traffic. A backup takes records only from `peers` (addresses or prefixes; by default the sync
//! port's own network): sync writes into the forwarding table, so it is not open to anyone who
//! can reach the group.

use super::raw::RawSync;
use super::{ConfigFileError, Ctx, PortConf};
use rvs_core::conn::SyncPolicy;
use rvs_core::service::same_prefix;
use rvs_core::wire::ipvs_sync::{DEFAULT_MAXLEN, HEADER_LEN, SYNC_GROUP, SYNC_PORT, V6_RECORD_LEN};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The sync daemon's settings (ipvsadm's `--start-daemon` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConf {
    /// The port whose exception interface carries the datagrams (ipvsadm's `--mcast-interface`
    /// names an interface; rvs names the port).
    pub port: String,
    /// That port's exception interface (the kernel's name).
    pub iface: String,
    /// The port's own address: the datagrams' source.
    pub addr: Ipv4Addr,
    /// Sync group id (0: a backup accepts any).
    pub syncid: u8,
    /// Multicast group, or a unicast peer's address: IPv4, or IPv6 (an IPv6 group such as
    /// `ff02::81` carries the datagrams over IPv6, from the exception interface's IPv6 address).
    pub group: IpAddr,
    /// UDP port.
    pub udp_port: u16,
    /// Multicast TTL.
    pub ttl: u8,
    /// Largest datagram payload.
    pub maxlen: usize,
    /// IPVS's sender rule (`sync_threshold`).
    pub policy: SyncPolicy,
    /// Run the master role (send this director's connections).
    pub master: bool,
    /// Run the backup role (install a master's connections).
    pub backup: bool,
    /// In `[ha] mode = "vrrp"` without a `role`: master while this director holds a VIP, backup
    /// while it holds none (keepalived's `lvs_sync_daemon`).
    pub follow_vrrp: bool,
    /// The prefix length of the port's network (`addr`'s).
    pub prefix_len: u8,
    /// The port's IPv6 address and prefix length on a dual-stack port.
    pub addr6: Option<(Ipv6Addr, u8)>,
    /// The senders a backup accepts records from, (network, prefix length) of either family;
    /// `None`: the hosts of the port's own networks (IPv6: and its link, fe80::/10).
    pub peers: Option<Vec<(IpAddr, u8)>>,
    /// The protocol version the master sends (IPVS's `sync_version`: 1, or 0 for kernels
    /// before 2.6.39); a backup reads both. Set from the knob.
    pub version: u8,
}

impl SyncConf {
    /// True when a backup takes records sent from `from`.
    pub fn peer_allowed(&self, from: IpAddr) -> bool {
        use rvs_core::family::AddrKey;
        let within = |net: IpAddr, len: u8| match (net, from) {
            (IpAddr::V4(n), IpAddr::V4(f)) => same_prefix(n, f, len),
            (IpAddr::V6(n), IpAddr::V6(f)) => u128::from(n).masked(len) == u128::from(f).masked(len),
            _ => false,
        };
        match &self.peers {
            Some(peers) => peers.iter().any(|&(net, len)| within(net, len)),
            None => {
                let link_local = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0));
                within(IpAddr::V4(self.addr), self.prefix_len)
                    || self.addr6.is_some_and(|(a, len)| within(IpAddr::V6(a), len))
                    || within(link_local, 10)
            }
        }
    }

    /// The same with the port's IPv6 address (a dual-stack port).
    pub fn with_addr6(mut self, addr6: Option<(Ipv6Addr, u8)>) -> Self {
        self.addr6 = addr6;
        self
    }

    /// IPVS's defaults on `port` (its exception interface `iface`, address `addr` in a network
    /// of `prefix_len`, whose hosts are the peers), no role.
    pub fn defaults(port: &str, iface: &str, addr: Ipv4Addr, prefix_len: u8) -> Self {
        SyncConf {
            port: port.to_owned(),
            iface: iface.to_owned(),
            addr,
            syncid: 0,
            group: IpAddr::V4(SYNC_GROUP),
            udp_port: SYNC_PORT,
            ttl: 1,
            maxlen: DEFAULT_MAXLEN,
            policy: SyncPolicy::default(),
            master: false,
            backup: false,
            follow_vrrp: false,
            version: 1,
            prefix_len,
            addr6: None,
            peers: None,
        }
    }
}

/// Smallest datagram that holds a header and one record of either family (an IPv6 record is
/// 72 bytes: a smaller `maxlen` could never send an IPv6 connection).
pub const MIN_MAXLEN: usize = HEADER_LEN + V6_RECORD_LEN;
/// Largest UDP payload over IPv4.
pub const MAX_MAXLEN: usize = 65_507;

/// `[ha] mode`: how this director shares its VIPs with others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HaMode {
    /// Serve every VIP, announce nothing.
    #[default]
    Standalone,
    /// Serve a VIP only while keepalived has put it on an exception interface.
    Vrrp,
    /// Active-active behind a router: serve every VIP, and put each VIP with a usable real
    /// server on an exception interface as a /32 for the node's routing daemon to announce.
    Ecmp,
}

impl HaMode {
    /// The name rvs.toml and the reports use.
    pub fn name(self) -> &'static str {
        match self {
            HaMode::Standalone => "standalone",
            HaMode::Vrrp => "vrrp",
            HaMode::Ecmp => "ecmp",
        }
    }
}

/// `[ha]` as validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaConf {
    /// The mode.
    pub mode: HaMode,
    /// IPVS's `sloppy_tcp`: a TCP segment other than a SYN, of a connection this director has
    /// no entry for, starts one (hash schedulers only). On by default in `ecmp` mode.
    pub sloppy_tcp: bool,
    /// VRRP mode: besides following the kernel's address events, the VIPs on the exception
    /// interfaces are read in full this often (milliseconds; a guard against a lost event).
    pub vip_rescan_ms: u64,
    /// ECMP mode: seconds after start before any VIP is announced (e.g. for connection sync to
    /// refill the table from the peers first); 0 = as soon as a VIP is usable.
    pub announce_grace: u32,
}

/// The default of `[ha] vip_rescan_ms`.
pub const VIP_RESCAN_MS: u64 = 500;

impl Default for HaConf {
    fn default() -> Self {
        HaConf { mode: HaMode::default(), sloppy_tcp: false, vip_rescan_ms: VIP_RESCAN_MS, announce_grace: 0 }
    }
}

impl Ctx<'_> {
    /// `[ha]`.
    pub(super) fn ha(&self, raw: Option<&super::raw::RawHa>, ports: &[PortConf]) -> Result<HaConf, ConfigFileError> {
        let Some(raw) = raw else { return Ok(HaConf::default()) };
        let exception = ports.iter().any(|p| p.exception_iface.is_some());
        let mode = match raw.mode.as_ref() {
            None => HaMode::Standalone,
            Some(m) => {
                let (mode, needs) = match m.get_ref().as_str() {
                    "standalone" => (HaMode::Standalone, ""),
                    "vrrp" => (HaMode::Vrrp, "keepalived runs on its exception interface"),
                    "ecmp" => (HaMode::Ecmp, "the VIPs go on its exception interface for the routing daemon"),
                    other => {
                        let msg = format!("{other:?}: expected standalone, vrrp or ecmp");
                        return Err(self.err(m.span(), "ha.mode", msg));
                    }
                };
                if mode != HaMode::Standalone && !exception {
                    let msg = format!("{} needs a port with exception = true: {needs}", mode.name());
                    return Err(self.err(m.span(), "ha.mode", msg));
                }
                mode
            }
        };
        if let Some(u) = &raw.sloppy_udp {
            return Err(self.err(
                u.span(),
                "ha.sloppy_udp",
                "UDP needs no sloppy mode: every datagram without an entry already starts a flow (IPVS has only sloppy_tcp and sloppy_sctp)",
            ));
        }
        let vip_rescan_ms = match &raw.vip_rescan_ms {
            Some(m) if !(10..=3_600_000).contains(m.get_ref()) => {
                return Err(self.err(m.span(), "ha.vip_rescan_ms", "must be 10 ..= 3600000 (milliseconds)"));
            }
            Some(m) => *m.get_ref(),
            None => VIP_RESCAN_MS,
        };
        let announce_grace = match &raw.announce_grace {
            Some(g) if *g.get_ref() > 3600 => {
                return Err(self.err(g.span(), "ha.announce_grace", "must be 0 ..= 3600 (seconds)"));
            }
            Some(g) => *g.get_ref(),
            None => 0,
        };
        Ok(HaConf { mode, sloppy_tcp: raw.sloppy_tcp.unwrap_or(mode == HaMode::Ecmp), vip_rescan_ms, announce_grace })
    }

    /// One `[sync] peers` entry: an address or prefix of either family.
    fn peer(&self, p: &toml::Spanned<String>) -> Result<(IpAddr, u8), ConfigFileError> {
        rvs_core::fwmark::parse_prefix(p.get_ref())
            .map_err(|e| self.err(p.span(), "sync.peers", format!("{e}: expected an address or prefix")))
    }

    /// `[sync]`.
    pub(super) fn sync(&self, raw: Option<&RawSync>, ports: &[PortConf]) -> Result<Option<SyncConf>, ConfigFileError> {
        let Some(r) = raw else { return Ok(None) };
        let port = ports.iter().find(|p| p.name == *r.interface.get_ref()).ok_or_else(|| {
            self.err(r.interface.span(), "sync.interface", format!("no [[port]] named {:?}", r.interface.get_ref()))
        })?;
        let iface = port.exception_iface.as_ref().ok_or_else(|| {
            self.err(
                r.interface.span(),
                "sync.interface",
                format!(
                    "port {:?} needs exception = true: sync datagrams travel through its kernel interface",
                    port.name
                ),
            )
        })?;
        let mut c = SyncConf::defaults(&port.name, iface, port.addr, port.prefix_len).with_addr6(port.addr6);
        c.syncid = r.syncid.unwrap_or(0);
        if let Some(g) = &r.group {
            c.group = self.ip(g, "sync.group")?;
        }
        c.udp_port = match &r.port {
            Some(p) if *p.get_ref() == 0 => return Err(self.err(p.span(), "sync.port", "must be 1 ..= 65535")),
            Some(p) => *p.get_ref(),
            None => SYNC_PORT,
        };
        c.ttl = match &r.ttl {
            Some(t) if *t.get_ref() == 0 => return Err(self.err(t.span(), "sync.ttl", "must be 1 ..= 255")),
            Some(t) => *t.get_ref(),
            None => 1,
        };
        if let Some(m) = &r.maxlen {
            if !(MIN_MAXLEN..=MAX_MAXLEN).contains(m.get_ref()) {
                let msg = format!("must be {MIN_MAXLEN} ..= {MAX_MAXLEN} (a header and an IPv6 record at least)");
                return Err(self.err(m.span(), "sync.maxlen", msg));
            }
            c.maxlen = *m.get_ref();
        }
        if let Some(t) = &r.threshold {
            let [threshold, period] = t.get_ref()[..] else {
                return Err(self.err(t.span(), "sync.threshold", "expected [THRESHOLD, PERIOD], e.g. [3, 50]"));
            };
            c.policy =
                SyncPolicy::new(threshold, period).map_err(|e| self.err(t.span(), "sync.threshold", e.to_string()))?;
        }
        if let Some(n) = &r.retries {
            if *n.get_ref() > 3 {
                return Err(self.err(n.span(), "sync.retries", "must be 0 ..= 3"));
            }
        }
        c.policy = c.policy.with_refresh(r.refresh_period.unwrap_or(0), r.retries.as_ref().map_or(0, |n| *n.get_ref()));
        if let Some(m) = &r.persist_mode {
            if *m.get_ref() > 1 {
                return Err(self.err(m.span(), "sync.persist_mode", "must be 0 or 1 (IPVS's sync_persist_mode)"));
            }
            c.policy = c.policy.with_persist_mode(*m.get_ref() == 1);
        }
        if let Some(peers) = &r.peers {
            c.peers = Some(peers.iter().map(|p| self.peer(p)).collect::<Result<_, _>>()?);
        }
        (c.master, c.backup) = match r.role.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("both") => (true, true),
            Some("master") => (true, false),
            Some("backup") => (false, true),
            Some(other) => {
                let span = r.role.as_ref().map_or(0..0, |s| s.span());
                return Err(self.err(span, "sync.role", format!("{other:?}: expected master, backup or both")));
            }
        };
        Ok(Some(c))
    }
}
