//! The client's address for a FULLNAT real server, in the TCP header: TOA, TCP option 254 in
//! DPVS's format (`|254|8|port|IPv4|` or `|254|20|port|IPv6|`), which the TOA kernel module on
//! the real server reads from the segment that completes the handshake and hands to
//! `getpeername()`. And the MSS clamps that keep a segment that carries it within the MTU:
//! a FULLNAT SYN's MSS is lowered to what the path to the real server carries, a SYN-ACK's to
//! what the client's path carries less the option's length (RFC 879 §3, RFC 6691 §2).

use crate::frame::Frame;
use crate::wire::checksum;
use crate::wire::{be16, put16};
use std::net::IpAddr;

/// TOA's option kind.
pub const TOA_KIND: u8 = 254;
/// TOA's length for an IPv4 client.
pub const TOA_LEN4: usize = 8;
/// TOA's length for an IPv6 client.
pub const TOA_LEN6: usize = 20;
/// Most bytes of TCP header (data offset 15).
const TCP_MAX_HEADER: usize = 60;

/// The TOA option's length for `client`.
pub fn toa_len(client: IpAddr) -> usize {
    if client.is_ipv4() {
        TOA_LEN4
    } else {
        TOA_LEN6
    }
}

/// Opens `n` bytes at offset `at` of the frame by moving the `at` bytes in front of it into the
/// headroom (headers are shorter than payloads). False, and nothing changed, without headroom.
pub fn open_gap<F: Frame>(frame: &mut F, at: usize, n: usize) -> bool {
    if frame.headroom() < n || frame.len() < at {
        return false;
    }
    let Some(d) = frame.prepend(n) else { return false };
    d.copy_within(n..n + at, 0);
    true
}

/// Appends TOA (`client`, `port`) to the options of the TCP segment at `l4` whose IP header
/// (IPv6 when `v6`) is at `l3`: the data offset, the IP length and the TCP checksum (computed
/// afresh: a segment or two per connection) follow.
/// False, and nothing changed, when the options have no room (40 bytes at most) or the frame
/// no headroom.
pub fn add_toa<F: Frame>(frame: &mut F, l3: usize, l4: usize, v6: bool, client: IpAddr, port: u16) -> bool {
    let len = toa_len(client);
    let hlen = usize::from(frame.data()[l4 + 12] >> 4) * 4;
    if hlen + len > TCP_MAX_HEADER || !open_gap(frame, l4 + hlen, len) {
        return false;
    }
    let d = frame.data_mut();
    let opt = &mut d[l4 + hlen..l4 + hlen + len];
    opt[0] = TOA_KIND;
    opt[1] = len as u8;
    opt[2..4].copy_from_slice(&port.to_be_bytes());
    match client {
        IpAddr::V4(a) => opt[4..8].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => opt[4..20].copy_from_slice(&a.octets()),
    }
    d[l4 + 12] = (((hlen + len) / 4) as u8) << 4 | (d[l4 + 12] & 0x0f);
    grow_ip(d, l3, v6, len as u16);
    fill_tcp_checksum(d, l3, l4, v6);
    true
}

/// Adds `grown` bytes to the length of the IP packet at `l3` (IPv6's payload length, or
/// IPv4's total length with its header checksum patched).
pub fn grow_ip(d: &mut [u8], l3: usize, v6: bool, grown: u16) {
    if v6 {
        let pl = be16(d, l3 + 4) + grown;
        put16(d, l3 + 4, pl);
    } else {
        let total = be16(d, l3 + 2);
        put16(d, l3 + 2, total + grown);
        let c = checksum::update16(be16(d, l3 + 10), total, total + grown);
        put16(d, l3 + 10, c);
    }
}

/// Computes the TCP checksum of the segment at `l4` afresh (its length from the IP header).
pub fn fill_tcp_checksum(d: &mut [u8], l3: usize, l4: usize, v6: bool) {
    let seg_len = if v6 {
        usize::from(be16(d, l3 + 4)) - (l4 - l3 - crate::wire::ipv6::HEADER_LEN)
    } else {
        usize::from(be16(d, l3 + 2)) - (l4 - l3)
    };
    put16(d, l4 + 16, 0);
    let pseudo = if v6 {
        let (mut s, mut t) = ([0u8; 16], [0u8; 16]);
        s.copy_from_slice(&d[l3 + 8..l3 + 24]);
        t.copy_from_slice(&d[l3 + 24..l3 + 40]);
        checksum::pseudo_header_sum_v6(s, t, 6, seg_len as u32)
    } else {
        let (mut s, mut t) = ([0u8; 4], [0u8; 4]);
        s.copy_from_slice(&d[l3 + 12..l3 + 16]);
        t.copy_from_slice(&d[l3 + 16..l3 + 20]);
        checksum::pseudo_header_sum(s, t, 6, seg_len as u16)
    };
    let c = !checksum::fold(pseudo + checksum::sum(&d[l4..l4 + seg_len]));
    put16(d, l4 + 16, c);
}

/// Lowers the MSS option of the SYN segment `seg` (its TCP header) to `max` when it is above,
/// patching the checksum; true if it changed. A malformed option list is left alone.
pub fn clamp_mss(seg: &mut [u8], max: u16) -> bool {
    let hlen = usize::from(seg[12] >> 4) * 4;
    if hlen > seg.len() {
        return false;
    }
    let mut at = 20;
    while at < hlen {
        match seg[at] {
            0 => return false, // end of options
            1 => at += 1,      // no-op
            kind => {
                let Some(&len) = seg.get(at + 1) else { return false };
                let len = usize::from(len);
                if len < 2 || at + len > hlen {
                    return false;
                }
                if kind == 2 && len == 4 {
                    let mss = be16(seg, at + 2);
                    if mss <= max {
                        return false;
                    }
                    put16(seg, at + 2, max);
                    let c = checksum::update16(be16(seg, 16), mss, max);
                    put16(seg, 16, c);
                    return true;
                }
                at += len;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP header with options `opts` (padded by the caller to a multiple of 4).
    fn syn_with(opts: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8; 20 + opts.len()];
        s[12] = (((20 + opts.len()) / 4) as u8) << 4;
        s[13] = 0x02;
        s[20..].copy_from_slice(opts);
        let c = !checksum::fold(checksum::sum(&s));
        put16(&mut s, 16, c);
        s
    }

    #[test]
    fn the_mss_is_lowered_only_when_above_and_the_checksum_follows() {
        let mut s = syn_with(&[1, 1, 4, 2, 2, 4, 0x05, 0xb4]); // NOP NOP SACK-perm, MSS 1460
        assert!(clamp_mss(&mut s, 1400));
        assert_eq!(be16(&s, 26), 1400);
        assert_eq!(checksum::fold(checksum::sum(&s)), 0xffff, "checksum still right");
        assert!(!clamp_mss(&mut s, 1440), "1400 is below 1440: unchanged");
        let mut bad = syn_with(&[2, 9, 0, 0]); // a length past the header
        assert!(!clamp_mss(&mut bad, 100));
        let mut none = syn_with(&[1, 1, 1, 0]);
        assert!(!clamp_mss(&mut none, 100));
    }
}
