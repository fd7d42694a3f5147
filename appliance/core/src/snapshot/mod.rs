//! The immutable configuration a worker runs on: interfaces, services, neighbours, timeouts,
//! plus the lookup indexes built once on the control path. Workers swap to a new snapshot at
//! a burst boundary (`Pipeline::apply`); nothing in it changes while packets are processed.

mod access_index;
mod family_index;
mod served;
mod snat_index;

use family_index::NONE;
pub use family_index::{FamilyIndex, OpsReal, RealServerRoute, Route};

use crate::family::AddrKey;
use crate::service::{ConfigError, Forward, Interface, OverloadPolicy, Service, Timeouts, MAX_DESTS, MAX_SERVICES};
use crate::wire::Mac;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Everything the dataplane needs to know about the configuration.
#[derive(Debug, Clone)]
pub struct Snapshot {
    interfaces: Vec<Interface>,
    services: Vec<Service>,
    /// The IPv4 side's indexes.
    v4: FamilyIndex<u32>,
    /// The IPv6 side's indexes.
    v6: FamilyIndex<u128>,
    timeouts: Timeouts,
    kernel_exception: bool,
    /// Service id -> position in `services` (NONE if absent).
    svc_by_id: Vec<u32>,
    /// Real-server id -> (service position, index in its list); NONE if absent.
    dest_loc: Vec<(u32, u32)>,
    /// Service id -> its connections are steered to an owner core (NAT reals or persistence).
    steered: Vec<bool>,
    /// Service id -> only FULLNAT real servers and no persistence: never steered, not even
    /// under `steer_all` (a connection lives on the worker whose local port it holds, which
    /// took the client's packets as the NIC spread them).
    fullnat_only: Vec<bool>,
    /// Client addresses are masked to this prefix to pick the owner core, so a persistent
    /// client network stays on one core. Set by the daemon once for its life
    /// ([`Snapshot::with_steer_prefix`]): if it moved with live edits, established connections
    /// would be looked for on another core than the one holding them.
    steer_prefix: u8,
    /// The same for IPv6 clients.
    steer_prefix6: u8,
    /// How cores defend their tables.
    overload: OverloadPolicy,
    /// How the SYN proxy answers and gives up (rvs.toml `[synproxy]`).
    synproxy: crate::synproxy::SynProxyPolicy,
    /// Service id -> may forward without an entry (see [`OverloadPolicy::stateless_fallback`]).
    stateless: Vec<bool>,
    /// Ids of the real servers with an upper connection threshold.
    thresholded: Vec<u16>,
    /// Real-server id -> its service's scheduler follows loads ([`crate::sched::follows_loads`]).
    load_followed: Vec<bool>,
    /// The sync master role: when set, client packets queue connection records for backups.
    sync_master: Option<crate::conn::SyncPolicy>,
    /// False when only some VIPs are held here (VRRP): each family's `vips` then lists those,
    /// and a new connection is made only to them.
    serves_all: bool,
    /// Every service's connections live on their client's owner core (the sync backup role:
    /// a received record is installed on the owner core, which must then see the flow).
    steer_all: bool,
    /// Scale-out behind a router (`[ha] mode = "ecmp"`): VIPs are routed here, not on-link.
    ecmp: bool,
    /// `sloppy_tcp` is on.
    sloppy_tcp: bool,
    /// Per service id: a TCP segment other than a SYN may start a connection (`sloppy_tcp`
    /// and a hash scheduler).
    picks_up: Vec<bool>,
    /// By real-server id: the encapsulation of a TUN real server, of this snapshot's or of one
    /// deleted while its id rests (its connections still drain, wrapped as it expects); kept
    /// apart from the routes so that NAT and DR packets never read it.
    tunnels: Vec<crate::encap::Tunnel>,
    /// IPVS's knobs that act on packets.
    knobs: crate::knobs::Knobs,
    /// FULLNAT local addresses deleted while their connections drain: still answered for.
    draining_laddrs: Vec<IpAddr>,
    /// SNAT rules, in order (the first that matches a packet is its rule).
    snat: Vec<crate::snat::SnatRule>,
    /// Allow and deny lists ([`crate::access`]): the director's, then by service id.
    access: crate::access::Access,
    svc_access: Vec<crate::access::Access>,
    /// Some list is set: a new connection's client is looked up.
    access_any: bool,
    /// The director's deny list drops every packet from its sources, before any table.
    blackhole: bool,
}

/// An address family as the snapshot indexes it: [`Snapshot::family`] selects its part.
pub trait Family: AddrKey {
    /// This family's indexes in `snap`.
    fn index(snap: &Snapshot) -> &FamilyIndex<Self>;
    /// The prefix clients of this family are masked to for the owner core.
    fn steer_prefix(snap: &Snapshot) -> u8;
}

impl Family for u32 {
    #[inline(always)]
    fn index(snap: &Snapshot) -> &FamilyIndex<u32> {
        &snap.v4
    }
    #[inline(always)]
    fn steer_prefix(snap: &Snapshot) -> u8 {
        snap.steer_prefix
    }
}

impl Family for u128 {
    #[inline(always)]
    fn index(snap: &Snapshot) -> &FamilyIndex<u128> {
        &snap.v6
    }
    #[inline(always)]
    fn steer_prefix(snap: &Snapshot) -> u8 {
        snap.steer_prefix6
    }
}

impl Snapshot {
    /// Validates and indexes a configuration (services of both families; static neighbours
    /// of either). Nothing is changed on error.
    pub fn new<A: Into<IpAddr>>(
        interfaces: Vec<Interface>,
        services: Vec<Service>,
        neighbours: Vec<(A, Mac)>,
        timeouts: Timeouts,
    ) -> Result<Self, ConfigError> {
        if interfaces.is_empty() {
            return Err(ConfigError::NoInterface);
        }
        let neighbours: Vec<(IpAddr, Mac)> = neighbours.into_iter().map(|(a, m)| (a.into(), m)).collect();
        let mut seen_svc = vec![false; MAX_SERVICES];
        let mut seen_dest = vec![false; MAX_DESTS];
        for s in &services {
            let sid = usize::from(s.id);
            // Ids from SNAT_SVC_BASE up are SNAT rules' (their traffic counts as a service's).
            if sid >= usize::from(crate::snat::SNAT_SVC_BASE) || std::mem::replace(&mut seen_svc[sid], true) {
                return Err(ConfigError::BadId { what: "service", id: s.id });
            }
            if crate::sched::new_scheduler(&s.scheduler).is_none() {
                return Err(ConfigError::UnknownScheduler { svc: s.name(), name: s.scheduler.clone() });
            }
            if s.persistence_prefix > if s.vip.is_ipv4() { 32 } else { 128 } {
                return Err(ConfigError::BadNetmask(s.name(), s.persistence_prefix));
            }
            if s.pe_sip && (s.persistence == 0 || s.protocol != crate::service::Protocol::Udp || s.is_fwmark()) {
                return Err(ConfigError::BadPe(s.name()));
            }
            if s.is_fwmark() && s.ops && s.dests.iter().any(|d| d.forward == Forward::Nat) {
                return Err(ConfigError::OpsFwmarkNat(s.name()));
            }
            if s.ops && s.dests.iter().any(|d| d.forward == Forward::FullNat) {
                let msg =
                    "a one-packet (ops) service cannot have FULLNAT real servers (a local port is a connection's)";
                return Err(ConfigError::BadLocalAddr { svc: s.name(), msg: msg.into() });
            }
            for (i, d) in s.dests.iter().enumerate() {
                let did = usize::from(d.id);
                let dest = || std::net::SocketAddr::new(d.addr, d.port).to_string();
                if d.id >= crate::service::UNBOUND_DEST || std::mem::replace(&mut seen_dest[did], true) {
                    return Err(ConfigError::BadId { what: "real server", id: d.id });
                }
                // NAT64: an IPv6 VIP's FULLNAT real servers may be IPv4 (never the other way).
                let nat64 = s.vip.is_ipv6() && d.addr.is_ipv4() && d.forward == Forward::FullNat && !s.is_fwmark();
                if d.addr.is_ipv4() != s.vip.is_ipv4() && !nat64 {
                    return Err(ConfigError::FamilyMismatch { svc: s.name(), dest: dest() });
                }
                if s.dests[..i].iter().any(|o| o.addr == d.addr && o.port == d.port) {
                    return Err(ConfigError::DuplicateDest { svc: s.name(), dest: dest() });
                }
                if !d.forward.sees_replies() && d.port != s.port && !s.is_fwmark() {
                    return Err(ConfigError::PortMismatch { svc: s.name(), dest: dest() });
                }
                if d.tunnel != crate::encap::Tunnel::IPIP && d.forward != Forward::Tunnel {
                    let msg = "tunnel options conflict with forward method".into();
                    return Err(ConfigError::BadTunnel { svc: s.name(), dest: dest(), msg });
                }
                d.tunnel.check().map_err(|msg| ConfigError::BadTunnel { svc: s.name(), dest: dest(), msg })?;
            }
            s.check_local_addrs()?;
        }
        Self::check_laddrs_apart(&services)?;
        let v4 = FamilyIndex::<u32>::build(
            &interfaces,
            &services,
            &neighbours,
            |i| Some((u32::from(i.addr), i.prefix_len)),
            |i| i.gateway.map(u32::from),
            |_| None,
        )?;
        let v6 = FamilyIndex::<u128>::build(
            &interfaces,
            &services,
            &neighbours,
            |i| i.addr6.map(|(a, p)| (u128::from(a), p)),
            |i| i.gateway6.map(u128::from),
            |i| Some(u128::from(i.link_local())),
        )?;
        let mut steered = vec![false; MAX_SERVICES];
        let mut fullnat_only = vec![false; MAX_SERVICES];
        for s in &services {
            let nat = s.dests.iter().any(|d| d.forward == Forward::Nat);
            steered[usize::from(s.id)] = nat || s.persistence > 0;
            fullnat_only[usize::from(s.id)] =
                s.persistence == 0 && !s.dests.is_empty() && s.dests.iter().all(|d| d.forward == Forward::FullNat);
        }
        let mut stateless = vec![false; MAX_SERVICES];
        for s in &services {
            stateless[usize::from(s.id)] = crate::sched::is_hash(&s.scheduler)
                && s.persistence == 0
                && !s.dests.is_empty()
                && s.dests.iter().all(|d| !d.forward.sees_replies());
        }
        let thresholded = services.iter().flat_map(|s| &s.dests).filter(|d| d.u_threshold > 0).map(|d| d.id).collect();
        let mut load_followed = vec![false; MAX_DESTS];
        for s in services.iter().filter(|s| crate::sched::follows_loads(&s.scheduler)) {
            for d in &s.dests {
                load_followed[usize::from(d.id)] = true;
            }
        }
        let mut svc_by_id = vec![NONE; MAX_SERVICES];
        let mut dest_loc = vec![(NONE, NONE); MAX_DESTS];
        for (pos, s) in services.iter().enumerate() {
            svc_by_id[usize::from(s.id)] = pos as u32;
            for (i, d) in s.dests.iter().enumerate() {
                dest_loc[usize::from(d.id)] = (pos as u32, i as u32);
            }
        }
        let mut tunnels = vec![crate::encap::Tunnel::IPIP; MAX_DESTS];
        for d in services.iter().flat_map(|s| &s.dests) {
            tunnels[usize::from(d.id)] = d.tunnel;
        }
        let snap = Snapshot {
            steered,
            fullnat_only,
            steer_prefix: 32,
            steer_prefix6: 128,
            svc_by_id,
            dest_loc,
            interfaces,
            services,
            v4,
            v6,
            timeouts,
            kernel_exception: false,
            overload: OverloadPolicy::default(),
            synproxy: crate::synproxy::SynProxyPolicy::default(),
            stateless,
            thresholded,
            load_followed,
            sync_master: None,
            serves_all: true,
            steer_all: false,
            ecmp: false,
            sloppy_tcp: false,
            picks_up: vec![false; MAX_SERVICES],
            tunnels,
            knobs: crate::knobs::Knobs::default(),
            draining_laddrs: Vec::new(),
            snat: Vec::new(),
            access: crate::access::Access::default(),
            svc_access: Vec::new(),
            access_any: false,
            blackhole: false,
        };
        Ok(snap.with_access(crate::access::Access::default(), false).with_held_vips(None))
    }

    /// Family `K`'s indexes (`u32`: IPv4, `u128`: IPv6).
    #[inline(always)]
    pub fn family<K: Family>(&self) -> &FamilyIndex<K> {
        K::index(self)
    }

    /// How to reach real server `id`, if it is in this snapshot at IPv4 address `addr` and routed.
    #[inline]
    pub fn real_server_route(&self, id: u16, addr: u32) -> Option<&RealServerRoute> {
        self.v4.real_server_route(id, addr)
    }

    /// The prefix IPv4 client addresses are masked to for the owner core (32 by default). The
    /// daemon fixes it at start; the control plane refuses persistence netmasks coarser than it.
    pub fn with_steer_prefix(mut self, prefix: u8) -> Self {
        self.steer_prefix = prefix.min(32);
        self
    }

    /// [`Snapshot::with_steer_prefix`] for IPv6 clients (128 by default).
    pub fn with_steer_prefix6(mut self, prefix: u8) -> Self {
        self.steer_prefix6 = prefix.min(128);
        self
    }

    /// Hands traffic that is not ours to the kernel instead of dropping it (a TAP exception
    /// port carries it to the host's stack).
    pub fn with_kernel_exception(mut self, on: bool) -> Self {
        self.kernel_exception = on;
        self
    }
    /// The table defences cores apply (rvs.toml `[overload]`).
    pub fn with_overload(mut self, policy: OverloadPolicy) -> Self {
        self.overload = policy;
        self
    }
    /// The table defences in force.
    #[inline]
    pub fn overload(&self) -> &OverloadPolicy {
        &self.overload
    }
    /// The SYN proxy's options and limits (rvs.toml `[synproxy]`).
    pub fn with_synproxy(mut self, policy: crate::synproxy::SynProxyPolicy) -> Self {
        self.synproxy = policy;
        self
    }
    /// The SYN proxy's options and limits in force.
    #[inline]
    pub fn synproxy(&self) -> &crate::synproxy::SynProxyPolicy {
        &self.synproxy
    }
    /// True when service `id` forwards flows without an entry by its hash under overload
    /// (a hash scheduler, no persistence, only DR/TUN real servers, and the policy allows it).
    #[inline]
    pub fn stateless_capable(&self, id: u16) -> bool {
        self.overload.stateless_fallback && self.stateless.get(usize::from(id)).copied().unwrap_or(false)
    }
    /// Runs the sync master role with `policy` (or stops it with `None`).
    pub fn with_sync_master(mut self, policy: Option<crate::conn::SyncPolicy>) -> Self {
        self.sync_master = policy;
        self
    }
    /// Steers every service's connections to their client's owner core, as persistent and NAT
    /// services are (the sync backup role needs it with more than one worker).
    pub fn with_steer_all(mut self, on: bool) -> Self {
        self.steer_all = on;
        self
    }

    /// IPVS's knobs ([`crate::knobs`]).
    pub fn with_knobs(mut self, k: crate::knobs::Knobs) -> Self {
        self.knobs = k;
        self
    }

    /// The knobs in force.
    #[inline(always)]
    pub fn knobs(&self) -> &crate::knobs::Knobs {
        &self.knobs
    }

    /// The encapsulations of deleted TUN real servers whose connections may still drain (ids
    /// not in this snapshot's services).
    pub fn with_retired_tunnels(mut self, retired: Vec<(u16, crate::encap::Tunnel)>) -> Self {
        for (id, t) in retired {
            if self.dest_loc.get(usize::from(id)).is_some_and(|l| l.0 == NONE) {
                self.tunnels[usize::from(id)] = t;
            }
        }
        self
    }

    /// Real server `id`'s encapsulation (IP-in-IP unless configured otherwise).
    #[inline]
    pub fn tunnel_of(&self, id: u16) -> crate::encap::Tunnel {
        self.tunnels.get(usize::from(id)).copied().unwrap_or(crate::encap::Tunnel::IPIP)
    }
    /// Scale-out behind a router (`ecmp`: VIPs are routed here, so no ARP for them) and IPVS's
    /// `sloppy_tcp` (a segment other than a SYN starts a connection, for hash schedulers only).
    pub fn with_ecmp(mut self, ecmp: bool, sloppy_tcp: bool) -> Self {
        self.ecmp = ecmp;
        self.sloppy_tcp = sloppy_tcp;
        self.picks_up = vec![false; MAX_SERVICES];
        for s in self.services.iter().filter(|s| sloppy_tcp && crate::sched::is_hash(&s.scheduler)) {
            self.picks_up[usize::from(s.id)] = true;
        }
        self
    }
    /// True when VIPs are routed to this director, not on-link (`ecmp`).
    #[inline]
    pub fn vips_routed(&self) -> bool {
        self.ecmp
    }
    /// True when `sloppy_tcp` is on.
    #[inline]
    pub fn sloppy_tcp(&self) -> bool {
        self.sloppy_tcp
    }
    /// True when a TCP segment other than a SYN may start a connection of service `id`.
    #[inline]
    pub fn picks_up(&self, id: u16) -> bool {
        self.picks_up.get(usize::from(id)).copied().unwrap_or(false)
    }
    /// The sync master role's policy, when it runs.
    #[inline]
    pub fn sync_master(&self) -> Option<&crate::conn::SyncPolicy> {
        self.sync_master.as_ref()
    }
    /// True when real server `id`'s scheduler must hear of its load changes.
    #[inline]
    pub fn load_followed(&self, id: u16) -> bool {
        self.load_followed.get(usize::from(id)).copied().unwrap_or(false)
    }
    /// Ids of the real servers that have an upper connection threshold.
    pub fn thresholded(&self) -> &[u16] {
        &self.thresholded
    }
    /// True when traffic that is not ours goes to the kernel.
    #[inline]
    pub fn kernel_exception(&self) -> bool {
        self.kernel_exception
    }
    /// The interfaces (index = port number).
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }
    /// All services.
    pub fn services(&self) -> &[Service] {
        &self.services
    }
    /// Timeouts.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }
    /// True when connections of service `id` are steered to an owner core.
    #[inline]
    pub fn steered(&self, id: u16) -> bool {
        let i = usize::from(id);
        (self.steer_all && !self.fullnat_only.get(i).copied().unwrap_or(false))
            || self.steered.get(i).copied().unwrap_or(false)
    }
    /// The service with id `id`.
    #[inline]
    pub fn service_by_id(&self, id: u16) -> Option<&Service> {
        let p = *self.svc_by_id.get(usize::from(id))?;
        (p != NONE).then(|| &self.services[p as usize])
    }
    /// Where real server `id` is: its service and its index in that service's list.
    #[inline]
    pub fn dest_loc(&self, id: u16) -> Option<(&Service, usize)> {
        let (p, i) = *self.dest_loc.get(usize::from(id))?;
        (p != NONE).then(|| (&self.services[p as usize], i as usize))
    }

    /// The prefix IPv4 client addresses are masked to for the owner core.
    pub fn steer_prefix(&self) -> u8 {
        self.steer_prefix
    }

    /// The prefix IPv6 client addresses are masked to for the owner core.
    pub fn steer_prefix6(&self) -> u8 {
        self.steer_prefix6
    }

    /// True when (protocol, IPv4 address, port) is a NAT real server (its packets may be replies).
    #[inline]
    pub fn is_nat_real(&self, proto: u8, addr: Ipv4Addr, port: u16) -> bool {
        self.v4.is_nat_real(proto, u32::from(addr), port)
    }

    /// The core (of `cores`) that owns connections of IPv4 client `client`: both directions
    /// of a NAT connection compute the same one (from the client address), as do all clients
    /// of a persistent network.
    #[inline]
    pub fn owner(&self, client: Ipv4Addr, cores: u16) -> u16 {
        self.owner_of(u32::from(client), cores)
    }

    /// [`Snapshot::owner`] for a client of either family.
    pub fn owner_ip(&self, client: IpAddr, cores: u16) -> u16 {
        match client {
            IpAddr::V4(a) => self.owner_of(u32::from(a), cores),
            IpAddr::V6(a) => self.owner_of(u128::from(a), cores),
        }
    }

    /// [`Snapshot::owner`] for a client key of family `K`.
    #[inline]
    pub fn owner_of<K: Family>(&self, client: K, cores: u16) -> u16 {
        if cores <= 1 {
            return 0;
        }
        let k = client.masked(K::steer_prefix(self)).fold64();
        let h = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32;
        ((u64::from(h) * u64::from(cores)) >> 32) as u16
    }

    /// The service for (protocol, IPv4 VIP, port), if any.
    #[inline]
    pub fn service(&self, proto: u8, vip: Ipv4Addr, port: u16) -> Option<&Service> {
        self.service_of(proto, u32::from(vip), port)
    }

    /// The service for (protocol, VIP, port) of family `K`, if any.
    #[inline]
    pub fn service_of<K: Family>(&self, proto: u8, vip: K, port: u16) -> Option<&Service> {
        K::index(self).service_pos(&self.services, proto, vip, port).map(|p| &self.services[p])
    }

    /// The service for (protocol, VIP, port) of either family (control path).
    pub fn service_ip(&self, proto: u8, vip: IpAddr, port: u16) -> Option<&Service> {
        match vip {
            IpAddr::V4(a) => self.service_of(proto, u32::from(a), port),
            IpAddr::V6(a) => self.service_of(proto, u128::from(a), port),
        }
    }

    /// The firewall-mark classifier ([`crate::fwmark`]): `rules` in order, first match wins.
    /// Call before [`Snapshot::with_held_vips`] (this serves every VIP again). Nothing is
    /// changed on error.
    pub fn with_mark_rules(mut self, rules: &[crate::fwmark::MarkRule]) -> Result<Self, ConfigError> {
        for r in rules {
            r.check().map_err(|msg| ConfigError::BadMarkRule { rule: r.describe(), msg })?;
        }
        self.v4.mark_rules = rules.iter().filter_map(crate::fwmark::FamilyMarkRule::of).collect();
        self.v6.mark_rules = rules.iter().filter_map(crate::fwmark::FamilyMarkRule::of).collect();
        Ok(self.with_held_vips(None))
    }

    /// The firewall-mark service for `mark` of family `K`.
    #[inline]
    pub fn service_by_mark<K: Family>(&self, mark: u32) -> Option<&Service> {
        K::index(self).mark_service_pos(mark).map(|p| &self.services[p])
    }

    /// True when new connections to IPv4 `vip` are made here (it is held, or every VIP is).
    #[inline]
    pub fn serves(&self, vip: Ipv4Addr) -> bool {
        self.serves_of(u32::from(vip))
    }

    /// [`Snapshot::serves`] for a VIP of family `K`.
    #[inline]
    pub fn serves_of<K: Family>(&self, vip: K) -> bool {
        self.serves_all || K::index(self).is_vip(vip)
    }

    /// The VIPs served here, of both families: every configured one, or those held (VRRP).
    pub fn served_vips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let v4 = self.v4.vips.iter().map(|v| IpAddr::V4(Ipv4Addr::from(*v)));
        v4.chain(self.v6.vips.iter().map(|v| IpAddr::V6(Ipv6Addr::from(*v))))
    }

    /// True if IPv4 `a` is a VIP of some service, served here (see [`Snapshot::with_held_vips`]).
    #[inline]
    pub fn is_vip(&self, a: Ipv4Addr) -> bool {
        self.v4.is_vip(u32::from(a))
    }

    /// The port whose own IPv4 address (DIP) is `a`.
    #[inline]
    pub fn local_port(&self, a: Ipv4Addr) -> Option<u16> {
        self.v4.local_port(u32::from(a))
    }

    /// The static neighbour entry for IPv4 `a`.
    #[inline]
    pub fn neighbour(&self, a: Ipv4Addr) -> Option<Mac> {
        self.v4.neighbour(u32::from(a))
    }

    /// Route to IPv4 `dst`: the connected network with the longest prefix, else the first
    /// port with a gateway.
    #[inline]
    pub fn route(&self, dst: Ipv4Addr) -> Option<Route> {
        self.route_with_mac(dst).map(|(r, _)| r)
    }

    /// [`Snapshot::route`], with the next hop's static MAC where the route is the default one
    /// and the configuration gives the gateway's MAC (a connected next hop: `None`, look it up).
    #[inline]
    pub fn route_with_mac(&self, dst: Ipv4Addr) -> Option<(Route, Option<Mac>)> {
        self.v4.route_with_mac(u32::from(dst))
    }
}
