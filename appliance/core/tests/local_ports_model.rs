//! Model-based test of FULLNAT's local-port search (`ConnTable::take_lport`), whose held-key
//! filter lets it skip the reply-side index: random takes (filed at once or queued for the
//! burst's end), removals, expiries and rebinds to other real servers or to NAT, against a plain
//! list of the live connections' reply keys. Every search must be exact: a port when and only
//! when one of the share is unheld towards that real server, and never a held one. A small
//! table keeps the filter at its smallest, so unrelated keys share its slots.

use proptest::prelude::*;
use rvs_core::conn::{Conn, ConnTable};
use rvs_core::service::Forward;
use std::collections::BTreeMap;

const LADDRS: [u32; 2] = [0xC000_020A, 0xC000_020B];
/// Two shares (core 0 and core 1 of 2) of 12 ports each.
const SHARES: [(u16, u32); 2] = [(5000, 12), (5001, 12)];

#[derive(Debug, Clone)]
enum Op {
    /// A new connection to real server `rs` over `proto` from local address `la`, share
    /// `share`; its reply key filed at once or queued.
    Take { rs: u32, proto: u8, la: usize, share: usize, defer: bool, ttl: u32 },
    /// File the queued reply keys.
    File,
    /// Remove the n-th live connection.
    Remove(usize),
    /// Move the n-th live connection to real server `rs` (FULLNAT: a port taken anew) or to
    /// NAT (its reply keyed by the client).
    Rebind { n: usize, rs: u32, to_nat: bool },
    /// Advance the clock and expire.
    Tick(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..3, prop::sample::select(vec![6u8, 17]), 0usize..2, 0usize..2, any::<bool>(), 1u32..6)
            .prop_map(|(rs, proto, la, share, defer, ttl)| Op::Take { rs, proto, la, share, defer, ttl }),
        1 => Just(Op::File),
        2 => any::<usize>().prop_map(Op::Remove),
        2 => (any::<usize>(), 0u32..3, any::<bool>()).prop_map(|(n, rs, to_nat)| Op::Rebind { n, rs, to_nat }),
        1 => (1u32..3).prop_map(Op::Tick),
    ]
}

fn rs_addr(rs: u32) -> u32 {
    0xAC10_0001 + rs
}

/// A live connection's reply key as the model keeps it: (proto, RIP, LIP, lport); rport is 80.
type ReplyKey = (u8, u32, u32, u16);

fn key_of(c: &Conn) -> ReplyKey {
    (c.proto, c.daddr, c.laddr, c.lport)
}

fn share_ports((first, count): (u16, u32)) -> impl Iterator<Item = u16> {
    (0..count).map(move |k| first + 2 * k as u16)
}

/// Checks a search's answer against the live keys: a held port is never handed out, and
/// `None` only when every port of the share is held.
fn check_take(
    got: Option<u16>,
    live: &BTreeMap<u16, ReplyKey>,
    (proto, rip, lip): (u8, u32, u32),
    share: (u16, u32),
) -> Result<(), TestCaseError> {
    let held = |p: u16| live.values().any(|&k| k == (proto, rip, lip, p));
    match got {
        Some(p) => {
            prop_assert!(share_ports(share).any(|q| q == p), "port {} is not of the share {:?}", p, share);
            prop_assert!(!held(p), "port {} handed out while held towards {:#x}", p, rip);
        }
        None => prop_assert!(share_ports(share).all(held), "no port given though one of {:?} is free", share),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn the_port_search_is_exact_with_its_filter(ops in prop::collection::vec(op(), 1..300)) {
        let mut t = ConnTable::new(48, 9, 0).with_local_port_seed(0x5EED);
        let mut now = 0u32;
        // Client port (the model's id) -> the live connection's reply key.
        let mut live: BTreeMap<u16, ReplyKey> = BTreeMap::new();
        let mut next_id = 1u16;
        for op in ops {
            match op {
                Op::Take { rs, proto, la, share, defer, ttl } => {
                    let (rip, lip) = (rs_addr(rs), LADDRS[la]);
                    let got = t.take_lport(proto, rip, 80, lip, SHARES[share], 2);
                    check_take(got, &live, (proto, rip, lip), SHARES[share])?;
                    let Some(p) = got else { continue };
                    let id = next_id;
                    next_id = next_id.wrapping_add(1).max(1);
                    // The client side is always TCP, so that the model finds it by id alone.
                    let mut c = Conn::new(6, 0x0A00_0001, id, 0x0A00_0064, 80, rip, 80, Forward::FullNat, 0, 0);
                    (c.proto, c.laddr, c.lport, c.expires) = (proto, lip, p, now + ttl);
                    let hash = t.client_hash(proto, c.caddr, c.cport, c.vaddr, c.vport);
                    let r = if defer { t.insert_deferring_reply(c, hash) } else { t.insert_hashed(c, hash) };
                    if r.is_ok() {
                        live.insert(id, key_of(&c));
                    }
                }
                Op::File => t.file_deferred(|_| {}),
                Op::Remove(n) if !live.is_empty() => {
                    let id = *live.keys().nth(n % live.len()).unwrap();
                    let c = *live.get(&id).unwrap();
                    let idx = (0..t.capacity() as u32)
                        .find(|&i| t.is_live(i) && t.get(i).cport == id)
                        .expect("a live connection is in the table");
                    prop_assert_eq!(key_of(t.get(idx)), c);
                    t.remove(idx);
                    live.remove(&id);
                }
                Op::Rebind { n, rs, to_nat } if !live.is_empty() => {
                    let id = *live.keys().nth(n % live.len()).unwrap();
                    let idx = (0..t.capacity() as u32).find(|&i| t.is_live(i) && t.get(i).cport == id).unwrap();
                    let old = *t.get(idx);
                    let rip = rs_addr(rs);
                    if to_nat {
                        t.rebind(idx, rip, 80, Forward::Nat, 1, (old.caddr, old.cport));
                        live.remove(&id); // keyed by the client now: not a local port
                        continue;
                    }
                    // The old port is still held while the new one is searched for (as the
                    // pipeline's reschedule does).
                    let share = if old.lport % 2 == 0 { SHARES[0] } else { SHARES[1] };
                    let got = t.take_lport(old.proto, rip, 80, old.laddr, share, 2);
                    check_take(got, &live, (old.proto, rip, old.laddr), share)?;
                    if let Some(p) = got {
                        t.rebind(idx, rip, 80, Forward::FullNat, 1, (old.laddr, p));
                        live.insert(id, (old.proto, rip, old.laddr, p));
                    }
                }
                Op::Tick(dt) => {
                    now += dt;
                    let mut gone = vec![];
                    t.expire(now, usize::MAX, |c| gone.push((c.cport, c.is_fullnat())));
                    for (id, fullnat) in gone {
                        if fullnat {
                            prop_assert!(live.remove(&id).is_some(), "connection {} expired but not live", id);
                        }
                    }
                }
                _ => {}
            }
            // Every live connection's reply finds it.
            for (&id, &(proto, rip, lip, lport)) in &live {
                let idx = t.lookup_reply(proto, rip, 80, lip, lport);
                prop_assert!(idx.is_some_and(|i| t.get(i).cport == id), "reply of {} not found", id);
            }
        }
    }
}
