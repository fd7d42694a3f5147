//! A TCP reset in answer to a segment (RFC 9293 §3.10.7.1, a segment to a closed port): the
//! frame becomes RST|ACK from its destination back to its source, acknowledging what the
//! segment occupied (its data, SYN and FIN), with no options and no data; TTL or hop limit
//! reset, both checksums afresh. What refuses a client over its limit with a clear answer
//! rather than a silent drop.

use crate::frame::Frame;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::tcp::flags;
use crate::wire::{be16, put16};

/// TTL or hop limit of a reset rvs sends.
const RESET_TTL: u8 = 64;

/// Turns the TCP segment at `l4` (IP header at `l3`, IPv6 when `v6`; the frame holds nothing
/// past it) into the reset that answers it, in place; the frame shrinks to the reset.
pub fn reset_reply<F: Frame>(frame: &mut F, l3: usize, l4: usize, v6: bool) {
    let d = frame.data_mut();
    let end = d.len();
    let hlen = usize::from(d[l4 + 12] >> 4) * 4;
    let seg_flags = d[l4 + 13];
    let seq = u32::from_be_bytes([d[l4 + 4], d[l4 + 5], d[l4 + 6], d[l4 + 7]]);
    let payload = end.saturating_sub(l4 + hlen) as u32;
    let occupied = payload + u32::from(seg_flags & flags::SYN != 0) + u32::from(seg_flags & flags::FIN != 0);
    // A segment that acknowledged something is reset at that number, without an ACK of ours.
    let (rst_seq, rst_ack, rst_flags) = if seg_flags & flags::ACK != 0 {
        let ack = u32::from_be_bytes([d[l4 + 8], d[l4 + 9], d[l4 + 10], d[l4 + 11]]);
        (ack, 0, flags::RST)
    } else {
        (0, seq.wrapping_add(occupied), flags::RST | flags::ACK)
    };
    let (sport, dport) = (be16(d, l4), be16(d, l4 + 2));
    put16(d, l4, dport);
    put16(d, l4 + 2, sport);
    d[l4 + 4..l4 + 8].copy_from_slice(&rst_seq.to_be_bytes());
    d[l4 + 8..l4 + 12].copy_from_slice(&rst_ack.to_be_bytes());
    d[l4 + 12] = 5 << 4;
    d[l4 + 13] = rst_flags;
    put16(d, l4 + 14, 0); // window
    put16(d, l4 + 18, 0); // urgent pointer
    if v6 {
        let (src, dst) = (l3 + 8, l3 + 24);
        for i in 0..16 {
            d.swap(src + i, dst + i);
        }
        put16(d, l3 + 4, (l4 - l3 - crate::wire::ipv6::HEADER_LEN + 20) as u16);
        d[l3 + 7] = RESET_TTL;
    } else {
        for i in 0..4 {
            d.swap(l3 + 12 + i, l3 + 16 + i);
        }
        put16(d, l3 + 2, (l4 - l3 + 20) as u16);
        d[l3 + 8] = RESET_TTL;
        put16(d, l3 + 10, 0);
        let c = crate::wire::checksum::checksum(&d[l3..l4]);
        put16(d, l3 + 10, c);
    }
    let ours = EthernetFrame::new_unchecked(&*d).dst();
    super::route::reply_macs(d, ours);
    super::toa::fill_tcp_checksum(&mut d[..l4 + 20], l3, l4, v6);
    frame.truncate(l4 + 20);
}
