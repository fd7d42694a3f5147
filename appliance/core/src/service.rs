//! Virtual services and their real servers ("destinations"), as IPVS models them; the
//! snapshot that carries them to the workers is [`crate::Snapshot`].
//!
//! Identity rules the control plane keeps: a [`Dest::id`] and a [`Service::id`] name one
//! object for its whole life; a freed id rests an hour before another object gets it
//! (rvsd's `control::ids`), so per-core counters, loads and persistence templates indexed by
//! id stay with the connections that still drain to the old object.

use crate::wire::Mac;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most real servers (over all services) a snapshot may hold; dest ids are below this.
pub const MAX_DESTS: usize = 4096;
/// The real-server id of synced connections whose real server this director does not have:
/// IPVS keeps such a connection unbound, still forwarding to its address. Never given to a
/// configured real server.
pub const UNBOUND_DEST: u16 = (MAX_DESTS - 1) as u16;
/// Most services a snapshot may hold; service ids are below this.
pub const MAX_SERVICES: usize = 1024;

/// Transport protocol of a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP (`-t`).
    Tcp,
    /// UDP (`-u`).
    Udp,
    /// SCTP (`--sctp-service`; RFC 9260).
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => crate::wire::ipv4::protocol::TCP,
            Protocol::Udp => crate::wire::ipv4::protocol::UDP,
            Protocol::Sctp => crate::wire::ipv4::protocol::SCTP,
        }
    }

    /// The name rvs.toml, the control socket and listings use: `tcp`, `udp` or `sctp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// The name of an IP protocol number as listings show it (`tcp`, `udp`, `sctp`; else `ip`).
    pub fn name_of(number: u8) -> &'static str {
        match number {
            crate::wire::ipv4::protocol::TCP => "tcp",
            crate::wire::ipv4::protocol::UDP => "udp",
            crate::wire::ipv4::protocol::SCTP => "sctp",
            _ => "ip",
        }
    }
}

/// A word that names no protocol or forwarding method; says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected {1}")]
pub struct UnknownName(pub String, pub &'static str);

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Protocol {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            other => Err(UnknownName(other.to_owned(), "tcp, udp or sctp")),
        }
    }
}

/// LVS forwarding method of a real server (`ipvsadm -m / -i / -g`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forward {
    /// Masquerading: rewrite VIP:vport <-> RIP:rport; replies come back through us.
    Nat,
    /// IP-in-IP encapsulation to the real server (RFC 2003); it replies directly.
    Tunnel,
    /// Direct routing: rewrite the destination MAC only; it replies directly.
    DirectRoute,
    /// Full NAT (DPVS's FNAT): both addresses rewritten, CIP:cport <-> LIP:lport (one of the
    /// service's local addresses) as well as VIP:vport <-> RIP:rport, so the real server may
    /// sit anywhere routed and replies come back by ordinary routing.
    FullNat,
}

impl Forward {
    /// True for the methods whose replies come back through the director (NAT, FULLNAT).
    #[inline(always)]
    pub fn sees_replies(self) -> bool {
        matches!(self, Forward::Nat | Forward::FullNat)
    }
}

impl Forward {
    /// The name rvs.toml, the control socket and listings use: `nat`, `dr`, `tun` or `fullnat`.
    pub fn as_str(self) -> &'static str {
        match self {
            Forward::Nat => "nat",
            Forward::DirectRoute => "dr",
            Forward::Tunnel => "tun",
            Forward::FullNat => "fullnat",
        }
    }
}

impl std::fmt::Display for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Forward {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "nat" => Ok(Forward::Nat),
            "dr" => Ok(Forward::DirectRoute),
            "tun" => Ok(Forward::Tunnel),
            "fullnat" => Ok(Forward::FullNat),
            other => Err(UnknownName(other.to_owned(), "nat, dr, tun or fullnat")),
        }
    }
}

pub use crate::encap::{Tunnel, TunnelCsum, TunnelKind};

/// A real server of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// Stable id (index of per-core counters), below [`MAX_DESTS`].
    pub id: u16,
    /// Real server address: of its service's family (IPVS forwards within one family).
    pub addr: IpAddr,
    /// Real server port (NAT may differ from the virtual port; DR/TUN use the virtual port).
    pub port: u16,
    /// Weight; 0 = quiesced (no new connections, existing ones flow).
    pub weight: u32,
    /// Forwarding method.
    pub forward: Forward,
    /// Upper connection threshold (`ipvsadm -x`): at this many connections (active and
    /// inactive, all cores) the server is overloaded and gets no new ones; 0 = none.
    pub u_threshold: u32,
    /// Lower connection threshold (`ipvsadm -y`): an overloaded server takes new connections
    /// again below it (below 3/4 of the upper when 0).
    pub l_threshold: u32,
    /// Encapsulation of a TUN real server (IP-in-IP for the others).
    pub tunnel: Tunnel,
}

impl Dest {
    /// The port a connection to virtual port `vport` reaches on this real server: its own for
    /// NAT and FULLNAT, unless 0 (a firewall-mark service's real server then keeps the packet's
    /// port, as IPVS's `dest->port ? dest->port : vport`); DR and TUN never change it.
    #[inline]
    pub fn port_for(&self, vport: u16) -> u16 {
        if self.forward.sees_replies() && self.port != 0 {
            self.port
        } else {
            vport
        }
    }

    /// A real server without connection thresholds.
    pub fn new(id: u16, addr: impl Into<IpAddr>, port: u16, weight: u32, forward: Forward) -> Self {
        Dest { id, addr: addr.into(), port, weight, forward, u_threshold: 0, l_threshold: 0, tunnel: Tunnel::IPIP }
    }
}

/// A virtual service: (protocol, VIP, port) and its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Stable id, below [`MAX_SERVICES`].
    pub id: u16,
    /// Protocol.
    pub protocol: Protocol,
    /// Virtual IP (IPv4 or IPv6).
    pub vip: IpAddr,
    /// Virtual port.
    pub port: u16,
    /// Scheduler name as `ipvsadm -s` spells it.
    pub scheduler: String,
    /// Scheduler flags (`ipvsadm -b`), IPVS's bits: [`crate::sched::flags`].
    pub sched_flags: u32,
    /// Persistence timeout in seconds (0 = off).
    pub persistence: u32,
    /// Persistence netmask (`-M`), as a prefix length (0..=32 for IPv4, 0..=128 for IPv6).
    pub persistence_prefix: u8,
    /// One-packet scheduling (`ipvsadm -o`, IPVS's `IP_VS_SVC_F_ONEPACKET`): each UDP datagram
    /// is scheduled on its own and leaves no connection entry.
    pub ops: bool,
    /// Firewall mark (`ipvsadm -f`; [`crate::fwmark`]); 0 for a (protocol, VIP, port)
    /// service. A mark's service has no protocol, VIP or port of its own: its `vip` is the
    /// unspecified address of its family (`0.0.0.0`, `::`), its `port` 0, its `protocol`
    /// unused.
    pub fwmark: u32,
    /// The SIP persistence engine (`ipvsadm --pe sip`, IPVS's `ip_vs_pe_sip.c`): persistence by
    /// a datagram's Call-ID (its SIP dialog) instead of the client's network. UDP services with
    /// persistence only.
    pub pe_sip: bool,
    /// Real servers.
    pub dests: Vec<Dest>,
    /// FULLNAT's local addresses (DPVS's `--laddr`), of the service's family: a FULLNAT
    /// connection's real server sees one of these as its client. Answered for by ARP/NDP as
    /// VIPs are.
    pub laddrs: Vec<IpAddr>,
    /// The local ports FULLNAT takes from each local address, inclusive; each worker takes
    /// its own share ([`LocalPorts::share`]).
    pub lports: LocalPorts,
    /// FULLNAT TCP: the client's address and port go to the real server as TOA (TCP option
    /// 254, [`crate::xmit::toa`]) in the segments before its first answer.
    pub toa: bool,
    /// FULLNAT TCP: the PROXY protocol header in front of the client's first data
    /// ([`crate::wire::proxy_protocol`]).
    pub proxy_protocol: crate::wire::proxy_protocol::ProxyProtocol,
    /// FULLNAT UDP over IPv4: the client's address and port to the real server as UOA (an IP
    /// option, [`crate::xmit::uoa`]) on a flow's first datagrams.
    pub uoa: bool,
    /// TCP: rvsd answers SYNs itself with SYN cookies and opens the connection to the real
    /// server only for a client that completed the handshake (DPVS's `--synproxy`,
    /// [`crate::synproxy`]). NAT and FULLNAT real servers only.
    pub synproxy: bool,
    /// The service's own allow and deny lists ([`crate::access`]), beside the director's.
    pub access: crate::access::Access,
}

/// A range of local ports (FULLNAT), inclusive. Port `p` belongs to worker `p % workers`, so a
/// reply's owner core is computed from its destination port alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalPorts {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl Default for LocalPorts {
    /// 1024-65535, as DPVS's.
    fn default() -> Self {
        LocalPorts { lo: 1024, hi: 65535 }
    }
}

impl LocalPorts {
    /// Worker `core`'s share of `cores`: its first port and how many it has (every
    /// `cores`-th port from there).
    #[inline]
    pub fn share(self, core: u16, cores: u16) -> (u16, u32) {
        let cores = u32::from(cores.max(1));
        let (lo, hi) = (u32::from(self.lo), u32::from(self.hi));
        let first = lo + (u32::from(core) + cores - lo % cores) % cores;
        if first > hi {
            return (0, 0);
        }
        (first as u16, (hi - first) / cores + 1)
    }

    /// The core (of `cores`) whose share holds local port `port`.
    #[inline(always)]
    pub fn owner(port: u16, cores: u16) -> u16 {
        port % cores.max(1)
    }
}

/// One of the director's ports as the dataplane sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// The port's MAC.
    pub mac: Mac,
    /// The director's own address on it (DIP).
    pub addr: Ipv4Addr,
    /// Prefix length of the connected network.
    pub prefix_len: u8,
    /// Default next hop reached through this port.
    pub gateway: Option<Ipv4Addr>,
    /// Egress MTU (IP bytes).
    pub mtu: u16,
    /// The port's IPv6 address and prefix length on a dual-stack port.
    pub addr6: Option<(Ipv6Addr, u8)>,
    /// Default IPv6 next hop reached through this port.
    pub gateway6: Option<Ipv6Addr>,
}

impl Interface {
    /// An IPv4-only port.
    pub fn v4(mac: Mac, addr: Ipv4Addr, prefix_len: u8, gateway: Option<Ipv4Addr>, mtu: u16) -> Self {
        Interface { mac, addr, prefix_len, gateway, mtu, addr6: None, gateway6: None }
    }

    /// The port's IPv6 link-local address ([`crate::wire::ipv6::link_local`] of its MAC):
    /// routers and neighbours may solicit it.
    pub fn link_local(&self) -> Ipv6Addr {
        crate::wire::ipv6::link_local(self.mac)
    }

    /// True if `a` is on this port's connected network.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        same_prefix(self.addr, a, self.prefix_len)
    }
}

/// True when `a` and `b` share the first `prefix_len` bits.
pub fn same_prefix(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    let mask = prefix_mask(prefix_len);
    u32::from(a) & mask == u32::from(b) & mask
}

/// A netmask of `prefix_len` bits (0..=32).
pub fn prefix_mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

/// Per-state timeouts in seconds, as `ipvsadm --set tcp tcpfin udp` sets the first three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// ESTABLISHED.
    pub tcp: u32,
    /// FIN_WAIT.
    pub tcpfin: u32,
    /// UDP.
    pub udp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { tcp: 900, tcpfin: 120, udp: 300 }
    }
}

/// How a core defends its connection table (rvs.toml `[overload]`). A core is under
/// *pressure* when its table is `pressure_percent` full (it leaves below that less 10 points),
/// and *full* when a new connection found no free entry (it leaves below 95%).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverloadPolicy {
    /// Fill (percent of a core's table) at which the core is under pressure.
    pub pressure_percent: u8,
    /// Seconds a connection that has not completed its handshake (SYN_RECV) lives while the
    /// core is under pressure or full, instead of 60.
    pub syn_timeout: u32,
    /// Services with a hash scheduler (mh, sh, dh; no persistence) whose real servers are all
    /// DR or TUN forward new flows by the hash, creating no entry, when the table is full or the
    /// core's new-connection rate is above `new_conn_rate`; packets of flows without an entry
    /// are forwarded by the same hash instead of dropped.
    pub stateless_fallback: bool,
    /// New connections per second per core above which such services go stateless; 0 = no limit.
    pub new_conn_rate: u32,
}

impl Default for OverloadPolicy {
    fn default() -> Self {
        OverloadPolicy { pressure_percent: 75, syn_timeout: 5, stateless_fallback: true, new_conn_rate: 0 }
    }
}

/// Longest timeout rvs keeps, in seconds: ipvsadm's `MAX_TIMEOUT` (31 days), the bound of
/// `--set`, `[timeouts]` and persistence, and of the timeouts sync records carry.
pub const MAX_TIMEOUT_S: u32 = 31 * 24 * 3600;

/// Why a snapshot was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Two services with the same (protocol, VIP, port).
    #[error("service {0}: defined twice")]
    DuplicateService(String),
    /// An id out of range or used twice.
    #[error("{what} id {id}: out of range or used twice")]
    BadId {
        /// "service" or "real server".
        what: &'static str,
        /// The id.
        id: u16,
    },
    /// A real server listed twice in one service.
    #[error("service {svc}: real server {dest} listed twice")]
    DuplicateDest {
        /// The service.
        svc: String,
        /// The real server.
        dest: String,
    },
    /// A tunnel or DR real server whose port differs from the virtual port.
    #[error("service {svc}: real server {dest}: port must equal the virtual port for dr and tun")]
    PortMismatch {
        /// The service.
        svc: String,
        /// The real server.
        dest: String,
    },
    /// A NAT real server (protocol, address, port) behind two one-packet services: its
    /// replies, which have no entry, could not be told apart.
    #[error("services {svc} and {other}: NAT real server {dest} of a one-packet (ops) service may serve no other ops service (its replies have no entry to say which)")]
    AmbiguousOpsReal {
        /// The service.
        svc: String,
        /// The other service.
        other: String,
        /// The real server.
        dest: String,
    },
    /// A tunnel option that does not fit the real server (ipvsadm's rules).
    #[error("service {svc}: real server {dest}: {msg}")]
    BadTunnel {
        /// The service.
        svc: String,
        /// The real server.
        dest: String,
        /// What is wrong, in ipvsadm's words.
        msg: String,
    },
    /// A persistence netmask longer than the family's address.
    #[error("service {0}: persistence netmask /{1} is longer than the address")]
    BadNetmask(String, u8),
    /// A real server of another address family than its service's VIP (IPVS forwards within
    /// one family).
    #[error("service {svc}: real server {dest} is not of the VIP's address family")]
    FamilyMismatch {
        /// The service.
        svc: String,
        /// The real server.
        dest: String,
    },
    /// A firewall-mark classifier rule that cannot be used.
    #[error("fwmark rule {rule}: {msg}")]
    BadMarkRule {
        /// The rule.
        rule: String,
        /// What is wrong.
        msg: String,
    },
    /// A firewall-mark service that is one-packet with NAT real servers: their replies have no
    /// entry to say which VIP and port they answer.
    #[error("service {0}: a one-packet (ops) firewall-mark service cannot have NAT real servers (their replies have no entry to say which VIP:port they answer)")]
    OpsFwmarkNat(String),
    /// A persistence engine where it cannot work.
    #[error("service {0}: the SIP persistence engine (--pe sip) needs a UDP service with persistence (-p)")]
    BadPe(String),
    /// A scheduler name rvs does not know.
    #[error("service {svc}: unknown scheduler {name:?}")]
    UnknownScheduler {
        /// The service.
        svc: String,
        /// The name given.
        name: String,
    },
    /// No interfaces.
    #[error("no interface configured")]
    NoInterface,
    /// A SNAT rule that cannot work.
    #[error("{rule}: {msg}")]
    BadSnat {
        /// The rule.
        rule: String,
        /// What is wrong.
        msg: String,
    },
    /// A SYN proxy that cannot work on this service.
    #[error("service {svc}: synproxy: {msg}")]
    BadSynProxy {
        /// The service.
        svc: String,
        /// What is wrong.
        msg: String,
    },
    /// A FULLNAT service's local addresses or ports that cannot work.
    #[error("service {svc}: {msg}")]
    BadLocalAddr {
        /// The service.
        svc: String,
        /// What is wrong.
        msg: String,
    },
}

impl Service {
    /// `tcp 198.18.0.100:80` (IPv6: `tcp [2001:db8::100]:80`) style name for messages and
    /// listings.
    pub fn name(&self) -> String {
        match (self.fwmark, self.vip.is_ipv6()) {
            (0, _) => format!("{} {}", self.protocol, std::net::SocketAddr::new(self.vip, self.port)),
            (m, false) => format!("fwmark {m}"),
            (m, true) => format!("fwmark {m} IPv6"),
        }
    }

    /// True for a firewall-mark service ([`crate::fwmark`]).
    #[inline]
    pub fn is_fwmark(&self) -> bool {
        self.fwmark != 0
    }

    /// What is wrong with this service's FULLNAT set-up, if anything: its local addresses must
    /// be of its family (an IPv6 service's may be IPv4 too, for NAT64), distinct, and a FULLNAT
    /// real server needs one of its own family; its port range must be ordered and above 0.
    pub fn check_local_addrs(&self) -> Result<(), ConfigError> {
        let bad = |msg: String| Err(ConfigError::BadLocalAddr { svc: self.name(), msg });
        if let Some(a) = self.laddrs.iter().find(|a| a.is_ipv6() && self.vip.is_ipv4()) {
            return bad(format!("local address {a} is not of the service's address family"));
        }
        if let Some((i, a)) = self.laddrs.iter().enumerate().find(|(i, a)| self.laddrs[..*i].contains(a)) {
            return bad(format!("local address {a} listed twice (at {i})"));
        }
        for d in self.dests.iter().filter(|d| d.forward == Forward::FullNat) {
            if !self.laddrs.iter().any(|a| a.is_ipv4() == d.addr.is_ipv4()) {
                let family = if d.addr.is_ipv4() { "an IPv4" } else { "an IPv6" };
                return bad(format!(
                    "FULLNAT real server {} needs {family} local address (laddrs, rvsadm --add-laddr)",
                    std::net::SocketAddr::new(d.addr, d.port)
                ));
            }
        }
        let tcp = self.protocol == Protocol::Tcp || self.is_fwmark();
        if !tcp && (self.toa || self.proxy_protocol != crate::wire::proxy_protocol::ProxyProtocol::Off) {
            return bad("toa and proxy_protocol go with TCP services".into());
        }
        if self.uoa && (self.vip.is_ipv6() || !(self.protocol == Protocol::Udp || self.is_fwmark())) {
            return bad("uoa goes with IPv4 UDP services (IPv6's, DPVS's option protocol, is not written)".into());
        }
        if self.synproxy {
            crate::synproxy::check_service(self)?;
        }
        if self.lports.lo == 0 || self.lports.lo > self.lports.hi {
            return bad(format!(
                "local ports {}-{}: the range must be ordered and start above 0",
                self.lports.lo, self.lports.hi
            ));
        }
        Ok(())
    }
}
