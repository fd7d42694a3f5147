//! UDP headers (RFC 768). A zero checksum means "none" and stays zero through rewrites.

use super::{be16, checksum, put16, WireError};
use std::net::Ipv4Addr;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// Header length.
pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps without checking.
    #[inline(always)]
    pub fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps after [`Self::check_len`].
    #[inline(always)]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Header present; the length field is at least 8 and within the buffer.
    #[inline(always)]
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let l = usize::from(self.len());
        if l < HEADER_LEN {
            return Err(WireError::BadTotalLen);
        }
        if l > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Source port.
    #[inline(always)]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline(always)]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field (header + payload).
    #[allow(clippy::len_without_is_empty)]
    #[inline(always)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Checksum field (0 = none).
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// True when the checksum is absent or verifies.
    #[inline(always)]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let b = &self.buffer.as_ref()[..usize::from(self.len())];
        let acc = checksum::pseudo_header_sum(src.octets(), dst.octets(), 17, self.len()) + checksum::sum(b);
        checksum::fold(acc) == 0xffff
    }

    /// The payload.
    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port (checksum untouched).
    #[inline(always)]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    /// Sets the destination port (checksum untouched).
    #[inline(always)]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    /// Sets the checksum field.
    #[inline(always)]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Sets the source port, patching the checksum for it and for the pseudo-header's address
    /// change from `addr_was` to `addr_now` (RFC 1624; the pseudo-header of RFC 793 §3.1 and
    /// RFC 768). A checksum of 0 (none) stays 0.
    #[inline(always)]
    pub fn set_src_port_patched(&mut self, port: u16, addr_was: [u8; 4], addr_now: [u8; 4]) {
        self.set_port_patched(field::SRC_PORT, port, addr_was, addr_now);
    }

    /// Sets the destination port, patching the checksum as [`Self::set_src_port_patched`].
    #[inline(always)]
    pub fn set_dst_port_patched(&mut self, port: u16, addr_was: [u8; 4], addr_now: [u8; 4]) {
        self.set_port_patched(field::DST_PORT, port, addr_was, addr_now);
    }

    #[inline(always)]
    fn set_port_patched(&mut self, at: usize, port: u16, addr_was: [u8; 4], addr_now: [u8; 4]) {
        checksum::set_port_patched(self.buffer.as_mut(), at, field::CHECKSUM, port, addr_was, addr_now, true);
    }
}

/// A UDP header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl UdpRepr {
    /// Parses a checked datagram's header.
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]>>(p: &UdpPacket<T>) -> Result<Self, WireError> {
        p.check_len()?;
        Ok(UdpRepr { src_port: p.src_port(), dst_port: p.dst_port() })
    }

    /// Writes header + payload into `buf` with a checksum (or 0 when `with_checksum` is false).
    #[inline(always)]
    pub fn emit(&self, buf: &mut [u8], payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr, with_checksum: bool) {
        let len = HEADER_LEN + payload.len();
        let buf = &mut buf[..len];
        put16(buf, field::SRC_PORT, self.src_port);
        put16(buf, field::DST_PORT, self.dst_port);
        put16(buf, field::LENGTH, len as u16);
        put16(buf, field::CHECKSUM, 0);
        buf[HEADER_LEN..].copy_from_slice(payload);
        if with_checksum {
            let acc = checksum::pseudo_header_sum(src.octets(), dst.octets(), 17, len as u16) + checksum::sum(buf);
            put16(buf, field::CHECKSUM, checksum::udp_nonzero(!checksum::fold(acc)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);

    #[test]
    fn build_parse_and_rebuild() {
        let r = UdpRepr { src_port: 5353, dst_port: 53 };
        let mut b = [0u8; 12];
        r.emit(&mut b, b"abcd", SRC, DST, true);
        assert_eq!(&b[..6], &[0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c]);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (5353, 53, 12));
        assert_ne!(p.checksum(), 0);
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(p.payload(), b"abcd");
        let mut c = [0u8; 12];
        UdpRepr::parse(&p).unwrap().emit(&mut c, b"abcd", SRC, DST, true);
        assert_eq!(b, c);
        let mut none = [0u8; 12];
        r.emit(&mut none, b"abcd", SRC, DST, false);
        assert_eq!(UdpPacket::new_checked(&none[..]).unwrap().checksum(), 0);
    }

    #[test]
    fn bad_lengths_are_refused() {
        let mut b = [0u8; 12];
        UdpRepr { src_port: 1, dst_port: 2 }.emit(&mut b, b"abcd", SRC, DST, false);
        b[5] = 7;
        assert_eq!(UdpPacket::new_checked(&b[..]).unwrap_err(), WireError::BadTotalLen);
        b[5] = 13;
        assert_eq!(UdpPacket::new_checked(&b[..]).unwrap_err(), WireError::Truncated);
        assert_eq!(UdpPacket::new_checked(&b[..7]).unwrap_err(), WireError::Truncated);
    }
}
