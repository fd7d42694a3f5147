//! ICMP the balancer handles itself: echo replies for its own addresses and VIPs, and the
//! translation of ICMP errors that belong to a NAT connection (RFC 5508 §4 describes the same
//! for NAT devices): the outer address, and the quoted packet's address and port, are changed
//! the same way the connection's packets are, so the endpoint recognises its own packet.

use super::nat::{rewrite, End};
use crate::wire::checksum::update16;
use crate::wire::icmp::IcmpPacket;
use crate::wire::ipv4::protocol;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::Mac;

/// TTL of the packets rvsd originates (echo replies, frag-needed): Linux's default
/// (`net.ipv4.ip_default_ttl`).
pub const ORIGIN_TTL: u8 = 64;

/// Turns an echo request at `l3`/`l4` into the echo reply, in place: addresses swapped, TTL
/// reset, type 0, checksums patched, MACs swapped (from `ours`).
pub fn echo_reply(pkt: &mut [u8], l3: usize, l4: usize, ours: Mac) {
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut pkt[l3..l4]);
        ip.swap_addrs(); // the header sum, and so its checksum, is unchanged
        ip.set_ttl_patched(ORIGIN_TTL);
    }
    {
        // The type shares a checksum word with the code: patch for that word.
        let mut icmp = IcmpPacket::new_unchecked(&mut pkt[l4..]);
        let old = u16::from(icmp.msg_type()) << 8 | u16::from(icmp.code());
        icmp.set_msg_type(crate::wire::icmp::kind::ECHO_REPLY);
        let new = u16::from(icmp.msg_type()) << 8 | u16::from(icmp.code());
        let c = update16(icmp.checksum(), old, new);
        icmp.set_checksum(c);
    }
    super::route::reply_macs(pkt, ours);
}

/// Rewrites only an address of the outer header (ICMP has no pseudo-header).
fn set_outer_addr(pkt: &mut [u8], l3: usize, end: End, addr: [u8; 4]) {
    let mut ip = Ipv4Packet::new_unchecked(&mut pkt[l3..]);
    match end {
        End::Src => ip.set_src_patched(addr),
        End::Dst => ip.set_dst_patched(addr),
    };
}

/// Translates an ICMP error of a NAT connection in place.
///
/// `outer` says which outer address becomes `outer_addr`; the quoted packet, which travelled
/// the other way, has its opposite end rewritten to `inner_addr:inner_port`, as IPVS's
/// `ip_vs_nat_icmp` does:
/// - towards the real server (an error from the client side about VIP:vport -> CIP): outer Dst
///   VIP becomes RIP, the quote's source VIP:vport becomes RIP:rport;
/// - towards the client (an error from the real-server side about CIP -> RIP:rport, e.g. the
///   real server's port unreachable or a router's frag-needed): outer Src becomes VIP, the
///   quote's destination RIP:rport becomes VIP:vport.
///
/// `icmp_end` is where the ICMP message ends (the outer total length). The inner transport
/// checksum is patched when the quote reaches it; the ICMP checksum is recomputed over the
/// (short) message.
#[allow(clippy::too_many_arguments)]
pub fn translate_nat_error(
    pkt: &mut [u8],
    l3: usize,
    l4: usize,
    icmp_end: usize,
    outer: End,
    outer_addr: [u8; 4],
    inner_addr: [u8; 4],
    inner_port: u16,
) {
    set_outer_addr(pkt, l3, outer, outer_addr);
    let il3 = l4 + crate::wire::icmp::HEADER_LEN;
    let (il4, proto) = {
        let q = Ipv4Packet::new_unchecked(&pkt[il3..]);
        (il3 + q.header_len(), q.protocol())
    };
    let quoted_l4 = icmp_end - il4;
    let csum_present = match proto {
        protocol::TCP => quoted_l4 >= 18,
        protocol::UDP => quoted_l4 >= 8,
        _ => false,
    };
    let quoted = match outer {
        End::Dst => End::Src,
        End::Src => End::Dst,
    };
    rewrite(pkt, il3, il4, proto, quoted, inner_addr, inner_port, csum_present);
    IcmpPacket::new_unchecked(&mut pkt[l4..icmp_end]).fill_checksum();
}
