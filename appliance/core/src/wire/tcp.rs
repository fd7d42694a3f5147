//! TCP headers (RFC 793 §3.1): what a layer-4 balancer reads (ports, flags) and rewrites
//! (ports, checksum). Payload is never looked at.

use super::{be16, be32, checksum, put16, WireError};
use std::net::Ipv4Addr;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const OFF_FLAGS: usize = 12;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// TCP flag bits (low byte of the offset/flags word).
pub mod flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
}

/// A view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps without checking.
    #[inline(always)]
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps after [`Self::check_len`].
    #[inline(always)]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The 20-byte header is present and the data offset is sane (5..=len/4).
    #[inline(always)]
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if hl > b.len() {
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

    /// Sequence number.
    #[inline(always)]
    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ)
    }

    /// Acknowledgment number.
    #[inline(always)]
    pub fn ack(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes (data offset * 4).
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OFF_FLAGS] >> 4) * 4
    }

    /// Flag bits (see [`flags`]).
    #[inline(always)]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::OFF_FLAGS + 1]
    }

    /// Window.
    #[inline(always)]
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Checksum field.
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// True when the checksum verifies over the pseudo-header and the whole segment.
    #[inline(always)]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let b = self.buffer.as_ref();
        let acc = checksum::pseudo_header_sum(src.octets(), dst.octets(), 6, b.len() as u16) + checksum::sum(b);
        checksum::fold(acc) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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
    /// RFC 768).
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
        checksum::set_port_patched(self.buffer.as_mut(), at, field::CHECKSUM, port, addr_was, addr_now, false);
    }

    /// Recomputes the checksum from scratch over the whole buffer as the segment.
    #[inline(always)]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let acc = checksum::pseudo_header_sum(src.octets(), dst.octets(), 6, b.len() as u16) + checksum::sum(b);
        let c = !checksum::fold(acc);
        self.set_checksum(c);
    }
}

/// A TCP header without options, as values (for building test and generator packets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: u8,
    /// Window.
    pub window: u16,
}

impl TcpRepr {
    /// Parses a checked segment's header.
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]>>(p: &TcpPacket<T>) -> Result<Self, WireError> {
        p.check_len()?;
        Ok(TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq(),
            ack: p.ack(),
            flags: p.flags(),
            window: p.window(),
        })
    }

    /// Writes the 20-byte header followed by `payload` into `buf` (at least 20 + payload
    /// bytes) with the checksum for `src -> dst`.
    #[inline(always)]
    pub fn emit(&self, buf: &mut [u8], payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr) {
        let len = HEADER_LEN + payload.len();
        let buf = &mut buf[..len];
        put16(buf, field::SRC_PORT, self.src_port);
        put16(buf, field::DST_PORT, self.dst_port);
        buf[field::SEQ..field::SEQ + 4].copy_from_slice(&self.seq.to_be_bytes());
        buf[field::ACK..field::ACK + 4].copy_from_slice(&self.ack.to_be_bytes());
        buf[field::OFF_FLAGS] = 5 << 4;
        buf[field::OFF_FLAGS + 1] = self.flags;
        put16(buf, field::WINDOW, self.window);
        put16(buf, field::URGENT, 0);
        buf[HEADER_LEN..].copy_from_slice(payload);
        TcpPacket::new_unchecked(buf).fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);

    #[test]
    fn build_parse_and_rebuild_byte_for_byte() {
        let r = TcpRepr { src_port: 40000, dst_port: 80, seq: 0x01020304, ack: 0, flags: flags::SYN, window: 64240 };
        let mut b = [0u8; 24];
        r.emit(&mut b, b"ping", SRC, DST);
        assert_eq!(&b[..4], &[0x9c, 0x40, 0x00, 0x50]);
        assert_eq!(&b[4..8], &[1, 2, 3, 4]);
        assert_eq!(b[12], 0x50);
        assert_eq!(b[13], flags::SYN);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 40000);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq(), 0x01020304);
        assert_eq!(p.flags(), flags::SYN);
        assert_eq!(p.header_len(), 20);
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(SRC, Ipv4Addr::new(198, 18, 0, 101)));
        let again = TcpRepr::parse(&p).unwrap();
        let mut c = [0u8; 24];
        again.emit(&mut c, b"ping", SRC, DST);
        assert_eq!(b, c);
    }

    #[test]
    fn bad_data_offsets_are_refused() {
        let mut b = [0u8; 20];
        b[12] = 0x40;
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap_err(), WireError::BadHeaderLen);
        b[12] = 0x60;
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap_err(), WireError::Truncated);
        assert_eq!(TcpPacket::new_checked(&b[..19]).unwrap_err(), WireError::Truncated);
    }
}
