//! Model-based test of the connection table: random inserts, removes, re-arms (longer and
//! shorter), budgeted `expire` calls, connections growing up (established) and evictions of the
//! oldest embryonic one, against a plain reference — a map of live connections and their expiry
//! second, and the insertion order of those still young (NAT ones also found by their reply,
//! whether filed at once or queued for the end of a burst). Small capacities and budgets 1..4 make
//! budget stops, put-back lists and re-arms of entries on a put-back list common (the case that
//! once expired entries twice).

use proptest::prelude::*;
use rvs_core::conn::{Conn, ConnTable};
use rvs_core::service::Forward;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    /// Insert connection `key` expiring `ttl` seconds from now; with `defer`, its reply key
    /// queued rather than filed (as the pipeline inserts).
    Insert { key: u16, ttl: u32, defer: bool },
    /// File the queued reply keys (the worker's end of a burst).
    File,
    /// Remove the n-th live connection (modulo the count).
    Remove(usize),
    /// Give the n-th live connection a new expiry `ttl` seconds from now (shorter or longer).
    Rearm(usize, u32),
    /// Advance the clock by `dt` seconds and expire with `budget`.
    Tick { dt: u32, budget: usize },
    /// The n-th live connection completes its handshake and proves a live peer (no longer
    /// embryonic): a NAT one by its server's answer, a DR one by its client's packets.
    Grow(usize),
    /// Evict the oldest embryonic connection, looking at no more than `budget` young entries.
    Evict { budget: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u16..64, 0u32..6, any::<bool>()).prop_map(|(key, ttl, defer)| Op::Insert { key, ttl, defer }),
        1 => Just(Op::File),
        1 => any::<usize>().prop_map(Op::Remove),
        3 => (any::<usize>(), 0u32..6).prop_map(|(n, ttl)| Op::Rearm(n, ttl)),
        3 => (0u32..3, 1usize..=4).prop_map(|(dt, budget)| Op::Tick { dt, budget }),
        2 => any::<usize>().prop_map(Op::Grow),
        2 => (1usize..=4).prop_map(|budget| Op::Evict { budget }),
    ]
}

fn conn(key: u16, expires: u32) -> Conn {
    let fwd = if key.is_multiple_of(2) { Forward::Nat } else { Forward::DirectRoute };
    let mut c = Conn::new(6, 0xC612_0000 + u32::from(key), 1000 + key, 0xC612_0164, 80, 0xC613_000B, 8080, fwd, 0, 1);
    c.expires = expires;
    c
}

fn find(t: &ConnTable, key: u16) -> Option<u32> {
    t.lookup_client(6, 0xC612_0000 + u32::from(key), 1000 + key, 0xC612_0164, 80)
}

/// The connection of `key` as its real server's reply finds it (NAT keys only).
fn find_reply(t: &ConnTable, key: u16) -> Option<u32> {
    t.lookup_reply(6, 0xC613_000B, 8080, 0xC612_0000 + u32::from(key), 1000 + key)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_table_behaves_as_a_map_of_connections_and_expiries(
        cap in 1usize..40,
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let mut now = 100u32;
        let mut t = ConnTable::new(cap, 9, now);
        // Reference: live key -> expiry second.
        let mut model: BTreeMap<u16, u32> = BTreeMap::new();
        // Live keys in insertion order while in the young queue, and which of them grew up.
        let mut young: Vec<u16> = Vec::new();
        let mut grown: std::collections::BTreeSet<u16> = Default::default();
        // Keys expired (or removed) since their last insert: each may expire once per life.
        for op in ops {
            match op {
                Op::Insert { key, ttl, defer } => {
                    if model.contains_key(&key) {
                        continue;
                    }
                    let c = conn(key, now + ttl);
                    let r = if defer {
                        t.insert_deferring_reply(c, t.client_hash(c.proto, c.caddr, c.cport, c.vaddr, c.vport))
                    } else {
                        t.insert(c)
                    };
                    if model.len() < cap {
                        prop_assert!(r.is_ok(), "room left but insert refused");
                        model.insert(key, now + ttl);
                        young.push(key);
                        grown.remove(&key);
                    } else {
                        prop_assert!(r.is_err(), "full table accepted an insert");
                    }
                }
                Op::File => t.file_deferred(|_| {}),
                Op::Remove(n) => {
                    if model.is_empty() {
                        continue;
                    }
                    let key = *model.keys().nth(n % model.len()).unwrap();
                    let idx = find(&t, key).expect("live connection not found");
                    let c = t.remove(idx);
                    prop_assert_eq!(c.cport, 1000 + key);
                    model.remove(&key);
                    young.retain(|k| *k != key);
                }
                Op::Rearm(n, ttl) => {
                    if model.is_empty() {
                        continue;
                    }
                    let key = *model.keys().nth(n % model.len()).unwrap();
                    let idx = find(&t, key).expect("live connection not found");
                    t.set_expires(idx, now + ttl);
                    model.insert(key, now + ttl);
                }
                Op::Tick { dt, budget } => {
                    now += dt;
                    let mut fired: Vec<u16> = Vec::new();
                    let n = t.expire(now, budget, |c| fired.push(c.cport - 1000));
                    prop_assert_eq!(n, fired.len());
                    prop_assert!(n <= budget, "expired {} with budget {}", n, budget);
                    for key in &fired {
                        let due = model.remove(key);
                        prop_assert!(due.is_some(), "connection {} expired twice or was never live", key);
                        prop_assert!(due.unwrap() <= now, "connection {} expired early: due {} now {}", key, due.unwrap(), now);
                        young.retain(|k| k != key);
                    }
                }
                Op::Grow(n) => {
                    if model.is_empty() {
                        continue;
                    }
                    let key = *model.keys().nth(n % model.len()).unwrap();
                    let idx = find(&t, key).expect("live connection not found");
                    let c = t.get_mut(idx);
                    c.state = rvs_core::conn::ConnState::Established;
                    c.flags |= rvs_core::conn::entry::F_PROVED;
                    c.pkts_in = rvs_core::conn::entry::PROVED_AFTER_PKTS + 1;
                    grown.insert(key);
                }
                Op::Evict { budget } => {
                    let mut want = None;
                    for _ in 0..budget {
                        if young.is_empty() {
                            break;
                        }
                        let k = young.remove(0);
                        if !grown.contains(&k) {
                            want = Some(k);
                            break;
                        }
                    }
                    let got = t.find_embryonic(budget).map(|idx| t.remove(idx).cport - 1000);
                    prop_assert_eq!(got, want, "the oldest embryonic connection");
                    if let Some(k) = got {
                        model.remove(&k);
                    }
                }
            }
            prop_assert_eq!(t.len(), model.len());
            for key in 0u16..64 {
                prop_assert_eq!(find(&t, key).is_some(), model.contains_key(&key), "membership of {}", key);
                let reply = if key % 2 == 0 { find(&t, key) } else { None };
                prop_assert_eq!(find_reply(&t, key), reply, "reply-side membership of {}", key);
            }
        }
        // Drain: with an ample budget and time, everything expires exactly once, none early.
        let mut left: Vec<u16> = Vec::new();
        now += 10;
        for _ in 0..64 {
            t.expire(now, 4, |c| left.push(c.cport - 1000));
        }
        left.sort_unstable();
        let want: Vec<u16> = model.keys().copied().collect();
        prop_assert_eq!(left, want);
        prop_assert!(t.is_empty());
    }
}
