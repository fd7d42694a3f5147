//! Direct routing (LVS/DR) and the Ethernet step every method ends with.
//!
//! DR leaves the IP packet untouched: the real server has the VIP on a loopback device with ARP
//! for it suppressed, so a frame addressed to its MAC carrying dst=VIP is accepted and answered
//! directly. Only the Ethernet addresses change, so DR needs the real server on a connected
//! network (one L2 segment).

use crate::wire::ethernet::EthernetFrame;
use crate::wire::Mac;

/// Sets the Ethernet source and destination MACs.
#[inline]
pub fn set_macs(pkt: &mut [u8], src: Mac, dst: Mac) {
    let mut eth = EthernetFrame::new_unchecked(pkt);
    eth.set_dst(dst);
    eth.set_src(src);
}

/// Swaps the Ethernet addresses to send a frame back where it came from, from `ours`.
#[inline]
pub fn reply_macs(pkt: &mut [u8], ours: Mac) {
    let peer = EthernetFrame::new_unchecked(&*pkt).src();
    set_macs(pkt, ours, peer);
}

/// Sets only the Ethernet destination MAC (a held frame whose next hop just resolved).
#[inline]
pub fn set_dst_mac(pkt: &mut [u8], dst: Mac) {
    EthernetFrame::new_unchecked(pkt).set_dst(dst);
}
