//! NAT64 connections (an IPv6 VIP whose FULLNAT real servers are IPv4, as DPVS runs them): the
//! connection lives in IPv6's table with its IPv4 ends mapped ([`crate::family::mapped`]), so
//! the whole flow code (scheduling, states, PROXY protocol, the client-side rewrites) runs as
//! for IPv6 FULLNAT. Here the packet changes family on its way out ([`crate::xmit::nat64`]):
//! a client's packet after its rewrite, routed by IPv4's tables to the real server; a real
//! server's IPv4 reply (or an ICMP error about one) before it, found by its mapped 5-tuple in
//! IPv6's reply index. All out of line: a NAT64 packet pays for its translation, no other
//! packet for a check beyond the one that sends it here.

use super::*;
use crate::family::{mapped, unmapped};
use crate::xmit::nat64;

impl PerCore {
    /// A client packet of NAT64 connection `c` (or, `icmp_error`, an ICMPv6 error about one of
    /// its replies) out to its IPv4 real server: rewritten to LIP:lport -> RIP:rport (mapped),
    /// then translated, TOA and MSS written for the IPv4 path.
    #[cold]
    #[inline(never)]
    pub(super) fn nat64_out<F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<u128>,
        c: &Conn<u128>,
        icmp_error: bool,
    ) -> Verdict {
        let fam = snap.family::<u32>();
        let rip = unmapped(c.daddr).unwrap_or_default();
        let (rt, known) = match fam.real_server_route(c.dest, rip) {
            Some(h) => (h.route, h.mac.or_else(|| u32::learned_mac(self, h.route.next_hop))),
            None => {
                if c.dest != crate::service::UNBOUND_DEST && snap.knobs().expire_nodest_conn < 2 {
                    return self.dest_deleted(snap, c);
                }
                let Some((rt, _)) = fam.route_with_mac(rip) else { return Verdict::Drop(DropReason::NoRoute) };
                (rt, self.mac_for::<u32>(snap, rt.next_hop))
            }
        };
        let egress = &snap.interfaces()[usize::from(rt.port)];
        // IPv4's header is 20 bytes and has no extension headers: what the IPv4 path carries
        // is what the client may send, plus that difference (RFC 7915 §5.1).
        let as_v4 = ip.end() - ip.l4() + crate::wire::ipv4::HEADER_LEN;
        if !icmp_error && as_v4 > usize::from(egress.mtu) {
            let mtu = egress.mtu.saturating_add(nat64::GROWTH);
            return u128::too_big(self, frame, ip, mtu, None, false);
        }
        let (l3, l4) = (ip.l3(), ip.l4());
        let d = frame.data_mut();
        if !u128::dec_hop(d, l3) {
            return Verdict::Drop(DropReason::TtlExceeded);
        }
        self.ident = self.ident.wrapping_add(1);
        if icmp_error {
            if !u128::nat_error(d, l3, l4, ip.end(), End::Dst, c.daddr, c.dport)
                || !u128::nat_error(d, l3, l4, ip.end(), End::Src, c.laddr, c.lport)
            {
                return Verdict::Drop(DropReason::IcmpTruncated);
            }
            if let Err(r) = nat64::icmp_error_to_v4(frame, l3, l4, self.ident) {
                return Verdict::Drop(r);
            }
        } else {
            u128::nat_rewrite(d, l3, l4, ip.proto, End::Dst, c.daddr, c.dport);
            u128::nat_rewrite(d, l3, l4, ip.proto, End::Src, c.laddr, c.lport);
            if let Err(r) = nat64::to_ipv4(frame, l3, l4, ip.proto, self.ident) {
                return Verdict::Drop(r);
            }
            let lip = unmapped(c.laddr).unwrap_or_default();
            let ip4 = Ip::<u32>::translated(ip, l3 + crate::wire::ipv4::HEADER_LEN, (lip, rip));
            if ip.proto == protocol::TCP && c.flags & F_PROVED == 0 {
                let client = std::net::IpAddr::V6(c.caddr.addr());
                self.fullnat_tcp_options(snap, frame, &ip4, (c.svc, client, c.cport), egress.mtu);
            }
        }
        route::set_macs(frame.data_mut(), egress.mac, known.unwrap_or(Mac::ZERO));
        Self::ready_or_pending(known, rt.port, rt.next_hop)
    }

    /// An IPv4 packet to a local address that found no IPv4 connection: a NAT64 connection's
    /// reply when IPv6's reply index has its mapped 5-tuple; translated and sent back to the
    /// client as any IPv6 FULLNAT reply is. `None` when it is no connection's.
    #[cold]
    #[inline(never)]
    pub(super) fn nat64_reply<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<u32>,
    ) -> Option<Verdict> {
        let (src, dst) = (mapped(ip.src), mapped(ip.dst));
        let idx = self.tables.v6.lookup_reply(ip.proto, src, ip.sport, dst, ip.dport)?;
        // The client's path must carry it once 20 bytes longer; the server hears it from the
        // local address as from a router (RFC 7915 §4.1: a DF packet too big for IPv6).
        let caddr = self.tables.v6.get(idx).caddr;
        if let Some((rt, _)) = snap.family::<u128>().route_with_mac(caddr) {
            let mtu = snap.interfaces()[usize::from(rt.port)].mtu;
            if ip.end() - ip.l4() + crate::wire::ipv6::HEADER_LEN > usize::from(mtu) {
                return Some(u32::too_big(self, frame, ip, mtu.saturating_sub(nat64::GROWTH), None, false));
            }
        }
        if let Err(r) = nat64::to_ipv6(frame, ip.l3(), ip.l4()) {
            return Some(Verdict::Drop(r));
        }
        let ip6 = Ip::<u128>::translated(ip, ip.l3() + crate::wire::ipv6::HEADER_LEN, (src, dst));
        Some(self.follow::<u128, F>(snap, now, frame, &ip6, idx, ip.tcp_flags, Direction::Output))
    }

    /// An ICMP error from the real servers' side quoting a packet LIP:lport -> RIP:rport of no
    /// IPv4 connection: a NAT64 connection's when IPv6's reply index has the mapped quote;
    /// translated to ICMPv6 and sent to the client as IPv6 FULLNAT's errors are.
    #[cold]
    #[inline(never)]
    pub(super) fn nat64_icmp_error<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<u32>,
    ) -> Option<Verdict> {
        let (l3, l4) = (ip.l3(), ip.l4());
        let q = &frame.data()[l4 + icmp_wire::HEADER_LEN..ip.end()];
        let quoted = Ipv4Packet::new_unchecked(q);
        let ports = crate::wire::udp::UdpPacket::new_unchecked(&q[quoted.header_len()..]);
        let (lip, rip) = (mapped(u32::from(quoted.src())), mapped(u32::from(quoted.dst())));
        self.tables.v6.lookup_reply(quoted.protocol(), rip, ports.dst_port(), lip, ports.src_port())?;
        if let Err(r) = nat64::icmp_error_to_v6(frame, l3, l4) {
            return Some(Verdict::Drop(r));
        }
        let end = frame.len();
        let ip6 = Ip::<u128>::at(
            (l3, l3 + crate::wire::ipv6::HEADER_LEN, end),
            crate::wire::ipv6::next_header::ICMPV6,
            (mapped(ip.src), mapped(ip.dst)),
        );
        Some(self.icmpv6_error(snap, now, frame, &ip6))
    }
}
