//! A connection index of signature buckets, the layout of DPDK's `rte_hash`, VPP's `bihash` and
//! Cuckoo++: each bucket is one cache line of [`SLOTS`] slots, a slot being a one-byte
//! signature of the key's hash and the index of its entry, plus the head of an overflow chain.
//!
//! A look-up reads the one line, compares all the slots' signatures at once (SWAR: a zero-byte
//! test on eight bytes at a time) and reads only the entries whose signature matches, so a hit
//! costs the index line and the entry line, and a miss (a new connection) almost never reads
//! an entry (one false match in 255 per occupied slot). The old layout, a bucket of one chain
//! head, cost a hit `1 + load / 2` entries and a miss `load` entries, each a dependent miss.
//!
//! Buckets are sized for ~8.5 connections each (7.5 bytes a connection, so the whole table
//! stays under 80 bytes a connection) and chosen by a multiply (Lemire's "fastrange"), not a
//! mask, so their count need not be a power of two. A full bucket overflows into a chain
//! through the entries' own links (`next_c`, `next_r`): at a full table about 2% of the
//! connections; a removal from a full bucket promotes the chain's head into the freed slot.

use super::entry::{Conn, NIL};

/// Slots per bucket: 12 signatures, 12 entry indices and the chain head fill 64 bytes.
pub const SLOTS: usize = 12;

/// One bucket: a cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub struct Bucket {
    /// Signature of each slot's key; 0 marks a free slot (a key's signature is never 0).
    sigs: [u8; SLOTS],
    idx: [u32; SLOTS],
    /// First entry of the overflow chain, or [`NIL`].
    overflow: u32,
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// The high bit of every byte of `x` that is zero, and of no other (exact: no borrow crosses
/// bytes, unlike the `(x - ONES) & !x` short form).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The signature a key of hash `hash` is filed under (never 0: that marks a free slot).
#[inline(always)]
pub fn signature(hash: u64) -> u8 {
    (hash as u8).max(1)
}

impl Bucket {
    /// A bucket with every slot free.
    pub const EMPTY: Bucket = Bucket { sigs: [0; SLOTS], idx: [NIL; SLOTS], overflow: NIL };

    /// The signatures as two words: slots 0..8 and 8..12 (the high half's upper bytes are 0,
    /// which no key's signature matches).
    #[inline(always)]
    fn sig_words(&self) -> (u64, u64) {
        let [a, b, c, d, e, f, g, h, i, j, k, l] = self.sigs;
        (u64::from_le_bytes([a, b, c, d, e, f, g, h]), u64::from(u32::from_le_bytes([i, j, k, l])))
    }

    /// The first entry among the slots signed `sig` that `hit` accepts.
    #[inline(always)]
    pub fn find_slot(&self, sig: u8, mut hit: impl FnMut(u32) -> bool) -> Option<u32> {
        let want = u64::from(sig) * ONES;
        let (lo, hi) = self.sig_words();
        let mut m = zero_bytes(lo ^ want);
        while m != 0 {
            let i = self.idx[(m.trailing_zeros() / 8) as usize & 7];
            if hit(i) {
                return Some(i);
            }
            m &= m - 1;
        }
        let mut m = zero_bytes(hi ^ want) & 0x8080_8080;
        while m != 0 {
            let i = self.idx[8 + ((m.trailing_zeros() / 8) as usize & 3)];
            if hit(i) {
                return Some(i);
            }
            m &= m - 1;
        }
        None
    }

    /// The first entry signed `sig` (the look-ahead's guess: a hit's entry, nearly always).
    #[inline(always)]
    pub fn first_signed(&self, sig: u8) -> Option<u32> {
        self.find_slot(sig, |_| true)
    }

    /// A free slot, if any.
    #[inline]
    fn free_slot(&self) -> Option<usize> {
        let (lo, hi) = self.sig_words();
        let m = zero_bytes(lo);
        if m != 0 {
            return Some((m.trailing_zeros() / 8) as usize);
        }
        let m = zero_bytes(hi) & 0x8080_8080;
        (m != 0).then(|| 8 + (m.trailing_zeros() / 8) as usize)
    }

    /// The slot holding entry `idx`, if any.
    #[inline]
    fn slot_of(&self, idx: u32) -> Option<usize> {
        (0..SLOTS).find(|&s| self.sigs[s] != 0 && self.idx[s] == idx)
    }

    /// Slots in use.
    pub fn used(&self) -> usize {
        self.sigs.iter().filter(|&&s| s != 0).count()
    }
}

/// How an index reaches its overflow link in an entry (`next_c` or `next_r`).
pub(super) type Link<K> = fn(&mut Conn<K>) -> &mut u32;

/// One index: the buckets and their count.
#[derive(Debug)]
pub struct SigIndex {
    buckets: Vec<Bucket>,
    count: u64,
}

impl SigIndex {
    /// An empty index sized for `capacity` connections (~8.5 a bucket).
    pub fn new(capacity: usize) -> Self {
        let count = (capacity * 2).div_ceil(17).max(1);
        SigIndex { buckets: vec![Bucket::EMPTY; count], count: count as u64 }
    }

    /// Bytes allocated.
    pub fn memory_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }

    /// The bucket of `hash`, from its low 32 bits (the parse keeps only those) by their top
    /// bits: the signature comes from the low byte, which even 64 M connections' ~8 M buckets
    /// leave out.
    #[inline(always)]
    fn position(&self, hash: u64) -> usize {
        ((u64::from(hash as u32) * self.count) >> 32) as usize
    }

    /// The bucket a key of hash `hash` is filed in.
    #[inline(always)]
    pub fn bucket(&self, hash: u64) -> &Bucket {
        &self.buckets[self.position(hash)]
    }

    /// The entry of hash `hash` that `hit` accepts: the bucket's slots signed alike, then its
    /// overflow chain (`next` reads an entry's link).
    #[inline(always)]
    pub fn find(&self, hash: u64, mut hit: impl FnMut(u32) -> bool, next: impl Fn(u32) -> u32) -> Option<u32> {
        let b = self.bucket(hash);
        if let Some(i) = b.find_slot(signature(hash), &mut hit) {
            return Some(i);
        }
        let mut i = b.overflow;
        while i != NIL {
            if hit(i) {
                return Some(i);
            }
            i = next(i);
        }
        None
    }

    /// Files entry `idx` of hash `hash`: in a free slot, or at the head of the overflow chain.
    pub fn insert<K>(&mut self, hash: u64, idx: u32, entries: &mut [Conn<K>], link: Link<K>) {
        let pos = self.position(hash);
        let b = &mut self.buckets[pos];
        *link(&mut entries[idx as usize]) = NIL;
        if let Some(s) = b.free_slot() {
            b.sigs[s] = signature(hash);
            b.idx[s] = idx;
        } else {
            *link(&mut entries[idx as usize]) = b.overflow;
            b.overflow = idx;
        }
    }

    /// Unfiles entry `idx` of hash `hash`. A slot it frees takes the overflow chain's head, if
    /// any (`rehash` gives that entry's hash, for its signature).
    pub fn remove<K>(
        &mut self,
        hash: u64,
        idx: u32,
        entries: &mut [Conn<K>],
        link: Link<K>,
        rehash: impl Fn(&Conn<K>) -> u64,
    ) {
        let pos = self.position(hash);
        let b = &mut self.buckets[pos];
        if let Some(s) = b.slot_of(idx) {
            let head = b.overflow;
            if head == NIL {
                (b.sigs[s], b.idx[s]) = (0, NIL);
            } else {
                let e = &mut entries[head as usize];
                b.overflow = std::mem::replace(link(e), NIL);
                (b.sigs[s], b.idx[s]) = (signature(rehash(e)), head);
            }
            return;
        }
        let mut cur = b.overflow;
        let after = *link(&mut entries[idx as usize]);
        if cur == idx {
            b.overflow = after;
            return;
        }
        while cur != NIL {
            let next = link(&mut entries[cur as usize]);
            if *next == idx {
                *next = after;
                return;
            }
            cur = *next;
        }
    }

    /// Every bucket (tests and statistics).
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// The overflow chain's head of a bucket (tests and statistics).
    pub fn overflow_head(b: &Bucket) -> u32 {
        b.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_swar_test_finds_exactly_the_zero_bytes() {
        for x in [0u64, u64::MAX, 0x0100_FF00_0180_0001, 0x8000_0000_0000_0080, 0x0001_0000_0000_0100] {
            let want: u64 = (0..8).filter(|i| (x >> (8 * i)) & 0xFF == 0).map(|i| 0x80 << (8 * i)).sum();
            assert_eq!(zero_bytes(x), want, "{x:#018x}");
        }
    }

    #[test]
    fn every_slot_is_found_by_its_signature_and_only_by_it() {
        let mut b = Bucket::EMPTY;
        for s in 0..SLOTS {
            b.sigs[s] = (s as u8 + 1) * 17;
            b.idx[s] = 100 + s as u32;
        }
        for s in 0..SLOTS {
            assert_eq!(b.first_signed((s as u8 + 1) * 17), Some(100 + s as u32));
        }
        assert_eq!(b.first_signed(1), None);
        assert_eq!(b.free_slot(), None);
        b.sigs[9] = 0;
        assert_eq!(b.free_slot(), Some(9));
        assert_eq!(b.first_signed(10 * 17), None, "a freed slot is not found");
        // Two slots signed alike: `hit` decides.
        b.sigs[3] = 5 * 17;
        assert_eq!(b.find_slot(5 * 17, |i| i == 104), Some(104));
        assert_eq!(b.find_slot(5 * 17, |i| i == 103), Some(103));
    }

    use crate::service::Forward;
    use proptest::prelude::*;

    /// A key's hash for the model: few buckets' worth of high bits and few signatures, so that
    /// buckets overflow and signatures collide all the time.
    fn hash_of(key: u32) -> u64 {
        u64::from(key.wrapping_mul(0x9E37_79B9)) & 0xE000_0003 | u64::from(key & 4)
    }

    fn next_c(e: &mut Conn) -> &mut u32 {
        &mut e.next_c
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// Files and unfiles keys in an index of 1-3 buckets (so most of them overflow into
        /// chains, and removals promote chain heads into slots) against a set of live keys:
        /// every key is found exactly while it is live, at its own entry.
        #[test]
        fn the_index_finds_exactly_the_live_keys(
            buckets in 1usize..=3,
            ops in proptest::collection::vec((any::<bool>(), 0u32..48), 1..200),
        ) {
            let proto = Conn::new(6, 0, 0, 0, 0, 0, 0, Forward::Nat, 0, 0);
            let mut entries = vec![proto; 48];
            let mut index = SigIndex::new(buckets * 8);
            prop_assert_eq!(index.buckets().len(), buckets);
            let mut live = std::collections::BTreeSet::new();
            for (insert, key) in ops {
                // Entry `key` holds key `key`: the model's slab.
                entries[key as usize].caddr = key;
                if insert && live.insert(key) {
                    index.insert(hash_of(key), key, &mut entries, next_c);
                } else if !insert && live.remove(&key) {
                    index.remove(hash_of(key), key, &mut entries, next_c, |e| hash_of(e.caddr));
                }
                for k in 0..48u32 {
                    let found = index.find(hash_of(k), |i| entries[i as usize].caddr == k, |i| entries[i as usize].next_c);
                    prop_assert_eq!(found, live.contains(&k).then_some(k), "key {}", k);
                }
                let in_slots: usize = index.buckets().iter().map(Bucket::used).sum();
                prop_assert!(in_slots <= live.len());
                // A chain only while its bucket is full: removals promote.
                for b in index.buckets() {
                    prop_assert!(SigIndex::overflow_head(b) == NIL || b.used() == SLOTS);
                }
            }
        }
    }
}
