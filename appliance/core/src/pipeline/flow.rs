//! The life of a connection: a client's packet found, started (scheduled and recorded) or
//! refused; IPVS's TCP states followed in both directions; a TIME_WAIT connection reused by a
//! new SYN; the per-connection and per-object counters kept. Written once for both address
//! families ([`IpPath`]).

use super::*;
use crate::conn::entry::PKTS_COUNTED;
use crate::wire::sctp::event as sctp_event;

impl PerCore {
    pub(super) fn transport<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
    ) -> Verdict {
        let (tcp_flags, sport, dport) = (ip.tcp_flags, ip.sport, ip.dport);
        let (src, dst) = (ip.src, ip.dst);
        let fam = snap.family::<K>();

        if let Some(idx) = K::conns(&self.tables).lookup_client_hashed(ip.c_hash(), ip.proto, src, sport, dst, dport) {
            // A SYN (an SCTP INIT) on an ended connection's ports may start a new one.
            let reopens = if ip.proto == protocol::TCP {
                tcp_flags & (flags::SYN | flags::ACK | flags::FIN | flags::RST) == flags::SYN
            } else {
                ip.proto == protocol::SCTP && tcp_flags == sctp_event::INIT
            };
            if reopens && snap.knobs().reschedules(K::conns(&self.tables).get(idx)) {
                if let Err(r) = self.reschedule(snap, idx, ip, sport, dport, now) {
                    return Verdict::Drop(r);
                }
            }
            return self.follow(snap, now, frame, ip, idx, tcp_flags, Direction::Input);
        }
        // A pure SYN (an SCTP INIT) opens a connection; a real server's reply never is one (it
        // answers with SYN|ACK, INIT ACK). So one that missed client-side skips the reply-side
        // index, whose bucket is a cache miss the look-ahead does not prefetch for a packet to a
        // VIP (DRAM, in a large table): half the cost of a new connection.
        let opens = match ip.proto {
            protocol::TCP => tcp_flags & (flags::SYN | flags::ACK) == flags::SYN,
            protocol::SCTP => tcp_flags == sctp_event::INIT,
            _ => false,
        };
        if !opens {
            if let Some(idx) = K::conns(&self.tables).lookup_reply(ip.proto, src, sport, dst, dport) {
                return self.follow(snap, now, frame, ip, idx, tcp_flags, Direction::Output);
            }
        }
        let svc = snap.service_of(ip.proto, ip.dst, dport).filter(|_| snap.serves_of(ip.dst));
        if self.cores > 1 {
            let owner = match svc {
                Some(s) if snap.steered(s.id) => Some(snap.owner_of(ip.src, self.cores)),
                None if fam.is_nat_real(ip.proto, ip.src, sport) => Some(snap.owner_of(ip.dst, self.cores)),
                // A FULLNAT reply is its local port's core's.
                None if fam.is_laddr(ip.dst) => Some(LocalPorts::owner(dport, self.cores)),
                _ => None,
            };
            if let Some(o) = owner.filter(|&o| o != self.core_id) {
                return Verdict::Redirect(o);
            }
        }
        if let Some(svc) = svc {
            // A client the allow and deny lists refuse opens nothing (packets of a connection
            // never come here: established flows pay nothing).
            if snap.access_any() {
                if let Some(v) = self.access_check(snap, svc, frame, ip, now) {
                    return v;
                }
            }
            if svc.synproxy && ip.proto == protocol::TCP {
                return self.synproxy_open(snap, now, frame, ip, svc); // out of line
            }
            if svc.ops && ip.proto == protocol::UDP {
                return self.forward_one_packet(snap, frame, ip, svc, now); // out of line
            }
            // IPVS's `tcp_conn_schedule`: a SYN without RST starts a connection (SYN|ACK too,
            // which IPVS allows for active FTP); with `sloppy_tcp` any segment without RST does,
            // here for hash schedulers only. `sctp_conn_schedule`: an INIT; with `sloppy_sctp`
            // any packet but an ABORT, for hash schedulers too. Anything else without an entry
            // is dropped.
            let starts = match ip.proto {
                protocol::TCP => {
                    tcp_flags & (flags::SYN | flags::RST) == flags::SYN
                        || (tcp_flags & flags::RST == 0 && snap.picks_up(svc.id))
                }
                protocol::SCTP => tcp_flags == sctp_event::INIT || Self::sctp_picks_up(snap, svc, tcp_flags),
                _ => true,
            };
            if snap.stateless_capable(svc.id) && (!starts || self.stateless_now::<K>(snap, now)) {
                return self.forward_stateless(snap, frame, ip, svc, now);
            }
            if !starts {
                let sloppy = if ip.proto == protocol::SCTP { snap.knobs().sloppy_sctp } else { snap.sloppy_tcp() };
                return Verdict::Drop(if sloppy && tcp_flags & flags::RST == 0 {
                    DropReason::NotHashedPickup
                } else {
                    DropReason::NoConnection
                });
            }
            let dialog = if svc.pe_sip {
                match Self::dialog_of(svc, frame.data(), ip) {
                    Ok(d) => d,
                    Err(r) => return Verdict::Drop(r),
                }
            } else {
                None
            };
            let idx = match self.schedule(snap, svc, ip, (sport, dport), dialog, now) {
                Ok(i) => i,
                Err(r) => return Verdict::Drop(r),
            };
            let v = self.follow(snap, now, frame, ip, idx, tcp_flags, Direction::Input);
            if self.level != PressureLevel::Normal {
                self.shorten_handshake::<K>(snap, idx, now);
            }
            return v;
        }
        self.no_service(snap, now, frame, ip)
    }

    /// A packet that found neither a connection nor a service: a one-packet service's NAT
    /// reply, a NAT real server's stray packet (`nat_icmp_send`), a VIP's unserved port, or
    /// not for a VIP at all. Out of line: the established path stays small.
    #[cold]
    #[inline(never)]
    fn no_service<K: IpPath, F: Frame>(&mut self, snap: &Snapshot, now: u32, frame: &mut F, ip: &Ip<K>) -> Verdict {
        let fam = snap.family::<K>();
        if let Some(&o) = fam.ops_real(ip.proto, ip.src, ip.sport) {
            return self.reply_one_packet(snap, frame, ip, o);
        }
        // `nat_icmp_send`: a NAT real server's packet no connection expects (not a TCP RST)
        // gets port unreachable from the director's address on its side.
        if snap.knobs().nat_icmp_send && fam.is_nat_real(ip.proto, ip.src, ip.sport) && ip.tcp_flags & flags::RST == 0 {
            let from =
                fam.route_with_mac(ip.src).and_then(|(r, _)| K::iface_addr(&snap.interfaces()[usize::from(r.port)]));
            if let Some(from) = from {
                self.counters.nat_icmp_sent += 1;
                return K::port_unreachable(self, frame, ip, from);
            }
        }
        if fam.is_vip(ip.dst) && fam.local_port(ip.dst).is_none() {
            return Verdict::Drop(DropReason::NoService);
        }
        if fam.is_laddr(ip.dst) {
            // An IPv4 local address's replies may be NAT64 connections' (kept in IPv6's
            // table); a SNAT mapping's port may let anyone in (endpoint-independent filtering).
            if let Some(ip4) = K::as_v4(ip) {
                if let Some(v) = self.nat64_reply(snap, now, frame, ip4).or_else(|| self.snat_in(snap, now, frame, ip4))
                {
                    return v;
                }
            }
            return Verdict::Drop(DropReason::NoConnection); // a reply that outlived its connection
        }
        // An inside host's first packet to the outside (SNAT).
        if let Some(v) = K::as_v4(ip).and_then(|ip4| self.snat_out(snap, now, frame, ip4)) {
            return v;
        }
        Self::not_ours(snap, ip.dst)
    }

    /// The allow and deny lists' answer for a packet of service `svc` with no connection (a
    /// refusal, counted by the list that made it), then the service's per-client limit's for
    /// one that would start a connection.
    #[cold]
    #[inline(never)]
    fn access_check<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        svc: &Service,
        frame: &mut F,
        ip: &Ip<K>,
        now: u32,
    ) -> Option<Verdict> {
        if let Some((r, by_service)) = snap.access_refuses(svc.id, ip.src) {
            let slot = if by_service { usize::from(svc.id) } else { MAX_SERVICES };
            self.access_hits[slot][usize::from(r == DropReason::AccessNotAllowed)] += 1;
            return Some(Verdict::Drop(r));
        }
        let starts = match ip.proto {
            protocol::TCP => ip.tcp_flags & (flags::SYN | flags::ACK | flags::RST) == flags::SYN,
            protocol::SCTP => ip.tcp_flags == sctp_event::INIT,
            _ => true,
        };
        if svc.access.limit.is_set() && starts {
            return self.client_over(svc, frame, ip, now);
        }
        None
    }

    /// `sloppy_sctp`: an SCTP packet other than an INIT or ABORT may start an association of a
    /// hash-scheduled service (the reason is `sloppy_tcp`'s: only a hash sends it to the real
    /// server every director would pick).
    #[cold]
    fn sctp_picks_up(snap: &Snapshot, svc: &Service, event: u8) -> bool {
        snap.knobs().sloppy_sctp && event != sctp_event::ABORT && crate::sched::is_hash(&svc.scheduler)
    }

    /// Picks a real server for a new connection and records it (`dialog`: its SIP dialog's
    /// template key, `--pe sip`).
    pub(super) fn schedule<K: IpPath>(
        &mut self,
        snap: &Snapshot,
        svc: &Service,
        ip: &Ip<K>,
        (sport, dport): (u16, u16),
        dialog: Option<u64>,
        now: u32,
    ) -> Result<u32, DropReason> {
        let flow = Flow::new(ip.proto, ip.src, sport, ip.dst, dport);
        let (i, pinned) = self.choose(svc, &flow, ip.src, dialog, now)?;
        let dest = &svc.dests[i];
        let rport = dest.port_for(dport);
        let daddr = K::of_end(dest.addr).unwrap_or_default(); // the snapshot checked the family
        let mut c = Conn::new(ip.proto, ip.src, sport, ip.dst, dport, daddr, rport, dest.forward, svc.id, dest.id);
        if dest.forward == Forward::FullNat {
            match self.local_end::<K>(svc, ip.proto, daddr, rport) {
                Ok(end) => (c.laddr, c.lport) = end,
                Err(r) => {
                    if pinned {
                        Self::unpin(snap, &mut self.templates, &c, now);
                    }
                    return Err(r);
                }
            }
        }
        c.state = if ip.proto == protocol::UDP { ConnState::Udp } else { ConnState::None };
        c.expires = now + ConnState::None.timeout(&snap.timeouts()); // filed here; the first packet extends it
        if pinned {
            c.flags |= F_PERSIST;
        }
        let mut inserted = K::conns_mut(&mut self.tables).insert_deferring_reply(c, ip.c_hash());
        let no_room = inserted.is_err();
        if no_room && self.evict_embryonic::<K>(snap, now) {
            inserted = K::conns_mut(&mut self.tables).insert_deferring_reply(c, ip.c_hash());
        }
        self.update_level(snap, no_room);
        let Ok(idx) = inserted else {
            if pinned {
                Self::unpin(snap, &mut self.templates, &c, now);
            }
            return Err(DropReason::TableFull);
        };
        self.note_new_conn(now);
        if c.is_fullnat() {
            self.start_seq_adjust::<K>(svc, idx);
        }
        if svc.access.limit.is_set() {
            self.client_counted(svc, ip.src, now);
        }
        if let Some(m) = self.sync_marks[usize::from(K::BITS == 128)].get_mut(idx as usize) {
            *m = 0; // never sent
        }
        self.add_load(snap, dest.id, svc.id);
        Ok(idx)
    }

    /// A local address and port for a new FULLNAT connection of `svc` to `daddr:dport`: the
    /// service's local addresses of the real server's family in turn (from where this core
    /// last left off; NAT64's are IPv4, mapped), each searched in this core's share of the ports.
    fn local_end<K: IpPath>(&mut self, svc: &Service, proto: u8, daddr: K, dport: u16) -> Result<(K, u16), DropReason> {
        let n = svc.laddrs.len();
        let share = svc.lports.share(self.core_id, self.cores);
        let mut any = false;
        for k in 0..n {
            let a = svc.laddrs[(self.laddr_turn as usize + k) % n];
            let Some(laddr) = K::of_end(a).filter(|l| l.is_mapped_v4() == daddr.is_mapped_v4()) else { continue };
            any = true;
            if let Some(lport) =
                K::conns_mut(&mut self.tables).take_lport(proto, daddr, dport, laddr, share, self.cores)
            {
                self.laddr_turn = self.laddr_turn.wrapping_add(k as u32 + 1);
                return Ok((laddr, lport));
            }
        }
        Err(if any { DropReason::LaddrExhausted } else { DropReason::NoLocalAddr })
    }

    /// A SYN reusing the ports of an ended connection (`conn_reuse_mode`,
    /// [`crate::knobs::Knobs::reschedules`]): pick a real server afresh for the same tuple.
    pub(super) fn reschedule<K: IpPath>(
        &mut self,
        snap: &Snapshot,
        idx: u32,
        ip: &Ip<K>,
        sport: u16,
        dport: u16,
        now: u32,
    ) -> Result<(), DropReason> {
        let old = *K::conns(&self.tables).get(idx);
        let Some(svc) = snap.service_of(ip.proto, ip.dst, dport) else {
            return Ok(()); // service gone: the old connection keeps its server
        };
        let flow = Flow::new(ip.proto, ip.src, sport, ip.dst, dport);
        let (i, pinned) = self.choose(svc, &flow, ip.src, None, now)?; // UDP (SIP) is never rescheduled
        let dest = &svc.dests[i];
        Self::release_load(snap, &mut self.scheds, &mut self.weights, &mut self.loads, &mut self.thr, &old);
        if old.flags & F_PERSIST != 0 {
            Self::unpin(snap, &mut self.templates, &old, now);
        }
        let rport = dest.port_for(dport);
        let daddr = K::of_end(dest.addr).unwrap_or_default();
        let end = if dest.forward == Forward::FullNat {
            match self.local_end::<K>(svc, ip.proto, daddr, rport) {
                Ok(end) => end,
                Err(r) => {
                    // The old connection is released: it ends here, as the SYN does.
                    self.drop_conn::<K>(snap, idx, now);
                    return Err(r);
                }
            }
        } else {
            (ip.src, sport)
        };
        K::conns_mut(&mut self.tables).rebind(idx, daddr, rport, dest.forward, dest.id, end);
        let c = K::conns_mut(&mut self.tables).get_mut(idx);
        c.svc = svc.id;
        if pinned {
            c.flags |= F_PERSIST;
        }
        if dest.forward == Forward::FullNat {
            self.start_seq_adjust::<K>(svc, idx); // the new connection's own header, if any
        }
        self.add_load(snap, dest.id, svc.id);
        Ok(())
    }

    /// One packet on connection `idx`, in one access to its entry: the TCP (SCTP) state moved
    /// by the segment's flags (the packet's chunk event) `tcp_flags` in direction `dir` (UDP
    /// keeps its state), active/inactive counts
    /// and the timer kept right, the packet counted in its direction. Returns a copy of the
    /// connection for the egress.
    #[inline(always)] // specialised per direction at its two call sites
    #[allow(clippy::too_many_arguments)] // one packet's facts about one connection
    pub(super) fn step<K: IpPath>(
        &mut self,
        snap: &Snapshot,
        idx: u32,
        proto: u8,
        dir: Direction,
        tcp_flags: u8,
        bytes: u64,
        now: u32,
    ) -> Conn<K> {
        let c = K::conns_mut(&mut self.tables).get_mut(idx);
        // The entry is written only where a field changes: an unchanged line stays clean, so
        // at 10 M flows its eviction costs no write-back.
        let dir = if dir == Direction::Output {
            let mut f = (c.flags & !F_NO_OUTPUT) | F_REPLIED;
            // The server is past its SYN-ACK: the client is real. (An SCTP event read as flags:
            // INIT ACK carries the SYN bit, COOKIE ACK the RST bit, so an association is proved
            // by the server's first DATA or SACK.)
            if tcp_flags & (flags::SYN | flags::RST) == 0 {
                f |= F_PROVED;
            }
            if f != c.flags {
                c.flags = f;
            }
            dir
        } else if c.flags & F_NO_OUTPUT != 0 {
            Direction::InputOnly
        } else {
            Direction::Input
        };
        let new = if proto == protocol::TCP {
            next_tcp_state(c.state, dir, tcp_flags)
        } else if proto == protocol::SCTP {
            crate::conn::next_sctp_state(c.state, dir, tcp_flags)
        } else {
            ConnState::Udp
        };
        let mut timeout = new.timeout(&snap.timeouts());
        let mut notify = false;
        if c.state != new {
            c.state = new;
            let was_active = c.flags & F_INACTIVE == 0;
            let is_active = new == ConnState::Established;
            let l = &mut self.loads[usize::from(c.dest)];
            if was_active && !is_active {
                c.flags |= F_INACTIVE;
                l.active = l.active.saturating_sub(1);
                l.inactive += 1;
            } else if !was_active && is_active {
                c.flags &= !F_INACTIVE;
                l.inactive = l.inactive.saturating_sub(1);
                l.active += 1;
            }
            notify = was_active != is_active;
            // Under pressure an ESTABLISHED entry that proved nothing yet (a blind ACK makes
            // one) lives as a handshake does; its next packet gives it the full timeout.
            if is_active && self.level != PressureLevel::Normal && c.is_embryonic() {
                timeout = snap.overload().syn_timeout;
            }
        }
        let expires = now + timeout;
        let shortened = expires < c.expires;
        if expires != c.expires {
            c.expires = expires; // extending is lazy: the timer is refiled when its slot comes due
        }
        let (d, s) = (usize::from(c.dest), usize::from(c.svc));
        if dir == Direction::Output {
            for st in [&mut self.dest_stats[d], &mut self.svc_stats[s]] {
                st.pkts_out += 1;
                st.bytes_out += bytes;
            }
        } else {
            // The count is read only by the proof of a live peer and the UDP option trail
            // (both over by `PKTS_COUNTED`) and by the sync threshold, which needs it always.
            if c.pkts_in < PKTS_COUNTED || snap.sync_master().is_some() {
                c.pkts_in = c.pkts_in.wrapping_add(1);
                if c.pkts_in == 0 {
                    c.flags |= F_PROVED; // wrapped: far past any handshake
                }
            }
            for st in [&mut self.dest_stats[d], &mut self.svc_stats[s]] {
                st.pkts_in += 1;
                st.bytes_in += bytes;
            }
        }
        let copy = *c;
        if shortened {
            K::conns_mut(&mut self.tables).refile(idx);
        }
        if notify {
            Self::notify(snap, &mut self.scheds, &self.weights, &self.loads, copy.dest);
        }
        copy
    }

    /// A packet of connection `idx` travelling `dir`: client -> server (`Input`) to the real
    /// server, server -> client (`Output`, NAT) back to the client.
    #[inline(always)] // specialised per direction at its call sites
    #[allow(clippy::too_many_arguments)]
    pub(super) fn follow<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
        idx: u32,
        tcp_flags: u8,
        dir: Direction,
    ) -> Verdict {
        let c = self.step::<K>(snap, idx, ip.proto, dir, tcp_flags, ip.len(), now);
        if dir != Direction::Output {
            K::sync_after_input(self, snap, idx, now);
        }
        if c.flags & F_SEQ_ADJ != 0 {
            return self.follow_adjusted(snap, now, frame, ip, idx, &c, dir);
        }
        if dir == Direction::Output {
            self.send_to_client(snap, frame, ip, &c, false)
        } else {
            self.send_to_real_server(snap, frame, ip, &c, false)
        }
    }

    /// Counts an ICMP error that follows connection `idx` in `dir` (Input: towards its real
    /// server) in its service's and real server's traffic. Not in the connection's own packet
    /// counts: those are its client's and server's segments, which the sync threshold and the
    /// proof of a live peer count (IPVS's `ip_vs_in_icmp` leaves `in_pkts` alone too).
    pub(super) fn account_icmp_error<K: IpPath>(&mut self, idx: u32, dir: Direction, bytes: u64) {
        let c = K::conns(&self.tables).get(idx);
        let (d, s) = (usize::from(c.dest), usize::from(c.svc));
        for st in [&mut self.dest_stats[d], &mut self.svc_stats[s]] {
            if dir == Direction::Output {
                st.pkts_out += 1;
                st.bytes_out += bytes;
            } else {
                st.pkts_in += 1;
                st.bytes_in += bytes;
            }
        }
    }
}
