//! The two address families side by side. IPVS keys a connection by `union nf_inet_addr` and
//! an `af`; rvs instead instantiates its tables and its packet path once per family, so an IPv4
//! connection stays one 64-byte line (three 4-byte addresses) while an IPv6 one takes two
//! (three 16-byte addresses), and neither pays a branch on the family per field.
//!
//! [`AddrKey`] is an address as the tables hold it: `u32` for IPv4, `u128` for IPv6, host order.

use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address as a connection, neighbour or service table keys it.
pub trait AddrKey: Copy + Eq + Ord + Default + Hash + Debug + Send + Sync + Into<u128> + 'static {
    /// The address type it stands for.
    type Addr: Copy + Eq + Ord + Hash + Debug + Display + Send + Sync + Into<IpAddr> + 'static;
    /// Bits in the address (32, 128).
    const BITS: u8;
    /// The key of `a`.
    fn of(a: Self::Addr) -> Self;
    /// The address of this key.
    fn addr(self) -> Self::Addr;
    /// The key of `a` when it is of this family.
    fn of_ip(a: IpAddr) -> Option<Self>;
    /// 64 bits that stand for the address in hashes (IPv4: itself).
    fn fold64(self) -> u64;
    /// IPVS's fold of an address into 32 bits for its hashing schedulers (`ip_vs_sh_hashkey`
    /// and the like XOR an IPv6 address's four words; an IPv4 address is itself).
    fn fold32(self) -> u32;
    /// The first `prefix_len` bits, the rest zero (`prefix_len` above [`AddrKey::BITS`] keeps all).
    fn masked(self, prefix_len: u8) -> Self;
    /// The key of a persistence template of service `svc` for (masked) client network `self`:
    /// exact for IPv4 (`svc << 32 | network`); for IPv6 a 63-bit mix with the top bit set, so
    /// the two families never meet in one map (a collision of two IPv6 networks would only
    /// pin both to one real server).
    fn template_key(self, svc: u16) -> u64;
    /// Mixes a pair of addresses into 64 bits, ahead of the ports and protocol (the connection
    /// table's hash). IPv4's is exact: the two addresses side by side.
    fn pair(a: Self, b: Self) -> u64;
    /// The key of a real server's or local address `a` in this family's tables: as
    /// [`AddrKey::of_ip`], and in IPv6's an IPv4 address too, mapped (NAT64's IPv4 ends).
    fn of_end(a: IpAddr) -> Option<Self>;
    /// True for an IPv4 end held in IPv6's tables ([`mapped`]): a NAT64 connection's.
    fn is_mapped_v4(self) -> bool;
    /// The key of the low [`AddrKey::BITS`] bits of `b` (the inverse of `Into<u128>`).
    fn from_bits(b: u128) -> Self;
    /// The address as 128 bits (an IPv4 one in the low 32).
    fn into_bits(self) -> u128;
}

/// The IPv4-mapped IPv6 address of `a` (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2): how NAT64's IPv4
/// ends (real server, local address) sit in IPv6's connection table. Its 16-bit words sum to
/// the IPv4 address's plus 0xffff, which is 0 in one's-complement arithmetic: a transport
/// checksum over a mapped pseudo-header equals the IPv4 one (RFC 6052 §4.1's neutrality), so
/// a translated segment keeps its checksum.
#[inline(always)]
pub fn mapped(a: u32) -> u128 {
    0xffff_u128 << 32 | u128::from(a)
}

/// The IPv4 address an IPv4-mapped IPv6 address stands for.
#[inline(always)]
pub fn unmapped(a: u128) -> Option<u32> {
    (a >> 32 == 0xffff).then_some(a as u32)
}

/// [`AddrKey::fold32`] of an address of either family (control path: real servers' keys).
pub fn fold32(a: IpAddr) -> u32 {
    match a {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => u128::from(a).fold32(),
    }
}

impl AddrKey for u32 {
    type Addr = Ipv4Addr;
    const BITS: u8 = 32;
    #[inline(always)]
    fn of(a: Ipv4Addr) -> u32 {
        u32::from(a)
    }
    #[inline(always)]
    fn addr(self) -> Ipv4Addr {
        Ipv4Addr::from(self)
    }
    #[inline]
    fn of_ip(a: IpAddr) -> Option<u32> {
        match a {
            IpAddr::V4(a) => Some(u32::from(a)),
            IpAddr::V6(_) => None,
        }
    }
    #[inline(always)]
    fn fold64(self) -> u64 {
        u64::from(self)
    }
    #[inline(always)]
    fn fold32(self) -> u32 {
        self
    }
    #[inline(always)]
    fn masked(self, prefix_len: u8) -> u32 {
        self & crate::service::prefix_mask(prefix_len)
    }
    #[inline(always)]
    fn template_key(self, svc: u16) -> u64 {
        u64::from(svc) << 32 | u64::from(self)
    }
    #[inline(always)]
    fn pair(a: u32, b: u32) -> u64 {
        u64::from(a) << 32 | u64::from(b)
    }
    #[inline]
    fn of_end(a: IpAddr) -> Option<u32> {
        Self::of_ip(a)
    }
    #[inline(always)]
    fn is_mapped_v4(self) -> bool {
        false
    }
    #[inline(always)]
    fn into_bits(self) -> u128 {
        u128::from(self)
    }
    fn from_bits(b: u128) -> u32 {
        b as u32
    }
}

impl AddrKey for u128 {
    type Addr = Ipv6Addr;
    const BITS: u8 = 128;
    #[inline(always)]
    fn of(a: Ipv6Addr) -> u128 {
        u128::from(a)
    }
    #[inline(always)]
    fn addr(self) -> Ipv6Addr {
        Ipv6Addr::from(self)
    }
    #[inline]
    fn of_ip(a: IpAddr) -> Option<u128> {
        match a {
            IpAddr::V6(a) => Some(u128::from(a)),
            IpAddr::V4(_) => None,
        }
    }
    #[inline(always)]
    fn fold64(self) -> u64 {
        (self >> 64) as u64 ^ (self as u64).rotate_left(31)
    }
    #[inline(always)]
    fn fold32(self) -> u32 {
        (self >> 96) as u32 ^ (self >> 64) as u32 ^ (self >> 32) as u32 ^ self as u32
    }
    #[inline(always)]
    fn masked(self, prefix_len: u8) -> u128 {
        match prefix_len {
            0 => 0,
            p if p >= 128 => self,
            p => self & (u128::MAX << (128 - u32::from(p))),
        }
    }
    #[inline]
    fn template_key(self, svc: u16) -> u64 {
        let mut h = ((self >> 64) as u64 ^ u64::from(svc).rotate_left(40)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= (self as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        h ^= h >> 29;
        h = h.wrapping_mul(0x1656_67B1_9E37_79F9);
        1 << 63 | (h ^ h >> 32) >> 1
    }
    #[inline(always)]
    fn pair(a: u128, b: u128) -> u64 {
        a.fold64().wrapping_mul(0xFF51_AFD7_ED55_8CCD) ^ b.fold64()
    }
    #[inline]
    fn of_end(a: IpAddr) -> Option<u128> {
        match a {
            IpAddr::V6(a) => Some(u128::from(a)),
            IpAddr::V4(a) => Some(mapped(u32::from(a))),
        }
    }
    #[inline(always)]
    fn is_mapped_v4(self) -> bool {
        unmapped(self).is_some()
    }
    #[inline(always)]
    fn into_bits(self) -> u128 {
        self
    }
    fn from_bits(b: u128) -> u128 {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_fold_is_ipvs_xor_of_the_four_words() {
        let a: Ipv6Addr = "2001:db8::1:2".parse().unwrap();
        let w = a.octets();
        let word = |i: usize| u32::from_be_bytes([w[i], w[i + 1], w[i + 2], w[i + 3]]);
        assert_eq!(u128::of(a).fold32(), word(0) ^ word(4) ^ word(8) ^ word(12));
        assert_eq!(u32::of(Ipv4Addr::new(10, 0, 0, 1)).fold32(), 0x0A00_0001);
    }

    #[test]
    fn mapped_addresses_round_trip_and_keep_the_checksum_sum() {
        let a = u32::of(Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(Ipv6Addr::from(mapped(a)), "::ffff:192.0.2.10".parse::<Ipv6Addr>().unwrap());
        assert_eq!(unmapped(mapped(a)), Some(a));
        assert_eq!(unmapped(u128::of("2001:db8::1".parse().unwrap())), None);
        assert_eq!(u128::of_end(IpAddr::V4(Ipv4Addr::from(a))), Some(mapped(a)));
        use crate::wire::checksum::{fold, sum};
        let v4 = Ipv4Addr::from(a).octets();
        let v6 = Ipv6Addr::from(mapped(a)).octets();
        assert_eq!(fold(sum(&v4)), fold(sum(&v6)), "one's-complement sums equal");
    }

    #[test]
    fn masks_keep_the_prefix() {
        let a = u128::of("2001:db8:1:2:3:4:5:6".parse().unwrap());
        assert_eq!(a.masked(64).addr(), "2001:db8:1:2::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(a.masked(0), 0);
        assert_eq!(a.masked(128), a);
        assert_eq!(a.masked(200), a);
        assert_eq!(u32::of(Ipv4Addr::new(10, 1, 2, 3)).masked(16).addr(), Ipv4Addr::new(10, 1, 0, 0));
    }
}
