//! SNAT connections ([`crate::snat`]): an inside host's first packet to the outside (a TCP
//! SYN, a UDP datagram, an ICMP echo request) that matches a rule starts a FULLNAT connection
//! whose far end is the destination itself and whose local end is a pool address and port.
//! From then on the flow code carries it as any FULLNAT connection (replies, ICMP errors,
//! timeouts); only ICMP echo, which has no ports, is rewritten here (its identifier is the
//! port). A host's connections live on its owner core, which takes pool ports from its own
//! share, so every reply's owner is its destination port's as for FULLNAT.
//!
//! Endpoint-independent mapping keeps, per core, the host's (protocol, address, port) ->
//! (pool address, port) while any of its connections lives, and the reverse for
//! endpoint-independent filtering: a packet from anywhere to a live mapping starts a
//! connection to its host. Allocated on the control path, when a rule first needs it.

use super::*;
use crate::snat::{SnatFiltering, SnatMapping, SnatRule, SNAT_SVC_BASE};
use crate::wire::icmp::IcmpPacket;

/// One endpoint-independent mapping.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SnatMap {
    addr: u32,
    port: u16,
    rule: u16,
    conns: u32,
}

/// A core's endpoint-independent mappings, both ways.
#[derive(Debug)]
pub(super) struct SnatMaps {
    /// (protocol, host, port) -> mapping.
    by_host: FixedMap<SnatMap>,
    /// (protocol, pool address, port) -> its key in `by_host`.
    by_public: FixedMap<u64>,
}

#[inline]
fn end_key(proto: u8, addr: u32, port: u16) -> u64 {
    u64::from(proto) << 48 | u64::from(addr) << 16 | u64::from(port)
}

impl SnatMaps {
    pub(super) fn new(capacity: usize, seed: u64) -> Self {
        SnatMaps { by_host: FixedMap::new(capacity, seed), by_public: FixedMap::new(capacity, seed.rotate_left(23)) }
    }

    /// Connection `c` (an IPv4 SNAT connection) is gone: its mapping loses it, and is forgotten
    /// with its last.
    pub(super) fn release<K: AddrKey>(&mut self, c: &Conn<K>) {
        let (host, public) = (c.caddr.into() as u32, c.laddr.into() as u32);
        let key = end_key(c.proto, host, c.cport);
        let Some(m) = self.by_host.get_mut(key) else { return };
        if (m.addr, m.port) != (public, c.lport) {
            return; // a connection of another mapping (an address-and-port-dependent rule's)
        }
        m.conns = m.conns.saturating_sub(1);
        if m.conns == 0 {
            self.by_host.remove(key);
            self.by_public.remove(end_key(c.proto, public, c.lport));
        }
    }

    /// The mappings held (listings).
    pub(super) fn len(&self) -> usize {
        self.by_host.len()
    }
}

/// The SNAT rule here that takes a synced connection record with no service: an IPv4 one
/// whose client (the inside host) and far end its match takes, with a local end in its pool.
pub(super) fn rule_of_record<'s>(snap: &'s Snapshot, r: &crate::wire::ipvs_sync::SyncConn) -> Option<&'s SnatRule> {
    use std::net::IpAddr::V4;
    let (V4(host), V4(far), Some((V4(public), _))) = (r.caddr, r.daddr, r.local) else { return None };
    snap.snat_rule_of(r.protocol, u32::from(host), u32::from(far)).filter(|rule| rule.pool.contains(&public))
}

/// True for a packet that may start a SNAT connection: a TCP SYN, any UDP datagram.
fn starts_flow(ip: &Ip<u32>) -> bool {
    match ip.proto {
        protocol::TCP => ip.tcp_flags & (flags::SYN | flags::ACK | flags::RST) == flags::SYN,
        protocol::UDP => true,
        _ => false,
    }
}

/// True for a connection of a SNAT rule.
#[inline]
pub(super) fn is_snat<K>(c: &Conn<K>) -> bool {
    c.svc >= SNAT_SVC_BASE
}

impl PerCore {
    /// An outbound IPv4 TCP or UDP packet of no connection here: its SNAT rule's, started on
    /// its host's owner core (handed there from another). `None`: no rule matches.
    #[cold]
    #[inline(never)]
    pub(super) fn snat_out<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<u32>,
    ) -> Option<Verdict> {
        let rule = snap.snat_rule_of(ip.proto, ip.src, ip.dst)?;
        if self.cores > 1 {
            let owner = snap.owner_of(ip.src, self.cores);
            if owner != self.core_id {
                return Some(Verdict::Redirect(owner));
            }
        }
        if !starts_flow(ip) {
            return Some(Verdict::Drop(DropReason::NoConnection));
        }
        let idx = match self.snat_connect(snap, rule, ip.proto, (ip.src, ip.sport), (ip.dst, ip.dport), now) {
            Ok(i) => i,
            Err(r) => return Some(Verdict::Drop(r)),
        };
        Some(self.follow(snap, now, frame, ip, idx, ip.tcp_flags, Direction::Input))
    }

    /// A packet to a pool address and port of no connection: under endpoint-independent
    /// filtering, a connection to the host of the live mapping there (started by a TCP SYN or
    /// any UDP datagram). `None`: not let in.
    #[cold]
    #[inline(never)]
    pub(super) fn snat_in<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<u32>,
    ) -> Option<Verdict> {
        let maps = self.snat_maps.as_ref()?;
        let host_key = *maps.by_public.get(end_key(ip.proto, ip.dst, ip.dport))?;
        let m = *maps.by_host.get(host_key)?;
        let rule = snap.snat_rules().iter().find(|r| r.id == m.rule)?;
        if rule.filtering != SnatFiltering::EndpointIndependent {
            return None;
        }
        if !starts_flow(ip) {
            return None;
        }
        let (host, hport) = ((host_key >> 16) as u32, host_key as u16);
        let mut c = Conn::new(
            ip.proto,
            host,
            hport,
            ip.src,
            ip.sport,
            ip.src,
            ip.sport,
            Forward::FullNat,
            rule.svc_id(),
            UNBOUND_DEST,
        );
        (c.laddr, c.lport) = (m.addr, m.port);
        let idx = match self.snat_insert(snap, c, now) {
            Ok(i) => i,
            Err(r) => return Some(Verdict::Drop(r)),
        };
        if let Some(m) = self.snat_maps.as_mut().and_then(|s| s.by_host.get_mut(host_key)) {
            m.conns += 1;
        }
        self.counters.snat_inbound += 1;
        Some(self.follow(snap, now, frame, ip, idx, ip.tcp_flags, Direction::Output))
    }

    /// Records a new SNAT connection of `rule` from `host` to `dst`: a pool address and port
    /// (its host's mapping's, under endpoint-independent mapping), counted as a service's.
    fn snat_connect(
        &mut self,
        snap: &Snapshot,
        rule: &SnatRule,
        proto: u8,
        (host, hport): (u32, u16),
        (dst, dport): (u32, u16),
        now: u32,
    ) -> Result<u32, DropReason> {
        let eim = rule.mapping == SnatMapping::EndpointIndependent && proto != protocol::ICMP;
        let (laddr, lport) = if eim {
            self.snat_mapping(rule, proto, (host, hport), (dst, dport))?
        } else {
            self.snat_port(rule, proto, (dst, dport))?
        };
        let mut c =
            Conn::new(proto, host, hport, dst, dport, dst, dport, Forward::FullNat, rule.svc_id(), UNBOUND_DEST);
        (c.laddr, c.lport) = (laddr, lport);
        let idx = self.snat_insert(snap, c, now);
        if eim {
            let key = end_key(proto, host, hport);
            let maps = self.snat_maps.as_mut().expect("made by snat_mapping");
            match (&idx, maps.by_host.get_mut(key)) {
                (Ok(_), Some(m)) => m.conns += 1,
                (Err(_), Some(m)) if m.conns == 0 => {
                    maps.by_host.remove(key);
                    maps.by_public.remove(end_key(proto, laddr, lport));
                }
                _ => {}
            }
        }
        idx
    }

    /// Inserts SNAT connection `c` (its state, timer and counts as a new connection's).
    fn snat_insert(&mut self, snap: &Snapshot, mut c: Conn<u32>, now: u32) -> Result<u32, DropReason> {
        c.state = if c.proto == protocol::TCP { ConnState::None } else { ConnState::Udp };
        c.expires = now + ConnState::None.timeout(&snap.timeouts());
        let hash = self.tables.v4.client_hash(c.proto, c.caddr, c.cport, c.vaddr, c.vport);
        let mut inserted = self.tables.v4.insert_hashed(c, hash);
        let no_room = inserted.is_err();
        if no_room && self.evict_embryonic::<u32>(snap, now) {
            inserted = self.tables.v4.insert_hashed(c, hash);
        }
        self.update_level(snap, no_room);
        let idx = inserted.map_err(|_| DropReason::TableFull)?;
        self.note_new_conn(now);
        self.add_load(snap, UNBOUND_DEST, c.svc);
        Ok(idx)
    }

    /// A pool address and port of `rule` for a new connection to `dst` (address-and-port-
    /// dependent mapping, and ICMP echo): the pool in turn, each searched in this core's share
    /// as FULLNAT's local addresses are.
    fn snat_port(&mut self, rule: &SnatRule, proto: u8, (dst, dport): (u32, u16)) -> Result<(u32, u16), DropReason> {
        let share = rule.ports.share(self.core_id, self.cores);
        let n = rule.pool.len();
        for k in 0..n {
            let a = u32::from(rule.pool[(self.laddr_turn as usize + k) % n]);
            if let Some(p) = self.tables.v4.take_lport(proto, dst, dport, a, share, self.cores) {
                self.laddr_turn = self.laddr_turn.wrapping_add(k as u32 + 1);
                return Ok((a, p));
            }
        }
        Err(DropReason::LaddrExhausted)
    }

    /// The host's endpoint-independent mapping (made now if it has none): the same pool
    /// address and port towards every destination. A new mapping takes a port no mapping holds.
    fn snat_mapping(
        &mut self,
        rule: &SnatRule,
        proto: u8,
        (host, hport): (u32, u16),
        (dst, dport): (u32, u16),
    ) -> Result<(u32, u16), DropReason> {
        let cap = self.tables.v4.capacity();
        let seed = self.sched_seed;
        let maps = self.snat_maps.get_or_insert_with(|| Box::new(SnatMaps::new(cap, seed)));
        let key = end_key(proto, host, hport);
        if let Some(m) = maps.by_host.get(key) {
            // Its port towards this destination too, unless a connection holds that 5-tuple
            // (one of another host, let in by endpoint-independent filtering: never two alike).
            if self.tables.v4.lookup_reply(proto, dst, dport, m.addr, m.port).is_some() {
                return Err(DropReason::LaddrExhausted);
            }
            return Ok((m.addr, m.port));
        }
        let share = rule.ports.share(self.core_id, self.cores);
        let n = rule.pool.len();
        for k in 0..n {
            let a = u32::from(rule.pool[(self.laddr_turn as usize + k) % n]);
            let public = &maps.by_public;
            let free = |t: &ConnTable, p: u16| {
                public.get(end_key(proto, a, p)).is_none() && t.lookup_reply(proto, dst, dport, a, p).is_none()
            };
            if let Some(p) = self.tables.v4.take_port_if(a, share, self.cores, free) {
                self.laddr_turn = self.laddr_turn.wrapping_add(k as u32 + 1);
                let m = SnatMap { addr: a, port: p, rule: rule.id, conns: 0 };
                if !maps.by_host.insert(key, m) || !maps.by_public.insert(end_key(proto, a, p), key) {
                    maps.by_host.remove(key);
                    return Err(DropReason::TableFull);
                }
                return Ok((a, p));
            }
        }
        Err(DropReason::LaddrExhausted)
    }

    /// A SNAT connection installed from a sync record: under endpoint-independent mapping its
    /// host's mapping is the connection's public end (made, or counted once more), so the
    /// host keeps that end after a failover.
    pub(super) fn snat_adopt<K: AddrKey>(&mut self, snap: &Snapshot, c: &Conn<K>) {
        let Some(rule) = snap.snat_rule_by_svc(c.svc) else { return };
        if rule.mapping != SnatMapping::EndpointIndependent || c.proto == protocol::ICMP {
            return;
        }
        let (host, public) = (c.caddr.into() as u32, c.laddr.into() as u32);
        let (cap, seed) = (self.tables.v4.capacity(), self.sched_seed);
        let maps = self.snat_maps.get_or_insert_with(|| Box::new(SnatMaps::new(cap, seed)));
        let key = end_key(c.proto, host, c.cport);
        match maps.by_host.get_mut(key) {
            Some(m) if (m.addr, m.port) == (public, c.lport) => m.conns += 1,
            Some(_) => {} // the host has another public end here: this connection keeps its own
            None => {
                let m = SnatMap { addr: public, port: c.lport, rule: rule.id, conns: 1 };
                if maps.by_host.insert(key, m) && !maps.by_public.insert(end_key(c.proto, public, c.lport), key) {
                    maps.by_host.remove(key);
                }
            }
        }
    }

    /// An ICMP echo request from an inside host to the outside (no connection yet: started
    /// here) or of a SNAT connection, or an echo reply to a pool address: its identifier is
    /// the connection's port. `None`: not SNAT's.
    pub(super) fn snat_echo<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<u32>,
    ) -> Option<Verdict> {
        let msg = &frame.data()[ip.l4()..ip.end()];
        if msg.len() < icmp_wire::HEADER_LEN {
            return None;
        }
        let ident = u16::from_be_bytes([msg[4], msg[5]]);
        let (t, dir, idx) = match msg[0] {
            kind::ECHO_REQUEST => {
                let idx = match self.tables.v4.lookup_client(protocol::ICMP, ip.src, ident, ip.dst, 0) {
                    Some(i) => i,
                    None => {
                        let rule = snap.snat_rule_of(protocol::ICMP, ip.src, ip.dst)?;
                        if self.cores > 1 {
                            let owner = snap.owner_of(ip.src, self.cores);
                            if owner != self.core_id {
                                return Some(Verdict::Redirect(owner));
                            }
                        }
                        match self.snat_connect(snap, rule, protocol::ICMP, (ip.src, ident), (ip.dst, 0), now) {
                            Ok(i) => i,
                            Err(r) => return Some(Verdict::Drop(r)),
                        }
                    }
                };
                (kind::ECHO_REQUEST, Direction::Input, idx)
            }
            kind::ECHO_REPLY => {
                if !snap.family::<u32>().is_laddr(ip.dst) {
                    return None;
                }
                if self.cores > 1 {
                    let owner = LocalPorts::owner(ident, self.cores);
                    if owner != self.core_id {
                        return Some(Verdict::Redirect(owner));
                    }
                }
                let Some(idx) = self.tables.v4.lookup_reply(protocol::ICMP, ip.src, 0, ip.dst, ident) else {
                    return Some(Verdict::Drop(DropReason::NoConnection));
                };
                (kind::ECHO_REPLY, Direction::Output, idx)
            }
            _ => return None,
        };
        let c = self.step::<u32>(snap, idx, protocol::ICMP, dir, 0, ip.len(), now);
        let (to, new_src, new_dst, new_ident) = if t == kind::ECHO_REQUEST {
            (c.daddr, Some(c.laddr), None, c.lport)
        } else {
            (c.caddr, None, Some(c.caddr), c.cport)
        };
        let Some((rt, gw_mac)) = snap.family::<u32>().route_with_mac(to) else {
            return Some(Verdict::Drop(DropReason::NoRoute));
        };
        let known = gw_mac.or_else(|| self.mac_for::<u32>(snap, rt.next_hop));
        let egress = &snap.interfaces()[usize::from(rt.port)];
        let d = frame.data_mut();
        if !dec_ttl(d, ip.l3()) {
            return Some(Verdict::Drop(DropReason::TtlExceeded));
        }
        {
            let mut p = Ipv4Packet::new_unchecked(&mut d[ip.l3()..]);
            if let Some(a) = new_src {
                p.set_src_patched(a.to_be_bytes());
            }
            if let Some(a) = new_dst {
                p.set_dst_patched(a.to_be_bytes());
            }
        }
        let mut m = IcmpPacket::new_unchecked(&mut d[ip.l4()..ip.end()]);
        let sum = crate::wire::checksum::update16(m.checksum(), ident, new_ident);
        m.set_checksum(sum);
        d[ip.l4() + 4..ip.l4() + 6].copy_from_slice(&new_ident.to_be_bytes());
        route::set_macs(d, egress.mac, known.unwrap_or(Mac::ZERO));
        Some(Self::ready_or_pending(known, rt.port, rt.next_hop))
    }
}
