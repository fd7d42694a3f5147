//! The neighbour tables' single writer ([`NeighbourCache`]): which learned neighbours get a place
//! in a fixed-size [`NeighbourTable`], and which one goes when it is full.
//!
//! RFC 4861 §7.2.3 has a node create a neighbour entry (STALE) for the source of every
//! solicitation it receives, and Linux's ARP does the same for requests aimed at it. Any host on
//! the link can send those from as many addresses as it likes, so an entry made that way proves
//! nothing, and a table that takes them all fills with an attacker's addresses: real servers can
//! no longer be resolved. Linux bounds its neighbour table (`gc_thresh1..3`) and collects
//! unreferenced, non-permanent entries first. rvs ranks each entry by what vouches for it
//! ([`Standing`]) and evicts from the bottom:
//!
//! - **Needed**: a configured next hop (a real server on a connected network, a gateway) that
//!   has no static MAC: never evicted (the configuration bounds how many there are).
//! - **Answered**: it answered a request or solicitation rvs sent (ARP reply, neighbour
//!   advertisement), i.e. a next hop a packet needed: evicted only for a Needed one, oldest first.
//! - **Solicited**: made from a request or solicitation (an on-link client asking for a VIP):
//!   at most half the table; past that, or when the table is full, the oldest goes first. A
//!   solicited entry that later answers moves up to Answered.
//!
//! Only Needed and Answered entries are asked for again before they age out; Solicited ones are
//! confirmed by their own traffic or go (a flood's addresses are never probed). An entry's port
//! (where its refresh goes out) is kept here too, bounded with the table.

use crate::neigh::{NeighKey, NeighbourTable};
use crate::wire::Mac;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// What vouches for a neighbour entry; entries of a lower standing are evicted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Standing {
    /// Made from a request or solicitation.
    Solicited = 0,
    /// Made or confirmed by an answer.
    Answered = 1,
    /// A configured next hop.
    Needed = 2,
}

/// What became of a learned neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted<A> {
    /// It was in the table: its MAC and time were updated.
    Updated,
    /// A new entry.
    Created,
    /// A new entry, for which `A` was evicted.
    Replaced(A),
    /// No place for it (every entry outranks it).
    Refused,
}

impl<A> Admitted<A> {
    /// The same outcome with the evicted address converted.
    pub fn map<B>(self, f: impl FnOnce(A) -> B) -> Admitted<B> {
        match self {
            Admitted::Updated => Admitted::Updated,
            Admitted::Created => Admitted::Created,
            Admitted::Replaced(a) => Admitted::Replaced(f(a)),
            Admitted::Refused => Admitted::Refused,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    standing: Standing,
    port: u16,
}

/// The writer of one family's [`NeighbourTable`] (the daemon's control thread).
#[derive(Debug)]
pub struct NeighbourCache<K: NeighKey> {
    table: Arc<NeighbourTable<K>>,
    meta: HashMap<K, Meta>,
    /// Creation order of Solicited (0) and Answered (1) entries; keys that left or moved up stay
    /// until they reach the front (checked against `meta` then), so each queue is compacted
    /// when it holds twice its live count.
    order: [VecDeque<K>; 2],
    counts: [usize; 3],
    needed: HashSet<K>,
    /// Entries evicted to make room, since start.
    pub evicted: u64,
    /// Neighbours refused a place, since start.
    pub refused: u64,
}

impl<K: NeighKey> NeighbourCache<K> {
    /// The writer of `table` (which it must be the only one to write).
    pub fn new(table: Arc<NeighbourTable<K>>) -> Self {
        NeighbourCache {
            table,
            meta: HashMap::new(),
            order: [VecDeque::new(), VecDeque::new()],
            counts: [0; 3],
            needed: HashSet::new(),
            evicted: 0,
            refused: 0,
        }
    }

    /// Most Solicited entries held at once.
    pub fn solicited_cap(&self) -> usize {
        self.table.capacity() / 2
    }

    /// Entries of each standing (Solicited, Answered, Needed).
    pub fn counts(&self) -> [usize; 3] {
        self.counts
    }

    /// The configured next hops, from a new configuration: entries for them become Needed, and
    /// those no longer configured drop to Answered.
    pub fn set_needed(&mut self, hops: impl IntoIterator<Item = K::Addr>) {
        let needed: HashSet<K> = hops.into_iter().map(K::of).collect();
        let changed: Vec<K> = self.needed.symmetric_difference(&needed).copied().collect();
        self.needed = needed;
        for k in changed {
            let to = if self.needed.contains(&k) { Standing::Needed } else { Standing::Answered };
            if let Some(m) = self.meta.get(&k).copied() {
                self.move_to(k, m.standing, to);
            }
        }
    }

    /// `ip` is at `mac` behind `port`, seen at second `now`; `answer`: in an ARP reply or a
    /// neighbour advertisement.
    pub fn learn(&mut self, ip: K::Addr, mac: Mac, port: u16, answer: bool, now: u32) -> Admitted<K::Addr> {
        let k = K::of(ip);
        let standing = if self.needed.contains(&k) {
            Standing::Needed
        } else if answer {
            Standing::Answered
        } else {
            Standing::Solicited
        };
        if let Some(m) = self.meta.get(&k).copied() {
            self.table.learn(ip, mac, now);
            self.meta.insert(k, Meta { standing: m.standing, port });
            if standing > m.standing {
                self.move_to(k, m.standing, standing);
            }
            return Admitted::Updated;
        }
        let mut evicted = None;
        if standing == Standing::Solicited && self.counts[0] >= self.solicited_cap() {
            evicted = self.evict_below(Standing::Answered);
        }
        if evicted.is_none() && self.table.len() >= self.table.capacity() {
            evicted = self.evict_below(standing.max(Standing::Answered));
            if evicted.is_none() {
                self.refused += 1;
                return Admitted::Refused;
            }
        }
        if !self.table.learn(ip, mac, now) {
            self.refused += 1;
            return Admitted::Refused;
        }
        self.meta.insert(k, Meta { standing, port });
        self.counts[standing as usize] += 1;
        if standing != Standing::Needed {
            self.order[standing as usize].push_back(k);
        }
        match evicted {
            Some(a) => Admitted::Replaced(a),
            None => Admitted::Created,
        }
    }

    /// Removes entries not confirmed for `max_age` seconds; returns how many went.
    pub fn age(&mut self, now: u32, max_age: u32) -> usize {
        let gone = self.table.age(now, max_age);
        for a in &gone {
            if let Some(m) = self.meta.remove(&K::of(*a)) {
                self.counts[m.standing as usize] -= 1;
            }
        }
        gone.len()
    }

    /// The Needed and Answered entries to ask for again (their age, seconds, is `refresh_age`
    /// or more: ask every 10 s until confirmed or aged out), with the port to ask on.
    pub fn refresh_due(&self, now: u32, refresh_age: u32) -> Vec<(K::Addr, u16)> {
        self.table
            .entries(now)
            .into_iter()
            .filter(|&(_, _, age)| age >= refresh_age && age % 10 == 0)
            .filter_map(|(a, _, _)| {
                let m = self.meta.get(&K::of(a))?;
                (m.standing != Standing::Solicited).then_some((a, m.port))
            })
            .collect()
    }

    /// Evicts the oldest entry of the lowest standing below `limit`, if any.
    fn evict_below(&mut self, limit: Standing) -> Option<K::Addr> {
        for s in [Standing::Solicited, Standing::Answered].into_iter().filter(|&s| s < limit) {
            while let Some(k) = self.order[s as usize].pop_front() {
                if self.meta.get(&k).is_some_and(|m| m.standing == s) {
                    self.meta.remove(&k);
                    self.counts[s as usize] -= 1;
                    self.table.remove(k.addr());
                    self.evicted += 1;
                    return Some(k.addr());
                }
            }
        }
        None
    }

    /// Moves entry `k` from standing `from` to `to`.
    fn move_to(&mut self, k: K, from: Standing, to: Standing) {
        if from == to {
            return;
        }
        self.counts[from as usize] -= 1;
        self.counts[to as usize] += 1;
        if let Some(m) = self.meta.get_mut(&k) {
            m.standing = to;
        }
        if to != Standing::Needed {
            let q = &mut self.order[to as usize];
            q.push_back(k);
            if q.len() > 2 * self.counts[to as usize] + 16 {
                let meta = &self.meta;
                q.retain(|k| meta.get(k).is_some_and(|m| m.standing == to));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn ip(n: u32) -> Ipv6Addr {
        Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + u128::from(n))
    }

    fn mac(n: u32) -> Mac {
        Mac([2, 0, (n >> 16) as u8, (n >> 8) as u8, n as u8, 1])
    }

    fn cache(cap: usize) -> (Arc<NeighbourTable<u128>>, NeighbourCache<u128>) {
        let t = Arc::new(NeighbourTable::<u128>::new(cap));
        (Arc::clone(&t), NeighbourCache::new(t))
    }

    /// Review defect 4: one on-link host soliciting from ever new addresses used to fill the
    /// table, after which no real server could be resolved.
    #[test]
    fn a_solicitation_flood_never_takes_the_place_of_needed_or_answered_neighbours() {
        let (t, mut c) = cache(256);
        c.set_needed([ip(1)]);
        assert_eq!(c.learn(ip(2), mac(2), 1, true, 10), Admitted::Created, "a NAT client that answered");
        for n in 1000..11_000 {
            c.learn(ip(n), mac(n), 0, false, 10);
        }
        assert!(t.len() <= 256 && c.counts()[0] <= 128, "{} entries, {:?}", t.len(), c.counts());
        assert_eq!(t.lookup(ip(2)), Some(mac(2)), "the answered neighbour stays");
        assert!(c.evicted >= 10_000 - 128);
        // The real server (a configured next hop) answers the director's solicitation.
        assert_eq!(c.learn(ip(1), mac(1), 1, true, 11), Admitted::Created);
        assert_eq!(t.lookup(ip(1)), Some(mac(1)));
        // The newest solicitors are there; the oldest went.
        assert_eq!(t.lookup(ip(10_999)), Some(mac(10_999)));
        assert_eq!(t.lookup(ip(1000)), None);
    }

    #[test]
    fn a_full_table_gives_a_needed_hop_the_place_of_the_oldest_answered_one() {
        let (t, mut c) = cache(8);
        for n in 10..18 {
            assert_eq!(c.learn(ip(n), mac(n), 0, true, 1), Admitted::Created);
        }
        assert_eq!(c.learn(ip(30), mac(30), 0, true, 1), Admitted::Refused, "answered never evicts answered");
        assert_eq!(c.learn(ip(31), mac(31), 0, false, 1), Admitted::Refused, "nor does a solicitation");
        c.set_needed([ip(40), ip(13)]);
        assert_eq!(c.learn(ip(40), mac(40), 0, true, 1), Admitted::Replaced(ip(10)));
        assert_eq!(c.counts(), [0, 6, 2], "ip(13) was already held: it is Needed now");
        // Needed entries are never evicted: fill with needed ones and nothing else gets in.
        c.set_needed((10..60).map(ip));
        for n in 41..60 {
            c.learn(ip(n), mac(n), 0, true, 2);
        }
        assert_eq!(t.len(), 8);
        assert_eq!(c.counts(), [0, 0, 8]);
        assert_eq!(c.learn(ip(99), mac(99), 0, true, 2), Admitted::Refused);
    }

    #[test]
    fn a_solicited_entry_that_answers_moves_up_and_only_those_worth_it_are_refreshed() {
        let (t, mut c) = cache(8);
        c.learn(ip(1), mac(1), 3, false, 100);
        c.learn(ip(2), mac(2), 4, false, 100);
        c.learn(ip(3), mac(3), 5, true, 100);
        assert_eq!(c.learn(ip(1), mac(9), 3, true, 100), Admitted::Updated);
        assert_eq!(c.counts(), [1, 2, 0]);
        assert_eq!(t.lookup(ip(1)), Some(mac(9)));
        let mut due = c.refresh_due(340, 240);
        due.sort_unstable();
        assert_eq!(due, vec![(ip(1), 3), (ip(3), 5)], "the solicitor alone is never probed");
        assert_eq!(c.age(401, 300), 3);
        assert_eq!(c.counts(), [0, 0, 0]);
        assert_eq!(t.len(), 0);
    }
}
