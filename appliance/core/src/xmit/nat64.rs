//! NAT64's header translation (RFC 7915, SIIT; the stateful part, RFC 6146, is a FULLNAT
//! connection with IPv4 local addresses, as DPVS does it): an IPv6 client's packet becomes an
//! IPv4 one towards the real server and the server's answer an IPv6 one, in place.
//!
//! The IPv4 ends sit in IPv6's tables as IPv4-mapped addresses ([`crate::family::mapped`]),
//! whose one's-complement sum is the IPv4 address's, so a TCP or UDP checksum is the same
//! under either pseudo-header: translating a segment whose addresses are mapped changes no
//! transport checksum (an IPv4 UDP datagram without one gets one: IPv6 requires it, §4.5).
//! Only the IP header is rewritten: the Ethernet header moves by the difference, the payload
//! stays where it is.
//!
//! ICMP errors are translated whole (§4.2, §5.2): type and code mapped, an MTU moved by the
//! headers' difference, a parameter problem's pointer mapped, the quoted header translated
//! too, the checksum computed afresh. What has no counterpart is dropped
//! (`nat64_untranslatable`).

use crate::family::{mapped, unmapped};
use crate::frame::Frame;
use crate::verdict::DropReason;
use crate::wire::checksum;
use crate::wire::ipv4::{protocol, Ipv4Packet, Ipv4Repr, HEADER_LEN as V4_HEADER};
use crate::wire::ipv6::{self, next_header, Ipv6Packet, Ipv6Repr, HEADER_LEN as V6_HEADER};
use crate::wire::{be16, put16};
use std::net::{Ipv4Addr, Ipv6Addr};

/// What an IPv4 packet grows by as IPv6 (without options).
pub const GROWTH: u16 = (V6_HEADER - V4_HEADER) as u16;

/// Translated IPv4 packets up to this size leave DF clear (RFC 7915 §5.1: an IPv6 path may
/// still need them fragmented, and 1260 + 20 is IPv6's minimum MTU).
const DF_ABOVE: usize = 1260;

/// An ICMPv4 error is at most this long (RFC 1812 §4.3.2.3).
const ICMP4_ERROR_MAX: usize = 576;

/// Largest translated ICMP error this builds (IPv6's minimum MTU, RFC 4443 §2.4 (c)).
const ICMP6_ERROR_MAX: usize = ipv6::MIN_MTU as usize;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Turns the IPv6 packet at `l3` (transport header at `l4`, its end at `end`, the frame's end)
/// whose addresses are IPv4-mapped into an IPv4 packet of protocol `proto`: class to TOS, hop
/// limit to TTL, extension headers dropped. Its transport header then starts at `l3 + 20`.
pub fn to_ipv4<F: Frame>(frame: &mut F, l3: usize, l4: usize, proto: u8, ident: u16) -> Result<(), DropReason> {
    let d = frame.data();
    let p = Ipv6Packet::new_unchecked(&d[l3..]);
    let (Some(src), Some(dst)) = (unmapped(u128::from(p.src())), unmapped(u128::from(p.dst()))) else {
        return Err(DropReason::Nat64Untranslatable);
    };
    let (tos, ttl) = (p.traffic_class(), p.hop_limit());
    let payload = d.len() - l4;
    let shrink = l4 - l3 - V4_HEADER;
    let d = frame.data_mut();
    d.copy_within(0..l3, shrink);
    let repr = Ipv4Repr {
        src: Ipv4Addr::from(src),
        dst: Ipv4Addr::from(dst),
        protocol: proto,
        payload_len: payload as u16,
        ttl,
        ident,
        dont_frag: payload + V4_HEADER > DF_ABOVE,
        tos,
    };
    repr.emit(&mut d[shrink + l3..]);
    put16(d, shrink + l3 - 2, ETHERTYPE_IPV4);
    frame.adj(shrink);
    Ok(())
}

/// Turns the IPv4 packet at `l3` (transport header at `l4`, its end the frame's) into an
/// IPv6 one between the mapped addresses: TOS to class, TTL to hop limit, options dropped. Its
/// transport header then starts at `l3 + 40`. An IPv4 UDP datagram without a checksum gets one.
pub fn to_ipv6<F: Frame>(frame: &mut F, l3: usize, l4: usize) -> Result<(), DropReason> {
    let d = frame.data();
    let p = Ipv4Packet::new_unchecked(&d[l3..]);
    let (src, dst) = (Ipv6Addr::from(mapped(u32::from(p.src()))), Ipv6Addr::from(mapped(u32::from(p.dst()))));
    let (tos, ttl, proto) = (p.tos(), p.ttl(), p.protocol());
    let payload = d.len() - l4;
    let ihl = l4 - l3;
    let d = if ihl < V6_HEADER {
        let grow = V6_HEADER - ihl;
        let d = frame.prepend(grow).ok_or(DropReason::NoHeadroom)?;
        d.copy_within(grow..grow + l3, 0);
        d
    } else {
        let shrink = ihl - V6_HEADER;
        frame.data_mut().copy_within(0..l3, shrink);
        frame.adj(shrink);
        frame.data_mut()
    };
    write_ipv6(&mut d[l3..], src, dst, proto, payload as u16, ttl, tos);
    put16(d, l3 - 2, ETHERTYPE_IPV6);
    let l4 = l3 + V6_HEADER;
    if proto == protocol::UDP && be16(d, l4 + 6) == 0 {
        let acc =
            checksum::pseudo_header_sum_v6(src.octets(), dst.octets(), proto, payload as u32) + checksum::sum(&d[l4..]);
        put16(d, l4 + 6, checksum::udp_nonzero(!checksum::fold(acc)));
    }
    Ok(())
}

fn write_ipv6(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, nh: u8, payload_len: u16, hop_limit: u8, tos: u8) {
    Ipv6Repr { src, dst, next_header: nh, payload_len, hop_limit }.emit(buf);
    buf[0] = 0x60 | tos >> 4;
    buf[1] = tos << 4;
}

/// Resizes the IP packet at `l3` (to the frame's end) to `len` bytes, the `l3` bytes in front
/// of it kept; its contents are then to be written. False without headroom.
fn resize_packet<F: Frame>(frame: &mut F, l3: usize, len: usize) -> bool {
    let old = frame.len() - l3;
    if len > old {
        let grow = len - old;
        let Some(d) = frame.prepend(grow) else { return false };
        d.copy_within(grow..grow + l3, 0);
    } else if len < old {
        let shrink = old - len;
        frame.data_mut().copy_within(0..l3, shrink);
        frame.adj(shrink);
    }
    true
}

/// ICMPv4 error type and code as ICMPv6's (RFC 7915 §4.2); `None`: not translated.
fn icmp4_kind_to_6(t: u8, code: u8) -> Option<(u8, u8)> {
    use crate::wire::icmpv6::kind as k6;
    match (t, code) {
        (3, 0 | 1 | 5 | 6 | 7 | 8 | 11 | 12) => Some((k6::DEST_UNREACHABLE, 0)),
        (3, 2) => Some((k6::PARAMETER_PROBLEM, 1)), // protocol unreachable: unrecognised next header
        (3, 3) => Some((k6::DEST_UNREACHABLE, 4)),
        (3, 4) => Some((k6::PACKET_TOO_BIG, 0)),
        (3, 9 | 10 | 13 | 15) => Some((k6::DEST_UNREACHABLE, 1)),
        (11, c) => Some((k6::TIME_EXCEEDED, c)),
        (12, 0 | 2) => Some((k6::PARAMETER_PROBLEM, 0)),
        _ => None,
    }
}

/// An IPv4 header's field (pointer) as IPv6's (RFC 7915 §4.2, Figure 3).
fn pointer4_to_6(p: u8) -> Option<u8> {
    match p {
        0 => Some(0),
        1 => Some(1),
        2 | 3 => Some(4),
        8 => Some(7),
        9 => Some(6),
        12..=15 => Some(8),
        16..=19 => Some(24),
        _ => None,
    }
}

/// ICMPv6 error type and code as ICMPv4's (RFC 7915 §5.2); `None`: not translated.
fn icmp6_kind_to_4(t: u8, code: u8) -> Option<(u8, u8)> {
    use crate::wire::icmpv6::kind as k6;
    match (t, code) {
        (k6::DEST_UNREACHABLE, 0 | 2 | 3) => Some((3, 1)),
        (k6::DEST_UNREACHABLE, 1) => Some((3, 10)),
        (k6::DEST_UNREACHABLE, 4) => Some((3, 3)),
        (k6::PACKET_TOO_BIG, _) => Some((3, 4)),
        (k6::TIME_EXCEEDED, c) => Some((11, c)),
        (k6::PARAMETER_PROBLEM, 0) => Some((12, 0)),
        (k6::PARAMETER_PROBLEM, 1) => Some((3, 2)),
        _ => None,
    }
}

/// An IPv6 header's field (pointer) as IPv4's (RFC 7915 §5.2, Figure 6).
fn pointer6_to_4(p: u32) -> Option<u8> {
    match p {
        0 => Some(0),
        1 => Some(1),
        4 | 5 => Some(2),
        6 => Some(9),
        7 => Some(8),
        8..=23 => Some(12),
        24..=39 => Some(16),
        _ => None,
    }
}

/// Turns the ICMPv4 error at `l3` (message at `l4`, to the frame's end) into an ICMPv6 error
/// between mapped addresses, its quoted IPv4 header translated too; `ttl` kept for the hop
/// limit. The message then starts at `l3 + 40`.
pub fn icmp_error_to_v6<F: Frame>(frame: &mut F, l3: usize, l4: usize) -> Result<(), DropReason> {
    let mut buf = [0u8; ICMP6_ERROR_MAX];
    let d = frame.data();
    let outer = Ipv4Packet::new_unchecked(&d[l3..]);
    let msg = &d[l4..];
    let quote_ok =
        |q: &[u8]| q.len() >= V4_HEADER && q.len() >= Ipv4Packet::new_unchecked(q).header_len().max(V4_HEADER) + 8;
    if msg.len() < crate::wire::icmp::HEADER_LEN || !quote_ok(&msg[crate::wire::icmp::HEADER_LEN..]) {
        return Err(DropReason::IcmpTruncated);
    }
    let (src, dst) = (Ipv6Addr::from(mapped(u32::from(outer.src()))), Ipv6Addr::from(mapped(u32::from(outer.dst()))));
    let (tos, ttl) = (outer.tos(), outer.ttl());
    let (t6, c6) = icmp4_kind_to_6(msg[0], msg[1]).ok_or(DropReason::Nat64Untranslatable)?;
    let rest = match (msg[0], msg[1]) {
        (3, 4) => u32::from(be16(msg, 6).saturating_add(GROWTH).max(ipv6::MIN_MTU)),
        (12, _) => u32::from(pointer4_to_6(msg[4]).ok_or(DropReason::Nat64Untranslatable)?),
        _ => 0,
    };
    let q = &msg[crate::wire::icmp::HEADER_LEN..];
    let quoted = Ipv4Packet::new_unchecked(q);
    let qhl = quoted.header_len();
    let qbody = &q[qhl..];
    // The quote's own length field: what the packet was, not what is quoted of it.
    let qpayload = quoted.total_len().saturating_sub(qhl as u16);
    let room = ICMP6_ERROR_MAX - V6_HEADER - 8 - V6_HEADER;
    let body = &qbody[..qbody.len().min(room)];
    let len = V6_HEADER + 8 + V6_HEADER + body.len();
    let (qsrc, qdst) =
        (Ipv6Addr::from(mapped(u32::from(quoted.src()))), Ipv6Addr::from(mapped(u32::from(quoted.dst()))));
    write_ipv6(&mut buf, src, dst, next_header::ICMPV6, (len - V6_HEADER) as u16, ttl, tos);
    let m = &mut buf[V6_HEADER..len];
    m[0] = t6;
    m[1] = c6;
    m[4..8].copy_from_slice(&rest.to_be_bytes());
    let qproto = if quoted.protocol() == protocol::ICMP { next_header::ICMPV6 } else { quoted.protocol() };
    write_ipv6(&mut m[8..], qsrc, qdst, qproto, qpayload, quoted.ttl(), quoted.tos());
    m[8 + V6_HEADER..].copy_from_slice(body);
    let acc = checksum::pseudo_header_sum_v6(src.octets(), dst.octets(), next_header::ICMPV6, (len - V6_HEADER) as u32)
        + checksum::sum(m);
    put16(m, 2, !checksum::fold(acc));
    if !resize_packet(frame, l3, len) {
        return Err(DropReason::NoHeadroom);
    }
    let d = frame.data_mut();
    d[l3..l3 + len].copy_from_slice(&buf[..len]);
    put16(d, l3 - 2, ETHERTYPE_IPV6);
    Ok(())
}

/// Turns the ICMPv6 error at `l3` (message at `l4`, to the frame's end) between mapped
/// addresses into an ICMPv4 error, its quoted IPv6 header (extension headers dropped)
/// translated too. The message then starts at `l3 + 20`.
pub fn icmp_error_to_v4<F: Frame>(frame: &mut F, l3: usize, l4: usize, ident: u16) -> Result<(), DropReason> {
    let mut buf = [0u8; ICMP4_ERROR_MAX];
    let d = frame.data();
    let outer = Ipv6Packet::new_unchecked(&d[l3..]);
    let (Some(src), Some(dst)) = (unmapped(u128::from(outer.src())), unmapped(u128::from(outer.dst()))) else {
        return Err(DropReason::Nat64Untranslatable);
    };
    let (tos, ttl) = (outer.traffic_class(), outer.hop_limit());
    let msg = &d[l4..];
    if msg.len() < crate::wire::icmpv6::HEADER_LEN + V6_HEADER + 8 {
        return Err(DropReason::IcmpTruncated);
    }
    let (t4, c4) = icmp6_kind_to_4(msg[0], msg[1]).ok_or(DropReason::Nat64Untranslatable)?;
    let rest6 = u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]);
    let rest: [u8; 4] = match (t4, c4) {
        (3, 4) => {
            let mtu = rest6.saturating_sub(u32::from(GROWTH)).min(u32::from(u16::MAX)) as u16;
            [0, 0, (mtu >> 8) as u8, mtu as u8]
        }
        (12, _) => [pointer6_to_4(rest6).ok_or(DropReason::Nat64Untranslatable)?, 0, 0, 0],
        _ => [0; 4],
    };
    let q = &msg[crate::wire::icmpv6::HEADER_LEN..];
    let quoted = Ipv6Packet::new_unchecked(q);
    let (Some(qsrc), Some(qdst)) = (unmapped(u128::from(quoted.src())), unmapped(u128::from(quoted.dst()))) else {
        return Err(DropReason::Nat64Untranslatable);
    };
    let upper = ipv6::walk(q, quoted.next_header()).map_err(|_| DropReason::Nat64Untranslatable)?;
    let qbody = &q[upper.offset..];
    let ext = (upper.offset - V6_HEADER) as u16;
    let qpayload = quoted.payload_len().saturating_sub(ext);
    let room = ICMP4_ERROR_MAX - V4_HEADER - 8 - V4_HEADER;
    let body = &qbody[..qbody.len().min(room)];
    let len = V4_HEADER + 8 + V4_HEADER + body.len();
    let qproto = if upper.protocol == next_header::ICMPV6 { protocol::ICMP } else { upper.protocol };
    let outer4 = Ipv4Repr {
        src: Ipv4Addr::from(src),
        dst: Ipv4Addr::from(dst),
        protocol: protocol::ICMP,
        payload_len: (len - V4_HEADER) as u16,
        ttl,
        ident,
        dont_frag: false,
        tos,
    };
    outer4.emit(&mut buf);
    let m = &mut buf[V4_HEADER..len];
    m[0] = t4;
    m[1] = c4;
    m[4..8].copy_from_slice(&rest);
    let inner = Ipv4Repr {
        src: Ipv4Addr::from(qsrc),
        dst: Ipv4Addr::from(qdst),
        protocol: qproto,
        payload_len: qpayload,
        ttl: quoted.hop_limit(),
        ident: 0,
        dont_frag: false,
        tos: quoted.traffic_class(),
    };
    inner.emit(&mut m[8..]);
    m[8 + V4_HEADER..].copy_from_slice(body);
    let c = checksum::checksum(m);
    put16(m, 2, c);
    if !resize_packet(frame, l3, len) {
        return Err(DropReason::NoHeadroom);
    }
    let d = frame.data_mut();
    d[l3..l3 + len].copy_from_slice(&buf[..len]);
    put16(d, l3 - 2, ETHERTYPE_IPV4);
    Ok(())
}
