//! The Internet checksum: full computation (RFC 1071) for building packets, and incremental
//! update (RFC 1624) for rewrites, so a NAT rewrite never re-reads the payload.
//!
//! Checksums are kept as the `u16` written on the wire (big-endian value); all arithmetic is
//! one's complement over 16-bit words.

/// One's-complement sum of `data` as big-endian 16-bit words (an odd last byte is padded with
/// zero, RFC 1071 §4.1), not yet folded or complemented. Sums 8 bytes at a time.
#[inline]
pub fn sum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Add the two 32-bit halves; a u64 accumulator cannot overflow for any frame size.
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder();
    while rest.len() >= 2 {
        acc += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let Some(&b) = rest.first() {
        acc += u64::from(b) << 8;
    }
    acc
}

/// Folds a wide sum to 16 bits with end-around carry.
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum field value for `data` (complement of the folded sum).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Sum of the IPv4 pseudo-header for TCP/UDP (RFC 793 §3.1, RFC 768).
#[inline]
pub fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u64 {
    sum(&src) + sum(&dst) + u64::from(protocol) + u64::from(l4_len)
}

/// Sum of the IPv6 pseudo-header for TCP, UDP and ICMPv6 (RFC 8200 §8.1): both addresses, the
/// upper-layer length as 32 bits, three zero bytes and the next header.
#[inline]
pub fn pseudo_header_sum_v6(src: [u8; 16], dst: [u8; 16], next_header: u8, upper_len: u32) -> u64 {
    sum(&src) + sum(&dst) + u64::from(upper_len >> 16) + u64::from(upper_len & 0xffff) + u64::from(next_header)
}

/// RFC 1624 eqn. 3 for a 128-bit field (an IPv6 address), as eight words.
#[inline]
pub fn update128(hc: u16, old: [u8; 16], new: [u8; 16]) -> u16 {
    let mut acc = u64::from(!hc);
    for i in (0..16).step_by(2) {
        acc +=
            u64::from(!u16::from_be_bytes([old[i], old[i + 1]])) + u64::from(u16::from_be_bytes([new[i], new[i + 1]]));
    }
    !fold(acc)
}

/// RFC 1624 eqn. 3's term for a 16-bit word changed from `old` to `new`: `~m + m'`. Any
/// number of such terms add up before one fold: `HC' = ~fold(~HC + terms)`.
#[inline(always)]
pub fn delta16(old: u16, new: u16) -> u64 {
    u64::from(!old) + u64::from(new)
}

/// The same for a 32-bit field (an IPv4 address), as two words.
#[inline(always)]
pub fn delta32(old: [u8; 4], new: [u8; 4]) -> u64 {
    let (o, n) = (u32::from_be_bytes(old), u32::from_be_bytes(new));
    delta16((o >> 16) as u16, (n >> 16) as u16) + delta16(o as u16, n as u16)
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word changed from `old` to `new`:
/// `HC' = ~(~HC + ~m + m')`.
#[inline]
pub fn update16(hc: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!hc) + delta16(old, new))
}

/// The same for a 32-bit field (an IPv4 address), as two words.
#[inline]
pub fn update32(hc: u16, old: [u8; 4], new: [u8; 4]) -> u16 {
    !fold(u64::from(!hc) + delta32(old, new))
}

/// A TCP/UDP checksum after one port changed from `port_was` to `port_now` and an address of
/// its pseudo-header from `addr_was` to `addr_now` (RFC 1624 eqn. 3, twice).
#[inline(always)]
pub fn update_port_and_addr(hc: u16, addr_was: [u8; 4], addr_now: [u8; 4], port_was: u16, port_now: u16) -> u16 {
    update16(update32(hc, addr_was, addr_now), port_was, port_now)
}

/// Writes `port` at `port_at` of a TCP/UDP header `b` and patches its checksum at `csum_at`
/// for the port and for the pseudo-header's address change from `addr_was` to `addr_now`.
/// With `zero_is_none` (UDP, RFC 768) a checksum of 0 stays 0 and a result of 0 is sent as
/// 0xffff.
#[inline(always)]
pub(crate) fn set_port_patched(
    b: &mut [u8],
    port_at: usize,
    csum_at: usize,
    port: u16,
    addr_was: [u8; 4],
    addr_now: [u8; 4],
    zero_is_none: bool,
) {
    let old_port = super::be16(b, port_at);
    super::put16(b, port_at, port);
    let old = super::be16(b, csum_at);
    if zero_is_none && old == 0 {
        return;
    }
    let c = update_port_and_addr(old, addr_was, addr_now, old_port, port);
    super::put16(b, csum_at, if zero_is_none && c == 0 { 0xffff } else { c });
}

/// UDP's rule (RFC 768): a computed checksum of 0 is sent as 0xffff, because 0 means "none".
#[inline]
pub fn udp_nonzero(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update128_matches_a_full_recompute_for_an_ipv6_address() {
        let mut data: Vec<u8> = (0u8..48).map(|i| i.wrapping_mul(37)).collect();
        let before = checksum(&data);
        let old: [u8; 16] = data[8..24].try_into().unwrap();
        let new = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
        data[8..24].copy_from_slice(&new);
        assert_eq!(update128(before, old, new), checksum(&data));
        // The v6 pseudo-header is the four words of each address, the length and the protocol.
        let (s, d) = ([1u8; 16], [2u8; 16]);
        assert_eq!(pseudo_header_sum_v6(s, d, 58, 0x0001_0010), sum(&s) + sum(&d) + 1 + 0x10 + 58);
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum(&[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn known_ipv4_header() {
        // A real header (Wikipedia's example): checksum b861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
    }

    #[test]
    fn rfc1624_update_matches_recompute_including_the_minus_zero_case() {
        // RFC 1624 §3's example: a header summing to 0xffff whose word changes 0x5555 -> 0x3285
        // must give 0x0000 -> via eqn. 3 the correct result, not 0xffff.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        let old = u16::from_be_bytes([h[4], h[5]]);
        h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        let inc = update16(c, old, 0x1234);
        h[10..12].fill(0);
        assert_eq!(inc, checksum(&h));
    }
}
