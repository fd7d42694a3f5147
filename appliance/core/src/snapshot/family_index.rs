//! One address family's part of a [`super::Snapshot`]: the services' index, the VIPs served, the
//! director's own addresses, connected networks, default route, static neighbours and each real
//! server's route, worked out once on the control path so that a packet does no search.

use crate::family::AddrKey;
use crate::fwmark::FamilyMarkRule;
use crate::service::{ConfigError, Forward, Interface, Service, MAX_DESTS};
use crate::wire::Mac;
use std::net::{IpAddr, Ipv4Addr};

/// One address family's part of a snapshot: its services' index, VIPs, own addresses,
/// connected networks, default route, static neighbours and real servers' routes.
#[derive(Debug, Clone)]
pub struct FamilyIndex<K: AddrKey> {
    /// Open-addressing index (protocol, vip, port) -> position in `services`; NONE = empty.
    pub(super) svc_index: Vec<u32>,
    pub(super) svc_mask: usize,
    /// Sorted, distinct VIPs served here (answered for by ARP or NDP).
    pub(super) vips: Vec<K>,
    /// Sorted, distinct FULLNAT local addresses served here (answered for by ARP or NDP as
    /// VIPs are; their replies' owner core is their destination port's): the services' and
    /// those deleted but still draining.
    pub(super) laddrs: Vec<K>,
    /// Sorted (address, port) of the director's own addresses.
    pub(super) locals: Vec<(K, u16)>,
    /// Sorted static neighbours.
    pub(super) neighbours: Vec<(K, Mac)>,
    /// Sorted (protocol, address, port) of every NAT real server: sources of replies.
    pub(super) nat_reals: Vec<(u8, K, u16)>,
    /// Sorted addresses of NAT real servers of firewall-mark services without a port of their
    /// own: replies come from any port of either protocol.
    pub(super) nat_any_port: Vec<K>,
    /// The firewall-mark classifier's rules of this family, in order ([`crate::fwmark`]).
    pub(super) mark_rules: Vec<FamilyMarkRule<K>>,
    /// Sorted (mark, position in `services`) of this family's firewall-mark services.
    pub(super) mark_services: Vec<(u32, u32)>,
    /// Sorted by (protocol, address, port): the NAT real servers of one-packet services, whose
    /// replies find no entry and are translated from here.
    pub(super) ops_reals: Vec<OpsReal<K>>,
    /// Connected networks, longest prefix first (ties in port order): (network, prefix, port).
    pub(super) connected: Vec<(K, u8, u16)>,
    /// The default route (the first port with a gateway) and the gateway's static MAC.
    pub(super) default_route: Option<(Route<K::Addr>, Option<Mac>)>,
    /// By real-server id: its route and static next-hop MAC, worked out once here so that a
    /// packet to a real server does no route or neighbour search.
    pub(super) real_routes: Vec<Option<RealServerRoute<K::Addr>>>,
}

/// A NAT real server of a one-packet (`--ops`) service: its replies' source becomes the
/// service's VIP:port without a connection entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsReal<K> {
    /// IP protocol (UDP).
    pub proto: u8,
    /// The real server's address.
    pub addr: K,
    /// The real server's port.
    pub port: u16,
    /// The service's VIP.
    pub vip: K,
    /// The service's port.
    pub vport: u16,
    /// The service's id.
    pub svc: u16,
    /// The real server's id.
    pub dest: u16,
}

/// How to reach one real server: computed per snapshot, read per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealServerRoute<A = Ipv4Addr> {
    /// The real server's address (a connection's `daddr` must match to use the hop).
    pub addr: A,
    /// Its route.
    pub route: Route<A>,
    /// The next hop's MAC when the configuration gives it; otherwise learned by ARP or NDP.
    pub mac: Option<Mac>,
}

pub(super) const NONE: u32 = u32::MAX;

#[inline]
pub(super) fn svc_hash(proto: u8, vip: u64, port: u16) -> usize {
    // Multiplicative mix (Fibonacci hashing); services are few and chosen by the operator.
    let k = vip.rotate_left(24) ^ (u64::from(port) << 8 | u64::from(proto));
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize
}

/// Where to send a packet for an address: out of `port`, to the neighbour `next_hop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<A = Ipv4Addr> {
    /// Egress port (index into the interfaces).
    pub port: u16,
    /// The on-link next hop (the address itself, or a gateway).
    pub next_hop: A,
}

impl<K: AddrKey> FamilyIndex<K> {
    /// Indexes the services, addresses and routes of family `K`.
    pub(super) fn build(
        interfaces: &[Interface],
        services: &[Service],
        neighbours: &[(IpAddr, Mac)],
        addr_of: impl Fn(&Interface) -> Option<(K, u8)>,
        gateway_of: impl Fn(&Interface) -> Option<K>,
        extra_locals: impl Fn(&Interface) -> Option<K>,
    ) -> Result<Self, ConfigError> {
        let mine: Vec<(usize, &Service)> =
            services.iter().enumerate().filter(|(_, s)| K::of_ip(s.vip).is_some()).collect();
        let size = (mine.len() * 2).next_power_of_two().max(8);
        let mut svc_index = vec![NONE; size];
        let mask = size - 1;
        let mut mark_services = Vec::new();
        for &(pos, s) in mine.iter().filter(|(_, s)| s.is_fwmark()) {
            if mark_services.iter().any(|&(m, _)| m == s.fwmark) {
                return Err(ConfigError::DuplicateService(s.name()));
            }
            mark_services.push((s.fwmark, pos as u32));
        }
        mark_services.sort_unstable();
        for &(pos, s) in mine.iter().filter(|(_, s)| !s.is_fwmark()) {
            let v = K::of_ip(s.vip).unwrap_or_default();
            let mut i = svc_hash(s.protocol.number(), v.fold64(), s.port) & mask;
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
        let mut neigh: Vec<(K, Mac)> = neighbours.iter().filter_map(|&(a, m)| Some((K::of_ip(a)?, m))).collect();
        neigh.sort_unstable_by_key(|n| n.0);
        neigh.dedup_by_key(|n| n.0);
        let mut nat_reals = Vec::new();
        let mut nat_any_port = Vec::new();
        for (_, s) in &mine {
            for d in s.dests.iter().filter(|d| d.forward == Forward::Nat) {
                let Some(a) = K::of_ip(d.addr) else { continue };
                match (s.is_fwmark(), d.port) {
                    (false, p) => nat_reals.push((s.protocol.number(), a, p)),
                    (true, 0) => nat_any_port.push(a),
                    (true, p) => {
                        use crate::wire::ipv4::protocol::{TCP, UDP};
                        nat_reals.extend([(TCP, a, p), (UDP, a, p)]);
                    }
                }
            }
        }
        nat_reals.sort_unstable();
        nat_reals.dedup();
        nat_any_port.sort_unstable();
        nat_any_port.dedup();
        let mut ops_reals: Vec<(OpsReal<K>, &Service)> = Vec::new();
        let ops_udp = |s: &Service| s.ops && !s.is_fwmark() && s.protocol.number() == crate::wire::ipv4::protocol::UDP;
        for (_, s) in mine.iter().filter(|(_, s)| ops_udp(s)) {
            let Some(vip) = K::of_ip(s.vip) else { continue };
            for d in s.dests.iter().filter(|d| d.forward == Forward::Nat) {
                let Some(addr) = K::of_ip(d.addr) else { continue };
                let o = OpsReal {
                    proto: s.protocol.number(),
                    addr,
                    port: d.port,
                    vip,
                    vport: s.port,
                    svc: s.id,
                    dest: d.id,
                };
                ops_reals.push((o, s));
            }
        }
        ops_reals.sort_unstable_by_key(|(o, _)| (o.proto, o.addr, o.port));
        if let Some(w) = ops_reals
            .windows(2)
            .find(|w| (w[0].0.proto, w[0].0.addr, w[0].0.port) == (w[1].0.proto, w[1].0.addr, w[1].0.port))
        {
            let d = w[0].1.dests.iter().find(|d| d.id == w[0].0.dest).expect("listed above");
            return Err(ConfigError::AmbiguousOpsReal {
                svc: w[0].1.name(),
                other: w[1].1.name(),
                dest: std::net::SocketAddr::new(d.addr, d.port).to_string(),
            });
        }
        let ops_reals = ops_reals.into_iter().map(|(o, _)| o).collect();
        let mut locals = Vec::new();
        let mut connected = Vec::new();
        for (i, itf) in interfaces.iter().enumerate() {
            if let Some((a, prefix)) = addr_of(itf) {
                locals.push((a, i as u16));
                connected.push((a.masked(prefix), prefix, i as u16));
            }
            locals.extend(extra_locals(itf).map(|a| (a, i as u16)));
        }
        locals.sort_unstable();
        connected.sort_by_key(|c| std::cmp::Reverse(c.1)); // stable: equal prefixes keep port order
        let mut ix = FamilyIndex {
            svc_index,
            svc_mask: mask,
            vips: Vec::new(),
            laddrs: Vec::new(),
            locals,
            neighbours: neigh,
            nat_reals,
            nat_any_port,
            mark_rules: Vec::new(),
            mark_services,
            ops_reals,
            connected,
            default_route: None,
            real_routes: Vec::new(),
        };
        ix.default_route = interfaces.iter().enumerate().find_map(|(i, itf)| {
            gateway_of(itf).map(|g| (Route { port: i as u16, next_hop: g.addr() }, ix.neighbour(g)))
        });
        let mut hops = vec![None; MAX_DESTS];
        // Every real server of this family, also an IPv6 service's (NAT64's IPv4 ones).
        for d in services.iter().flat_map(|s| &s.dests) {
            let Some(a) = K::of_ip(d.addr) else { continue };
            hops[usize::from(d.id)] = ix.route_with_mac(a).map(|(route, _)| RealServerRoute {
                addr: a.addr(),
                route,
                mac: ix.neighbour(K::of(route.next_hop)),
            });
        }
        ix.real_routes = hops;
        Ok(ix)
    }

    /// The on-link next hops the configuration needs and gives no MAC for: each real server's
    /// (itself on a connected network, else the gateway) and the default gateway. These are
    /// the neighbours that must always find a place in the neighbour table.
    pub fn learned_next_hops(&self) -> impl Iterator<Item = K::Addr> + '_ {
        let gateway = self.default_route.filter(|(_, mac)| mac.is_none()).map(|(r, _)| r.next_hop);
        self.real_routes.iter().flatten().filter(|r| r.mac.is_none()).map(|r| r.route.next_hop).chain(gateway)
    }

    /// Position in the snapshot's services of the service a packet (`proto`, to `vip`:`port`)
    /// without a connection belongs to: the firewall-mark service of the first classifier rule
    /// it matches, if that mark has one (IPVS looks marks up first), else (protocol, VIP, port).
    #[inline]
    pub(super) fn service_pos(&self, services: &[Service], proto: u8, vip: K, port: u16) -> Option<usize> {
        if !self.mark_rules.is_empty() {
            if let Some(pos) = self.marked_service_pos(proto, vip, port) {
                return Some(pos);
            }
        }
        let mut i = svc_hash(proto, vip.fold64(), port) & self.svc_mask;
        loop {
            let pos = self.svc_index[i];
            if pos == NONE {
                return None;
            }
            let s = &services[pos as usize];
            if s.port == port && K::of_ip(s.vip) == Some(vip) && s.protocol.number() == proto {
                return Some(pos as usize);
            }
            i = (i + 1) & self.svc_mask;
        }
    }

    /// The firewall-mark service of the first rule (`proto`, `vip`, `port`) matches.
    #[inline(never)] // only without a connection, and only with rules
    fn marked_service_pos(&self, proto: u8, vip: K, port: u16) -> Option<usize> {
        let rule = self.mark_rules.iter().find(|r| r.matches(proto, vip, port))?;
        self.mark_service_pos(rule.mark)
    }

    /// Position in the snapshot's services of this family's service for `mark`.
    #[inline]
    pub(super) fn mark_service_pos(&self, mark: u32) -> Option<usize> {
        let i = self.mark_services.binary_search_by_key(&mark, |m| m.0).ok()?;
        Some(self.mark_services[i].1 as usize)
    }

    /// The classifier's rules of this family, in order.
    pub fn mark_rules(&self) -> &[FamilyMarkRule<K>] {
        &self.mark_rules
    }

    /// True if `a` is a VIP of some service, served here.
    #[inline]
    pub fn is_vip(&self, a: K) -> bool {
        self.vips.binary_search(&a).is_ok()
    }

    /// The VIPs served here, sorted.
    pub fn vips(&self) -> &[K] {
        &self.vips
    }

    /// True if `a` is a FULLNAT local address served here.
    #[inline]
    pub fn is_laddr(&self, a: K) -> bool {
        !self.laddrs.is_empty() && self.laddrs.binary_search(&a).is_ok()
    }

    /// True for an address the director answers ARP, NDP and echo requests for: a VIP or a
    /// local address served here.
    #[inline]
    pub fn answers_for(&self, a: K) -> bool {
        self.is_vip(a) || self.is_laddr(a)
    }

    /// The FULLNAT local addresses served here, sorted.
    pub fn laddrs(&self) -> &[K] {
        &self.laddrs
    }

    /// The port whose own address is `a` (for IPv6 also its link-local one).
    #[inline]
    pub fn local_port(&self, a: K) -> Option<u16> {
        self.locals.binary_search_by_key(&a, |l| l.0).ok().map(|i| self.locals[i].1)
    }

    /// The static neighbour entry for `a`.
    #[inline]
    pub fn neighbour(&self, a: K) -> Option<Mac> {
        self.neighbours.binary_search_by_key(&a, |n| n.0).ok().map(|i| self.neighbours[i].1)
    }

    /// True when (protocol, address, port) is a NAT real server (its packets may be replies).
    #[inline]
    pub fn is_nat_real(&self, proto: u8, addr: K, port: u16) -> bool {
        self.nat_reals.binary_search(&(proto, addr, port)).is_ok()
            || (!self.nat_any_port.is_empty() && self.nat_any_port.binary_search(&addr).is_ok())
    }

    /// The one-packet service a NAT reply from (`proto`, `addr`, `port`) belongs to.
    #[inline]
    pub fn ops_real(&self, proto: u8, addr: K, port: u16) -> Option<&OpsReal<K>> {
        if self.ops_reals.is_empty() {
            return None;
        }
        let i = self.ops_reals.binary_search_by_key(&(proto, addr, port), |o| (o.proto, o.addr, o.port)).ok()?;
        Some(&self.ops_reals[i])
    }

    /// How to reach real server `id`, if it is in this snapshot at address `addr` and routed.
    #[inline]
    pub fn real_server_route(&self, id: u16, addr: K) -> Option<&RealServerRoute<K::Addr>> {
        self.real_routes.get(usize::from(id))?.as_ref().filter(|h| K::of(h.addr) == addr)
    }

    /// Route to `dst` with the next hop's static MAC where the route is the default one and
    /// the configuration gives the gateway's MAC (a connected next hop: `None`, look it up):
    /// the connected network with the longest prefix, else the first port with a gateway.
    #[inline]
    pub fn route_with_mac(&self, dst: K) -> Option<(Route<K::Addr>, Option<Mac>)> {
        for &(net, prefix, port) in &self.connected {
            if dst.masked(prefix) == net {
                return Some((Route { port, next_hop: dst.addr() }, None));
            }
        }
        self.default_route
    }
}
