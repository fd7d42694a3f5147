//! New NAT and FULLNAT connections filed in the reply-side index a burst at a time.
//!
//! A new connection's reply-side bucket is known only once the scheduler has picked the real
//! server, and on a large table it is a cache miss; filing it means reading that line (for a
//! free slot), so each new connection would wait for its own miss in turn. Instead the table
//! queues the entry ([`ConnTable::insert_deferring_reply`]) and the worker files the whole
//! burst's queue at its end ([`ConnTable::file_deferred`]): every bucket prefetched first,
//! then every entry filed, so the burst's misses overlap (DPDK's `rte_hash` bulk insert, the
//! "schedule, prefetch, insert" split).
//!
//! Nothing depends on when the queue is filed: a queued entry is found by
//! [`ConnTable::lookup_reply`] (a scan of the queue after the index misses), a removal or a
//! rebind takes it off the queue, and a full queue is filed at once.

use super::entry::Conn;
use super::table::{ConnTable, TableFull};
use crate::family::AddrKey;

/// Entries a table queues before it files them without waiting for the burst's end.
pub const DEFERRED_MAX: usize = 32;

/// The queue: entries and their reply-side hashes.
#[derive(Debug, Clone, Copy)]
pub struct DeferredReplies {
    idx: [u32; DEFERRED_MAX],
    hash: [u64; DEFERRED_MAX],
    len: usize,
}

impl DeferredReplies {
    /// Entries queued.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when none is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for DeferredReplies {
    fn default() -> Self {
        DeferredReplies { idx: [0; DEFERRED_MAX], hash: [0; DEFERRED_MAX], len: 0 }
    }
}

impl<K: AddrKey> ConnTable<K> {
    /// [`ConnTable::insert_hashed`], but a NAT or FULLNAT connection's reply key is queued for
    /// the reply-side index rather than filed in it: [`ConnTable::file_deferred`] files it.
    /// (FULLNAT's local-port search rarely reads that bucket: [`super::held_ports`].)
    pub fn insert_deferring_reply(&mut self, c: Conn<K>, client_hash: u64) -> Result<u32, TableFull> {
        self.insert_entry(c, client_hash, true)
    }

    /// Files every queued connection in the reply-side index: their buckets handed to
    /// `prefetch` first, then each filed.
    pub fn file_deferred(&mut self, prefetch: impl Fn(*const u8)) {
        let q = self.deferred;
        if q.len == 0 {
            return;
        }
        for &h in &q.hash[..q.len] {
            prefetch(std::ptr::from_ref(self.r_index.bucket(h)).cast());
        }
        self.deferred.len = 0;
        for (&i, &h) in q.idx[..q.len].iter().zip(&q.hash[..q.len]) {
            self.r_index.insert(h, i, &mut self.entries, super::table::reply_link);
        }
    }

    /// Connections queued for the reply-side index.
    pub fn deferred_len(&self) -> usize {
        self.deferred.len
    }

    /// Queues entry `idx` (reply hash `hash`), filing the queue first when it is full.
    pub(super) fn defer_reply(&mut self, idx: u32, hash: u64) {
        if self.deferred.len == DEFERRED_MAX {
            self.file_deferred(|_| {});
        }
        let q = &mut self.deferred;
        (q.idx[q.len], q.hash[q.len]) = (idx, hash);
        q.len += 1;
    }

    /// The queued connection whose reply key is this, if any.
    #[inline]
    pub(super) fn find_deferred(&self, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> Option<u32> {
        let q = &self.deferred;
        q.idx[..q.len].iter().copied().find(|&i| {
            let e = &self.entries[i as usize];
            e.daddr == src && e.laddr == dst && e.dport == sport && e.lport == dport && e.proto == proto
        })
    }

    /// Takes entry `idx` off the queue; false when it was not on it.
    pub(super) fn undefer(&mut self, idx: u32) -> bool {
        let q = &mut self.deferred;
        let Some(k) = q.idx[..q.len].iter().position(|&i| i == idx) else {
            return false;
        };
        q.len -= 1;
        (q.idx[k], q.hash[k]) = (q.idx[q.len], q.hash[q.len]);
        true
    }
}
