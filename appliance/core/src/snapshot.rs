//! The immutable configuration a worker runs on: interfaces, services, neighbours, timeouts,
//! plus the lookup indexes built once on the control path. Workers swap to a new snapshot at
//! a burst boundary (`Pipeline::apply`); nothing in it changes while packets are processed.

use crate::service::{ConfigError, Forward, Interface, OverloadPolicy, Service, Timeouts, MAX_DESTS, MAX_SERVICES};
use crate::wire::Mac;
use std::net::Ipv4Addr;

/// Everything the dataplane needs to know about the configuration.
#[derive(Debug, Clone)]
pub struct Snapshot {
    interfaces: Vec<Interface>,
    services: Vec<Service>,
    /// Open-addressing index (protocol, vip, port) -> position in `services`; NONE = empty.
    svc_index: Vec<u32>,
    svc_mask: usize,
    /// Sorted, distinct VIPs (answered for by ARP).
    vips: Vec<u32>,
    /// Sorted static neighbours (IPv4 -> MAC).
    neighbours: Vec<(u32, Mac)>,
    timeouts: Timeouts,
    kernel_exception: bool,
    /// Service id -> position in `services` (NONE if absent).
    svc_by_id: Vec<u32>,
    /// Real-server id -> (service position, index in its list); NONE if absent.
    dest_loc: Vec<(u32, u32)>,
    /// Service id -> its connections are steered to an owner core (NAT reals or persistence).
    steered: Vec<bool>,
    /// Sorted (protocol, address, port) of every NAT real server: sources of replies.
    nat_reals: Vec<(u8, u32, u16)>,
    /// Client addresses are masked to this prefix to pick the owner core, so a persistent
    /// client network stays on one core. Set by the daemon once for its life
    /// ([`Snapshot::with_steer_prefix`]): if it moved with live edits, established connections
    /// would be looked for on another core than the one holding them.
    steer_prefix: u8,
    /// By real-server id: its route and static next-hop MAC, worked out once here so that a
    /// packet to a real server does no route or neighbour search.
    real_routes: Vec<Option<RealServerRoute>>,
    /// Connected networks, longest prefix first (ties in port order): (network, mask, port).
    connected: Vec<(u32, u32, u16)>,
    /// The default route (the first port with a gateway) and the gateway's static MAC.
    default_route: Option<(Route, Option<Mac>)>,
    /// How cores defend their tables.
    overload: OverloadPolicy,
    /// Service id -> may forward without an entry (see [`OverloadPolicy::stateless_fallback`]).
    stateless: Vec<bool>,
    /// Ids of the real servers with an upper connection threshold.
    thresholded: Vec<u16>,
    /// Real-server id -> its service's scheduler follows loads ([`crate::sched::follows_loads`]).
    load_followed: Vec<bool>,
    /// The sync master role: when set, client packets queue connection records for backups.
    sync_master: Option<crate::conn::SyncPolicy>,
    /// False when only some VIPs are held here (VRRP): `vips` then lists those, and a new
    /// connection is made only to them.
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
}

/// How to reach one real server: computed per snapshot, read per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealServerRoute {
    /// The real server's address (a connection's `daddr` must match to use the hop).
    pub addr: Ipv4Addr,
    /// Its route.
    pub route: Route,
    /// The next hop's MAC when the configuration gives it; otherwise learned by ARP.
    pub mac: Option<Mac>,
}

const NONE: u32 = u32::MAX;

#[inline]
fn svc_hash(proto: u8, vip: u32, port: u16) -> usize {
    // Multiplicative mix (Fibonacci hashing); services are few and chosen by the operator.
    let k = u64::from(vip) << 24 | u64::from(port) << 8 | u64::from(proto);
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize
}

/// Where to send a packet for an address: out of `port`, to the neighbour `next_hop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Egress port (index into the interfaces).
    pub port: u16,
    /// The on-link next hop (the address itself, or a gateway).
    pub next_hop: Ipv4Addr,
}

impl Snapshot {
    /// Validates and indexes a configuration. Nothing is changed on error.
    pub fn new(
        interfaces: Vec<Interface>,
        services: Vec<Service>,
        neighbours: Vec<(Ipv4Addr, Mac)>,
        timeouts: Timeouts,
    ) -> Result<Self, ConfigError> {
        if interfaces.is_empty() {
            return Err(ConfigError::NoInterface);
        }
        let mut seen_svc = vec![false; MAX_SERVICES];
        let mut seen_dest = vec![false; MAX_DESTS];
        for s in &services {
            let sid = usize::from(s.id);
            if sid >= MAX_SERVICES || std::mem::replace(&mut seen_svc[sid], true) {
                return Err(ConfigError::BadId { what: "service", id: s.id });
            }
            if crate::sched::new_scheduler(&s.scheduler).is_none() {
                return Err(ConfigError::UnknownScheduler { svc: s.name(), name: s.scheduler.clone() });
            }
            if s.persistence_prefix > 32 {
                return Err(ConfigError::BadNetmask(s.name(), s.persistence_prefix));
            }
            for (i, d) in s.dests.iter().enumerate() {
                let did = usize::from(d.id);
                if d.id >= crate::service::UNBOUND_DEST || std::mem::replace(&mut seen_dest[did], true) {
                    return Err(ConfigError::BadId { what: "real server", id: d.id });
                }
                if s.dests[..i].iter().any(|o| o.addr == d.addr && o.port == d.port) {
                    return Err(ConfigError::DuplicateDest { svc: s.name(), dest: format!("{}:{}", d.addr, d.port) });
                }
                if d.forward != Forward::Nat && d.port != s.port {
                    return Err(ConfigError::PortMismatch { svc: s.name(), dest: format!("{}:{}", d.addr, d.port) });
                }
            }
        }
        let size = (services.len() * 2).next_power_of_two().max(8);
        let mut svc_index = vec![NONE; size];
        let mask = size - 1;
        for (pos, s) in services.iter().enumerate() {
            let mut i = svc_hash(s.protocol.number(), u32::from(s.vip), s.port) & mask;
            loop {
                match svc_index[i] {
                    NONE => {
                        svc_index[i] = pos as u32;
                        break;
                    }
                    other => {
                        let o = &services[other as usize];
                        if o.protocol == s.protocol && o.vip == s.vip && o.port == s.port {
                            return Err(ConfigError::DuplicateService(s.name()));
                        }
                        i = (i + 1) & mask;
                    }
                }
            }
        }
        let mut vips: Vec<u32> = services.iter().map(|s| u32::from(s.vip)).collect();
        vips.sort_unstable();
        vips.dedup();
        let mut neighbours: Vec<(u32, Mac)> = neighbours.into_iter().map(|(a, m)| (u32::from(a), m)).collect();
        neighbours.sort_unstable_by_key(|n| n.0);
        neighbours.dedup_by_key(|n| n.0);
        let mut steered = vec![false; MAX_SERVICES];
        let mut nat_reals = Vec::new();
        for s in &services {
            let nat = s.dests.iter().any(|d| d.forward == Forward::Nat);
            steered[usize::from(s.id)] = nat || s.persistence > 0;
            for d in s.dests.iter().filter(|d| d.forward == Forward::Nat) {
                nat_reals.push((s.protocol.number(), u32::from(d.addr), d.port));
            }
        }
        nat_reals.sort_unstable();
        nat_reals.dedup();
        let mut stateless = vec![false; MAX_SERVICES];
        for s in &services {
            stateless[usize::from(s.id)] = crate::sched::is_hash(&s.scheduler)
                && s.persistence == 0
                && !s.dests.is_empty()
                && s.dests.iter().all(|d| d.forward != Forward::Nat);
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
        let mut snap = Snapshot {
            steered,
            nat_reals,
            steer_prefix: 32,
            svc_by_id,
            dest_loc,
            interfaces,
            services,
            svc_index,
            svc_mask: mask,
            vips,
            neighbours,
            timeouts,
            kernel_exception: false,
            real_routes: Vec::new(),
            connected: Vec::new(),
            default_route: None,
            overload: OverloadPolicy::default(),
            stateless,
            thresholded,
            load_followed,
            sync_master: None,
            serves_all: true,
            steer_all: false,
            ecmp: false,
            sloppy_tcp: false,
            picks_up: vec![false; MAX_SERVICES],
        };
        let mut connected: Vec<(u32, u32, u16, u8)> = snap
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, itf)| {
                let mask = crate::service::prefix_mask(itf.prefix_len);
                (u32::from(itf.addr) & mask, mask, i as u16, itf.prefix_len)
            })
            .collect();
        connected.sort_by_key(|c| std::cmp::Reverse(c.3)); // stable: equal prefixes keep port order
        snap.connected = connected.into_iter().map(|(n, m, p, _)| (n, m, p)).collect();
        snap.default_route = snap
            .interfaces
            .iter()
            .enumerate()
            .find_map(|(i, itf)| itf.gateway.map(|g| (Route { port: i as u16, next_hop: g }, snap.neighbour(g))));
        let mut hops = vec![None; MAX_DESTS];
        for d in snap.services.iter().flat_map(|s| &s.dests) {
            hops[usize::from(d.id)] = snap.route(d.addr).map(|route| RealServerRoute {
                addr: d.addr,
                route,
                mac: snap.neighbour(route.next_hop),
            });
        }
        snap.real_routes = hops;
        Ok(snap)
    }

    /// How to reach real server `id`, if it is in this snapshot at address `addr` and routed.
    #[inline]
    pub fn real_server_route(&self, id: u16, addr: u32) -> Option<&RealServerRoute> {
        self.real_routes.get(usize::from(id))?.as_ref().filter(|h| u32::from(h.addr) == addr)
    }

    /// Hands traffic that is not ours to the kernel instead of dropping it (a TAP exception
    /// port carries it to the host's stack).
    pub fn with_kernel_exception(mut self, on: bool) -> Self {
        self.kernel_exception = on;
        self
    }

    /// The prefix client addresses are masked to for the owner core (32 by default). The
    /// daemon fixes it at start; the control plane refuses persistence netmasks coarser than it.
    pub fn with_steer_prefix(mut self, prefix: u8) -> Self {
        self.steer_prefix = prefix.min(32);
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

    /// The prefix client addresses are masked to for the owner core.
    pub fn steer_prefix(&self) -> u8 {
        self.steer_prefix
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
        self.steer_all || self.steered.get(usize::from(id)).copied().unwrap_or(false)
    }

    /// True when (protocol, address, port) is a NAT real server (its packets may be replies).
    #[inline]
    pub fn is_nat_real(&self, proto: u8, addr: Ipv4Addr, port: u16) -> bool {
        self.nat_reals.binary_search(&(proto, u32::from(addr), port)).is_ok()
    }

    /// The core (of `cores`) that owns connections of client `client`: both directions of a
    /// NAT connection compute the same one (from the client address), as do all clients of a
    /// persistent network.
    #[inline]
    pub fn owner(&self, client: Ipv4Addr, cores: u16) -> u16 {
        if cores <= 1 {
            return 0;
        }
        let k = u32::from(client) & crate::service::prefix_mask(self.steer_prefix);
        let h = (u64::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32;
        ((u64::from(h) * u64::from(cores)) >> 32) as u16
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

    /// The service for (protocol, VIP, port), if any.
    #[inline]
    pub fn service(&self, proto: u8, vip: Ipv4Addr, port: u16) -> Option<&Service> {
        let v = u32::from(vip);
        let mut i = svc_hash(proto, v, port) & self.svc_mask;
        loop {
            let pos = self.svc_index[i];
            if pos == NONE {
                return None;
            }
            let s = &self.services[pos as usize];
            if s.port == port && u32::from(s.vip) == v && s.protocol.number() == proto {
                return Some(s);
            }
            i = (i + 1) & self.svc_mask;
        }
    }

    /// Serves only the VIPs in `held` (VRRP: those keepalived put on an exception interface);
    /// `None` serves every VIP. A VIP not held is not answered by ARP or ICMP and gets no new
    /// connection; connections already made keep flowing, and sync records still install.
    pub fn with_held_vips(mut self, held: Option<&[Ipv4Addr]>) -> Self {
        let mut all: Vec<u32> = self.services.iter().map(|s| u32::from(s.vip)).collect();
        all.sort_unstable();
        all.dedup();
        self.serves_all = held.is_none();
        self.vips = match held {
            None => all,
            Some(h) => all.into_iter().filter(|v| h.contains(&Ipv4Addr::from(*v))).collect(),
        };
        self
    }

    /// True when new connections to `vip` are made here (it is held, or every VIP is).
    #[inline]
    pub fn serves(&self, vip: Ipv4Addr) -> bool {
        self.serves_all || self.is_vip(vip)
    }

    /// The VIPs served here: every configured one, or those held (VRRP).
    pub fn served_vips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.vips.iter().map(|v| Ipv4Addr::from(*v))
    }

    /// True if `a` is a VIP of some service, served here (see [`Snapshot::with_held_vips`]).
    #[inline]
    pub fn is_vip(&self, a: Ipv4Addr) -> bool {
        self.vips.binary_search(&u32::from(a)).is_ok()
    }

    /// The port whose own address (DIP) is `a`.
    #[inline]
    pub fn local_port(&self, a: Ipv4Addr) -> Option<u16> {
        self.interfaces.iter().position(|i| i.addr == a).map(|p| p as u16)
    }

    /// The static neighbour entry for `a`.
    #[inline]
    pub fn neighbour(&self, a: Ipv4Addr) -> Option<Mac> {
        let k = u32::from(a);
        self.neighbours.binary_search_by_key(&k, |n| n.0).ok().map(|i| self.neighbours[i].1)
    }

    /// Route to `dst`: the connected network with the longest prefix, else the first port
    /// with a gateway.
    #[inline]
    pub fn route(&self, dst: Ipv4Addr) -> Option<Route> {
        self.route_with_mac(dst).map(|(r, _)| r)
    }

    /// [`Snapshot::route`], with the next hop's static MAC where the route is the default one
    /// and the configuration gives the gateway's MAC (a connected next hop: `None`, look it up).
    #[inline]
    pub fn route_with_mac(&self, dst: Ipv4Addr) -> Option<(Route, Option<Mac>)> {
        let a = u32::from(dst);
        for &(net, mask, port) in &self.connected {
            if a & mask == net {
                return Some((Route { port, next_hop: dst }, None));
            }
        }
        self.default_route
    }
}
