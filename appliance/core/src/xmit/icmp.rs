//! ICMP the balancer handles itself: echo replies for its own addresses and VIPs, the
//! translation of ICMP errors that belong to a NAT connection (RFC 5508 §4 describes the same
//! for NAT devices: the outer address, and the quoted packet's address and port, are changed
//! the same way the connection's packets are, so the endpoint recognises its own packet), and
//! "fragmentation needed" for a packet that does not fit its egress (RFC 1191 §4).

use super::nat::{rewrite, End};
use crate::frame::Frame;
use crate::verdict::DropReason;
use crate::wire::checksum::update16;
use crate::wire::icmp::{IcmpPacket, IcmpRepr, HEADER_LEN as ICMP_HEADER_LEN};
use crate::wire::ipv4::protocol;
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr, HEADER_LEN as IP_HEADER_LEN};
use crate::wire::Mac;
use std::net::Ipv4Addr;

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

/// Turns the frame (an IPv4 packet at `l2_len` that is too big) into ICMP "fragmentation
/// needed" back to its sender, advertising `mtu`, from `from` (None: the address the packet was
/// sent to, a VIP). The quoted part is the offending IP header and its first 8 payload bytes
/// (RFC 792).
pub fn frag_needed<F: Frame>(frame: &mut F, l2_len: usize, ours: Mac, mtu: u16, from: Option<Ipv4Addr>, ident: u16) {
    // A packet too big for its egress is always larger than the error about it: in place.
    error_in_place(frame, l2_len, ours, IcmpRepr::frag_needed(mtu), from, ident)
}

/// Turns the frame (an IPv4 packet at `l2_len`) into ICMP "port unreachable" back to its
/// sender, from `from` (IPVS's `nat_icmp_send`: a real server's reply that no connection
/// expects).
pub fn port_unreachable<F: Frame>(
    frame: &mut F,
    l2_len: usize,
    ours: Mac,
    from: Ipv4Addr,
    ident: u16,
) -> Result<(), DropReason> {
    // The packet may be smaller than the error about it: the new headers go into the headroom
    // and the packet, where it is, becomes the quote.
    let (quoted, sender) = {
        let p = Ipv4Packet::new_unchecked(&frame.data()[l2_len..]);
        ((p.header_len() + 8).min(frame.len() - l2_len), p.src())
    };
    let grow = IP_HEADER_LEN + ICMP_HEADER_LEN;
    let d = frame.prepend(grow).ok_or(DropReason::NoHeadroom)?;
    d.copy_within(grow..grow + l2_len, 0);
    super::route::reply_macs(d, ours);
    let body = l2_len + grow;
    fill_error(d, l2_len, quoted, IcmpRepr::port_unreachable(), (from, sender), ident);
    frame.truncate(body + quoted);
    Ok(())
}

/// An ICMP error `repr` about the IPv4 packet at `l2_len` (at least as long as the error),
/// back to its sender from `from` (None: the address it was sent to), quoting its header and 8
/// bytes (RFC 792).
fn error_in_place<F: Frame>(
    frame: &mut F,
    l2_len: usize,
    ours: Mac,
    repr: IcmpRepr,
    from: Option<Ipv4Addr>,
    ident: u16,
) {
    let d = frame.data_mut();
    let (quoted, client, vip) = {
        let p = Ipv4Packet::new_unchecked(&d[l2_len..]);
        (p.header_len() + 8, p.src(), from.unwrap_or(p.dst()))
    };
    let body = l2_len + IP_HEADER_LEN + ICMP_HEADER_LEN;
    d.copy_within(l2_len..l2_len + quoted, body);
    super::route::reply_macs(d, ours);
    fill_error(d, l2_len, quoted, repr, (vip, client), ident);
    frame.truncate(body + quoted);
}

/// Writes the IPv4 and ICMP headers of error `repr` from `src` to `dst` at `l2_len`, the
/// `quoted` bytes of the offending packet already in place behind them.
fn fill_error(
    d: &mut [u8],
    l2_len: usize,
    quoted: usize,
    repr: IcmpRepr,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    ident: u16,
) {
    let body = l2_len + IP_HEADER_LEN + ICMP_HEADER_LEN;
    let mut q = [0u8; 68];
    q[..quoted].copy_from_slice(&d[body..body + quoted]);
    repr.emit(&mut d[l2_len + IP_HEADER_LEN..], &q[..quoted]);
    Ipv4Repr {
        src,
        dst,
        protocol: protocol::ICMP,
        payload_len: (ICMP_HEADER_LEN + quoted) as u16,
        ttl: ORIGIN_TTL,
        ident,
        dont_frag: false,
        tos: 0,
    }
    .emit(&mut d[l2_len..]);
}
