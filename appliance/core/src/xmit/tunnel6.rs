//! IPv6-in-IPv6 tunnelling (LVS/TUN for IPv6, RFC 2473).
//!
//! The client's packet is left untouched and wrapped in an outer IPv6 header DIP -> RIP with
//! next header 41 (RFC 2473 §3): hop limit 64, the inner traffic class and flow label (§6.5;
//! the flow label keeps the real server side's ECMP hashing per flow, RFC 6438). As for IPIP,
//! the outer header goes into the frame's headroom and the Ethernet header moves in front.
//!
//! An IPv6 router never fragments: a packet that would not fit once encapsulated gets an ICMPv6
//! Packet Too Big (RFC 4443 §3.2, RFC 8201) back to its sender with the MTU it must use, from
//! the address it was sent to. A packet the sender already keeps within the minimum MTU
//! (1280) never gets one: the tunnel's own MTU is never below 1280 + 40 (§6.7), and where the
//! egress is smaller the packet is dropped instead.

use crate::frame::Frame;
use crate::verdict::DropReason;
use crate::wire::ipv6::{next_header, Ipv6Repr, HEADER_LEN, MIN_MTU};
use std::net::Ipv6Addr;

/// Hop limit of the outer header (Linux's default, `net.ipv6.conf.*.hop_limit`).
pub const OUTER_HOP_LIMIT: u8 = 64;

/// Outer header overhead in bytes.
pub const OVERHEAD: usize = HEADER_LEN;

/// Wraps the IPv6 packet at `l2_len` in an outer header `src -> dst`. The frame must hold
/// exactly the L2 header and the inner packet (no Ethernet padding).
pub fn encapsulate<F: Frame>(frame: &mut F, l2_len: usize, src: Ipv6Addr, dst: Ipv6Addr) -> Result<(), DropReason> {
    let (class_flow, inner_len) = {
        let d = frame.data();
        let b = &d[l2_len..l2_len + 4];
        (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x0fff_ffff, frame.len() - l2_len)
    };
    let payload_len = u16::try_from(inner_len).map_err(|_| DropReason::TooBig)?;
    let data = frame.prepend(OVERHEAD).ok_or(DropReason::NoHeadroom)?;
    data.copy_within(OVERHEAD..OVERHEAD + l2_len, 0);
    Ipv6Repr { src, dst, next_header: next_header::IPV6, payload_len, hop_limit: OUTER_HOP_LIMIT }
        .emit(&mut data[l2_len..]);
    let w = (6u32 << 28 | class_flow).to_be_bytes();
    data[l2_len..l2_len + 4].copy_from_slice(&w);
    Ok(())
}

/// The path MTU the sender must use so that its packets fit `egress_mtu` once encapsulated;
/// `None` when that is below the minimum MTU (such a packet is dropped, never answered).
pub fn inner_mtu(egress_mtu: u16) -> Option<u16> {
    egress_mtu.checked_sub(OVERHEAD as u16).filter(|&m| m >= MIN_MTU)
}
