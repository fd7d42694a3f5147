//! A per-core connection table of fixed capacity: a slab of entries, two chained hash indexes
//! and a timer wheel, all allocated once at start-up. One concept in one file, though long:
//! the indexes and the wheel are links through the same slab, and every operation (insert,
//! remove, expire, rebind) must keep all three consistent at once.
//!
//! - The *client-side* index finds a connection from a client's packet
//!   (proto, CIP, cport, VIP, vport); the *reply-side* index finds a NAT connection from the
//!   real server's reply (proto, RIP, rport, CIP, cport). Both are O(1) on average.
//! - Expiry uses a hashed timer wheel of one-second slots with doubly-linked slot lists. A packet
//!   that *extends* a connection's life only rewrites `expires`; the entry stays in its older
//!   (earlier) slot and is refiled when that slot comes due. A change that *shortens* it (FIN,
//!   RST) refiles it at once. So a slot's due time is never later than its entries' expiry.
//! - A full table refuses the insert ([`TableFull`]); the pipeline may then make room by
//!   evicting an *embryonic* entry ([`Conn::is_embryonic`]), the oldest one first. Every new
//!   entry joins a FIFO of young entries (links in the entry, like the timer's); an entry
//!   leaves it when it goes, or when [`ConnTable::find_embryonic`] takes it from the front and
//!   finds it grew up (established, answered) — lazily, so no packet pays for the queue. IPVS's
//!   `drop_entry` looks at random buckets instead: the queue finds a victim in O(1) whatever the
//!   table's layout, and the newest handshakes are the last to go.
//!
//! Hash keys are mixed with a per-table seed so that clients cannot aim at one bucket without
//! knowing it.

use super::state::ConnState;
use crate::family::AddrKey;
use crate::service::Forward;

/// "No entry" in links and buckets.
pub const NIL: u32 = u32::MAX;

/// Flag: replies are never seen (IPVS `IP_VS_CONN_F_NOOUTPUT`): TCP uses the input-only table.
/// Set, as IPVS's `__ip_vs_update_dest` does, only for DR and TUN: a NAT connection uses the
/// INPUT/OUTPUT tables from its first packet.
pub const F_NO_OUTPUT: u8 = 0x01;

/// The flags a new connection to a real server forwarded by `forward` starts with.
#[inline]
pub fn initial_flags(forward: Forward) -> u8 {
    if forward == Forward::Nat {
        F_INACTIVE
    } else {
        F_NO_OUTPUT | F_INACTIVE
    }
}
/// Flag: counted as inactive for its real server (not ESTABLISHED).
pub const F_INACTIVE: u8 = 0x02;
/// Flag: placed by a persistence template (which counts it in `n_control`).
pub const F_PERSIST: u8 = 0x04;
/// Flag: created from a sync record (IPVS's `IP_VS_CONN_F_SYNC`), not by a packet here.
pub const F_SYNCED: u8 = 0x08;

/// One connection: for IPv4 (`K = u32`) 64 bytes, aligned to a cache line, so a packet's
/// lookup and update read and write exactly one line of the table; for IPv6 (`K = u128`) two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(align(64))]
pub struct Conn<K = u32> {
    /// Client address (host order).
    pub caddr: K,
    /// Virtual address.
    pub vaddr: K,
    /// Real server address.
    pub daddr: K,
    /// Client port.
    pub cport: u16,
    /// Virtual port.
    pub vport: u16,
    /// Real server port.
    pub dport: u16,
    /// IP protocol number.
    pub proto: u8,
    /// ConnState.
    pub state: ConnState,
    /// Forwarding method.
    pub forward: Forward,
    /// `F_*` flags.
    pub flags: u8,
    /// The state this connection was last sent to backups in (IPVS's `old_state`; `None`
    /// until it is first sent).
    pub synced: ConnState,
    /// Real server id.
    pub dest: u16,
    /// Service id.
    pub svc: u16,
    /// Second (core clock) after which the connection expires.
    pub expires: u32,
    /// Packets client -> server.
    pub pkts_in: u32,
    /// Packets server -> client (NAT only).
    pub pkts_out: u32,
    next_c: u32,
    next_r: u32,
    /// Timer-wheel links. `timer_prev` is [`FREE`] for a free entry (whose `timer_next` links
    /// the free list) and `SLOT_HEAD + slot` for the first entry of a wheel slot's list.
    timer_prev: u32,
    timer_next: u32,
    /// Young-FIFO links; `young_prev` is [`OFF_QUEUE`] once the entry left it.
    young_prev: u32,
    young_next: u32,
}

// A connection, with all its links, is one cache line: the table is the entries and two
// bucket arrays, nothing else per connection. A new field must fit.
const _: () = assert!(std::mem::size_of::<Conn>() == 64);
const _: () = assert!(std::mem::size_of::<Conn<u128>>() == 128);

impl<K: AddrKey> Conn<K> {
    /// A new connection record (links unset).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        proto: u8,
        caddr: K,
        cport: u16,
        vaddr: K,
        vport: u16,
        daddr: K,
        dport: u16,
        forward: Forward,
        svc: u16,
        dest: u16,
    ) -> Self {
        Conn {
            caddr,
            vaddr,
            daddr,
            cport,
            vport,
            dport,
            proto,
            state: ConnState::None,
            forward,
            flags: initial_flags(forward),
            synced: ConnState::None,
            dest,
            svc,
            expires: 0,
            pkts_in: 0,
            pkts_out: 0,
            next_c: NIL,
            next_r: NIL,
            timer_prev: FREE,
            timer_next: NIL,
            young_prev: OFF_QUEUE,
            young_next: NIL,
        }
    }

    /// True for an entry that has not shown a live peer and may be evicted for a new connection
    /// when the table is full: a TCP handshake the client never completed (NONE, SYN_RECV,
    /// SYNACK: a spoofed SYN leaves exactly this), a NAT UDP flow never answered, a DR/TUN UDP
    /// flow of one datagram (replies to those bypass us, so one-way is all we can know).
    /// Never an established connection, nor one that is closing.
    #[inline]
    pub fn is_embryonic(&self) -> bool {
        match self.state {
            ConnState::None | ConnState::SynRecv | ConnState::SynAck => true,
            ConnState::Udp if self.forward == Forward::Nat => self.pkts_out == 0,
            ConnState::Udp => self.pkts_in <= 1,
            _ => false,
        }
    }

    /// True when the connection is indexed by its reply too (NAT).
    #[inline]
    pub fn has_reply_key(&self) -> bool {
        self.forward == Forward::Nat
    }
}

/// The table is at capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

/// Fixed-capacity connection table of one address family (`K`: [`AddrKey`]).
#[derive(Debug)]
pub struct ConnTable<K = u32> {
    entries: Vec<Conn<K>>,
    /// First free entry; free entries are linked through `timer_next`.
    free_head: u32,
    len: usize,
    c_buckets: Vec<u32>,
    r_buckets: Vec<u32>,
    mask: usize,
    seed: u64,
    wheel: Vec<u32>,
    wheel_mask: u32,
    /// Last second whose slot was fully processed.
    wheel_done: u32,
    /// The FIFO of young entries: head (oldest) and tail; links in the entries.
    young_head: u32,
    young_tail: u32,
}

/// `young_prev` of an entry not in the young FIFO.
const OFF_QUEUE: u32 = NIL - 1;
/// `timer_prev` of a free entry.
const FREE: u32 = NIL - 2;
/// `timer_prev` of the first entry of wheel slot `s` is `SLOT_HEAD + s`.
const SLOT_HEAD: u32 = FREE - WHEEL_SLOTS;
/// Most entries a table holds: every index must stay below the link sentinels.
const MAX_CAPACITY: usize = SLOT_HEAD as usize;

/// Timer wheel slots (seconds); timeouts beyond it cycle through until due.
const WHEEL_SLOTS: u32 = 4096;

#[inline]
fn mix<K: AddrKey>(proto: u8, a: K, ap: u16, b: K, bp: u16, seed: u64) -> u64 {
    let k1 = K::pair(a, b) ^ seed;
    let k2 = u64::from(ap) << 32 | u64::from(bp) << 16 | u64::from(proto);
    let mut h = k1.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k2.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 31;
    h = h.wrapping_mul(0x1656_67B1_9E37_79F9);
    h ^ (h >> 29)
}

impl<K: AddrKey> ConnTable<K> {
    /// A table for `capacity` connections, with hash seed `seed`, whose clock starts at
    /// second `now`. Allocates everything it will ever use.
    pub fn new(capacity: usize, seed: u64, now: u32) -> Self {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        // One bucket per entry, rounded up: a full table's chains average at most one entry,
        // and the indexes cost at most 16 bytes a connection.
        let buckets = capacity.next_power_of_two();
        let proto = Conn::new(0, K::default(), 0, K::default(), 0, K::default(), 0, Forward::Nat, 0, 0);
        let entries = (0..capacity)
            .map(|i| Conn { timer_next: if i + 1 < capacity { (i + 1) as u32 } else { NIL }, ..proto })
            .collect();
        ConnTable {
            entries,
            free_head: 0,
            len: 0,
            c_buckets: vec![NIL; buckets],
            r_buckets: vec![NIL; buckets],
            mask: buckets - 1,
            seed,
            wheel: vec![NIL; WHEEL_SLOTS as usize],
            wheel_mask: WHEEL_SLOTS - 1,
            wheel_done: now,
            young_head: NIL,
            young_tail: NIL,
        }
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
            + (self.c_buckets.capacity() + self.r_buckets.capacity() + self.wheel.capacity()) * 4
    }

    /// The hash of a client's packet (src=CIP:cport, dst=VIP:vport) in the client-side index:
    /// computed once per packet (by the parse) and carried to [`ConnTable::lookup_client_hashed`].
    #[inline]
    pub fn client_hash(&self, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> u64 {
        mix(proto, src, sport, dst, dport, self.seed)
    }

    #[inline]
    fn c_bucket(&self, proto: u8, caddr: K, cport: u16, vaddr: K, vport: u16) -> usize {
        self.client_hash(proto, caddr, cport, vaddr, vport) as usize & self.mask
    }

    /// The hash of a real server's reply (src=RIP:rport, dst=CIP:cport) in the reply-side
    /// index, for [`ConnTable::lookup_reply_hashed`].
    #[inline]
    pub fn reply_hash(&self, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> u64 {
        mix(proto, src, sport, dst, dport, !self.seed)
    }

    #[inline]
    fn r_bucket(&self, proto: u8, daddr: K, dport: u16, caddr: K, cport: u16) -> usize {
        self.reply_hash(proto, daddr, dport, caddr, cport) as usize & self.mask
    }

    /// The client-side index bucket of a packet whose [`ConnTable::client_hash`] is `hash` (the
    /// look-ahead's first stage, [`crate::Pipeline::lookahead`]).
    #[inline]
    pub fn client_bucket_ref(&self, hash: u64) -> &u32 {
        &self.c_buckets[hash as usize & self.mask]
    }

    /// The reply-side index bucket of a packet whose [`ConnTable::reply_hash`] is `hash`.
    #[inline]
    pub fn reply_bucket_ref(&self, hash: u64) -> &u32 {
        &self.r_buckets[hash as usize & self.mask]
    }

    /// The entry a chain starting at `head` begins with, if any (the look-ahead's second stage).
    #[inline]
    pub fn entry_ref(&self, head: u32) -> Option<&Conn<K>> {
        self.entries.get(head as usize)
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
        let mut i = self.c_buckets[hash as usize & self.mask];
        while i != NIL {
            let e = &self.entries[i as usize];
            if e.caddr == src && e.vaddr == dst && e.cport == sport && e.vport == dport && e.proto == proto {
                return Some(i);
            }
            i = e.next_c;
        }
        None
    }

    /// The NAT connection a real server's reply (src=RIP:rport, dst=CIP:cport) belongs to.
    #[inline]
    pub fn lookup_reply(&self, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> Option<u32> {
        self.lookup_reply_hashed(self.reply_hash(proto, src, sport, dst, dport), proto, src, sport, dst, dport)
    }

    /// [`ConnTable::lookup_reply`] with the packet's [`ConnTable::reply_hash`] already known.
    #[inline]
    #[allow(clippy::too_many_arguments)] // the flow key's fields and its hash
    pub fn lookup_reply_hashed(&self, hash: u64, proto: u8, src: K, sport: u16, dst: K, dport: u16) -> Option<u32> {
        let mut i = self.r_buckets[hash as usize & self.mask];
        while i != NIL {
            let e = &self.entries[i as usize];
            if e.daddr == src && e.caddr == dst && e.dport == sport && e.cport == dport && e.proto == proto {
                return Some(i);
            }
            i = e.next_r;
        }
        None
    }

    /// Adds a connection expiring at `c.expires`; returns its index.
    pub fn insert(&mut self, c: Conn<K>) -> Result<u32, TableFull> {
        let hash = self.client_hash(c.proto, c.caddr, c.cport, c.vaddr, c.vport);
        self.insert_hashed(c, hash)
    }

    /// [`ConnTable::insert`] with the connection's [`ConnTable::client_hash`] already known
    /// (the packet's parse computed it).
    pub fn insert_hashed(&mut self, mut c: Conn<K>, client_hash: u64) -> Result<u32, TableFull> {
        let idx = self.free_head;
        if idx == NIL {
            return Err(TableFull);
        }
        self.free_head = self.entries[idx as usize].timer_next;
        let cb = client_hash as usize & self.mask;
        c.next_c = self.c_buckets[cb];
        self.c_buckets[cb] = idx;
        c.next_r = NIL;
        (c.young_prev, c.young_next) = (OFF_QUEUE, NIL);
        if c.has_reply_key() {
            let rb = self.r_bucket(c.proto, c.daddr, c.dport, c.caddr, c.cport);
            c.next_r = self.r_buckets[rb];
            self.r_buckets[rb] = idx;
        }
        self.entries[idx as usize] = c;
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

    /// The connection at `idx`, writable. Changing key fields through this breaks the
    /// indexes; use [`ConnTable::rebind`] to move a connection to another real server.
    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut Conn<K> {
        &mut self.entries[idx as usize]
    }

    /// Moves a connection to another real server (IPVS reuses a TIME_WAIT connection for a
    /// new SYN): re-keys the reply index and resets state and counters.
    pub fn rebind(&mut self, idx: u32, daddr: K, dport: u16, forward: Forward, dest: u16) {
        let old = self.entries[idx as usize];
        if old.has_reply_key() {
            self.unlink_reply(idx);
        }
        {
            let e = &mut self.entries[idx as usize];
            e.daddr = daddr;
            e.dport = dport;
            e.forward = forward;
            e.dest = dest;
            e.state = ConnState::None;
            e.flags = initial_flags(forward); // F_PERSIST cleared: the caller re-pins
            e.pkts_in = 0;
            e.pkts_out = 0;
            e.next_r = NIL;
        }
        if forward == Forward::Nat {
            let rb = self.r_bucket(old.proto, daddr, dport, old.caddr, old.cport);
            self.entries[idx as usize].next_r = self.r_buckets[rb];
            self.r_buckets[rb] = idx;
        }
    }

    /// Sets a new expiry. Extending is free (lazy); shortening refiles the timer now.
    #[inline]
    pub fn set_expires(&mut self, idx: u32, expires: u32) {
        let old = self.entries[idx as usize].expires;
        self.entries[idx as usize].expires = expires;
        if expires < old {
            self.timer_unlink(idx);
            self.timer_link(idx);
        }
    }

    /// Refiles `idx`'s timer after its `expires` was made shorter through [`ConnTable::get_mut`]
    /// (the caller saw it shrink): the slot it sits in may now come due too late.
    #[inline]
    pub fn refile(&mut self, idx: u32) {
        self.timer_unlink(idx);
        self.timer_link(idx);
    }

    fn timer_link(&mut self, idx: u32) {
        // A second already walked is filed in the next one to walk, never behind the hand.
        let due = self.entries[idx as usize].expires.max(self.wheel_done.wrapping_add(1));
        let slot = due & self.wheel_mask;
        let head = self.wheel[slot as usize];
        let e = &mut self.entries[idx as usize];
        e.timer_prev = SLOT_HEAD + slot;
        e.timer_next = head;
        if head != NIL {
            self.entries[head as usize].timer_prev = idx;
        }
        self.wheel[slot as usize] = idx;
    }

    fn timer_unlink(&mut self, idx: u32) {
        let (p, n) = (self.entries[idx as usize].timer_prev, self.entries[idx as usize].timer_next);
        if p >= SLOT_HEAD {
            let slot = (p - SLOT_HEAD) as usize;
            if self.wheel[slot] == idx {
                self.wheel[slot] = n;
            }
        } else {
            self.entries[p as usize].timer_next = n;
        }
        if n != NIL {
            self.entries[n as usize].timer_prev = p;
        }
    }

    fn unlink_client(&mut self, idx: u32) {
        let e = self.entries[idx as usize];
        let b = self.c_bucket(e.proto, e.caddr, e.cport, e.vaddr, e.vport);
        let mut cur = self.c_buckets[b];
        if cur == idx {
            self.c_buckets[b] = e.next_c;
            return;
        }
        while cur != NIL {
            let next = self.entries[cur as usize].next_c;
            if next == idx {
                self.entries[cur as usize].next_c = e.next_c;
                return;
            }
            cur = next;
        }
    }

    fn unlink_reply(&mut self, idx: u32) {
        let e = self.entries[idx as usize];
        let b = self.r_bucket(e.proto, e.daddr, e.dport, e.caddr, e.cport);
        let mut cur = self.r_buckets[b];
        if cur == idx {
            self.r_buckets[b] = e.next_r;
            return;
        }
        while cur != NIL {
            let next = self.entries[cur as usize].next_r;
            if next == idx {
                self.entries[cur as usize].next_r = e.next_r;
                return;
            }
            cur = next;
        }
    }

    /// The oldest embryonic entry ([`Conn::is_embryonic`]) to evict, taking at most `budget`
    /// entries off the front of the young FIFO (those that grew up leave it for good). `None`
    /// when none was found within the budget.
    pub fn find_embryonic(&mut self, budget: usize) -> Option<u32> {
        for _ in 0..budget {
            let i = self.young_head;
            if i == NIL {
                return None;
            }
            self.young_unlink(i);
            if self.entries[i as usize].is_embryonic() {
                return Some(i);
            }
        }
        None
    }

    fn young_push(&mut self, idx: u32) {
        let e = &mut self.entries[idx as usize];
        (e.young_prev, e.young_next) = (self.young_tail, NIL);
        match self.young_tail {
            NIL => self.young_head = idx,
            t => self.entries[t as usize].young_next = idx,
        }
        self.young_tail = idx;
    }

    fn young_unlink(&mut self, idx: u32) {
        let (prev, next) = (self.entries[idx as usize].young_prev, self.entries[idx as usize].young_next);
        if prev == OFF_QUEUE {
            return;
        }
        match prev {
            NIL => self.young_head = next,
            p => self.entries[p as usize].young_next = next,
        }
        match next {
            NIL => self.young_tail = prev,
            n => self.entries[n as usize].young_prev = prev,
        }
        self.entries[idx as usize].young_prev = OFF_QUEUE;
    }

    /// Returns entry `idx` to the free list.
    fn free(&mut self, idx: u32) {
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

    /// Expires connections due at or before second `now`, at most `budget` of them; calls
    /// `on_expire` for each before it is freed. Returns how many expired. Work left over
    /// (budget reached) continues at the next call.
    pub fn expire(&mut self, now: u32, budget: usize, mut on_expire: impl FnMut(&Conn<K>)) -> usize {
        let mut done = 0;
        while self.wheel_done < now {
            let second = self.wheel_done.wrapping_add(1);
            let slot = (second & self.wheel_mask) as usize;
            let mut i = std::mem::replace(&mut self.wheel[slot], NIL);
            while i != NIL {
                if done == budget {
                    // Put the rest back, links intact; this second is not finished.
                    self.reattach(slot, i);
                    return done;
                }
                // `i` leaves the list: its successor becomes the head of what is left.
                let next = self.entries[i as usize].timer_next;
                if next != NIL {
                    self.entries[next as usize].timer_prev = SLOT_HEAD + slot as u32;
                }
                if self.entries[i as usize].expires <= second {
                    on_expire(&self.entries[i as usize]);
                    let c = self.entries[i as usize];
                    self.unlink_client(i);
                    if c.has_reply_key() {
                        self.unlink_reply(i);
                    }
                    self.young_unlink(i);
                    self.free(i);
                    done += 1;
                } else {
                    self.timer_link(i);
                }
                i = next;
            }
            self.wheel_done = second;
        }
        done
    }

    /// Puts the list starting at `first` back in front of `slot`'s list.
    fn reattach(&mut self, slot: usize, first: u32) {
        let mut last = first;
        while self.entries[last as usize].timer_next != NIL {
            last = self.entries[last as usize].timer_next;
        }
        let head = self.wheel[slot];
        self.entries[last as usize].timer_next = head;
        if head != NIL {
            self.entries[head as usize].timer_prev = last;
        }
        self.entries[first as usize].timer_prev = SLOT_HEAD + slot as u32;
        self.wheel[slot] = first;
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
