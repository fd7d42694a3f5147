//! Direct routing (LVS/DR) and the Ethernet step every method ends with.
//!
//! DR leaves the IP packet untouched: the real server has the VIP on a loopback device with ARP
//! for it suppressed, so a frame addressed to its MAC carrying dst=VIP is accepted and answered
//! directly. Only the Ethernet addresses change, so DR needs the real server on a connected
//! network (one L2 segment).

use crate::wire::Mac;

/// Sets the Ethernet source and destination MACs.
#[inline]
pub fn set_macs(pkt: &mut [u8], src: Mac, dst: Mac) {
    pkt[0..6].copy_from_slice(&dst.0);
    pkt[6..12].copy_from_slice(&src.0);
}

/// Swaps the Ethernet addresses to send a frame back where it came from, from `ours`.
#[inline]
pub fn reply_macs(pkt: &mut [u8], ours: Mac) {
    let mut peer = [0u8; 6];
    peer.copy_from_slice(&pkt[6..12]);
    set_macs(pkt, ours, Mac(peer));
}

/// Sets only the Ethernet destination MAC (a held frame whose next hop just resolved).
#[inline]
pub fn set_dst_mac(pkt: &mut [u8], dst: Mac) {
    pkt[0..6].copy_from_slice(&dst.0);
}
