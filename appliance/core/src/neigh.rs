//! Neighbours (ARP, RFC 826; NDP, RFC 4861 §7): the shared tables that map on-link next hops
//! to MACs, one per address family ([`NeighbourTable`] of `u32` or `u128` keys).
//!
//! One writer — the daemon's control thread, through [`crate::neigh_cache::NeighbourCache`],
//! which decides what gets a place — learns entries from ARP traffic the workers see (the
//! pipeline reports every ARP sender, and every NDP solicitor or advertised target, on a
//! connected network as a [`Learned`] event) and ages them; every worker reads the table on its
//! forwarding path without locks (a sequence lock:
//! a reader retries in the rare case the writer changed the table under it). Static entries from
//! the configuration live in the [`crate::Snapshot`] and win over learned ones.
//!
//! A packet whose next hop is not known yet is not dropped: the pipeline returns
//! [`crate::Verdict::Pending`], and the worker holds it (a bounded number per next hop) while it
//! asks with an ARP request or a neighbour solicitation, then sends it once the answer is in
//! the table.

use crate::family::AddrKey;
use crate::seqlock::SeqLock;
use crate::wire::Mac;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// A neighbour seen by a worker: `ip` is at `mac` behind `port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learned {
    /// The neighbour's address.
    pub ip: IpAddr,
    /// Its MAC.
    pub mac: Mac,
    /// The port it was seen on.
    pub port: u16,
    /// It came in an answer (an ARP reply, a neighbour advertisement), not in a request or a
    /// solicitation any host on the link can send from any address (RFC 4861 §7.2.3 creates
    /// such entries STALE; [`crate::neigh_cache`] bounds them).
    pub answer: bool,
}

/// Default capacity (entries).
pub const DEFAULT_CAPACITY: usize = 4096;

/// An address key the table can hold in atomics (0, the unspecified address, marks a free slot).
pub trait NeighKey: AddrKey {
    /// Its atomic cell.
    type Cell: Send + Sync + std::fmt::Debug;
    /// A free cell.
    fn empty() -> Self::Cell;
    /// Reads a cell (inside the sequence lock).
    fn load(c: &Self::Cell) -> Self;
    /// Writes a cell (inside the sequence lock).
    fn store(c: &Self::Cell, v: Self);
}

impl NeighKey for u32 {
    type Cell = AtomicU32;
    fn empty() -> AtomicU32 {
        AtomicU32::new(0)
    }
    #[inline(always)]
    fn load(c: &AtomicU32) -> u32 {
        c.load(Ordering::Relaxed)
    }
    #[inline(always)]
    fn store(c: &AtomicU32, v: u32) {
        c.store(v, Ordering::Relaxed);
    }
}

impl NeighKey for u128 {
    type Cell = [AtomicU64; 2];
    fn empty() -> [AtomicU64; 2] {
        [AtomicU64::new(0), AtomicU64::new(0)]
    }
    #[inline(always)]
    fn load(c: &[AtomicU64; 2]) -> u128 {
        u128::from(c[0].load(Ordering::Relaxed)) << 64 | u128::from(c[1].load(Ordering::Relaxed))
    }
    #[inline(always)]
    fn store(c: &[AtomicU64; 2], v: u128) {
        c[0].store((v >> 64) as u64, Ordering::Relaxed);
        c[1].store(v as u64, Ordering::Relaxed);
    }
}

/// The shared neighbour table of one family (open addressing, linear probing, fixed capacity).
#[derive(Debug)]
pub struct NeighbourTable<K: NeighKey = u32> {
    lock: SeqLock,
    ips: Vec<K::Cell>,
    /// MAC in the low 48 bits; bits 48..63 hold the second (mod 2^16) it was confirmed.
    macs: Vec<AtomicU64>,
    mask: usize,
    cap: usize,
    /// Entries held (written by the writer only).
    count: AtomicUsize,
}

#[inline]
fn slot_of<K: AddrKey>(ip: K, mask: usize) -> usize {
    (ip.fold32().wrapping_mul(0x9E37_79B1) >> 8) as usize & mask
}

fn pack(mac: Mac, now: u32) -> u64 {
    let m = mac.0;
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]]) | u64::from(now as u16) << 48
}

fn unpack(v: u64) -> Mac {
    let b = v.to_be_bytes();
    Mac([b[2], b[3], b[4], b[5], b[6], b[7]])
}

impl<K: NeighKey> NeighbourTable<K> {
    /// A table for up to `capacity` neighbours.
    pub fn new(capacity: usize) -> Self {
        let size = (capacity.max(8) * 2).next_power_of_two();
        NeighbourTable {
            lock: SeqLock::new(),
            ips: (0..size).map(|_| K::empty()).collect(),
            macs: (0..size).map(|_| AtomicU64::new(0)).collect(),
            mask: size - 1,
            cap: capacity.max(8),
            count: AtomicUsize::new(0),
        }
    }

    /// The MAC of `ip`, if known. Lock-free; never blocks the caller for long.
    #[inline]
    pub fn lookup(&self, ip: K::Addr) -> Option<Mac> {
        let key = K::of(ip);
        if key == K::default() {
            return None;
        }
        self.lock.read(|| {
            let mut i = slot_of(key, self.mask);
            for _ in 0..=self.mask {
                let k = K::load(&self.ips[i]);
                if k == K::default() {
                    return None;
                }
                if k == key {
                    return Some(unpack(self.macs[i].load(Ordering::Relaxed)));
                }
                i = (i + 1) & self.mask;
            }
            None
        })
    }

    /// Records `ip` at `mac`, confirmed at second `now` (writer only). `false` if full.
    pub fn learn(&self, ip: K::Addr, mac: Mac, now: u32) -> bool {
        let key = K::of(ip);
        if key == K::default() {
            return false;
        }
        let mut i = slot_of(key, self.mask);
        for _ in 0..=self.mask {
            let k = K::load(&self.ips[i]);
            if k == key || k == K::default() {
                if k == K::default() {
                    if self.len() >= self.cap {
                        return false;
                    }
                    self.count.fetch_add(1, Ordering::Relaxed);
                }
                self.lock.write(|| {
                    self.macs[i].store(pack(mac, now), Ordering::Relaxed);
                    K::store(&self.ips[i], key);
                });
                return true;
            }
            i = (i + 1) & self.mask;
        }
        false
    }

    /// Most entries it holds.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry with the age (seconds, mod 2^16) at `now` (control path).
    pub fn entries(&self, now: u32) -> Vec<(K::Addr, Mac, u32)> {
        self.ips
            .iter()
            .zip(self.macs.iter())
            .filter_map(|(k, m)| {
                let k = K::load(k);
                (k != K::default()).then(|| {
                    let v = m.load(Ordering::Relaxed);
                    let age = (now as u16).wrapping_sub((v >> 48) as u16);
                    (k.addr(), unpack(v), u32::from(age))
                })
            })
            .collect()
    }

    /// Removes entries not confirmed for more than `max_age` seconds (writer only): rebuilds the
    /// probe chains so lookups stay correct. Returns the addresses that went.
    pub fn age(&self, now: u32, max_age: u32) -> Vec<K::Addr> {
        let age_of = |v: u64| u32::from((now as u16).wrapping_sub((v >> 48) as u16));
        let mut gone = Vec::new();
        let keep: Vec<(K, u64)> = self
            .ips
            .iter()
            .zip(self.macs.iter())
            .filter_map(|(k, m)| {
                let k = K::load(k);
                let v = m.load(Ordering::Relaxed);
                if k != K::default() && age_of(v) > max_age {
                    gone.push(k.addr());
                }
                (k != K::default() && age_of(v) <= max_age).then_some((k, v))
            })
            .collect();
        if gone.is_empty() {
            return gone;
        }
        self.lock.write(|| {
            for k in &self.ips {
                K::store(k, K::default());
            }
            for (key, v) in &keep {
                let mut i = slot_of(*key, self.mask);
                while K::load(&self.ips[i]) != K::default() {
                    i = (i + 1) & self.mask;
                }
                self.macs[i].store(*v, Ordering::Relaxed);
                K::store(&self.ips[i], *key);
            }
        });
        self.count.store(keep.len(), Ordering::Relaxed);
        gone
    }

    /// Removes `ip` (writer only): the entries after it in its probe run move back (backward
    /// shift), so every other entry stays findable without tombstones. False if it was absent.
    pub fn remove(&self, ip: K::Addr) -> bool {
        let key = K::of(ip);
        let mut i = slot_of(key, self.mask);
        loop {
            let k = K::load(&self.ips[i]);
            if k == K::default() || key == K::default() {
                return false;
            }
            if k == key {
                break;
            }
            i = (i + 1) & self.mask;
        }
        self.lock.write(|| {
            let mut hole = i;
            let mut j = i;
            loop {
                j = (j + 1) & self.mask;
                let k = K::load(&self.ips[j]);
                if k == K::default() {
                    break;
                }
                // `k` may fill the hole unless its home slot lies cyclically in (hole, j].
                let home = slot_of(k, self.mask);
                let stays = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
                if !stays {
                    self.macs[hole].store(self.macs[j].load(Ordering::Relaxed), Ordering::Relaxed);
                    K::store(&self.ips[hole], k);
                    hole = j;
                }
            }
            K::store(&self.ips[hole], K::default());
        });
        self.count.fetch_sub(1, Ordering::Relaxed);
        true
    }
}

impl<K: NeighKey> Default for NeighbourTable<K> {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u32) -> Ipv4Addr {
        Ipv4Addr::from(0xC612_0000 + n)
    }

    #[test]
    fn learn_lookup_update_and_age() {
        let t = NeighbourTable::<u32>::new(64);
        assert_eq!(t.lookup(ip(1)), None);
        assert!(t.learn(ip(1), Mac([2, 0, 0, 0, 0, 1]), 100));
        assert!(t.learn(ip(2), Mac([2, 0, 0, 0, 0, 2]), 150));
        assert_eq!(t.lookup(ip(1)), Some(Mac([2, 0, 0, 0, 0, 1])));
        assert!(t.learn(ip(1), Mac([2, 0, 0, 0, 0, 9]), 160), "a new MAC replaces the old");
        assert_eq!(t.lookup(ip(1)), Some(Mac([2, 0, 0, 0, 0, 9])));
        assert_eq!(t.len(), 2);
        assert!(t.age(400, 300).is_empty(), "both confirmed within 300 s");
        assert_eq!(t.age(455, 300), vec![ip(2)], "ip(2) last confirmed at 150");
        assert_eq!(t.lookup(ip(2)), None);
        assert_eq!(t.lookup(ip(1)), Some(Mac([2, 0, 0, 0, 0, 9])));
    }

    #[test]
    fn many_entries_and_colliding_probes_stay_findable_after_aging() {
        let t = NeighbourTable::<u32>::new(256);
        for n in 1..=256u32 {
            assert!(t.learn(
                ip(n * 4096),
                Mac([2, 0, 0, 0, (n >> 8) as u8, n as u8]),
                if n % 2 == 0 { 10 } else { 500 }
            ));
        }
        assert!(!t.learn(ip(1), Mac([2; 6]), 10), "full: a new entry is refused");
        assert!(t.learn(ip(4096), Mac([2; 6]), 500), "an existing one can still be updated");
        assert_eq!(t.age(500, 100).len(), 128);
        for n in 1..=256u32 {
            assert_eq!(t.lookup(ip(n * 4096)).is_some(), n % 2 == 1, "entry {n}");
        }
    }

    #[test]
    fn removal_keeps_every_other_entry_of_a_probe_run_findable() {
        // Keys that share home slots and wrap around the end of the table.
        let t = NeighbourTable::<u32>::new(8);
        let keys: Vec<u32> = (1..=600u32).filter(|&n| slot_of(0xC612_0000 + n, t.mask) >= t.mask - 1).take(6).collect();
        for &n in &keys {
            assert!(t.learn(ip(n), Mac([2, 0, 0, 0, 0, n as u8]), 1));
        }
        for (gone, &n) in keys.iter().enumerate() {
            assert!(t.remove(ip(n)));
            assert!(!t.remove(ip(n)), "already gone");
            assert_eq!(t.len(), keys.len() - gone - 1);
            for &m in &keys[gone + 1..] {
                assert_eq!(t.lookup(ip(m)), Some(Mac([2, 0, 0, 0, 0, m as u8])), "{m} after removing {n}");
            }
        }
    }

    #[test]
    fn readers_never_see_a_half_written_entry() {
        use std::sync::Arc;
        let t = Arc::new(NeighbourTable::<u32>::new(64));
        let w = Arc::clone(&t);
        let writer = std::thread::spawn(move || {
            for i in 0..20_000u32 {
                let b = (i % 250) as u8;
                w.learn(ip(7), Mac([b, b, b, b, b, b]), i);
            }
        });
        while !writer.is_finished() {
            if let Some(m) = t.lookup(ip(7)) {
                assert!(m.0.iter().all(|&x| x == m.0[0]), "torn MAC {m}");
            }
        }
        writer.join().unwrap();
    }
}
