//! Masquerading (LVS/NAT): the client's packets get destination RIP:rport instead of
//! VIP:vport; the real server's replies get source VIP:vport back instead of RIP:rport. The
//! client's own address and port are never changed. TCP's and UDP's checksums are patched
//! incrementally; SCTP's CRC32c is computed afresh ([`crate::wire::sctp::set_port_patched`]).

use crate::wire::ipv4::{protocol, Ipv4Packet};
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;

/// The protocol a packet without a transport header (a later IP fragment) is rewritten as: its
/// addresses change, nothing after the IP header (the datagram's transport checksum is in its
/// first fragment, patched there).
pub const ADDR_ONLY: u8 = 0;

/// Which end of the packet to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Source address and port (replies: RIP:rport -> VIP:vport).
    Src,
    /// Destination address and port (requests: VIP:vport -> RIP:rport).
    Dst,
}

/// Rewrites one end's address and port through the packet views, whose setters patch the IPv4
/// header checksum and the TCP/UDP checksum (pseudo-header address and port word) incrementally.
/// With `l4_csum = false` the transport checksum is left alone (a header quoted in an ICMP error
/// carries only its first 8 bytes).
#[inline(always)] // specialised by its callers' constant end and checksum choice
#[allow(clippy::too_many_arguments)] // a flat primitive: every argument is one header field
pub fn rewrite(pkt: &mut [u8], l3: usize, l4: usize, proto: u8, end: End, addr: [u8; 4], port: u16, l4_csum: bool) {
    let (ip, seg) = pkt.split_at_mut(l4);
    let mut ip = Ipv4Packet::new_unchecked(&mut ip[l3..]);
    let was = match end {
        End::Src => ip.set_src_patched(addr),
        End::Dst => ip.set_dst_patched(addr),
    };
    match (proto, l4_csum, end) {
        (protocol::TCP, true, End::Src) => TcpPacket::new_unchecked(seg).set_src_port_patched(port, was, addr),
        (protocol::TCP, true, End::Dst) => TcpPacket::new_unchecked(seg).set_dst_port_patched(port, was, addr),
        (protocol::UDP, true, End::Src) => UdpPacket::new_unchecked(seg).set_src_port_patched(port, was, addr),
        (protocol::UDP, true, End::Dst) => UdpPacket::new_unchecked(seg).set_dst_port_patched(port, was, addr),
        _ => rewrite_port_otherwise(seg, proto, end, port, l4_csum),
    }
}

/// [`rewrite`] of both ends at once (FULLNAT): destination to `dst`, source to `src`. For a
/// whole TCP or UDP segment each checksum is patched by one sum of every changed word, folded
/// once (RFC 1624 eqn. 3 holds for any number of words), instead of one fold a field; anything
/// else is rewritten an end at a time.
#[inline(always)]
pub fn rewrite_both(pkt: &mut [u8], l3: usize, l4: usize, proto: u8, dst: ([u8; 4], u16), src: ([u8; 4], u16)) {
    use crate::wire::checksum::{delta16, fold, udp_nonzero};
    use crate::wire::{be16, put16};
    let csum_at = match proto {
        protocol::TCP => 16,
        protocol::UDP => 6,
        _ => {
            rewrite(pkt, l3, l4, proto, End::Dst, dst.0, dst.1, true);
            rewrite(pkt, l3, l4, proto, End::Src, src.0, src.1, true);
            return;
        }
    };
    let (hdr, seg) = pkt.split_at_mut(l4);
    let addrs = Ipv4Packet::new_unchecked(&mut hdr[l3..]).set_addrs_patched(src.0, dst.0);
    let (sport, dport) = (be16(seg, 0), be16(seg, 2));
    put16(seg, 0, src.1);
    put16(seg, 2, dst.1);
    let old = be16(seg, csum_at);
    if proto == protocol::UDP && old == 0 {
        return; // no UDP checksum (RFC 768): none to patch
    }
    let c = !fold(u64::from(!old) + addrs + delta16(sport, src.1) + delta16(dport, dst.1));
    put16(seg, csum_at, if proto == protocol::UDP { udp_nonzero(c) } else { c });
}

/// The port of what is not a whole TCP or UDP segment: an SCTP packet (its CRC32c computed
/// afresh: it covers no address), a later fragment (no transport header: nothing), or a
/// transport header quoted in an ICMP error (the port alone; TCP and UDP have their ports in
/// the same place).
#[cold]
#[inline(never)]
fn rewrite_port_otherwise(seg: &mut [u8], proto: u8, end: End, port: u16, l4_csum: bool) {
    let at = if end == End::Src { 0 } else { 2 };
    match proto {
        ADDR_ONLY => {}
        protocol::SCTP if l4_csum => crate::wire::sctp::set_port_patched(seg, at, port),
        _ => crate::wire::put16(seg, at, port),
    }
}

/// [`rewrite`] for IPv6 (`l4`: the transport header after any extension headers): the
/// address has no header checksum to patch, the transport checksum covers it through the
/// pseudo-header (RFC 8200 §8.1), so it is patched for the 128-bit address and the port. A
/// UDP checksum is mandatory in IPv6: a result of 0 is sent as 0xffff.
#[inline]
#[allow(clippy::too_many_arguments)] // a flat primitive: every argument is one header field
pub fn rewrite6(pkt: &mut [u8], l3: usize, l4: usize, proto: u8, end: End, addr: [u8; 16], port: u16, l4_csum: bool) {
    use crate::wire::checksum::{udp_nonzero, update128, update16};
    use crate::wire::{be16, put16};
    let at = l3 + if end == End::Src { crate::wire::ipv6::field::SRC } else { crate::wire::ipv6::field::DST };
    let mut was = [0u8; 16];
    was.copy_from_slice(&pkt[at..at + 16]);
    pkt[at..at + 16].copy_from_slice(&addr);
    if proto == ADDR_ONLY {
        return;
    }
    let seg = &mut pkt[l4..];
    let port_at = if end == End::Src { 0 } else { 2 };
    if proto == protocol::SCTP && l4_csum {
        crate::wire::sctp::set_port_patched(seg, port_at, port);
        return;
    }
    let old_port = be16(seg, port_at);
    put16(seg, port_at, port);
    let csum_at = match proto {
        protocol::TCP => 16,
        protocol::UDP => 6,
        _ => return,
    };
    if l4_csum {
        let c = update16(update128(be16(seg, csum_at), was, addr), old_port, port);
        put16(seg, csum_at, if proto == protocol::UDP { udp_nonzero(c) } else { c });
    }
}
