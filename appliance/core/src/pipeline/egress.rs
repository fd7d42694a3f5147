//! Leaving rvs: a packet sent to its real server by the connection's forwarding method (NAT,
//! DR, TUN, with frag-needed when a tunnelled packet would not fit), or a NAT reply sent back
//! to the client from the VIP; the next hop's MAC written, or the packet held for ARP.

use super::*;

impl PerCore {
    /// Sends a client-side packet (or an ICMP error about the flow, `icmp_error`) to the
    /// connection's real server by its forwarding method.
    pub(super) fn send_to_real_server<F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip,
        c: &Conn,
        icmp_error: bool,
    ) -> Verdict {
        let rip = Ipv4Addr::from(c.daddr);
        // The snapshot's precomputed hop; a real server no longer in it (draining) is routed.
        let (rt, known) = match snap.real_server_route(c.dest, c.daddr) {
            Some(h) => (h.route, h.mac.or_else(|| self.neigh.lookup(h.route.next_hop))),
            None => {
                let Some(rt) = snap.route(rip) else { return Verdict::Drop(DropReason::NoRoute) };
                (rt, self.mac_for(snap, rt.next_hop))
            }
        };
        let mac = known.unwrap_or(Mac::ZERO);
        let egress = &snap.interfaces()[usize::from(rt.port)];
        match c.forward {
            Forward::Nat => {
                let d = frame.data_mut();
                if !dec_ttl(d, ip.l3()) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                if icmp_error {
                    crate::xmit::icmp::translate_nat_error(
                        d,
                        ip.l3(),
                        ip.l4(),
                        ip.end(),
                        End::Dst,
                        rip.octets(),
                        rip.octets(),
                        c.dport,
                    );
                } else {
                    rewrite(d, ip.l3(), ip.l4(), ip.proto, End::Dst, rip.octets(), c.dport, true);
                }
                route::set_macs(d, egress.mac, mac);
            }
            Forward::DirectRoute => {
                if rt.next_hop != rip {
                    return Verdict::Drop(DropReason::NoRoute); // DR needs the real server on-link
                }
                route::set_macs(frame.data_mut(), egress.mac, mac);
            }
            Forward::Tunnel => {
                let inner = ip.end() - ip.l3();
                if inner + tunnel::OVERHEAD > usize::from(egress.mtu) {
                    let df = Ipv4Packet::new_unchecked(&frame.data()[ip.l3()..]).dont_frag();
                    let reply_len = ip.l3() + 28 + (ip.l4() - ip.l3()) + 8;
                    if !df || icmp_error || frame.len() < reply_len {
                        return Verdict::Drop(DropReason::TooBig);
                    }
                    self.ident = self.ident.wrapping_add(1);
                    let in_mac = EthernetFrame::new_unchecked(frame.data()).dst();
                    let mtu = egress.mtu - tunnel::OVERHEAD as u16;
                    tunnel::frag_needed(frame, ip.l3(), in_mac, mtu, self.ident);
                    return Verdict::Reply;
                }
                self.ident = self.ident.wrapping_add(1);
                if let Err(r) = tunnel::encapsulate(frame, ip.l3(), egress.addr, rip, self.ident) {
                    return Verdict::Drop(r);
                }
                route::set_macs(frame.data_mut(), egress.mac, mac);
            }
        }
        Self::ready_or_pending(known, rt.port, rt.next_hop)
    }

    /// Sends a NAT reply (or an ICMP error from the real-server side) to the client, with the
    /// VIP:vport as its source.
    pub(super) fn send_to_client<F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip,
        c: &Conn,
        icmp_error: bool,
    ) -> Verdict {
        let cip = Ipv4Addr::from(c.caddr);
        let vip = Ipv4Addr::from(c.vaddr).octets();
        let Some((rt, gw_mac)) = snap.route_with_mac(cip) else { return Verdict::Drop(DropReason::NoRoute) };
        let known = gw_mac.or_else(|| self.mac_for(snap, rt.next_hop));
        let egress = &snap.interfaces()[usize::from(rt.port)];
        let d = frame.data_mut();
        if !dec_ttl(d, ip.l3()) {
            return Verdict::Drop(DropReason::TtlExceeded);
        }
        if icmp_error {
            crate::xmit::icmp::translate_nat_error(d, ip.l3(), ip.l4(), ip.end(), End::Src, vip, vip, c.vport);
        } else {
            rewrite(d, ip.l3(), ip.l4(), ip.proto, End::Src, vip, c.vport, true);
        }
        route::set_macs(d, egress.mac, known.unwrap_or(Mac::ZERO));
        Self::ready_or_pending(known, rt.port, rt.next_hop)
    }
}
