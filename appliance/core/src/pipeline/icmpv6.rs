//! ICMPv6 at the balancer (RFC 4443): echo requests for its addresses and VIPs answered;
//! Neighbor Discovery handed to [`super::ndp`]; errors that quote a packet of a connection sent
//! on along it ([`PerCore::icmp_error_flow`], translated for NAT); the rest (MLD, router
//! discovery, echo to others) to the kernel or dropped, as IPv4's.

use super::*;
use crate::wire::icmpv6::{self as icmpv6_wire, kind as kind6};
use crate::wire::ipv6;

impl PerCore {
    #[inline(never)] // the cold path
    pub(super) fn icmpv6<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        port: u16,
        frame: &mut F,
        ip: &Ip<u128>,
    ) -> Verdict {
        let msg = &frame.data()[ip.l4()..ip.end()];
        if msg.len() < icmpv6_wire::HEADER_LEN {
            return Verdict::Drop(DropReason::IcmpTruncated);
        }
        let t = msg[0];
        let fam = snap.family::<u128>();
        match t {
            kind6::NEIGHBOR_SOLICIT | kind6::NEIGHBOR_ADVERT => self.ndp(snap, port, frame, ip),
            kind6::ECHO_REQUEST if fam.answers_for(ip.dst) || fam.local_port(ip.dst).is_some() => {
                let ours = snap.interfaces()[usize::from(port)].mac;
                crate::xmit::icmpv6::echo_reply(frame.data_mut(), ip.l3(), ip.l4(), ours);
                Verdict::Reply
            }
            // Types below 128 are errors (RFC 4443 §2.1).
            t if t < 128 => self.icmpv6_error(snap, now, frame, ip),
            _ => Self::not_ours(snap, ip.dst),
        }
    }

    /// An ICMPv6 error: its quote (an IPv6 header, extension headers, then at least the ports)
    /// read, and the error sent along the connection it quotes.
    pub(super) fn icmpv6_error<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<u128>,
    ) -> Verdict {
        let q = &frame.data()[ip.l4() + icmpv6_wire::HEADER_LEN..ip.end()];
        if q.len() < ipv6::HEADER_LEN || q[0] >> 4 != 6 {
            return Verdict::Drop(DropReason::IcmpTruncated);
        }
        let quoted = ipv6::Ipv6Packet::new_unchecked(q);
        let Ok(upper) = ipv6::walk(q, quoted.next_header()) else {
            return Self::unmatched_error(snap, ip.dst); // a quoted fragment, or a chain cut short
        };
        if !super::ingress::is_flow(upper.protocol) {
            return Self::unmatched_error(snap, ip.dst);
        }
        if q.len() < upper.offset + 8 {
            return Verdict::Drop(DropReason::IcmpTruncated);
        }
        let (qsrc, qdst) = (u128::from(quoted.src()), u128::from(quoted.dst()));
        let ports = crate::wire::udp::UdpPacket::new_unchecked(&q[upper.offset..]);
        self.icmp_error_flow(snap, now, frame, ip, upper.protocol, (qsrc, ports.src_port()), (qdst, ports.dst_port()))
    }
}
