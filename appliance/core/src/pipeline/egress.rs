//! Leaving rvs: a packet sent to its real server by the connection's forwarding method (NAT,
//! FULLNAT, DR, TUN), or a NAT or FULLNAT reply sent back to the client from the VIP; the next hop's MAC written,
//! or the packet held for ARP. A packet that does not fit its egress port's MTU (for TUN, once
//! wrapped) is answered with frag-needed (IPv4 with DF) or Packet Too Big (IPv6) as IPVS
//! answers for every method, and otherwise dropped (`too_big`): rvs does not fragment, where
//! IPVS leaves a packet without DF to the kernel's fragmentation (fixtures: `tests/mtu.rs`).

use super::*;

impl PerCore {
    /// Sends a client-side packet (or an ICMP error about the flow, `icmp_error`) to the
    /// connection's real server by its forwarding method.
    pub(super) fn send_to_real_server<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<K>,
        c: &Conn<K>,
        icmp_error: bool,
    ) -> Verdict {
        if c.daddr.is_mapped_v4() {
            return K::nat64_out(self, snap, frame, ip, c, icmp_error); // IPv6 only; out of line
        }
        let fam = snap.family::<K>();
        // The snapshot's precomputed hop; a real server no longer in it (deleted: see
        // `expire_nodest_conn`; or a synced one this director never had) is routed.
        let (rt, known) = match fam.real_server_route(c.dest, c.daddr) {
            Some(h) => (h.route, h.mac.or_else(|| K::learned_mac(self, h.route.next_hop))),
            None => {
                if c.dest != crate::service::UNBOUND_DEST && snap.knobs().expire_nodest_conn < 2 {
                    return self.dest_deleted(snap, c);
                }
                let Some((rt, _)) = fam.route_with_mac(c.daddr) else { return Verdict::Drop(DropReason::NoRoute) };
                (rt, self.mac_for::<K>(snap, rt.next_hop))
            }
        };
        let mac = known.unwrap_or(Mac::ZERO);
        let egress = &snap.interfaces()[usize::from(rt.port)];
        // As IPVS's `ensure_mtu_is_adequate` for every method: what does not fit the egress
        // (TUN checks its wrapped size itself) gets frag-needed or Packet Too Big from the VIP.
        if c.forward != Forward::Tunnel && ip.end() - ip.l3() > usize::from(egress.mtu) {
            return K::too_big(self, frame, ip, egress.mtu, None, icmp_error);
        }
        match c.forward {
            Forward::Nat => {
                let d = frame.data_mut();
                if !K::dec_hop(d, ip.l3()) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                if icmp_error {
                    if !K::nat_error(d, ip.l3(), ip.l4(), ip.end(), End::Dst, c.daddr, c.dport) {
                        return Verdict::Drop(DropReason::IcmpTruncated);
                    }
                } else {
                    K::nat_rewrite(d, ip.l3(), ip.l4(), ip.proto, End::Dst, c.daddr, c.dport);
                }
                route::set_macs(d, egress.mac, mac);
            }
            Forward::FullNat => {
                let d = frame.data_mut();
                if !K::dec_hop(d, ip.l3()) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                // The client's end becomes the local address and port too (an error's outer
                // source and its quote's destination).
                if icmp_error {
                    if !K::nat_error(d, ip.l3(), ip.l4(), ip.end(), End::Dst, c.daddr, c.dport)
                        || !K::nat_error(d, ip.l3(), ip.l4(), ip.end(), End::Src, c.laddr, c.lport)
                    {
                        return Verdict::Drop(DropReason::IcmpTruncated);
                    }
                } else {
                    K::nat_rewrite_both(d, ip.l3(), ip.l4(), ip.proto, (c.daddr, c.dport), (c.laddr, c.lport));
                }
                route::set_macs(d, egress.mac, mac);
                // The segments before the server's first answer tell it the client (TOA); a
                // SYN's MSS is held to what the path to the server carries.
                if ip.proto == protocol::TCP && c.flags & F_PROVED == 0 && !icmp_error {
                    self.fullnat_tcp_options(snap, frame, ip, (c.svc, c.caddr.addr().into(), c.cport), egress.mtu);
                } else if ip.proto == protocol::UDP && c.pkts_in <= crate::xmit::uoa::UOA_TRAIL && !icmp_error {
                    self.fullnat_uoa(snap, frame, ip, c, egress.mtu);
                }
            }
            Forward::DirectRoute => {
                if K::of(rt.next_hop) != c.daddr {
                    return Verdict::Drop(DropReason::NoRoute); // DR needs the real server on-link
                }
                route::set_macs(frame.data_mut(), egress.mac, mac);
            }
            Forward::Tunnel => {
                if let Err(v) = K::tunnel(self, frame, ip, egress, c.daddr, snap.tunnel_of(c.dest), icmp_error) {
                    return v;
                }
                route::set_macs(frame.data_mut(), egress.mac, mac);
            }
        }
        Self::ready_or_pending(known, rt.port, rt.next_hop)
    }

    /// A FULLNAT TCP segment towards the real server before the server answered past its
    /// SYN-ACK: a SYN's MSS clamped to the path (`mtu`), TOA (the connection's service, client
    /// address and port) added to an ACK when the service asks for it and it fits. Out of
    /// line: a connection's first segments only.
    #[cold]
    #[inline(never)]
    pub(super) fn fullnat_tcp_options<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<K>,
        (svc, client, cport): (u16, std::net::IpAddr, u16),
        mtu: u16,
    ) {
        let v6 = K::BITS == 128;
        let headers = if v6 { 60 } else { 40 };
        if ip.tcp_flags & flags::SYN != 0 {
            let d = frame.data_mut();
            crate::xmit::toa::clamp_mss(&mut d[ip.l4()..ip.end()], mtu.saturating_sub(headers));
            return;
        }
        if ip.tcp_flags & (flags::ACK | flags::RST) != flags::ACK || !snap.service_by_id(svc).is_some_and(|s| s.toa) {
            return;
        }
        if ip.end() - ip.l3() + crate::xmit::toa::toa_len(client) > usize::from(mtu) {
            return; // a full segment: the handshake's ACK carried it
        }
        if crate::xmit::toa::add_toa(frame, ip.l3(), ip.l4(), v6, client, cport) {
            self.counters.toa_added += 1;
        }
    }

    /// One of a FULLNAT UDP flow's first datagrams: UOA added when the service asks for it and
    /// it fits (`mtu`). Out of line: a flow's first datagrams only.
    #[cold]
    #[inline(never)]
    fn fullnat_uoa<K: IpPath, F: Frame>(&mut self, snap: &Snapshot, frame: &mut F, ip: &Ip<K>, c: &Conn<K>, mtu: u16) {
        let std::net::IpAddr::V4(client) = c.caddr.addr().into() else { return };
        if !snap.service_by_id(c.svc).is_some_and(|s| s.uoa)
            || ip.end() - ip.l3() + crate::xmit::uoa::UOA_LEN4 > usize::from(mtu)
        {
            return;
        }
        if crate::xmit::uoa::add_uoa(frame, ip.l3(), client, c.cport) {
            self.counters.uoa_added += 1;
        }
    }

    /// A packet of connection `c`, whose real server was deleted, under `expire_nodest_conn` 0
    /// (dropped) or 1 (the connection expires now, and the packet is dropped).
    #[cold]
    #[inline(never)]
    pub(super) fn dest_deleted<K: IpPath>(&mut self, snap: &Snapshot, c: &Conn<K>) -> Verdict {
        if snap.knobs().expire_nodest_conn == 1 {
            let t = K::conns(&self.tables);
            if let Some(idx) = t.lookup_client(c.proto, c.caddr, c.cport, c.vaddr, c.vport) {
                // The packet's step just filed the entry at now + its state's timeout.
                let now = t.get(idx).expires.saturating_sub(c.state.timeout(&snap.timeouts()));
                self.drop_conn::<K>(snap, idx, now);
            }
        }
        Verdict::Drop(DropReason::DestDeleted)
    }

    /// Forwards a packet of `svc` to its `i`-th real server without a connection entry (the
    /// stateless fallback, one-packet scheduling), counting it on the server and the service.
    pub(super) fn forward_without_entry<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<K>,
        svc: &Service,
        i: usize,
    ) -> Verdict {
        let d = &svc.dests[i];
        let rport = d.port_for(ip.dport);
        let daddr = K::of_ip(d.addr).unwrap_or_default(); // the snapshot checked the family
        let c = Conn::new(ip.proto, ip.src, ip.sport, ip.dst, ip.dport, daddr, rport, d.forward, svc.id, d.id);
        let bytes = ip.len();
        for st in [&mut self.dest_stats[usize::from(d.id)], &mut self.svc_stats[usize::from(svc.id)]] {
            st.pkts_in += 1;
            st.bytes_in += bytes;
        }
        self.send_to_real_server(snap, frame, ip, &c, false)
    }

    /// Sends a NAT reply (or an ICMP error from the real-server side) to the client, with the
    /// VIP:vport as its source.
    pub(super) fn send_to_client<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<K>,
        c: &Conn<K>,
        icmp_error: bool,
    ) -> Verdict {
        let Some((rt, gw_mac)) = snap.family::<K>().route_with_mac(c.caddr) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let known = gw_mac.or_else(|| self.mac_for::<K>(snap, rt.next_hop));
        let egress = &snap.interfaces()[usize::from(rt.port)];
        if ip.end() - ip.l3() > usize::from(egress.mtu) {
            // The real server hears it from the director's address on its side, as from a router.
            let from = snap
                .family::<K>()
                .route_with_mac(c.daddr)
                .and_then(|(back, _)| K::iface_addr(&snap.interfaces()[usize::from(back.port)]));
            return K::too_big(self, frame, ip, egress.mtu, from, icmp_error);
        }
        let d = frame.data_mut();
        if !K::dec_hop(d, ip.l3()) {
            return Verdict::Drop(DropReason::TtlExceeded);
        }
        // FULLNAT: the local address and port become the client's again; a SYN-ACK's MSS leaves
        // room for TOA on the client's first segments.
        if c.is_fullnat() && ip.proto == protocol::TCP && ip.tcp_flags & flags::SYN != 0 && !icmp_error {
            let v6 = K::BITS == 128;
            let toa = snap.service_by_id(c.svc).is_some_and(|s| s.toa);
            let room =
                if v6 { 60 } else { 40 } + if toa { crate::xmit::toa::toa_len(c.caddr.addr().into()) } else { 0 };
            crate::xmit::toa::clamp_mss(&mut d[ip.l4()..ip.end()], egress.mtu.saturating_sub(room as u16));
        }
        if icmp_error {
            if !K::nat_error(d, ip.l3(), ip.l4(), ip.end(), End::Src, c.vaddr, c.vport)
                || (c.is_fullnat() && !K::nat_error(d, ip.l3(), ip.l4(), ip.end(), End::Dst, c.caddr, c.cport))
            {
                return Verdict::Drop(DropReason::IcmpTruncated);
            }
        } else if c.is_fullnat() {
            K::nat_rewrite_both(d, ip.l3(), ip.l4(), ip.proto, (c.caddr, c.cport), (c.vaddr, c.vport));
        } else {
            K::nat_rewrite(d, ip.l3(), ip.l4(), ip.proto, End::Src, c.vaddr, c.vport);
        }
        route::set_macs(d, egress.mac, known.unwrap_or(Mac::ZERO));
        Self::ready_or_pending(known, rt.port, rt.next_hop)
    }
}
