//! The three LVS forwarding methods, plus the ICMP work that goes with them, as in-place
//! rewrites of a frame (`ip_vs_xmit.c`'s `ip_vs_nat_xmit`, `ip_vs_tunnel_xmit`,
//! `ip_vs_dr_xmit`).
//!
//! Offsets: `l3` is where the IPv4 header starts (after Ethernet and any VLAN tag), `l4` where
//! the transport header starts. Callers have checked the lengths; these functions index
//! without further checks. Headers are read and written through the `wire` views, whose
//! setters patch the IPv4 and TCP/UDP checksums incrementally (RFC 1624 eqn. 3); a UDP checksum
//! of 0 ("none") stays 0.

pub mod encap_header;
pub mod icmp;
pub mod icmpv6;
pub mod nat;
pub mod nat64;
pub mod reset;
pub mod route;
pub mod segment;
pub mod toa;
pub mod tunnel;
pub mod tunnel6;
pub mod uoa;

use crate::wire::ipv4::Ipv4Packet;

/// Decrements the TTL of the IPv4 packet at `l3` with an incremental checksum patch; `false`
/// (and no change) when the TTL is 1 or 0, i.e. the packet must not be forwarded (RFC 1812
/// §5.3.1).
#[inline]
pub fn dec_ttl(pkt: &mut [u8], l3: usize) -> bool {
    Ipv4Packet::new_unchecked(&mut pkt[l3..]).dec_ttl_patched()
}

/// Decrements the hop limit of the IPv6 packet at `l3` (no header checksum in IPv6); `false`
/// when it would reach zero (RFC 8200 §3: the packet is discarded).
#[inline]
pub fn dec_hop_limit(pkt: &mut [u8], l3: usize) -> bool {
    let h = pkt[l3 + 7];
    if h <= 1 {
        return false;
    }
    pkt[l3 + 7] = h - 1;
    true
}
