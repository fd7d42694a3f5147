//! IPv6 headers (RFC 8200 §3) and the walk over extension headers to the upper-layer header
//! (§4): Hop-by-Hop, Routing and Destination Options are skipped, within a bound on their number
//! and bytes; a Fragment header ends the walk (rvs does not reassemble, as DPVS and Katran do
//! not); Authentication (RFC 4302, its own length rule) is skipped too; ESP and "no next
//! header" end it without an upper layer.

use super::{be16, put16, WireError};
use std::net::Ipv6Addr;

pub(crate) mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// The smallest MTU every IPv6 link has (RFC 8200 §5): no Packet Too Big below it.
pub const MIN_MTU: u16 = 1280;

/// Next-header values of the extension headers and upper layers rvs walks (IANA).
pub mod next_header {
    /// Hop-by-Hop Options.
    pub const HOP_BY_HOP: u8 = 0;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6-in-IPv6 (RFC 2473).
    pub const IPV6: u8 = 41;
    /// Routing.
    pub const ROUTING: u8 = 43;
    /// Fragment.
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating Security Payload.
    pub const ESP: u8 = 50;
    /// Authentication Header.
    pub const AUTH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// No next header.
    pub const NONE: u8 = 59;
    /// Destination Options.
    pub const DEST_OPTS: u8 = 60;
}

/// Extension headers walked before giving up (RFC 8200 allows any number; real traffic has 0-2).
pub const MAX_EXT_HEADERS: usize = 8;
/// Bytes of extension headers walked before giving up.
pub const MAX_EXT_BYTES: usize = 512;

/// A view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps without checking.
    #[inline(always)]
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps after [`Self::check_len`].
    #[inline(always)]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Version 6, and the buffer holds the header and the whole payload (it may be longer:
    /// Ethernet pads short frames). A jumbogram (payload length 0 with a Hop-by-Hop option)
    /// is not supported and fails as truncated.
    #[inline(always)]
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::VER_TC_FLOW] >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        if b.len() < HEADER_LEN + usize::from(self.payload_len()) {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Traffic class.
    #[inline(always)]
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }

    /// Flow label (20 bits).
    #[inline(always)]
    pub fn flow_label(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from(b[1] & 0x0f) << 16 | u32::from(be16(b, 2))
    }

    /// Bytes after the fixed header.
    #[inline(always)]
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// Total bytes (header and payload).
    #[inline(always)]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// The header after this one.
    #[inline(always)]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// Hop limit.
    #[inline(always)]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline(always)]
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_bytes())
    }

    /// Destination address.
    #[inline(always)]
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_bytes())
    }

    /// Source address bytes.
    #[inline(always)]
    pub fn src_bytes(&self) -> [u8; 16] {
        get16(self.buffer.as_ref(), field::SRC)
    }

    /// Destination address bytes.
    #[inline(always)]
    pub fn dst_bytes(&self) -> [u8; 16] {
        get16(self.buffer.as_ref(), field::DST)
    }

    /// The upper-layer header: its protocol and offset from the start of this header, after
    /// the extension headers (see [`walk`]).
    #[inline]
    pub fn upper_layer(&self) -> Result<UpperLayer, ExtError> {
        let b = self.buffer.as_ref();
        walk(&b[..self.total_len().min(b.len())], self.next_header())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets version 6, traffic class and flow label.
    pub fn set_version_class_flow(&mut self, class: u8, flow: u32) {
        let b = self.buffer.as_mut();
        b[0] = 0x60 | (class >> 4);
        b[1] = (class << 4) | ((flow >> 16) as u8 & 0x0f);
        put16(b, 2, flow as u16);
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::PAYLOAD_LEN, v);
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }

    /// Sets the hop limit (IPv6 has no header checksum: nothing to patch).
    #[inline(always)]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Sets the source address (upper-layer checksums are the caller's: they cover it).
    pub fn set_src(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 16].copy_from_slice(&a.octets());
    }

    /// Sets the destination address (upper-layer checksums are the caller's).
    pub fn set_dst(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 16].copy_from_slice(&a.octets());
    }
}

/// Reads 16 bytes at `at` (caller checked the length).
#[inline(always)]
fn get16(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    a
}

/// Where the upper layer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// Its protocol (TCP, UDP, ICMPv6, IPv6 for a tunnel, ...).
    pub protocol: u8,
    /// Its offset from the start of the IPv6 header.
    pub offset: usize,
}

/// Why the walk found no upper layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtError {
    /// An extension header runs past the packet.
    Truncated,
    /// A Fragment header: rvs forwards no fragments.
    Fragment,
    /// More than [`MAX_EXT_HEADERS`] headers or [`MAX_EXT_BYTES`] bytes of them.
    TooManyHeaders,
    /// ESP or "no next header": nothing rvs can balance on.
    NoUpperLayer,
}

/// An IPv6 Fragment header (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment6 {
    /// The fragment's offset in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// The datagram's identification.
    pub id: u32,
}

/// Walks the extension headers of `packet` (an IPv6 header and what follows, cut at its total
/// length) from `first`, the fixed header's next header (RFC 8200 §4.1 order is not enforced:
/// any sequence is walked, within the bounds). A Fragment header ends the walk
/// ([`ExtError::Fragment`]); [`walk_fragment`] reads past it.
pub fn walk(packet: &[u8], first: u8) -> Result<UpperLayer, ExtError> {
    match walk_fragment(packet, first)? {
        (u, None) => Ok(u),
        (_, Some(_)) => Err(ExtError::Fragment),
    }
}

/// [`walk`], reading a Fragment header too: a first fragment's walk goes on into its
/// fragmentable part, which must hold the whole header chain (RFC 8200 §4.5); a later
/// fragment's upper layer is what the Fragment header names, its data right after it.
pub fn walk_fragment(packet: &[u8], first: u8) -> Result<(UpperLayer, Option<Fragment6>), ExtError> {
    use next_header::*;
    let (mut proto, mut off) = (first, HEADER_LEN);
    let mut frag = None;
    for _ in 0..=MAX_EXT_HEADERS {
        let len = match proto {
            HOP_BY_HOP | ROUTING | DEST_OPTS => {
                let h = packet.get(off..off + 2).ok_or(ExtError::Truncated)?;
                (usize::from(h[1]) + 1) * 8
            }
            AUTH => {
                let h = packet.get(off..off + 2).ok_or(ExtError::Truncated)?;
                (usize::from(h[1]) + 2) * 4
            }
            FRAGMENT => {
                let h = packet.get(off..off + 8).ok_or(ExtError::Truncated)?;
                if frag.is_some() {
                    return Err(ExtError::NoUpperLayer); // two Fragment headers: nothing sane
                }
                let word = u16::from_be_bytes([h[2], h[3]]);
                let f = Fragment6 {
                    offset: word & !7,
                    more: word & 1 != 0,
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                };
                frag = Some(f);
                if f.offset != 0 {
                    return Ok((UpperLayer { protocol: h[0], offset: off + 8 }, frag));
                }
                8
            }
            ESP | NONE => return Err(ExtError::NoUpperLayer),
            _ => return Ok((UpperLayer { protocol: proto, offset: off }, frag)),
        };
        if off + len > packet.len() {
            return Err(ExtError::Truncated);
        }
        if off + len - HEADER_LEN > MAX_EXT_BYTES {
            return Err(ExtError::TooManyHeaders);
        }
        proto = packet[off];
        off += len;
    }
    Err(ExtError::TooManyHeaders)
}

/// The link-local address of an interface with MAC `mac` (RFC 4291 §2.5.6; the interface id
/// from the MAC by modified EUI-64, Appendix A): what the kernel gives an Ethernet device.
pub fn link_local(mac: crate::wire::Mac) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
}

/// The fixed header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source.
    pub src: Ipv6Addr,
    /// Destination.
    pub dst: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Payload length.
    pub payload_len: u16,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Reads a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Self {
        Ipv6Repr {
            src: p.src(),
            dst: p.dst(),
            next_header: p.next_header(),
            payload_len: p.payload_len(),
            hop_limit: p.hop_limit(),
        }
    }

    /// Writes the fixed header into the first [`HEADER_LEN`] bytes of `buf` (class and flow 0).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        p.set_version_class_flow(0, 0);
        p.set_payload_len(self.payload_len);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src(self.src);
        p.set_dst(self.dst);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Frames captured from Linux 6.18 (`ping -6` between two namespaces, AF_PACKET capture):
    /// an echo request, the neighbour solicitation before it, and an MLD report behind a
    /// Hop-by-Hop header (Router Alert).
    pub(crate) const ECHO_REQUEST: &str = "02000000000b02000000000a86dd6005766f00103a4020010db800000000000000000000000120010db80000000000000000000000028000ed062b2800010001020304050607";
    pub(crate) const NEIGHBOUR_SOLICITATION: &str = "3333ff00000202000000000a86dd6000000000203aff20010db8000000000000000000000001ff0200000000000000000001ff00000287001c1e0000000020010db8000000000000000000000002010102000000000a";
    pub(crate) const MLD_WITH_HOP_BY_HOP: &str = "33330000001602000000000a86dd600000000038000100000000000000000000000000000000ff0200000000000000000000000000163a000502000001008f006d650000000204000000ff0200000000000000000001ff00000104000000ff0200000000000000000001ff00000a";

    pub(crate) fn frame(s: &str) -> Vec<u8> {
        hex(s)
    }

    #[test]
    fn a_captured_echo_request_parses_and_emits_back() {
        let f = frame(ECHO_REQUEST);
        let p = Ipv6Packet::new_checked(&f[14..]).unwrap();
        let r = Ipv6Repr::parse(&p);
        assert_eq!(r.src, "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r.dst, "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!((r.next_header, r.payload_len, r.hop_limit), (next_header::ICMPV6, 16, 64));
        assert_eq!(p.flow_label(), 0x5766f);
        assert_eq!(p.upper_layer(), Ok(UpperLayer { protocol: next_header::ICMPV6, offset: 40 }));
        let mut out = [0u8; HEADER_LEN];
        r.emit(&mut out);
        assert_eq!(&out[4..], &f[14 + 4..14 + HEADER_LEN], "all but the version/class/flow word");
    }

    #[test]
    fn the_walk_skips_hop_by_hop_and_stops_at_fragments_and_bounds() {
        let f = frame(MLD_WITH_HOP_BY_HOP);
        let p = Ipv6Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(p.next_header(), next_header::HOP_BY_HOP);
        assert_eq!(p.upper_layer(), Ok(UpperLayer { protocol: next_header::ICMPV6, offset: 48 }));
        // A Destination Options header then a Fragment header.
        let mut pkt = vec![0u8; HEADER_LEN];
        Ipv6Repr {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
            next_header: next_header::DEST_OPTS,
            payload_len: 16,
            hop_limit: 64,
        }
        .emit(&mut pkt);
        pkt.extend_from_slice(&[next_header::FRAGMENT, 0, 1, 4, 0, 0, 0, 0]);
        pkt.extend_from_slice(&[next_header::TCP, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(walk(&pkt, next_header::DEST_OPTS), Err(ExtError::Fragment));
        pkt[HEADER_LEN] = next_header::TCP;
        assert_eq!(walk(&pkt, next_header::DEST_OPTS), Ok(UpperLayer { protocol: next_header::TCP, offset: 48 }));
        assert_eq!(walk(&pkt[..44], next_header::DEST_OPTS), Err(ExtError::Truncated));
        assert_eq!(walk(&pkt, next_header::NONE), Err(ExtError::NoUpperLayer));
        // Nine empty Destination Options headers in a row: over the bound.
        let mut chain = pkt[..HEADER_LEN].to_vec();
        for _ in 0..9 {
            chain.extend_from_slice(&[next_header::DEST_OPTS, 0, 0, 0, 0, 0, 0, 0]);
        }
        chain.extend_from_slice(&[0; 20]);
        assert_eq!(walk(&chain, next_header::DEST_OPTS), Err(ExtError::TooManyHeaders));
        // An Authentication Header counts in 4-byte units, plus 2.
        let mut ah = pkt[..HEADER_LEN].to_vec();
        ah.extend_from_slice(&[next_header::UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        ah.extend_from_slice(&[0; 8]);
        assert_eq!(walk(&ah, next_header::AUTH), Ok(UpperLayer { protocol: next_header::UDP, offset: 52 }));
    }

    #[test]
    fn link_local_addresses_as_linux_derives_them() {
        use crate::wire::Mac;
        assert_eq!(
            link_local(Mac([0x56, 0x18, 0x4f, 0xe5, 0x96, 0x92])),
            "fe80::5418:4fff:fee5:9692".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(link_local(Mac([0x02, 0, 0, 0, 0, 0x0a])), "fe80::ff:fe00:a".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn bad_versions_and_short_buffers_are_refused() {
        let f = frame(ECHO_REQUEST);
        let ip = &f[14..];
        assert_eq!(Ipv6Packet::new_checked(&ip[..39]).unwrap_err(), WireError::Truncated);
        assert_eq!(Ipv6Packet::new_checked(&ip[..50]).unwrap_err(), WireError::Truncated, "payload cut");
        let mut v4 = ip.to_vec();
        v4[0] = 0x45;
        assert_eq!(Ipv6Packet::new_checked(&v4[..]).unwrap_err(), WireError::BadVersion);
    }
}
