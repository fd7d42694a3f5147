//! A per-core connection table of fixed capacity: a slab of entries ([`super::entry`]), two
//! hash indexes of signature buckets ([`super::sig_index`]), a timer wheel (`wheel.rs`) and
//! the FIFO of young entries (`young.rs`), all allocated once at start-up. The indexes' chains,
//! the wheel and the FIFO are links through the same slab, so every operation (insert, remove,
//! expire, rebind) keeps all of them consistent at once; each lives in its own file as another
//! `impl ConnTable`.
//!
//! - The *client-side* index finds a connection from a client's packet
//!   (proto, CIP, cport, VIP, vport); the *reply-side* index finds a NAT or FULLNAT connection
//!   from the real server's reply (proto, RIP, rport, LIP, lport: the client itself for NAT).
//!   Both are O(1) on average.
//! - FULLNAT's local ports are handed out here ([`ConnTable::take_lport`]), free by the
//!   reply-side index (asked only when a counting filter of the held keys cannot tell:
//!   [`super::held_ports`]), and counted per local address ([`super::local_addrs`]).
//! - A full table refuses the insert ([`TableFull`]); the pipeline may then make room by
//!   evicting an *embryonic* entry ([`Conn::is_embryonic`]), the oldest one first.
//!
//! Hash keys are mixed with a per-table seed so that clients cannot aim at one bucket without
//! knowing it.

use super::entry::{initial_flags, Conn, FREE, NIL, OFF_QUEUE};
use super::held_ports::HeldPorts;
use super::local_addrs::{LocalAddrUses, MAX_PORT_TRIES};
use super::reply_defer::DeferredReplies;
use super::sig_index::{Bucket, SigIndex};
use super::state::ConnState;
use super::wheel::{SLOT_HEAD, WHEEL_SLOTS};
use crate::family::AddrKey;
use crate::service::Forward;

/// Ports the local-port search first asks only the held-key filter about: a few slots of one
/// line, so that the reply-side index is asked only when all of them may be held.
const SURE_TRIES: u32 = 8;

/// Most entries a table holds: every index must stay below the link sentinels.
const MAX_CAPACITY: usize = SLOT_HEAD as usize;

/// The table is at capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

/// Fixed-capacity connection table of one address family (`K`: [`AddrKey`]).
#[derive(Debug)]
pub struct ConnTable<K = u32> {
    pub(super) entries: Vec<Conn<K>>,
    /// First free entry; free entries are linked through `timer_next`.
    pub(super) free_head: u32,
    pub(super) len: usize,
    /// Client-side index: (proto, CIP, cport, VIP, vport) -> entry.
    pub(super) c_index: SigIndex,
    /// Reply-side index: (proto, RIP, rport, LIP, lport) -> entry (NAT and FULLNAT only).
    pub(super) r_index: SigIndex,
    pub(super) seed: u64,
    pub(super) wheel: Vec<u32>,
    pub(super) wheel_mask: u32,
    /// Last second whose slot was fully processed.
    pub(super) wheel_done: u32,
    /// The FIFO of young entries: head (oldest) and tail; links in the entries.
    pub(super) young_head: u32,
    pub(super) young_tail: u32,
    /// FULLNAT's local addresses: ports held, exhaustion, search cursors.
    pub(super) laddrs: LocalAddrUses<K>,
    /// FULLNAT's and SNAT's held reply keys, counted for the port search.
    held: HeldPorts,
    /// New connections waiting to be filed in the reply-side index.
    pub(super) deferred: DeferredReplies,
}

#[inline]
fn mix<K: AddrKey>(proto: u8, a: K, ap: u16, b: K, bp: u16, seed: u64) -> u64 {
    let k1 = K::pair(a, b) ^ seed;
    let k2 = u64::from(ap) << 32 | u64::from(bp) << 16 | u64::from(proto);
    let mut h = k1.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k2.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 31;
    h = h.wrapping_mul(0x1656_67B1_9E37_79F9);
    h ^ (h >> 29)
}

/// Entry `e`'s hash in the client-side index of a table seeded `seed` ([`ConnTable::client_hash`]).
#[inline]
fn client_key_hash<K: AddrKey>(e: &Conn<K>, seed: u64) -> u64 {
    mix(e.proto, e.caddr, e.cport, e.vaddr, e.vport, seed)
}

/// Entry `e`'s hash in the reply-side index of a table seeded `seed` ([`ConnTable::reply_hash`]).
#[inline]
pub(super) fn reply_key_hash<K: AddrKey>(e: &Conn<K>, seed: u64) -> u64 {
    mix(e.proto, e.daddr, e.dport, e.laddr, e.lport, !seed)
}

/// The client-side index's overflow link in an entry.
fn client_link<K>(e: &mut Conn<K>) -> &mut u32 {
    &mut e.next_c
}

/// The reply-side index's overflow link in an entry.
pub(super) fn reply_link<K>(e: &mut Conn<K>) -> &mut u32 {
    &mut e.next_r
}

impl<K: AddrKey> ConnTable<K> {
    /// A table for `capacity` connections, with hash seed `seed`, whose clock starts at
    /// second `now`. Allocates everything it will ever use.
    pub fn new(capacity: usize, seed: u64, now: u32) -> Self {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        let proto = Conn::new(0, K::default(), 0, K::default(), 0, K::default(), 0, Forward::Nat, 0, 0);
        let entries = (0..capacity)
            .map(|i| Conn { timer_next: if i + 1 < capacity { (i + 1) as u32 } else { NIL }, ..proto })
            .collect();
        ConnTable {
            entries,
            free_head: 0,
            len: 0,
            c_index: SigIndex::new(capacity),
            r_index: SigIndex::new(capacity),
            seed,
            wheel: vec![NIL; WHEEL_SLOTS as usize],
            wheel_mask: WHEEL_SLOTS - 1,
            wheel_done: now,
            young_head: NIL,
            young_tail: NIL,
            laddrs: LocalAddrUses::default(),
            held: HeldPorts::new(capacity, seed.rotate_left(17) ^ 0x5851_F42D_4C95_7F2D),
            deferred: DeferredReplies::default(),
        }
    }

    /// The table, with FULLNAT's and SNAT's local-port searches starting at points drawn from
    /// `seed` (random per rvsd start: RFC 6056 §3.3) instead of each share's first port.
    /// Before any connection is held.
    pub fn with_local_port_seed(mut self, seed: u64) -> Self {
        self.laddrs.set_seed(seed);
        self
    }

    /// Connections held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most connections it can hold.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Bytes the table holds allocated: entries (with their links), both hash indexes and the
    /// timer wheel (all sized at creation, so this never changes).
    pub fn memory_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Conn<K>>()
            + self.c_index.memory_bytes()
            + self.r_index.memory_bytes()
            + self.wheel.capacity() * 4
            + self.held.memory_bytes()
    }

    /// The hash of a client's packet (src=CIP:cport, dst=VIP:vport) in the client-side index:
    /// computed once per packet (by the parse) and carried to [`ConnTable::lookup_client_hashed`].
    #[inline]
    pub fn client_hash(&self, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> u64 {
        mix(proto, src, sport, dst, dport, self.seed)
    }

    /// The hash of a real server's reply (src=RIP:rport, dst=LIP:lport, the client's own
    /// address and port for NAT) in the reply-side index, for [`ConnTable::lookup_reply_hashed`].
    #[inline]
    pub fn reply_hash(&self, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> u64 {
        mix(proto, src, sport, dst, dport, !self.seed)
    }

    /// The client-side index bucket of a packet whose [`ConnTable::client_hash`] is `hash` (the
    /// look-ahead's first stage, [`crate::Pipeline::lookahead`]).
    #[inline]
    pub fn client_bucket_ref(&self, hash: u64) -> &Bucket {
        self.c_index.bucket(hash)
    }

    /// The reply-side index bucket of a packet whose [`ConnTable::reply_hash`] is `hash`.
    #[inline]
    pub fn reply_bucket_ref(&self, hash: u64) -> &Bucket {
        self.r_index.bucket(hash)
    }

    /// The entry a hit of hash `hash` in `bucket` most likely is: the first slot signed alike
    /// (the look-ahead's second stage).
    #[inline]
    pub fn entry_ref(&self, bucket: &Bucket, hash: u64) -> Option<&Conn<K>> {
        self.entries.get(bucket.first_signed(super::sig_index::signature(hash))? as usize)
    }

    /// The connection a client's packet (src=CIP:cport, dst=VIP:vport) belongs to.
    #[inline]
    pub fn lookup_client(&self, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> Option<u32> {
        self.lookup_client_hashed(self.client_hash(proto, src, sport, dst, dport), proto, src, sport, dst, dport)
    }

    /// [`ConnTable::lookup_client`] with the packet's [`ConnTable::client_hash`] already known.
    #[inline]
    #[allow(clippy::too_many_arguments)] // the flow key's fields and its hash
    pub fn lookup_client_hashed(&self, hash: u64, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> Option<u32> {
        let hit = |i: u32| {
            let e = &self.entries[i as usize];
            e.caddr == src && e.vaddr == dst && e.cport == sport && e.vport == dport && e.proto == proto
        };
        self.c_index.find(hash, hit, |i| self.entries[i as usize].next_c)
    }

    /// The NAT or FULLNAT connection a real server's reply (src=RIP:rport, dst=LIP:lport)
    /// belongs to.
    #[inline]
    pub fn lookup_reply(&self, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> Option<u32> {
        self.lookup_reply_hashed(self.reply_hash(proto, src, sport, dst, dport), proto, src, sport, dst, dport)
    }

    /// [`ConnTable::lookup_reply`] with the packet's [`ConnTable::reply_hash`] already known.
    #[inline]
    #[allow(clippy::too_many_arguments)] // the flow key's fields and its hash
    pub fn lookup_reply_hashed(&self, hash: u64, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> Option<u32> {
        let hit = |i: u32| {
            let e = &self.entries[i as usize];
            e.daddr == src && e.laddr == dst && e.dport == sport && e.lport == dport && e.proto == proto
        };
        self.r_index.find(hash, hit, |i| self.entries[i as usize].next_r).or_else(|| {
            (!self.deferred.is_empty()).then(|| self.find_deferred(proto, src, sport, dst, dport)).flatten()
        })
    }

    /// Adds a connection expiring at `c.expires`; returns its index.
    pub fn insert(&mut self, c: Conn<K>) -> Result<u32, TableFull> {
        self.insert_hashed(c, client_key_hash(&c, self.seed))
    }

    /// [`ConnTable::insert`] with the connection's [`ConnTable::client_hash`] already known
    /// (the packet's parse computed it).
    pub fn insert_hashed(&mut self, c: Conn<K>, client_hash: u64) -> Result<u32, TableFull> {
        self.insert_entry(c, client_hash, false)
    }

    /// Inserts; the reply key filed now or, with `defer`, queued ([`super::reply_defer`]).
    pub(super) fn insert_entry(&mut self, mut c: Conn<K>, client_hash: u64, defer: bool) -> Result<u32, TableFull> {
        let idx = self.free_head;
        if idx == NIL {
            return Err(TableFull);
        }
        self.free_head = self.entries[idx as usize].timer_next;
        (c.next_c, c.next_r) = (NIL, NIL);
        (c.young_prev, c.young_next) = (OFF_QUEUE, NIL);
        self.entries[idx as usize] = c;
        self.c_index.insert(client_hash, idx, &mut self.entries, client_link);
        if c.has_reply_key() {
            if defer {
                self.defer_reply(idx, reply_key_hash(&c, self.seed));
            } else {
                self.link_reply(idx);
            }
        }
        if c.is_fullnat() {
            self.hold_lport(&c, 1);
        }
        self.timer_link(idx);
        if c.is_embryonic() {
            self.young_push(idx);
        }
        self.len += 1;
        Ok(idx)
    }

    /// The connection at `idx`.
    #[inline]
    pub fn get(&self, idx: u32) -> &Conn<K> {
        &self.entries[idx as usize]
    }

    /// True when `idx` holds a connection (not a free entry).
    pub fn is_live(&self, idx: u32) -> bool {
        self.entries.get(idx as usize).is_some_and(|e| e.timer_prev != FREE)
    }

    /// The connection at `idx`, writable. Changing key fields through this breaks the
    /// indexes; use [`ConnTable::rebind`] to move a connection to another real server.
    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut Conn<K> {
        &mut self.entries[idx as usize]
    }

    /// Moves a connection to another real server (IPVS reuses a TIME_WAIT connection for a
    /// new SYN), which sees it coming from `(laddr, lport)` (the client's own for all but
    /// FULLNAT, whose local port the caller took): re-keys the reply index and resets state,
    /// flags and counters. It is young again: back in the eviction FIFO until it proves a live
    /// peer anew.
    pub fn rebind(&mut self, idx: u32, daddr: K, dport: u16, forward: Forward, dest: u16, (laddr, lport): (K, u16)) {
        let old = self.entries[idx as usize];
        if old.has_reply_key() {
            self.unlink_reply(idx);
        }
        if old.is_fullnat() {
            self.hold_lport(&old, -1);
        }
        let new = {
            let e = &mut self.entries[idx as usize];
            e.daddr = daddr;
            e.dport = dport;
            e.forward = forward;
            e.dest = dest;
            (e.laddr, e.lport) = (laddr, lport);
            e.state = ConnState::None;
            e.flags = initial_flags(forward); // F_PERSIST cleared: the caller re-pins
            e.pkts_in = 0;
            *e
        };
        if new.has_reply_key() {
            self.link_reply(idx);
        }
        if new.is_fullnat() {
            self.hold_lport(&new, 1);
        }
        if self.entries[idx as usize].young_prev == OFF_QUEUE {
            self.young_push(idx);
        }
    }

    /// Files entry `idx` in the reply-side index by its reply key.
    fn link_reply(&mut self, idx: u32) {
        let hash = reply_key_hash(&self.entries[idx as usize], self.seed);
        self.r_index.insert(hash, idx, &mut self.entries, reply_link);
    }

    pub(super) fn unlink_client(&mut self, idx: u32) {
        let seed = self.seed;
        let hash = client_key_hash(&self.entries[idx as usize], seed);
        self.c_index.remove(hash, idx, &mut self.entries, client_link, |e| client_key_hash(e, seed));
    }

    pub(super) fn unlink_reply(&mut self, idx: u32) {
        if !self.deferred.is_empty() && self.undefer(idx) {
            return;
        }
        let seed = self.seed;
        let hash = reply_key_hash(&self.entries[idx as usize], seed);
        self.r_index.remove(hash, idx, &mut self.entries, reply_link, |e| reply_key_hash(e, seed));
    }

    /// Returns entry `idx` to the free list (a FULLNAT connection's local port with it).
    pub(super) fn free(&mut self, idx: u32) {
        let old = self.entries[idx as usize];
        if old.is_fullnat() {
            self.hold_lport(&old, -1);
        }
        let e = &mut self.entries[idx as usize];
        e.timer_prev = FREE;
        e.timer_next = self.free_head;
        self.free_head = idx;
        self.len -= 1;
    }

    /// Removes the connection at `idx` and returns it.
    pub fn remove(&mut self, idx: u32) -> Conn<K> {
        let c = self.entries[idx as usize];
        self.unlink_client(idx);
        if c.has_reply_key() {
            self.unlink_reply(idx);
        }
        self.timer_unlink(idx);
        self.young_unlink(idx);
        self.free(idx);
        c
    }

    /// A free local port of `laddr` for a new connection (`proto`) to `daddr:dport`, from
    /// this core's share of the range (`first` and every `stride`-th port after it, `count`
    /// ports), one that no connection here holds towards that real server: the first of the
    /// next [`SURE_TRIES`] ports from the address's cursor that the held-key filter proves free
    /// ([`super::held_ports`]), else the first the reply-side index finds free. At most
    /// [`MAX_PORT_TRIES`] ports are tried; `None` (counted as exhausted for the address) when
    /// none was free, or when the address has no row left.
    #[allow(clippy::too_many_arguments)] // the connection's reply key and the share
    pub fn take_lport(
        &mut self,
        proto: u8,
        daddr: K,
        dport: u16,
        laddr: K,
        share: (u16, u32),
        stride: u16,
    ) -> Option<u16> {
        let base = self.held.base(proto, daddr, dport, laddr);
        let start = self.laddrs.row(laddr)?.cursor;
        let sure = self.scan_ports(start, share, stride, SURE_TRIES, |t, port| t.held.surely_free(base, port));
        if sure.is_ok() {
            return self.settle_scan(laddr, sure);
        }
        self.take_port_if(laddr, share, stride, |t, port| {
            t.held.surely_free(base, port) || t.lookup_reply(proto, daddr, dport, laddr, port).is_none()
        })
    }

    /// [`ConnTable::take_lport`] with the test of a free port given: the first port of the
    /// share from `laddr`'s cursor that `free` accepts (SNAT's endpoint-independent mappings
    /// want a port no mapping holds).
    pub fn take_port_if(
        &mut self,
        laddr: K,
        share: (u16, u32),
        stride: u16,
        free: impl Fn(&Self, u16) -> bool,
    ) -> Option<u16> {
        let start = self.laddrs.row(laddr)?.cursor;
        let found = self.scan_ports(start, share, stride, MAX_PORT_TRIES, free);
        self.settle_scan(laddr, found)
    }

    /// The outcome of a [`ConnTable::scan_ports`] for `laddr`: its cursor moved past the ports
    /// tried, and the port found; when none was, the address counted as exhausted.
    fn settle_scan(&mut self, laddr: K, found: Result<(u16, u32), Option<u32>>) -> Option<u16> {
        let row = self.laddrs.row(laddr)?;
        match found {
            Ok((port, next)) => {
                row.cursor = next;
                Some(port)
            }
            Err(Some(next)) => {
                row.cursor = next;
                row.exhausted += 1;
                None
            }
            Err(None) => None,
        }
    }

    /// The first of at most `tries` ports of the share from cursor `start` that `free`
    /// accepts, with the cursor past it; else the cursor past the ports tried (`None`: the
    /// share is empty).
    fn scan_ports(
        &self,
        start: u32,
        (first, count): (u16, u32),
        stride: u16,
        tries: u32,
        free: impl Fn(&Self, u16) -> bool,
    ) -> Result<(u16, u32), Option<u32>> {
        if count == 0 {
            return Err(None);
        }
        let mut k = start % count;
        for _ in 0..count.min(tries) {
            let port = (u32::from(first) + k * u32::from(stride.max(1))) as u16;
            k = if k + 1 == count { 0 } else { k + 1 };
            if free(self, port) {
                return Ok((port, k));
            }
        }
        Err(Some(k))
    }

    /// Counts FULLNAT connection `c`'s local port taken (`+1`) or given back (`-1`): per local
    /// address, and its reply key in the port search's filter.
    fn hold_lport(&mut self, c: &Conn<K>, delta: i32) {
        let base = self.held.base(c.proto, c.daddr, c.dport, c.laddr);
        self.held.hold(base, c.lport, delta);
        if let Some(r) = self.laddrs.row(c.laddr) {
            r.in_use = r.in_use.saturating_add_signed(delta);
        }
    }

    /// FULLNAT's local addresses as this table has used them.
    pub fn local_addrs(&self) -> &super::local_addrs::LocalAddrUses<K> {
        &self.laddrs
    }

    /// Forgets the local addresses `keep` refuses once their ports are all back.
    pub fn compact_local_addrs(&mut self, keep: impl Fn(K) -> bool) {
        self.laddrs.compact(keep);
    }

    /// Copies the live connections of slots `from..` into `out`, scanning at most `max_slots`
    /// slots and never past `out`'s capacity (so it never allocates); returns the slot to go
    /// on from, or `None` when the table has been walked to its end. For listings taken a
    /// bounded piece at a time at burst boundaries.
    pub fn copy_live(&self, from: u32, max_slots: usize, out: &mut Vec<Conn<K>>) -> Option<u32> {
        let end = (from as usize).saturating_add(max_slots).min(self.entries.len());
        for i in from as usize..end {
            if self.entries[i].timer_prev != FREE {
                if out.len() == out.capacity() {
                    return Some(i as u32);
                }
                out.push(self.entries[i]);
            }
        }
        (end < self.entries.len()).then_some(end as u32)
    }

    /// Every live connection, for listings (`ipvsadm -L -c`); control path only.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Conn<K>)> {
        self.entries.iter().enumerate().filter(|(_, c)| c.timer_prev != FREE).map(|(i, c)| (i as u32, c))
    }
}
