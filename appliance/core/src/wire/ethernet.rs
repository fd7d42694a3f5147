//! Ethernet II frames (IEEE 802.3) with an optional 802.1Q VLAN tag (IEEE 802.1Q §9).

use super::{be16, put16, WireError};

/// A MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    /// 00:00:00:00:00:00.
    pub const ZERO: Mac = Mac([0; 6]);

    /// True for broadcast and multicast addresses (group bit set).
    #[inline(always)]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl core::fmt::Debug for Mac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::fmt::Display for Mac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl core::str::FromStr for Mac {
    type Err = WireError;
    fn from_str(s: &str) -> Result<Self, WireError> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            let p = parts.next().ok_or(WireError::Truncated)?;
            *b = u8::from_str_radix(p, 16).map_err(|_| WireError::Unsupported)?;
        }
        if parts.next().is_some() {
            return Err(WireError::Unsupported);
        }
        Ok(Mac(out))
    }
}

/// EtherType values rvs handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtherType;

impl EtherType {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag (QinQ).
    pub const QINQ: u16 = 0x88a8;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const VLAN_TCI: usize = 14;
    pub const VLAN_INNER_TYPE: usize = 16;
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = 14;
/// Length of the 802.1Q tag.
pub const VLAN_TAG_LEN: usize = 4;

/// A view of an Ethernet frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking it.
    #[inline(always)]
    pub fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer after [`Self::check_len`].
    #[inline(always)]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// After this succeeds no getter panics: the header (and the VLAN tag, if any) is present.
    #[inline(always)]
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, field::ETHERTYPE) == EtherType::VLAN && b.len() < HEADER_LEN + VLAN_TAG_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Destination MAC.
    #[inline(always)]
    pub fn dst(&self) -> Mac {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        Mac(m)
    }

    /// Source MAC.
    #[inline(always)]
    pub fn src(&self) -> Mac {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        Mac(m)
    }

    /// The outer EtherType (0x8100 for a tagged frame).
    #[inline(always)]
    pub fn outer_ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// The VLAN id (12 bits) of a tagged frame.
    #[inline(always)]
    pub fn vlan(&self) -> Option<u16> {
        let b = self.buffer.as_ref();
        (self.outer_ethertype() == EtherType::VLAN).then(|| be16(b, field::VLAN_TCI) & 0x0fff)
    }

    /// The payload's EtherType (past a VLAN tag).
    #[inline(always)]
    pub fn ethertype(&self) -> u16 {
        if self.outer_ethertype() == EtherType::VLAN {
            be16(self.buffer.as_ref(), field::VLAN_INNER_TYPE)
        } else {
            self.outer_ethertype()
        }
    }

    /// Header length: 14, or 18 with a VLAN tag.
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        if self.outer_ethertype() == EtherType::VLAN {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The payload.
    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// The underlying buffer.
    #[inline(always)]
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC.
    #[inline(always)]
    pub fn set_dst(&mut self, m: Mac) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&m.0);
    }

    /// Sets the source MAC.
    #[inline(always)]
    pub fn set_src(&mut self, m: Mac) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&m.0);
    }

    /// Sets the outer EtherType.
    #[inline(always)]
    pub fn set_outer_ethertype(&mut self, t: u16) {
        put16(self.buffer.as_mut(), field::ETHERTYPE, t);
    }

    /// The payload, writable.
    #[inline(always)]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len();
        &mut self.buffer.as_mut()[h..]
    }
}

/// An Ethernet header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Source MAC.
    pub src: Mac,
    /// Destination MAC.
    pub dst: Mac,
    /// VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// Payload EtherType.
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Parses a checked frame.
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]>>(f: &EthernetFrame<T>) -> Result<Self, WireError> {
        f.check_len()?;
        Ok(EthernetRepr { src: f.src(), dst: f.dst(), vlan: f.vlan(), ethertype: f.ethertype() })
    }

    /// Bytes [`Self::emit`] writes.
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header at the start of `buf` (at least `header_len()` bytes).
    #[inline(always)]
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::DST].copy_from_slice(&self.dst.0);
        buf[field::SRC].copy_from_slice(&self.src.0);
        match self.vlan {
            Some(v) => {
                put16(buf, field::ETHERTYPE, EtherType::VLAN);
                put16(buf, field::VLAN_TCI, v & 0x0fff);
                put16(buf, field::VLAN_INNER_TYPE, self.ethertype);
            }
            None => put16(buf, field::ETHERTYPE, self.ethertype),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNTAGGED: [u8; 16] = [0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00, 0xaa, 0xbb];
    const TAGGED: [u8; 20] =
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x02, 0x81, 0x00, 0x20, 0x64, 0x08, 0x06, 0xaa, 0xbb];

    #[test]
    fn parse_untagged_field_by_field_and_rebuild() {
        let f = EthernetFrame::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(f.dst(), Mac([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.src(), Mac([2, 0, 0, 0, 0, 2]));
        assert_eq!(f.ethertype(), EtherType::IPV4);
        assert_eq!(f.vlan(), None);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
        let r = EthernetRepr::parse(&f).unwrap();
        let mut out = [0u8; 14];
        r.emit(&mut out);
        assert_eq!(&out[..], &UNTAGGED[..14]);
    }

    #[test]
    fn parse_vlan_tagged_and_rebuild() {
        let f = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert!(f.dst().is_multicast());
        assert_eq!(f.vlan(), Some(100));
        assert_eq!(f.ethertype(), EtherType::ARP);
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
        let r = EthernetRepr::parse(&f).unwrap();
        let mut out = [0u8; 18];
        r.emit(&mut out);
        // The priority bits (0x2000) are not kept by the Repr.
        let mut want = TAGGED;
        want[14] &= 0x0f;
        assert_eq!(&out[..], &want[..18]);
    }

    #[test]
    fn truncated_frames_are_refused() {
        assert_eq!(EthernetFrame::new_checked(&UNTAGGED[..13]).unwrap_err(), WireError::Truncated);
        assert_eq!(EthernetFrame::new_checked(&TAGGED[..17]).unwrap_err(), WireError::Truncated);
    }

    #[test]
    fn mac_text_round_trip() {
        let m: Mac = "02:00:0a:ff:00:01".parse().unwrap();
        assert_eq!(m, Mac([2, 0, 10, 255, 0, 1]));
        assert_eq!(m.to_string(), "02:00:0a:ff:00:01");
        assert!("02:00".parse::<Mac>().is_err());
        assert!("02:00:0a:ff:00:01:00".parse::<Mac>().is_err());
    }
}
