//! IPv4 headers (RFC 791 §3.1). Options are tolerated (skipped via IHL); fragments are
//! recognised by their flags and offset.

use super::{be16, checksum, get4, put16, WireError};
use std::net::Ipv4Addr;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// IP protocol numbers rvs handles (IANA).
pub mod protocol {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IP-in-IP (RFC 2003).
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// SCTP (RFC 9260).
    pub const SCTP: u8 = 132;
}

const DF: u16 = 0x4000;
const MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps without checking.
    #[inline(always)]
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps after [`Self::check_len`].
    #[inline(always)]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Version 4, IHL >= 5, and the buffer holds the header and the whole `total_len` (it may
    /// be longer: Ethernet pads short frames).
    #[inline(always)]
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        let total = usize::from(self.total_len());
        if total < hl {
            return Err(WireError::BadTotalLen);
        }
        if b.len() < hl || b.len() < total {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Header length in bytes (IHL * 4).
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Type of service / DSCP+ECN byte.
    #[inline(always)]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// Total length (header + payload).
    #[inline(always)]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    /// Identification.
    #[inline(always)]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't-fragment flag.
    #[inline(always)]
    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & DF != 0
    }

    /// More-fragments flag.
    #[inline(always)]
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & MF != 0
    }

    /// Fragment offset in bytes.
    #[inline(always)]
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buffer.as_ref(), field::FLAGS_FRAG) & OFFSET_MASK) * 8
    }

    /// True for any fragment (first or later).
    #[inline(always)]
    pub fn is_fragment(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & (MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline(always)]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Payload protocol.
    #[inline(always)]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum field.
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline(always)]
    pub fn src(&self) -> Ipv4Addr {
        get4(self.buffer.as_ref(), field::SRC).into()
    }

    /// Destination address.
    #[inline(always)]
    pub fn dst(&self) -> Ipv4Addr {
        get4(self.buffer.as_ref(), field::DST).into()
    }

    /// True when the header checksum verifies.
    #[inline(always)]
    pub fn verify_checksum(&self) -> bool {
        let b = self.buffer.as_ref();
        let sum = match b.first_chunk::<HEADER_LEN>() {
            // The common header without options: five 32-bit words, no loop.
            Some(h) if self.header_len() == HEADER_LEN => {
                let w = |i: usize| u64::from(u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
                let s = w(0) + w(4) + w(8) + w(12) + w(16);
                (s >> 32) + ((s >> 16) & 0xffff) + (s & 0xffff)
            }
            _ => checksum::sum(&b[..self.header_len()]),
        };
        checksum::fold(sum) == 0xffff
    }

    /// The payload (up to `total_len`, without Ethernet padding).
    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Rewrites the address at `at` (source or destination), patching the header checksum
    /// incrementally (RFC 1624 eqn. 3); returns the old address, which a TCP/UDP checksum's
    /// pseudo-header also covered.
    #[inline(always)]
    fn set_addr_patched(&mut self, at: usize, a: [u8; 4]) -> [u8; 4] {
        let b = self.buffer.as_mut();
        let old = get4(b, at);
        b[at..at + 4].copy_from_slice(&a);
        let c = checksum::update32(be16(b, field::CHECKSUM), old, a);
        put16(b, field::CHECKSUM, c);
        old
    }

    /// Sets both addresses, patching the header checksum with one fold; returns their
    /// [`checksum::delta32`] terms, which the transport checksum's pseudo-header changes by too.
    #[inline(always)]
    pub fn set_addrs_patched(&mut self, src: [u8; 4], dst: [u8; 4]) -> u64 {
        let b = self.buffer.as_mut();
        let delta = checksum::delta32(get4(b, field::SRC), src) + checksum::delta32(get4(b, field::DST), dst);
        b[field::SRC..field::SRC + 4].copy_from_slice(&src);
        b[field::DST..field::DST + 4].copy_from_slice(&dst);
        let hc = be16(b, field::CHECKSUM);
        put16(b, field::CHECKSUM, !checksum::fold(u64::from(!hc) + delta));
        delta
    }

    /// Sets the source address, patching the header checksum; returns the old one.
    #[inline(always)]
    pub fn set_src_patched(&mut self, a: [u8; 4]) -> [u8; 4] {
        self.set_addr_patched(field::SRC, a)
    }

    /// Sets the destination address, patching the header checksum; returns the old one.
    #[inline(always)]
    pub fn set_dst_patched(&mut self, a: [u8; 4]) -> [u8; 4] {
        self.set_addr_patched(field::DST, a)
    }

    /// Swaps source and destination (the header checksum is unchanged: same sum).
    #[inline(always)]
    pub fn swap_addrs(&mut self) {
        let b = self.buffer.as_mut();
        let (src, dst) = (get4(b, field::SRC), get4(b, field::DST));
        b[field::SRC..field::SRC + 4].copy_from_slice(&dst);
        b[field::DST..field::DST + 4].copy_from_slice(&src);
    }

    /// Sets the TTL, patching the header checksum (the TTL shares a word with the protocol).
    #[inline(always)]
    pub fn set_ttl_patched(&mut self, ttl: u8) {
        let b = self.buffer.as_mut();
        let old = be16(b, field::TTL);
        b[field::TTL] = ttl;
        let new = be16(b, field::TTL);
        let c = checksum::update16(be16(b, field::CHECKSUM), old, new);
        put16(b, field::CHECKSUM, c);
    }

    /// Decrements the TTL with an incremental checksum patch; `false` (and no change) when the
    /// TTL is 1 or 0, i.e. the packet must not be forwarded (RFC 1812 §5.3.1).
    #[inline(always)]
    pub fn dec_ttl_patched(&mut self) -> bool {
        let ttl = self.ttl();
        if ttl <= 1 {
            return false;
        }
        self.set_ttl_patched(ttl - 1);
        true
    }

    /// Sets the checksum field.
    #[inline(always)]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Recomputes the header checksum from scratch (for built packets, not rewrites).
    #[inline(always)]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }

    /// The payload, writable.
    #[inline(always)]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[h..t]
    }
}

/// An IPv4 header without options, as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source.
    pub src: Ipv4Addr,
    /// Destination.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: u8,
    /// Payload length in bytes.
    pub payload_len: u16,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// TOS byte.
    pub tos: u8,
}

impl Ipv4Repr {
    /// Parses a checked packet (options are skipped, fragments are refused as `Unsupported`).
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Self, WireError> {
        p.check_len()?;
        if p.is_fragment() {
            return Err(WireError::Unsupported);
        }
        Ok(Ipv4Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            payload_len: p.total_len() - p.header_len() as u16,
            ttl: p.ttl(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            tos: p.tos(),
        })
    }

    /// Writes a 20-byte header with a correct checksum at the start of `buf`.
    #[inline(always)]
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::VER_IHL] = 0x45;
        buf[field::TOS] = self.tos;
        put16(buf, field::TOTAL_LEN, self.payload_len + HEADER_LEN as u16);
        put16(buf, field::IDENT, self.ident);
        put16(buf, field::FLAGS_FRAG, if self.dont_frag { DF } else { 0 });
        buf[field::TTL] = self.ttl;
        buf[field::PROTOCOL] = self.protocol;
        buf[field::SRC..field::SRC + 4].copy_from_slice(&self.src.octets());
        buf[field::DST..field::DST + 4].copy_from_slice(&self.dst.octets());
        put16(buf, field::CHECKSUM, 0);
        let c = checksum::checksum(&buf[..HEADER_LEN]);
        put16(buf, field::CHECKSUM, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 198.18.0.1 -> 198.18.0.100, TCP, 20 bytes payload, DF, TTL 64, id 0x1c46.
    const HDR: [u8; 20] =
        [0x45, 0x00, 0x00, 0x28, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 198, 18, 0, 1, 198, 18, 0, 100];

    fn with_checksum() -> [u8; 40] {
        let mut b = [0u8; 40];
        b[..20].copy_from_slice(&HDR);
        let c = checksum::checksum(&b[..20]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn parse_field_by_field_and_rebuild() {
        let b = with_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 40);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag());
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), protocol::TCP);
        assert_eq!(p.src(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(198, 18, 0, 100));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 20);
        let r = Ipv4Repr::parse(&p).unwrap();
        let mut out = [0u8; 20];
        r.emit(&mut out);
        assert_eq!(out[..], b[..20]);
    }

    #[test]
    fn malformed_headers_each_have_their_error() {
        let b = with_checksum();
        assert_eq!(Ipv4Packet::new_checked(&b[..19]).unwrap_err(), WireError::Truncated);
        let mut v6 = b;
        v6[0] = 0x65;
        assert_eq!(Ipv4Packet::new_checked(&v6[..]).unwrap_err(), WireError::BadVersion);
        let mut ihl = b;
        ihl[0] = 0x44;
        assert_eq!(Ipv4Packet::new_checked(&ihl[..]).unwrap_err(), WireError::BadHeaderLen);
        let mut tl = b;
        tl[3] = 19;
        assert_eq!(Ipv4Packet::new_checked(&tl[..]).unwrap_err(), WireError::BadTotalLen);
        let mut long = b;
        long[3] = 41;
        assert_eq!(Ipv4Packet::new_checked(&long[..]).unwrap_err(), WireError::Truncated);
        let mut opts = b;
        opts[0] = 0x4f; // 60-byte header claimed, buffer 40
        assert_eq!(Ipv4Packet::new_checked(&opts[..]).unwrap_err(), WireError::BadTotalLen);
    }

    #[test]
    fn options_are_skipped_and_padding_ignored() {
        let mut b = [0u8; 60];
        b[..20].copy_from_slice(&HDR);
        b[0] = 0x46; // one option word
        b[3] = 44; // 24 header + 20 payload
        b[20..24].copy_from_slice(&[1, 1, 1, 0]); // NOPs + EOL
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.payload().len(), 20, "payload stops at total_len, not at the buffer end");
    }

    #[test]
    fn fragments_are_recognised() {
        let mut b = with_checksum();
        b[6] = 0x20; // MF, offset 0: a first fragment
        assert!(Ipv4Packet::new_checked(&b[..]).unwrap().is_fragment());
        b[6] = 0x00;
        b[7] = 0x03; // offset 24 bytes, last fragment
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_fragment());
        assert_eq!(p.frag_offset(), 24);
        assert_eq!(Ipv4Repr::parse(&p).unwrap_err(), WireError::Unsupported);
    }
}
