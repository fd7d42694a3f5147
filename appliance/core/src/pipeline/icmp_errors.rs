//! ICMP at the balancer: echo requests for its addresses and VIPs answered; errors that quote a
//! packet of a connection (from either side, RFC 5508 §4 / IPVS's `ip_vs_in_icmp` and
//! `ip_vs_out_icmp`) sent on along that connection, translated for NAT; the rest to the kernel
//! or dropped.

use super::*;

impl PerCore {
    #[inline(never)] // the cold path: kept out of the forwarding path's code
    pub(super) fn icmp<F: Frame>(&mut self, snap: &Snapshot, port: u16, frame: &mut F, ip: &Ip) -> Verdict {
        let msg = &frame.data()[ip.l4()..ip.end()];
        if msg.len() < icmp_wire::HEADER_LEN {
            return Verdict::Drop(DropReason::IcmpTruncated);
        }
        let t = msg[0];
        let for_us = snap.is_vip(ip.dst) || snap.local_port(ip.dst).is_some();
        if t == kind::ECHO_REQUEST && for_us {
            let ours = snap.interfaces()[usize::from(port)].mac;
            crate::xmit::icmp::echo_reply(frame.data_mut(), ip.l3(), ip.l4(), ours);
            return Verdict::Reply;
        }
        if !icmp_wire::is_error(t) {
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
        if !(qproto == protocol::TCP || qproto == protocol::UDP) || quoted.frag_offset() != 0 {
            return if snap.local_port(ip.dst).is_some() {
                Verdict::ToKernel
            } else {
                Verdict::Drop(DropReason::IcmpUnmatched)
            };
        }
        let (qsrc, qdst) = (u32::from(quoted.src()), u32::from(quoted.dst()));
        let ports = crate::wire::udp::UdpPacket::new_unchecked(&q[qhl..]); // TCP's ports sit alike
        let (qsport, qdport) = (ports.src_port(), ports.dst_port());
        // About a packet that went to the client (VIP -> CIP): follow the connection inbound.
        if let Some(idx) = self.conns.lookup_client(qproto, qdst, qdport, qsrc, qsport) {
            let c = *self.conns.get(idx);
            self.account_in(idx, ip.len());
            return self.send_to_real_server(snap, frame, ip, &c, true);
        }
        // About a packet rvsd sent a NAT real server (CIP -> RIP:rport: its port unreachable, a
        // router's frag-needed): the quote read in reverse is a reply of the connection
        // (IPVS's `ip_vs_out_icmp`); it goes back to the client, translated.
        if let Some(idx) = self.conns.lookup_reply(qproto, qdst, qdport, qsrc, qsport) {
            let c = *self.conns.get(idx);
            self.account_out(idx, ip.len());
            return self.send_to_client(snap, frame, ip, &c, true);
        }
        // Either may belong to a connection another core owns (the owner is the client's).
        if self.cores > 1 {
            let (qs, qd) = (Ipv4Addr::from(qsrc), Ipv4Addr::from(qdst));
            let client = if snap.service(qproto, qs, qsport).is_some_and(|s| snap.steered(s.id)) {
                Some(qd) // quoted VIP:vport -> CIP
            } else if snap.is_nat_real(qproto, qd, qdport) {
                Some(qs) // quoted CIP -> RIP:rport
            } else {
                None
            };
            if let Some(o) = client.map(|c| snap.owner(c, self.cores)).filter(|&o| o != self.core_id) {
                return Verdict::Redirect(o);
            }
        }
        if snap.local_port(ip.dst).is_some() {
            Verdict::ToKernel
        } else {
            Verdict::Drop(DropReason::IcmpUnmatched)
        }
    }
}
