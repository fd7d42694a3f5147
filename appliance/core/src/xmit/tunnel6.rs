//! IPv6 tunnelling (LVS/TUN for IPv6): IPv6-in-IPv6 (RFC 2473), GUE or GRE ([`crate::encap`]).
//!
//! The client's packet is left untouched and wrapped in an outer IPv6 header DIP -> RIP with
//! next header 41 (RFC 2473 §3; 17 for GUE, 47 for GRE): hop limit 64, the inner traffic class
//! and flow label (§6.5; the flow label keeps the real server side's ECMP hashing per flow,
//! RFC 6438). As for IPIP, the outer headers go into the frame's headroom and the Ethernet
//! header moves in front. GUE without `--tun-csum` sends a zero UDP checksum, which RFC 6935
//! and RFC 6936 allow for tunnels over IPv6 (the receiver must accept it, as Linux's
//! `UDP_NO_CHECK6_RX`).
//!
//! An IPv6 router never fragments: a packet that would not fit once encapsulated gets an ICMPv6
//! Packet Too Big (RFC 4443 §3.2, RFC 8201) back to its sender with the MTU it must use, from
//! the address it was sent to. A packet the sender already keeps within the minimum MTU
//! (1280) never gets one: the tunnel's own MTU is never below 1280 + 40 (§6.7), and where the
//! egress is smaller the packet is dropped instead.

use crate::encap::Tunnel;
use crate::frame::Frame;
use crate::verdict::DropReason;
use crate::wire::checksum;
use crate::wire::ipv4::protocol;
use crate::wire::ipv6::{next_header, Ipv6Repr, HEADER_LEN, MIN_MTU};
use std::net::Ipv6Addr;

/// Hop limit of the outer header (Linux's default, `net.ipv6.conf.*.hop_limit`).
pub const OUTER_HOP_LIMIT: u8 = 64;

/// Outer header overhead in bytes.
pub const OVERHEAD: usize = HEADER_LEN;

/// Wraps the IPv6 packet at `l2_len` in an outer header `src -> dst` and the tunnel header
/// `t` asks for (`sport`: GUE's UDP source port). The frame must hold exactly the L2 header and
/// the inner packet (no Ethernet padding).
pub fn encapsulate<F: Frame>(
    frame: &mut F,
    l2_len: usize,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    t: Tunnel,
    sport: u16,
) -> Result<(), DropReason> {
    let (class_flow, inner_len) = {
        let d = frame.data();
        let b = &d[l2_len..l2_len + 4];
        (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x0fff_ffff, frame.len() - l2_len)
    };
    if t.kind == crate::encap::TunnelKind::Ipip {
        // IPVS's default, on every TUN packet: the outer header alone.
        let payload_len = u16::try_from(inner_len).map_err(|_| DropReason::TooBig)?;
        let data = frame.prepend(OVERHEAD).ok_or(DropReason::NoHeadroom)?;
        data.copy_within(OVERHEAD..OVERHEAD + l2_len, 0);
        Ipv6Repr { src, dst, next_header: next_header::IPV6, payload_len, hop_limit: OUTER_HOP_LIMIT }
            .emit(&mut data[l2_len..]);
        let w = (6u32 << 28 | class_flow).to_be_bytes();
        data[l2_len..l2_len + 4].copy_from_slice(&w);
        return Ok(());
    }
    let hdr = t.header_len();
    let payload_len = u16::try_from(inner_len + hdr).map_err(|_| DropReason::TooBig)?;
    let data = frame.prepend(OVERHEAD + hdr).ok_or(DropReason::NoHeadroom)?;
    data.copy_within(OVERHEAD + hdr..OVERHEAD + hdr + l2_len, 0);
    let nh = super::encap_header::write(&mut data[l2_len + OVERHEAD..], t, sport, next_header::IPV6);
    Ipv6Repr { src, dst, next_header: nh, payload_len, hop_limit: OUTER_HOP_LIMIT }.emit(&mut data[l2_len..]);
    let w = (6u32 << 28 | class_flow).to_be_bytes();
    data[l2_len..l2_len + 4].copy_from_slice(&w);
    if super::encap_header::udp_checksum_wanted(t) {
        let udp = l2_len + OVERHEAD;
        let acc = checksum::pseudo_header_sum_v6(src.octets(), dst.octets(), protocol::UDP, u32::from(payload_len))
            + checksum::sum(&data[udp..udp + usize::from(payload_len)]);
        let c = checksum::udp_nonzero(!checksum::fold(acc));
        data[udp + 6..udp + 8].copy_from_slice(&c.to_be_bytes());
    }
    Ok(())
}

/// The path MTU the sender must use so that its packets fit `egress_mtu` once encapsulated;
/// `None` when that is below the minimum MTU (such a packet is dropped, never answered).
pub fn inner_mtu(egress_mtu: u16, t: Tunnel) -> Option<u16> {
    egress_mtu.checked_sub((OVERHEAD + t.header_len()) as u16).filter(|&m| m >= MIN_MTU)
}
