//! IP-in-IP tunnelling (LVS/TUN, RFC 2003).
//!
//! The client's packet is left untouched and wrapped in an outer IPv4 header DIP -> RIP with
//! protocol 4 (RFC 2003 §3): its own TTL, a fresh identification, a fresh checksum, the inner
//! TOS and the inner DF bit (§3.1; PMTU discovery keeps working end to end). The outer header
//! goes into the frame's headroom and the Ethernet header moves in front of it, so the payload
//! is never copied.
//!
//! If the result would exceed the egress MTU and the inner packet forbids fragmentation, the
//! client gets ICMP "fragmentation needed" (RFC 1191 §4, [`super::icmp::frag_needed`]) with the
//! MTU it must use, from the VIP it was talking to, and nothing is forwarded.

use crate::frame::Frame;
use crate::verdict::DropReason;
use crate::wire::ipv4::{protocol, Ipv4Packet, Ipv4Repr, HEADER_LEN as IP_HEADER_LEN};
use std::net::Ipv4Addr;

/// TTL of the outer header (the Linux default, `ip_default_ttl`).
pub const OUTER_TTL: u8 = 64;

/// Outer header overhead in bytes.
pub const OVERHEAD: usize = IP_HEADER_LEN;

/// Wraps the IPv4 packet at `l2_len` in an outer header `src -> dst`. The frame must hold
/// exactly the L2 header and the inner packet (no Ethernet padding).
pub fn encapsulate<F: Frame>(
    frame: &mut F,
    l2_len: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
) -> Result<(), DropReason> {
    let (tos, df, inner_len) = {
        let inner = Ipv4Packet::new_unchecked(&frame.data()[l2_len..]);
        (inner.tos(), inner.dont_frag(), inner.total_len())
    };
    let outer_payload = inner_len;
    let data = frame.prepend(OVERHEAD).ok_or(DropReason::NoHeadroom)?;
    data.copy_within(OVERHEAD..OVERHEAD + l2_len, 0);
    Ipv4Repr {
        src,
        dst,
        protocol: protocol::IPIP,
        payload_len: outer_payload,
        ttl: OUTER_TTL,
        ident,
        dont_frag: df,
        tos,
    }
    .emit(&mut data[l2_len..]);
    Ok(())
}
