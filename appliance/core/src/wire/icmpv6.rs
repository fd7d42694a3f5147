//! ICMPv6 (RFC 4443) and the Neighbor Discovery messages rvs answers and sends (RFC 4861 §4.3,
//! §4.4): the message header, its checksum over the IPv6 pseudo-header (RFC 8200 §8.1), Packet
//! Too Big's MTU (RFC 8201), and Neighbor Solicitation / Advertisement with their link-layer
//! address option (§4.6.1).

use super::checksum;
use super::{be16, be32, put16, Mac, WireError};
use std::net::Ipv6Addr;

/// Message types rvs reads or writes (IANA).
pub mod kind {
    /// Destination Unreachable.
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet Too Big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter Problem.
    pub const PARAMETER_PROBLEM: u8 = 4;
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Neighbor Solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor Advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// Bytes of the message header (type, code, checksum, and the 4 bytes each type defines).
pub const HEADER_LEN: usize = 8;
/// Bytes of a Neighbor Solicitation or Advertisement without options.
pub const ND_LEN: usize = 24;
/// Bytes of an Ethernet link-layer address option.
pub const LLADDR_OPT_LEN: usize = 8;

/// Option types of Neighbor Discovery (RFC 4861 §4.6).
const OPT_SOURCE_LLADDR: u8 = 1;
const OPT_TARGET_LLADDR: u8 = 2;

/// Neighbor Advertisement flags (RFC 4861 §4.4).
pub mod na_flags {
    /// Sent by a router.
    pub const ROUTER: u32 = 0x8000_0000;
    /// In answer to a solicitation.
    pub const SOLICITED: u32 = 0x4000_0000;
    /// Replace a cached link-layer address.
    pub const OVERRIDE: u32 = 0x2000_0000;
}

/// A view of an ICMPv6 message (the whole upper-layer payload).
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps without checking.
    #[inline(always)]
    pub fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// Wraps after checking that the header is there.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Icmpv6Packet { buffer })
    }

    /// Message type.
    #[inline(always)]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Code.
    #[inline(always)]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// The checksum field.
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// The four type-specific bytes after the checksum (echo id and sequence, the MTU of a
    /// Packet Too Big, the pointer of a Parameter Problem, the flags of an advertisement).
    #[inline(always)]
    pub fn rest(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    /// True when the checksum over the pseudo-header of `src` -> `dst` and the message holds.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let acc = checksum::pseudo_header_sum_v6(src.octets(), dst.octets(), 58, b.len() as u32) + checksum::sum(b);
        checksum::fold(acc) == 0xffff
    }

    /// What follows the header: the echo data, or the invoking packet of an error.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets type and code.
    pub fn set_type_code(&mut self, t: u8, code: u8) {
        let b = self.buffer.as_mut();
        b[0] = t;
        b[1] = code;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v);
    }

    /// Sets the four type-specific bytes.
    pub fn set_rest(&mut self, v: u32) {
        self.buffer.as_mut()[4..8].copy_from_slice(&v.to_be_bytes());
    }

    /// Computes and writes the checksum for a message from `src` to `dst` (the buffer is the
    /// whole message).
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let b = self.buffer.as_mut();
        put16(b, 2, 0);
        let acc = checksum::pseudo_header_sum_v6(src.octets(), dst.octets(), 58, b.len() as u32) + checksum::sum(b);
        put16(b, 2, !checksum::fold(acc));
    }
}

/// Bytes of the invoking packet an error message quotes at most: as much as keeps the error's
/// whole IPv6 packet within the minimum MTU (RFC 4443 §2.4 (c): 1280 - 40 - 8).
pub const MAX_ERROR_QUOTE: usize = 1232;

/// Writes an error message (Destination Unreachable, Packet Too Big, Time Exceeded, Parameter
/// Problem) of `msg_type`/`code` with type-specific word `rest` (the MTU of a Packet Too Big,
/// RFC 8201) into `buf`, quoting as much of `invoking` as fits ([`MAX_ERROR_QUOTE`] and
/// `buf`), with its checksum for `src` -> `dst`. Returns the message's length.
pub fn emit_error(
    buf: &mut [u8],
    msg_type: u8,
    code: u8,
    rest: u32,
    invoking: &[u8],
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
) -> usize {
    let quote = invoking.len().min(MAX_ERROR_QUOTE).min(buf.len().saturating_sub(HEADER_LEN));
    let len = HEADER_LEN + quote;
    buf[HEADER_LEN..len].copy_from_slice(&invoking[..quote]);
    let mut p = Icmpv6Packet::new_unchecked(&mut buf[..len]);
    p.set_type_code(msg_type, code);
    p.set_rest(rest);
    p.fill_checksum(src, dst);
    len
}

/// A Neighbor Solicitation or Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdRepr {
    /// "Who has `target`?", from `source_lladdr` when the sender gave it (not from `::`).
    Solicit {
        /// The address asked for.
        target: Ipv6Addr,
        /// The sender's link-layer address.
        source_lladdr: Option<Mac>,
    },
    /// "`target` is at `target_lladdr`".
    Advert {
        /// [`na_flags`].
        flags: u32,
        /// The address advertised.
        target: Ipv6Addr,
        /// Its link-layer address.
        target_lladdr: Option<Mac>,
    },
}

impl NdRepr {
    /// Reads a solicitation or advertisement (code 0, RFC 4861 §7.1.1's length checks; the
    /// hop limit 255 check is the caller's, it is in the IPv6 header). Unknown options are
    /// skipped; an option of length 0 refuses the message.
    pub fn parse<T: AsRef<[u8]>>(p: &Icmpv6Packet<T>) -> Result<Self, WireError> {
        let b = p.buffer.as_ref();
        if p.code() != 0 || b.len() < ND_LEN {
            return Err(WireError::Unsupported);
        }
        let target = Ipv6Addr::from(<[u8; 16]>::try_from(&b[8..24]).map_err(|_| WireError::Truncated)?);
        let want = match p.msg_type() {
            kind::NEIGHBOR_SOLICIT => OPT_SOURCE_LLADDR,
            kind::NEIGHBOR_ADVERT => OPT_TARGET_LLADDR,
            _ => return Err(WireError::Unsupported),
        };
        let mut lladdr = None;
        let mut off = ND_LEN;
        while off + 2 <= b.len() {
            let len = usize::from(b[off + 1]) * 8;
            if len == 0 || off + len > b.len() {
                return Err(WireError::Unsupported);
            }
            if b[off] == want && len == LLADDR_OPT_LEN {
                let mut m = [0u8; 6];
                m.copy_from_slice(&b[off + 2..off + 8]);
                lladdr = Some(Mac(m));
            }
            off += len;
        }
        Ok(match p.msg_type() {
            kind::NEIGHBOR_SOLICIT => NdRepr::Solicit { target, source_lladdr: lladdr },
            _ => NdRepr::Advert { flags: p.rest(), target, target_lladdr: lladdr },
        })
    }

    /// Bytes [`Self::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        let has = match self {
            NdRepr::Solicit { source_lladdr, .. } => source_lladdr.is_some(),
            NdRepr::Advert { target_lladdr, .. } => target_lladdr.is_some(),
        };
        ND_LEN + if has { LLADDR_OPT_LEN } else { 0 }
    }

    /// Writes the message into `buf` (exactly [`Self::buffer_len`] bytes) with its checksum
    /// for `src` -> `dst`.
    pub fn emit(&self, buf: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
        let (t, rest, target, opt) = match *self {
            NdRepr::Solicit { target, source_lladdr } => {
                (kind::NEIGHBOR_SOLICIT, 0, target, source_lladdr.map(|m| (OPT_SOURCE_LLADDR, m)))
            }
            NdRepr::Advert { flags, target, target_lladdr } => {
                (kind::NEIGHBOR_ADVERT, flags, target, target_lladdr.map(|m| (OPT_TARGET_LLADDR, m)))
            }
        };
        buf[8..24].copy_from_slice(&target.octets());
        if let Some((ty, mac)) = opt {
            buf[24] = ty;
            buf[25] = 1;
            buf[26..32].copy_from_slice(&mac.0);
        }
        let mut p = Icmpv6Packet::new_unchecked(&mut buf[..self.buffer_len()]);
        p.set_type_code(t, 0);
        p.set_rest(rest);
        p.fill_checksum(src, dst);
    }
}

/// The solicited-node multicast address of `a` (RFC 4291 §2.7.1): ff02::1:ffXX:XXXX.
pub fn solicited_node(a: &Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00 | u16::from(o[13]), u16::from(o[14]) << 8 | u16::from(o[15]))
}

/// The Ethernet multicast address of IPv6 multicast `a` (RFC 2464 §7): 33:33 and its last
/// four bytes.
pub fn multicast_mac(a: &Ipv6Addr) -> Mac {
    let o = a.octets();
    Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6::tests::{frame, ECHO_REQUEST, NEIGHBOUR_SOLICITATION};
    use crate::wire::ipv6::{Ipv6Packet, HEADER_LEN as IP6};

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn the_kernels_checksums_verify_and_refill_identically() {
        for f in [ECHO_REQUEST, NEIGHBOUR_SOLICITATION] {
            let f = frame(f);
            let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
            let (src, dst) = (ip.src(), ip.dst());
            let msg = &f[14 + IP6..14 + ip.total_len()];
            assert!(Icmpv6Packet::new_checked(msg).unwrap().verify_checksum(&src, &dst));
            let mut copy = msg.to_vec();
            copy[2] ^= 0x55;
            assert!(!Icmpv6Packet::new_checked(&copy[..]).unwrap().verify_checksum(&src, &dst));
            Icmpv6Packet::new_unchecked(&mut copy[..]).fill_checksum(&src, &dst);
            assert_eq!(copy, msg, "the same checksum as Linux");
        }
    }

    #[test]
    fn a_captured_solicitation_parses_and_emits_to_the_same_bytes() {
        let f = frame(NEIGHBOUR_SOLICITATION);
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.hop_limit(), 255);
        let msg = &f[14 + IP6..14 + ip.total_len()];
        let nd = NdRepr::parse(&Icmpv6Packet::new_checked(msg).unwrap()).unwrap();
        let want = NdRepr::Solicit { target: addr("2001:db8::2"), source_lladdr: Some(Mac([2, 0, 0, 0, 0, 0x0a])) };
        assert_eq!(nd, want);
        let mut out = vec![0u8; nd.buffer_len()];
        nd.emit(&mut out, &ip.src(), &ip.dst());
        assert_eq!(out, msg);
        // Sent to the target's solicited-node group, on its Ethernet multicast address.
        assert_eq!(ip.dst(), solicited_node(&addr("2001:db8::2")));
        assert_eq!(multicast_mac(&ip.dst()), Mac([0x33, 0x33, 0xff, 0, 0, 2]));
        assert_eq!(&f[..6], &multicast_mac(&ip.dst()).0);
    }

    #[test]
    fn a_packet_too_big_quotes_what_fits_in_the_minimum_mtu() {
        let (src, dst) = (addr("2001:db8::1"), addr("2001:db8::7"));
        let invoking: Vec<u8> = (0..1500u32).map(|i| i as u8).collect();
        let mut buf = [0u8; 1500];
        let n = emit_error(&mut buf, kind::PACKET_TOO_BIG, 0, 1460, &invoking, &src, &dst);
        assert_eq!(n, 1240, "the error's IPv6 packet is exactly 1280 bytes");
        let p = Icmpv6Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.rest()), (kind::PACKET_TOO_BIG, 0, 1460));
        assert_eq!(p.payload(), &invoking[..MAX_ERROR_QUOTE]);
        assert!(p.verify_checksum(&src, &dst));
        // A short invoking packet is quoted whole; a short buffer bounds the quote.
        let n = emit_error(&mut buf, kind::TIME_EXCEEDED, 0, 0, &invoking[..60], &src, &dst);
        assert_eq!(n, 68);
        let mut small = [0u8; 100];
        assert_eq!(emit_error(&mut small, kind::DEST_UNREACHABLE, 4, 0, &invoking, &src, &dst), 100);
        assert!(Icmpv6Packet::new_checked(&small[..]).unwrap().verify_checksum(&src, &dst));
    }

    #[test]
    fn an_advertisement_round_trips_and_bad_options_are_refused() {
        let na = NdRepr::Advert {
            flags: na_flags::SOLICITED | na_flags::OVERRIDE,
            target: addr("2001:db8::100"),
            target_lladdr: Some(Mac([2, 0, 0, 0, 0, 1])),
        };
        let (src, dst) = (addr("2001:db8::100"), addr("2001:db8::1"));
        let mut buf = vec![0u8; na.buffer_len()];
        na.emit(&mut buf, &src, &dst);
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(&src, &dst));
        assert_eq!(NdRepr::parse(&p), Ok(na));
        let mut zero_len = buf.clone();
        zero_len[25] = 0;
        assert_eq!(NdRepr::parse(&Icmpv6Packet::new_checked(&zero_len[..]).unwrap()), Err(WireError::Unsupported));
        assert_eq!(NdRepr::parse(&Icmpv6Packet::new_checked(&buf[..20]).unwrap()), Err(WireError::Unsupported));
    }
}
