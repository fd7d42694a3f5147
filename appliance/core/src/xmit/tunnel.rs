//! IPv4 tunnelling (LVS/TUN): IP-in-IP (RFC 2003), GUE or GRE ([`crate::encap`]).
//!
//! The client's packet is left untouched and wrapped in an outer IPv4 header DIP -> RIP with
//! protocol 4 (RFC 2003 §3; 17 for GUE, 47 for GRE): its own TTL, a fresh identification, a
//! fresh checksum, the inner TOS and the inner DF bit (§3.1; PMTU discovery keeps working end
//! to end). The outer headers go into the frame's headroom and the Ethernet header moves in
//! front of them, so the payload is never copied.
//!
//! If the result would exceed the egress MTU and the inner packet forbids fragmentation, the
//! client gets ICMP "fragmentation needed" (RFC 1191 §4, [`super::icmp::frag_needed`]) with the
//! MTU it must use, from the VIP it was talking to, and nothing is forwarded.

use crate::encap::Tunnel;
use crate::frame::Frame;
use crate::verdict::DropReason;
use crate::wire::checksum;
use crate::wire::ipv4::{protocol, Ipv4Packet, Ipv4Repr, HEADER_LEN as IP_HEADER_LEN};
use std::net::Ipv4Addr;

/// TTL of the outer header (the Linux default, `ip_default_ttl`).
pub const OUTER_TTL: u8 = 64;

/// Outer header overhead in bytes.
pub const OVERHEAD: usize = IP_HEADER_LEN;

/// Wraps the IPv4 packet at `l2_len` in an outer header `src -> dst` and the tunnel header
/// `t` asks for (`sport`: GUE's UDP source port). The frame must hold exactly the L2 header and
/// the inner packet (no Ethernet padding).
pub fn encapsulate<F: Frame>(
    frame: &mut F,
    l2_len: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    t: Tunnel,
    sport: u16,
) -> Result<(), DropReason> {
    let (tos, df, inner_len) = {
        let inner = Ipv4Packet::new_unchecked(&frame.data()[l2_len..]);
        (inner.tos(), inner.dont_frag(), inner.total_len())
    };
    if t.kind == crate::encap::TunnelKind::Ipip {
        // IPVS's default, on every TUN packet: the outer header alone, nothing computed.
        let data = frame.prepend(OVERHEAD).ok_or(DropReason::NoHeadroom)?;
        data.copy_within(OVERHEAD..OVERHEAD + l2_len, 0);
        let outer = Ipv4Repr {
            src,
            dst,
            protocol: protocol::IPIP,
            payload_len: inner_len,
            ttl: OUTER_TTL,
            ident,
            dont_frag: df,
            tos,
        };
        outer.emit(&mut data[l2_len..]);
        return Ok(());
    }
    with_header(frame, l2_len, (src, dst), (tos, df, inner_len), ident, t, sport)
}

/// GUE or GRE: the outer header, then the tunnel header ([`super::encap_header`]). Out of line:
/// IP-in-IP, IPVS's default, stays small.
#[cold]
#[inline(never)]
fn with_header<F: Frame>(
    frame: &mut F,
    l2_len: usize,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    (tos, df, inner_len): (u8, bool, u16),
    ident: u16,
    t: Tunnel,
    sport: u16,
) -> Result<(), DropReason> {
    let hdr = t.header_len();
    let outer_payload = inner_len + hdr as u16; // the MTU check bounded both
    let data = frame.prepend(OVERHEAD + hdr).ok_or(DropReason::NoHeadroom)?;
    data.copy_within(OVERHEAD + hdr..OVERHEAD + hdr + l2_len, 0);
    let proto = super::encap_header::write(&mut data[l2_len + OVERHEAD..], t, sport, protocol::IPIP);
    Ipv4Repr { src, dst, protocol: proto, payload_len: outer_payload, ttl: OUTER_TTL, ident, dont_frag: df, tos }
        .emit(&mut data[l2_len..]);
    if super::encap_header::udp_checksum_wanted(t) {
        let udp = l2_len + OVERHEAD;
        let len = outer_payload;
        let acc = checksum::pseudo_header_sum(src.octets(), dst.octets(), protocol::UDP, len)
            + checksum::sum(&data[udp..udp + usize::from(len)]);
        let c = checksum::udp_nonzero(!checksum::fold(acc));
        data[udp + 6..udp + 8].copy_from_slice(&c.to_be_bytes());
    }
    Ok(())
}
