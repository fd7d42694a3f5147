//! A set of address prefixes for membership tests (allow and deny lists): up to millions of
//! prefixes of one family, asked "is this address covered?" once per new connection.
//!
//! The prefixes are merged into disjoint, sorted intervals of addresses (a threat list's
//! overlapping and adjacent prefixes collapse), each (start, end) pair in one place. A large
//! set also keeps, by the address's top bits (about as many buckets as intervals, at most 2^22),
//! the first interval that can hold it, so a look-up reads one index entry and searches the
//! one or two intervals of its bucket: two or three cache lines, whatever the list's size (a
//! bare binary search over a million intervals would touch twenty). Built on the control path;
//! read-only afterwards.

use crate::family::AddrKey;

/// Sets at most this large are searched without the bucket index (it would cost more memory
/// than it saves time).
const INDEX_FROM: usize = 64;
/// The index's most bits (4 M buckets, 16 MB).
const MAX_INDEX_BITS: u32 = 22;

/// A set of prefixes of family `K`, for membership tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixSet<K: AddrKey = u32> {
    /// Intervals (start, end), sorted; disjoint and not adjacent.
    intervals: Vec<(K, K)>,
    /// By bucket (and one past the last): the first interval whose end reaches the bucket.
    index: Vec<u32>,
    /// An address's bucket is its bits above this one.
    shift: u32,
    /// Prefixes given (before merging).
    given: usize,
}

/// `a`'s bucket: its bits from `shift` up.
#[inline(always)]
fn bucket<K: AddrKey>(a: K, shift: u32) -> usize {
    (a.into() >> shift) as usize
}

impl<K: AddrKey> PrefixSet<K> {
    /// The set of `prefixes` (address, length; a length beyond the family's is the whole
    /// address; the address's host bits are ignored).
    pub fn new(prefixes: impl IntoIterator<Item = (K, u8)>) -> Self {
        let bits = u32::from(K::BITS);
        let mut iv: Vec<(u128, u128)> = Vec::new();
        for (a, len) in prefixes {
            let len = u32::from(len).min(bits);
            let start: u128 = a.masked(len as u8).into();
            let host = if len == bits { 0 } else { (u128::MAX >> (128 - bits)) >> len };
            iv.push((start, start | host));
        }
        let given = iv.len();
        iv.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(iv.len());
        for (s, e) in iv {
            match merged.last_mut() {
                // Overlapping or adjacent: one interval.
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let intervals: Vec<(K, K)> = merged.iter().map(|&(s, e)| (K::from_bits(s), K::from_bits(e))).collect();
        let mut index = Vec::new();
        let mut shift = bits;
        if intervals.len() > INDEX_FROM {
            let index_bits = (intervals.len().next_power_of_two().trailing_zeros()).clamp(8, MAX_INDEX_BITS.min(bits));
            shift = bits - index_bits;
            let buckets = 1usize << index_bits;
            index.reserve_exact(buckets + 1);
            let mut i = 0usize;
            for b in 0..buckets {
                while i < intervals.len() && bucket(intervals[i].1, shift) < b {
                    i += 1;
                }
                index.push(i as u32);
            }
            index.push(intervals.len() as u32);
        }
        PrefixSet { intervals, index, shift, given }
    }

    /// True when a prefix of the set covers `a`.
    #[inline]
    pub fn contains(&self, a: K) -> bool {
        let (lo, hi) = if self.index.is_empty() {
            (0, self.intervals.len())
        } else {
            let b = bucket(a, self.shift);
            // The interval after the bucket's last may start in it (and span into the next).
            (self.index[b] as usize, (self.index[b + 1] as usize + 1).min(self.intervals.len()))
        };
        let i = lo + self.intervals[lo..hi].partition_point(|&(s, _)| s <= a);
        i > lo && a <= self.intervals[i - 1].1
    }

    /// True for a set of no prefix.
    pub fn is_empty(&self) -> bool {
        self.given == 0
    }

    /// Prefixes given.
    pub fn len(&self) -> usize {
        self.given
    }

    /// Disjoint intervals they merged into.
    pub fn intervals(&self) -> usize {
        self.intervals.len()
    }

    /// Bytes the set holds.
    pub fn memory_bytes(&self) -> usize {
        self.intervals.capacity() * std::mem::size_of::<(K, K)>() + self.index.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn v4(s: &str) -> (u32, u8) {
        let (a, l) = s.split_once('/').unwrap();
        (u32::from(a.parse::<Ipv4Addr>().unwrap()), l.parse().unwrap())
    }

    #[test]
    fn prefixes_cover_their_addresses_and_no_other() {
        let set = PrefixSet::new(["10.0.0.0/8", "192.0.2.128/25", "192.0.2.0/25", "203.0.113.7/32"].map(v4));
        assert_eq!((set.len(), set.intervals()), (4, 3), "the two /25s merged");
        let has = |a: &str| set.contains(u32::from(a.parse::<Ipv4Addr>().unwrap()));
        assert!(has("10.255.255.255") && has("10.0.0.0") && has("192.0.2.0") && has("192.0.2.255"));
        assert!(has("203.0.113.7"));
        assert!(!has("11.0.0.0") && !has("9.255.255.255") && !has("203.0.113.8") && !has("192.0.3.0"));
        assert!(!PrefixSet::<u32>::default().contains(0));
        let all = PrefixSet::new([(0u32, 0u8)]);
        assert!(all.contains(0) && all.contains(u32::MAX));
        let v6 = PrefixSet::new([(u128::from("2001:db8::".parse::<std::net::Ipv6Addr>().unwrap()), 32u8)]);
        assert!(v6.contains(u128::from("2001:db8:ffff::1".parse::<std::net::Ipv6Addr>().unwrap())));
        assert!(!v6.contains(u128::from("2001:db9::".parse::<std::net::Ipv6Addr>().unwrap())));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// The indexed search answers as a scan over the prefixes does (the sets are large
        /// enough for the index, and clustered so that buckets hold many intervals).
        #[test]
        fn it_answers_as_a_scan_does(
            prefixes in proptest::collection::vec((any::<u16>(), any::<u16>(), 8u8..=32), 65..400),
            probes in proptest::collection::vec((any::<u16>(), any::<u16>()), 200),
        ) {
            let cluster = |hi: u16, lo: u16| u32::from(hi % 4) << 28 | u32::from(hi) << 12 | u32::from(lo);
            let list: Vec<(u32, u8)> = prefixes.iter().map(|&(h, l, len)| (cluster(h, l), len)).collect();
            let set = PrefixSet::new(list.iter().copied());
            let scan = |a: u32| list.iter().any(|&(p, len)| a.masked(len) == p.masked(len));
            for &(h, l) in &probes {
                let a = cluster(h, l);
                prop_assert_eq!(set.contains(a), scan(a), "{:#x}", a);
            }
            for &(p, len) in &list {
                let first = p.masked(len);
                let last = first | if len == 32 { 0 } else { u32::MAX >> len };
                prop_assert!(set.contains(first) && set.contains(last));
                prop_assert_eq!(set.contains(last.wrapping_add(1)), scan(last.wrapping_add(1)));
                prop_assert_eq!(set.contains(first.wrapping_sub(1)), scan(first.wrapping_sub(1)));
            }
        }
    }
}
