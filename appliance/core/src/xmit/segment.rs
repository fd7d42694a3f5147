//! A TCP segment written whole into a frame (Ethernet, IPv4 or IPv6 without options or
//! extension headers, TCP with options and data): what the SYN proxy sends of its own (the
//! SYN-ACK, the SYN to the real server and its retries, the client's held ACK and data, a
//! reset) rather than rewrites. Checksums are computed; the link-layer header is the frame's
//! (the egress sets MACs as for any packet it forwards).

use crate::frame::Frame;
use crate::wire::checksum;
use crate::wire::ethernet::EtherType;
use crate::wire::put16;

/// One segment's fields. Addresses are in [`crate::family::AddrKey`] form: IPv4 in the low 32
/// bits when `v6` is false.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// Source address.
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// TCP flags.
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// TTL or hop limit.
    pub ttl: u8,
    /// Options (a multiple of 4 bytes, at most 40).
    pub options: &'a [u8],
    /// Data.
    pub payload: &'a [u8],
}

/// Where a written segment's headers are: (IP header, TCP header, end).
pub type Offsets = (usize, usize, usize);

/// Replaces the frame's contents from `l3` on (its link-layer header, `l3` bytes, stays; its
/// EtherType is set) with `s`. `None` when the frame is shorter than `l3` or has no room for
/// the segment (the frame is then cut at `l3`).
pub fn write_segment<F: Frame>(frame: &mut F, l3: usize, s: &Segment) -> Option<Offsets> {
    debug_assert!(s.options.len().is_multiple_of(4) && s.options.len() <= 40);
    let l4 = l3 + if s.v6 { 40 } else { 20 };
    let tcp_len = 20 + s.options.len() + s.payload.len();
    let end = l4 + tcp_len;
    if l3 < 14 || !frame.truncate(l3) {
        return None;
    }
    frame.append(end - l3)?;
    let d = frame.data_mut();
    put16(d, l3 - 2, if s.v6 { EtherType::IPV6 } else { EtherType::IPV4 });
    let pseudo = if s.v6 {
        let ip = &mut d[l3..l4];
        ip[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
        put16(ip, 4, tcp_len as u16);
        ip[6] = crate::wire::ipv4::protocol::TCP;
        ip[7] = s.ttl;
        ip[8..24].copy_from_slice(&s.src.to_be_bytes());
        ip[24..40].copy_from_slice(&s.dst.to_be_bytes());
        checksum::pseudo_header_sum_v6(s.src.to_be_bytes(), s.dst.to_be_bytes(), 6, tcp_len as u32)
    } else {
        let (src, dst) = ((s.src as u32).to_be_bytes(), (s.dst as u32).to_be_bytes());
        let ip = &mut d[l3..l4];
        ip[0] = 0x45;
        ip[1] = 0;
        put16(ip, 2, (20 + tcp_len) as u16);
        put16(ip, 4, 0);
        put16(ip, 6, 0x4000); // DF: path MTU discovery, as a TCP's own segments
        ip[8] = s.ttl;
        ip[9] = crate::wire::ipv4::protocol::TCP;
        put16(ip, 10, 0);
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let c = checksum::checksum(ip);
        put16(ip, 10, c);
        checksum::pseudo_header_sum(src, dst, 6, tcp_len as u16)
    };
    let t = &mut d[l4..end];
    put16(t, 0, s.sport);
    put16(t, 2, s.dport);
    t[4..8].copy_from_slice(&s.seq.to_be_bytes());
    t[8..12].copy_from_slice(&s.ack.to_be_bytes());
    t[12] = (((20 + s.options.len()) / 4) as u8) << 4;
    t[13] = s.flags;
    put16(t, 14, s.window);
    put16(t, 16, 0);
    put16(t, 18, 0);
    t[20..20 + s.options.len()].copy_from_slice(s.options);
    t[20 + s.options.len()..].copy_from_slice(s.payload);
    let c = !checksum::fold(pseudo + checksum::sum(t));
    put16(t, 16, c);
    Some((l3, l4, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::VecFrame;

    fn verifies(d: &[u8], (l3, l4, end): Offsets, v6: bool) {
        let len = end - l4;
        let pseudo = if v6 {
            let (a, b): ([u8; 16], [u8; 16]) =
                (d[l3 + 8..l3 + 24].try_into().unwrap(), d[l3 + 24..l3 + 40].try_into().unwrap());
            checksum::pseudo_header_sum_v6(a, b, 6, len as u32)
        } else {
            assert_eq!(checksum::fold(checksum::sum(&d[l3..l4])), 0xffff, "IPv4 header checksum");
            let (a, b): ([u8; 4], [u8; 4]) =
                (d[l3 + 12..l3 + 16].try_into().unwrap(), d[l3 + 16..l3 + 20].try_into().unwrap());
            checksum::pseudo_header_sum(a, b, 6, len as u16)
        };
        assert_eq!(checksum::fold(pseudo + checksum::sum(&d[l4..end])), 0xffff, "TCP checksum");
    }

    #[test]
    fn a_written_segment_parses_and_its_checksums_verify() {
        let mut f = VecFrame::new(&[9; 80]);
        let s = Segment {
            v6: false,
            src: 0x0a00_0001,
            dst: 0x0a00_0002,
            sport: 1000,
            dport: 80,
            seq: 7,
            ack: 9,
            flags: crate::wire::tcp::flags::SYN,
            window: 65535,
            ttl: 64,
            options: &[2, 4, 5, 180],
            payload: b"hi",
        };
        let at = write_segment(&mut f, 14, &s).unwrap();
        assert_eq!(at, (14, 34, 60));
        assert_eq!(f.len(), 60);
        verifies(f.data(), at, false);
        let t = crate::wire::tcp::TcpPacket::new_checked(&f.data()[34..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port(), t.seq(), t.ack(), t.header_len()), (1000, 80, 7, 9, 24));
        assert_eq!(&f.data()[0..14], &[9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 8, 0], "the link layer kept");
        let s6 = Segment { v6: true, src: 1 << 100, dst: 2, ..s };
        let at6 = write_segment(&mut f, 14, &s6).unwrap();
        assert_eq!(at6, (14, 54, 80));
        verifies(f.data(), at6, true);
    }
}
