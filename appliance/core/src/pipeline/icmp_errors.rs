//! ICMP at the balancer: echo requests for its addresses and VIPs answered; errors that quote a
//! packet of a connection (from either side, RFC 5508 §4 / IPVS's `ip_vs_in_icmp` and
//! `ip_vs_out_icmp`) sent on along that connection, translated for NAT; the rest to the kernel
//! or dropped. The connection an error belongs to is found the same way for both families
//! ([`PerCore::icmp_error_flow`]); ICMPv6 reads its quote in [`super::icmpv6`].

use super::*;

impl PerCore {
    #[inline(never)] // the cold path: kept out of the forwarding path's code
    pub(super) fn icmp<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        port: u16,
        frame: &mut F,
        ip: &Ip<u32>,
    ) -> Verdict {
        let msg = &frame.data()[ip.l4()..ip.end()];
        if msg.len() < icmp_wire::HEADER_LEN {
            return Verdict::Drop(DropReason::IcmpTruncated);
        }
        let t = msg[0];
        let dst = Ipv4Addr::from(ip.dst);
        let for_us = snap.family::<u32>().answers_for(ip.dst) || snap.local_port(dst).is_some();
        if t == kind::ECHO_REQUEST && for_us {
            let ours = snap.interfaces()[usize::from(port)].mac;
            crate::xmit::icmp::echo_reply(frame.data_mut(), ip.l3(), ip.l4(), ours);
            return Verdict::Reply;
        }
        if !icmp_wire::is_error(t) {
            if t == kind::ECHO_REQUEST || t == kind::ECHO_REPLY {
                if let Some(v) = self.snat_echo(snap, now, frame, ip) {
                    return v;
                }
            }
            return Self::not_ours(snap, ip.dst);
        }
        // The quoted packet: its IP header and at least 8 bytes of transport header.
        // The quote is an IPv4 header and at least 8 bytes of its payload (RFC 792), often no
        // more: the views read its fields, never its lengths' promises.
        let q = &msg[icmp_wire::HEADER_LEN..];
        let quoted = Ipv4Packet::new_unchecked(q);
        if q.len() < crate::wire::ipv4::HEADER_LEN || q[0] >> 4 != 4 {
            return Verdict::Drop(DropReason::IcmpTruncated);
        }
        let qhl = quoted.header_len();
        if qhl < crate::wire::ipv4::HEADER_LEN || q.len() < qhl + 8 {
            return Verdict::Drop(DropReason::IcmpTruncated);
        }
        let qproto = quoted.protocol();
        if !super::ingress::is_flow(qproto) || quoted.frag_offset() != 0 {
            return Self::unmatched_error(snap, ip.dst);
        }
        let (qsrc, qdst) = (u32::from(quoted.src()), u32::from(quoted.dst()));
        let ports = crate::wire::udp::UdpPacket::new_unchecked(&q[qhl..]); // TCP's ports sit alike
        self.icmp_error_flow(snap, now, frame, ip, qproto, (qsrc, ports.src_port()), (qdst, ports.dst_port()))
    }

    /// An ICMP error (either family) whose quote is `qproto` from `qs` to `qd` (address, port):
    /// sent on along the connection it belongs to, handed to the core that owns it, or not ours.
    #[allow(clippy::too_many_arguments)] // the error, and the quoted flow's two ends
    pub(super) fn icmp_error_flow<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
        qproto: u8,
        (qsrc, qsport): (K, u16),
        (qdst, qdport): (K, u16),
    ) -> Verdict {
        // About a packet that went to the client (VIP -> CIP): follow the connection inbound.
        if let Some(idx) = K::conns(&self.tables).lookup_client(qproto, qdst, qdport, qsrc, qsport) {
            let c = *K::conns(&self.tables).get(idx);
            self.account_icmp_error::<K>(idx, Direction::Input, ip.len());
            return self.send_to_real_server(snap, frame, ip, &c, true);
        }
        // About a packet rvsd sent a NAT real server (CIP -> RIP:rport: its port unreachable, a
        // router's frag-needed or Packet Too Big): the quote read in reverse is a reply of the
        // connection (IPVS's `ip_vs_out_icmp`); it goes back to the client, translated.
        if let Some(idx) = K::conns(&self.tables).lookup_reply(qproto, qdst, qdport, qsrc, qsport) {
            let c = *K::conns(&self.tables).get(idx);
            self.account_icmp_error::<K>(idx, Direction::Output, ip.len());
            return self.send_to_client(snap, frame, ip, &c, true);
        }
        // Either may belong to a connection another core owns (the owner is the client's).
        if self.cores > 1 {
            let owner = if snap.service_of(qproto, qsrc, qsport).is_some_and(|s| snap.steered(s.id)) {
                Some(snap.owner_of(qdst, self.cores)) // quoted VIP:vport -> CIP
            } else if snap.family::<K>().is_nat_real(qproto, qdst, qdport) {
                Some(snap.owner_of(qsrc, self.cores)) // quoted CIP -> RIP:rport
            } else if snap.family::<K>().is_laddr(qsrc) {
                Some(LocalPorts::owner(qsport, self.cores)) // quoted LIP:lport -> RIP:rport
            } else {
                None
            };
            if let Some(o) = owner.filter(|&o| o != self.core_id) {
                return Verdict::Redirect(o);
            }
        }
        if snap.family::<K>().is_laddr(qsrc) {
            // Quoting LIP:lport -> RIP:rport of an IPv4 local address: maybe a NAT64 connection's.
            if let Some(v) = K::as_v4(ip).and_then(|ip4| self.nat64_icmp_error(snap, now, frame, ip4)) {
                return v;
            }
        }
        if snap.knobs().schedule_icmp {
            if let Some(v) = self.schedule_icmp_error(snap, now, frame, ip, qproto, (qsrc, qsport), (qdst, qdport)) {
                return v;
            }
        }
        Self::unmatched_error(snap, ip.dst)
    }

    /// `schedule_icmp`: an error quoting a packet VIP:vport -> CIP:cport of no connection here
    /// goes to the real server the service's scheduler picks for the flow CIP -> VIP (IPVS's
    /// `ip_vs_try_to_schedule` on the quote; a hash scheduler picks the flow's own server), its
    /// quote translated for NAT. No entry is made: an ICMP error proves no connection.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn schedule_icmp_error<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
        qproto: u8,
        (vip, vport): (K, u16),
        (client, cport): (K, u16),
    ) -> Option<Verdict> {
        let svc = snap.service_of(qproto, vip, vport).filter(|_| snap.serves_of(vip))?;
        let flow = Flow::new(qproto, client, cport, vip, vport);
        let sched = self.scheds[usize::from(svc.id)].as_mut()?;
        let view = View { dests: &svc.dests, weights: &self.weights, loads: &self.loads };
        let d = &svc.dests[sched.pick(&view, &flow, now)?];
        if d.forward == Forward::FullNat {
            return None; // its local port is a connection's: without one there is none
        }
        let daddr = K::of_ip(d.addr)?;
        let c = Conn::new(qproto, client, cport, vip, vport, daddr, d.port_for(vport), d.forward, svc.id, d.id);
        self.counters.icmp_scheduled += 1;
        Some(self.send_to_real_server(snap, frame, ip, &c, true))
    }

    /// An ICMP error of no connection: the director's own goes to the kernel, the rest is dropped.
    pub(super) fn unmatched_error<K: Family>(snap: &Snapshot, dst: K) -> Verdict {
        if snap.family::<K>().local_port(dst).is_some() {
            Verdict::ToKernel
        } else {
            Verdict::Drop(DropReason::IcmpUnmatched)
        }
    }
}
