//! ICMPv4 (RFC 792): echo, and the error messages that quote the offending packet's IP header
//! and first 8 payload bytes (enough for its ports) — which is how an error is matched to a
//! connection. "Fragmentation needed" carries the next-hop MTU (RFC 1191 §4).

use super::{be16, checksum, put16, WireError};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const REST: usize = 4;
    pub const MTU: usize = 6;
}

/// Header length (type, code, checksum, 4 bytes of "rest of header").
pub const HEADER_LEN: usize = 8;

/// Message types rvs handles.
/// Destination unreachable's "port unreachable" code (RFC 792).
pub const CODE_PORT_UNREACHABLE: u8 = 3;

pub mod kind {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Source quench (deprecated, RFC 6633, still an error that quotes a packet).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAMETER_PROBLEM: u8 = 12;
}

/// Destination-unreachable code "fragmentation needed and DF set".
pub const CODE_FRAG_NEEDED: u8 = 4;

/// True for the error types that quote the offending packet (RFC 792, RFC 1122 §3.2.2).
pub fn is_error(t: u8) -> bool {
    matches!(
        t,
        kind::DEST_UNREACHABLE | kind::SOURCE_QUENCH | kind::REDIRECT | kind::TIME_EXCEEDED | kind::PARAMETER_PROBLEM
    )
}

/// A view of an ICMP message.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps without checking.
    #[inline(always)]
    pub fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// Wraps after [`Self::check_len`].
    #[inline(always)]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The 8-byte header is present.
    #[inline(always)]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Message type.
    #[inline(always)]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Code.
    #[inline(always)]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Next-hop MTU of a "fragmentation needed" message.
    #[inline(always)]
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), field::MTU)
    }

    /// Echo identifier (echo request/reply).
    #[inline(always)]
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::REST)
    }

    /// True when the checksum verifies over the whole message.
    #[inline(always)]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xffff
    }

    /// What follows the header: for errors, the quoted IP header and payload start.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the checksum field.
    #[inline(always)]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Sets the message type (checksum untouched).
    #[inline(always)]
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }

    /// Recomputes the checksum over the whole buffer.
    #[inline(always)]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// The data after the header, writable.
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// An ICMP header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpRepr {
    /// Type.
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// The 4 "rest of header" bytes (echo id+seq, or unused+MTU).
    pub rest: [u8; 4],
}

impl IcmpRepr {
    /// "Port unreachable" (RFC 792, code 3).
    #[inline(always)]
    pub fn port_unreachable() -> Self {
        IcmpRepr { msg_type: kind::DEST_UNREACHABLE, code: CODE_PORT_UNREACHABLE, rest: [0; 4] }
    }

    /// "Fragmentation needed" with the next-hop MTU (RFC 1191 §4).
    #[inline(always)]
    pub fn frag_needed(mtu: u16) -> Self {
        let m = mtu.to_be_bytes();
        IcmpRepr { msg_type: kind::DEST_UNREACHABLE, code: CODE_FRAG_NEEDED, rest: [0, 0, m[0], m[1]] }
    }

    /// Parses a checked message's header.
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]>>(p: &IcmpPacket<T>) -> Result<Self, WireError> {
        p.check_len()?;
        let b = p.buffer.as_ref();
        Ok(IcmpRepr { msg_type: p.msg_type(), code: p.code(), rest: [b[4], b[5], b[6], b[7]] })
    }

    /// Writes header + `data` into `buf` with the checksum.
    #[inline(always)]
    pub fn emit(&self, buf: &mut [u8], data: &[u8]) {
        let buf = &mut buf[..HEADER_LEN + data.len()];
        buf[field::TYPE] = self.msg_type;
        buf[field::CODE] = self.code;
        buf[field::REST..field::REST + 4].copy_from_slice(&self.rest);
        buf[HEADER_LEN..].copy_from_slice(data);
        IcmpPacket::new_unchecked(buf).fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frag_needed_build_parse_rebuild() {
        let quoted =
            [0x45u8, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x9c, 0x40, 0, 80, 0, 0, 0, 1];
        let mut b = [0u8; 8 + 28];
        IcmpRepr::frag_needed(1480).emit(&mut b, &quoted);
        assert_eq!(&b[..8], &[3, 4, b[2], b[3], 0, 0, 0x05, 0xc8]);
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), kind::DEST_UNREACHABLE);
        assert_eq!(p.code(), CODE_FRAG_NEEDED);
        assert_eq!(p.next_hop_mtu(), 1480);
        assert!(p.verify_checksum());
        assert!(is_error(p.msg_type()));
        assert_eq!(p.data(), &quoted);
        let mut c = [0u8; 36];
        IcmpRepr::parse(&p).unwrap().emit(&mut c, &quoted);
        assert_eq!(b, c);
    }

    #[test]
    fn echo_is_not_an_error_and_short_is_truncated() {
        assert!(!is_error(kind::ECHO_REQUEST));
        assert_eq!(IcmpPacket::new_checked(&[8u8, 0, 0, 0, 0, 1, 0][..]).unwrap_err(), WireError::Truncated);
    }
}
