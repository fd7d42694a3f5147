//! ARP for IPv4 over Ethernet (RFC 826).

use super::{be16, get4, put16, Mac, WireError};
use std::net::Ipv4Addr;

mod field {
    use core::ops::Range;
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: usize = 14;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: usize = 24;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// ARP operation: request.
pub const OP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const OP_REPLY: u16 = 2;

/// A view of an ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps without checking.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps after [`Self::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The 28 bytes of Ethernet/IPv4 ARP are present.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// True for hardware type Ethernet (1), protocol IPv4, lengths 6 and 4.
    #[inline]
    pub fn is_ethernet_ipv4(&self) -> bool {
        let b = self.buffer.as_ref();
        be16(b, field::HTYPE) == 1 && be16(b, field::PTYPE) == 0x0800 && b[field::HLEN] == 6 && b[field::PLEN] == 4
    }

    /// Operation (1 request, 2 reply).
    #[inline]
    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }

    /// Sender hardware address.
    #[inline]
    pub fn sender_mac(&self) -> Mac {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::SHA]);
        Mac(m)
    }

    /// Sender protocol address.
    #[inline]
    pub fn sender_ip(&self) -> Ipv4Addr {
        get4(self.buffer.as_ref(), field::SPA).into()
    }

    /// Target hardware address.
    #[inline]
    pub fn target_mac(&self) -> Mac {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::THA]);
        Mac(m)
    }

    /// Target protocol address.
    #[inline]
    pub fn target_ip(&self) -> Ipv4Addr {
        get4(self.buffer.as_ref(), field::TPA).into()
    }
}

/// An Ethernet/IPv4 ARP packet as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// 1 request, 2 reply.
    pub operation: u16,
    /// Sender MAC.
    pub sender_mac: Mac,
    /// Sender IP.
    pub sender_ip: Ipv4Addr,
    /// Target MAC (zero in a request).
    pub target_mac: Mac,
    /// Target IP.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Parses a checked packet; other hardware/protocol types are `Unsupported`.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<Self, WireError> {
        p.check_len()?;
        if !p.is_ethernet_ipv4() {
            return Err(WireError::Unsupported);
        }
        Ok(ArpRepr {
            operation: p.operation(),
            sender_mac: p.sender_mac(),
            sender_ip: p.sender_ip(),
            target_mac: p.target_mac(),
            target_ip: p.target_ip(),
        })
    }

    /// Writes the 28 bytes at the start of `buf`.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) {
        put16(buf, field::HTYPE, 1);
        put16(buf, field::PTYPE, 0x0800);
        buf[field::HLEN] = 6;
        buf[field::PLEN] = 4;
        put16(buf, field::OPER, self.operation);
        buf[field::SHA].copy_from_slice(&self.sender_mac.0);
        buf[field::SPA..field::SPA + 4].copy_from_slice(&self.sender_ip.octets());
        buf[field::THA].copy_from_slice(&self.target_mac.0);
        buf[field::TPA..field::TPA + 4].copy_from_slice(&self.target_ip.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Who has 198.18.0.100? Tell 198.18.0.1 (02:00:00:00:00:01).
    const REQUEST: [u8; 28] =
        [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 198, 18, 0, 100];

    #[test]
    fn parse_field_by_field_and_rebuild() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert!(p.is_ethernet_ipv4());
        assert_eq!(p.operation(), OP_REQUEST);
        assert_eq!(p.sender_mac(), Mac([2, 0, 0, 0, 0, 1]));
        assert_eq!(p.sender_ip(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.target_mac(), Mac::ZERO);
        assert_eq!(p.target_ip(), Ipv4Addr::new(198, 18, 0, 100));
        let r = ArpRepr::parse(&p).unwrap();
        let mut out = [0u8; 28];
        r.emit(&mut out);
        assert_eq!(out, REQUEST);
    }

    #[test]
    fn refuses_short_and_non_ipv4() {
        assert_eq!(ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(), WireError::Truncated);
        let mut other = REQUEST;
        other[3] = 0xdd; // ptype 0x08dd
        assert_eq!(ArpRepr::parse(&ArpPacket::new_unchecked(&other[..])).unwrap_err(), WireError::Unsupported);
    }
}
