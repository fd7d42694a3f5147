//! FULLNAT's local addresses as one core's connection table sees them: per address, how many
//! of its ports this core's connections hold, how often a new connection found none free, and
//! where the next search for a free port starts.
//!
//! A local port is free for a connection to RIP:rport when no connection of this core holds
//! (proto, RIP, rport, LIP, lport) in the reply-side index (most searches are answered by a
//! counting filter of those keys instead: [`super::held_ports`]): ports are reused towards other real
//! servers, as a kernel's `connect()` reuses ephemeral ports, and a port comes free only when
//! its connection's entry expired (TIME_WAIT included). Each core searches only its own share
//! of the range ([`crate::service::LocalPorts::share`]), so no two cores ever hand out one
//! port and the reply's owner is the port's.
//!
//! An address's search starts at a point of its share drawn from a seed (random per rvsd start;
//! 0 keeps the share's first port, for tests), as RFC 6056 §3.3 randomizes ports: a director
//! started a moment ago and made master would otherwise hand out, in order, the very ports the
//! other director handed out after its own start, whose sockets on the real servers are still
//! in TIME_WAIT (the server closes HTTP/1.0 first); a SYN meeting one is answered with an ACK,
//! not a SYN-ACK, and the client waits for a retransmission.
//!
//! A fixed-capacity open-addressing map, allocated once: rows of addresses no longer
//! configured whose ports are all back are dropped when a snapshot is applied.

use crate::family::AddrKey;

/// Most local addresses of one family a snapshot may configure (over all services).
pub const MAX_LOCAL_ADDRS: usize = 256;
/// Rows: configured addresses, plus deleted ones still draining, at half load at most.
const SLOTS: usize = 4 * MAX_LOCAL_ADDRS;
/// Ports tried for one new connection before its local address counts as exhausted: a bound
/// on the work a new connection may cost (each try is one reply-index lookup).
pub const MAX_PORT_TRIES: u32 = 128;

/// One local address's figures on one core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalAddrUse<K> {
    /// The local address.
    pub addr: K,
    /// Ports held by this core's connections.
    pub in_use: u32,
    /// New connections that found no free port of it here.
    pub exhausted: u64,
    /// Index in this core's share where the next search starts.
    pub(super) cursor: u32,
    pub(super) used: bool,
}

/// Every local address one core's table has used.
#[derive(Debug, Clone)]
pub struct LocalAddrUses<K> {
    rows: Vec<LocalAddrUse<K>>,
    spare: Vec<LocalAddrUse<K>>,
    len: usize,
    /// Where new rows' searches start, mixed with their address.
    seed: u64,
}

#[inline]
fn home<K: AddrKey>(addr: K) -> usize {
    (addr.fold64().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & (SLOTS - 1)
}

impl<K: AddrKey> Default for LocalAddrUses<K> {
    fn default() -> Self {
        Self::new(0)
    }
}

impl<K: AddrKey> LocalAddrUses<K> {
    /// An empty map whose addresses' searches start at points drawn from `seed` (0: at the
    /// share's first port).
    pub fn new(seed: u64) -> Self {
        LocalAddrUses {
            rows: vec![LocalAddrUse::default(); SLOTS],
            spare: vec![LocalAddrUse::default(); SLOTS],
            len: 0,
            seed,
        }
    }

    /// Rows made from now on start their searches at points drawn from `seed`.
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// The row of `addr`, if it has one.
    #[inline]
    pub fn get(&self, addr: K) -> Option<&LocalAddrUse<K>> {
        let mut i = home(addr);
        loop {
            let r = &self.rows[i];
            if !r.used {
                return None;
            }
            if r.addr == addr {
                return Some(r);
            }
            i = (i + 1) & (SLOTS - 1);
        }
    }

    /// The row of `addr`, made if it has none; `None` when the map is at its load limit.
    #[inline]
    pub fn row(&mut self, addr: K) -> Option<&mut LocalAddrUse<K>> {
        let mut i = home(addr);
        loop {
            if !self.rows[i].used {
                if self.len >= SLOTS / 2 {
                    return None;
                }
                self.len += 1;
                let cursor = match self.seed {
                    0 => 0,
                    seed => {
                        let h = (addr.fold64() ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                        (h ^ (h >> 32)) as u32
                    }
                };
                self.rows[i] = LocalAddrUse { addr, used: true, cursor, ..LocalAddrUse::default() };
                return Some(&mut self.rows[i]);
            }
            if self.rows[i].addr == addr {
                return Some(&mut self.rows[i]);
            }
            i = (i + 1) & (SLOTS - 1);
        }
    }

    /// Every row.
    pub fn iter(&self) -> impl Iterator<Item = &LocalAddrUse<K>> {
        self.rows.iter().filter(|r| r.used)
    }

    /// Drops the rows of addresses `keep` refuses whose ports are all back (a deleted local
    /// address that finished draining). Rebuilds in place, without allocating.
    pub fn compact(&mut self, keep: impl Fn(K) -> bool) {
        if !self.rows.iter().any(|r| r.used && r.in_use == 0 && !keep(r.addr)) {
            return;
        }
        std::mem::swap(&mut self.rows, &mut self.spare);
        self.rows.fill(LocalAddrUse::default());
        self.len = 0;
        for i in 0..SLOTS {
            let r = self.spare[i];
            if r.used && (r.in_use > 0 || keep(r.addr)) {
                if let Some(row) = self.row(r.addr) {
                    *row = r;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_found_again_and_dropped_only_when_drained_and_unwanted() {
        let mut u = LocalAddrUses::<u32>::default();
        for a in 1..=200u32 {
            u.row(a).expect("room").in_use = a % 2;
        }
        assert_eq!(u.get(7).map(|r| r.in_use), Some(1));
        assert!(u.get(1000).is_none());
        u.compact(|a| a <= 10);
        // Kept: 1..=10 (wanted) and every odd address (ports still held).
        let mut kept: Vec<u32> = u.iter().map(|r| r.addr).collect();
        kept.sort_unstable();
        let want: Vec<u32> = (1..=200).filter(|a| *a <= 10 || a % 2 == 1).collect();
        assert_eq!(kept, want);
        assert!(u.get(12).is_none() && u.get(13).is_some());
    }

    #[test]
    fn the_map_refuses_past_its_load_limit() {
        let mut u = LocalAddrUses::<u128>::default();
        for a in 0..(SLOTS / 2) as u128 {
            assert!(u.row(a).is_some());
        }
        assert!(u.row(u128::MAX).is_none());
        assert!(u.row(3).is_some(), "an existing row is still found");
    }
}
