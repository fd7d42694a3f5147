//! A counting filter of the reply keys FULLNAT's and SNAT's connections hold, so that the
//! local-port search ([`ConnTable::take_lport`]) can tell most free ports without the
//! reply-side index.
//!
//! A port is free for a connection to RIP:rport when no connection of this core holds
//! (proto, RIP, rport, LIP, lport) ([`super::local_addrs`]). Asking the reply-side index reads
//! that key's bucket, a random line and on a large table a cache miss, before the new entry
//! exists, so the misses of a burst's new connections cannot overlap. A filter with one count per
//! slot (a counting Bloom filter with one hash: Fan, Cao, Almeida and Broder, "Summary Cache",
//! 2000, §V) answers first: a zero count proves the key unheld; any other count is settled by
//! the index, so the search's answer is exact either way.
//!
//! A key's slot is its destination (proto, RIP, rport, LIP) hashed plus its port, so a search,
//! which walks consecutive ports of one local address, walks consecutive slots: one line serves
//! many new connections towards one real server. Counts saturate at 255 and then stay there
//! (that slot is settled by the index from then on). NAT's reply keys (the client's own
//! address and port) are not counted: they are not handed out here, and the index never held
//! them unique against FULLNAT's (a client could send from a local address).

use crate::family::AddrKey;

/// Slots per entry of the table: a quarter of a byte per connection.
const ENTRIES_PER_SLOT: usize = 4;
/// A count that no longer moves.
const STUCK: u8 = u8::MAX;

/// The filter: one count per slot.
#[derive(Debug, Clone)]
pub(super) struct HeldPorts {
    counts: Vec<u8>,
    mask: u32,
    seed: u64,
}

/// Where a destination's ports start in the filter ([`HeldPorts::base`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct HeldBase(u32);

impl HeldPorts {
    /// A filter for a table of `capacity` entries, its slots drawn from `seed`.
    pub(super) fn new(capacity: usize, seed: u64) -> Self {
        let slots = (capacity / ENTRIES_PER_SLOT).next_power_of_two().clamp(64, 1 << 24);
        HeldPorts { counts: vec![0; slots], mask: (slots - 1) as u32, seed }
    }

    /// Where the ports towards (`proto`, `daddr`:`dport`) from `laddr` start.
    #[inline]
    pub(super) fn base<K: AddrKey>(&self, proto: u8, daddr: K, dport: u16, laddr: K) -> HeldBase {
        let k = K::pair(daddr, laddr) ^ self.seed;
        let h = k.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (u64::from(dport) << 8 | u64::from(proto)).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        HeldBase(((h ^ (h >> 29)) >> 32) as u32)
    }

    #[inline]
    fn slot(&self, base: HeldBase, lport: u16) -> usize {
        (base.0.wrapping_add(u32::from(lport)) & self.mask) as usize
    }

    /// True when no counted key of `base` holds `lport` (false: it may).
    #[inline]
    pub(super) fn surely_free(&self, base: HeldBase, lport: u16) -> bool {
        self.counts[self.slot(base, lport)] == 0
    }

    /// A key of `base` and `lport` taken (`+1`) or given back (`-1`).
    #[inline]
    pub(super) fn hold(&mut self, base: HeldBase, lport: u16, delta: i32) {
        let i = self.slot(base, lport);
        let c = &mut self.counts[i];
        if delta > 0 {
            *c = c.saturating_add(1);
        } else if *c != STUCK {
            debug_assert!(*c > 0, "a key given back that was never counted");
            *c = c.saturating_sub(1);
        }
    }

    /// Bytes allocated.
    pub(super) fn memory_bytes(&self) -> usize {
        self.counts.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_key_is_never_surely_free_and_counts_go_back_to_zero() {
        let mut f = HeldPorts::new(256, 7);
        let b = f.base(6, 0x0a00_0001u32, 80, 0xc0a8_0001u32);
        assert!(f.surely_free(b, 1000));
        for _ in 0..3 {
            f.hold(b, 1000, 1);
        }
        assert!(!f.surely_free(b, 1000));
        for _ in 0..3 {
            f.hold(b, 1000, -1);
        }
        assert!(f.surely_free(b, 1000), "every hold given back");
    }

    #[test]
    fn a_saturated_count_stays_held() {
        let mut f = HeldPorts::new(64, 1);
        let b = f.base(17, 1u32, 53, 2u32);
        for _ in 0..300 {
            f.hold(b, 9, 1);
        }
        for _ in 0..300 {
            f.hold(b, 9, -1);
        }
        assert!(!f.surely_free(b, 9), "a count that reached 255 is settled by the index from then on");
    }
}
