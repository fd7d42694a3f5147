//! The connection table on a simulated clock: both lookups, capacity, lazy and eager timer
//! refiling, expiry budget, rebinding.

use rvs_core::conn::{Conn, ConnState, ConnTable, TableFull};
use rvs_core::service::Forward;

const TCP: u8 = 6;

fn conn(i: u32, fwd: Forward, expires: u32) -> Conn {
    let mut c = Conn::new(TCP, 0xC612_0000 + i, 40000 + (i as u16), 0xC612_0164, 80, 0xC613_000B, 8080, fwd, 0, 1);
    c.expires = expires;
    c
}

#[test]
fn both_directions_find_a_nat_connection_and_only_the_client_side_finds_dr() {
    let mut t = ConnTable::new(16, 42, 0);
    let nat = t.insert(conn(1, Forward::Nat, 10)).unwrap();
    let dr = t.insert(conn(2, Forward::DirectRoute, 10)).unwrap();
    let c = *t.get(nat);
    assert_eq!(t.lookup_client(TCP, c.caddr, c.cport, c.vaddr, c.vport), Some(nat));
    assert_eq!(t.lookup_reply(TCP, c.daddr, c.dport, c.caddr, c.cport), Some(nat));
    assert_eq!(t.lookup_client(17, c.caddr, c.cport, c.vaddr, c.vport), None, "protocol is part of the key");
    assert_eq!(t.lookup_client(TCP, c.caddr, c.cport + 1, c.vaddr, c.vport), None);
    let d = *t.get(dr);
    assert_eq!(t.lookup_client(TCP, d.caddr, d.cport, d.vaddr, d.vport), Some(dr));
    assert_eq!(t.lookup_reply(TCP, d.daddr, d.dport, d.caddr, d.cport), None, "DR has no reply index");
    assert_eq!(t.len(), 2);
}

#[test]
fn a_full_table_refuses_and_frees_slots_on_expiry() {
    let mut t = ConnTable::new(4, 7, 0);
    for i in 0..4 {
        t.insert(conn(i, Forward::Nat, 5)).unwrap();
    }
    assert_eq!(t.insert(conn(9, Forward::Nat, 5)), Err(TableFull));
    assert_eq!(t.expire(4, usize::MAX, |_| {}), 0, "nothing due before second 5");
    assert_eq!(t.expire(5, usize::MAX, |_| {}), 4);
    assert!(t.is_empty());
    let c = conn(9, Forward::Nat, 20);
    let idx = t.insert(c).unwrap();
    assert_eq!(t.lookup_client(TCP, c.caddr, c.cport, c.vaddr, c.vport), Some(idx));
    for i in 0..4 {
        let o = conn(i, Forward::Nat, 0);
        assert_eq!(t.lookup_client(TCP, o.caddr, o.cport, o.vaddr, o.vport), None, "expired entries are gone");
    }
}

#[test]
fn extending_is_honoured_lazily_and_shortening_at_once() {
    let mut t = ConnTable::new(8, 1, 0);
    let a = t.insert(conn(1, Forward::Nat, 10)).unwrap();
    let b = t.insert(conn(2, Forward::Nat, 900)).unwrap();
    t.set_expires(a, 100); // a packet extended it
    t.set_expires(b, 20); // a FIN shortened it
    let mut gone = Vec::new();
    t.expire(19, usize::MAX, |c| gone.push(c.cport));
    assert!(gone.is_empty(), "{gone:?}");
    t.expire(20, usize::MAX, |c| gone.push(c.cport));
    assert_eq!(gone, vec![40002], "the shortened one expires at 20");
    t.expire(99, usize::MAX, |c| gone.push(c.cport));
    assert_eq!(gone.len(), 1, "the extended one survives its old slot");
    t.expire(100, usize::MAX, |c| gone.push(c.cport));
    assert_eq!(gone, vec![40002, 40001]);
}

#[test]
fn timeouts_longer_than_the_wheel_still_expire_exactly() {
    let mut t = ConnTable::new(4, 3, 0);
    t.insert(conn(1, Forward::Tunnel, 10_000)).unwrap();
    assert_eq!(t.expire(9_999, usize::MAX, |_| {}), 0);
    assert_eq!(t.len(), 1);
    assert_eq!(t.expire(10_000, usize::MAX, |_| {}), 1);
}

#[test]
fn expiry_work_is_bounded_per_call_and_resumes() {
    let mut t = ConnTable::new(100, 5, 0);
    for i in 0..100 {
        t.insert(conn(i, Forward::Nat, 3)).unwrap();
    }
    assert_eq!(t.expire(3, 30, |_| {}), 30);
    assert_eq!(t.len(), 70);
    assert_eq!(t.expire(3, 30, |_| {}), 30);
    assert_eq!(t.expire(3, 1000, |_| {}), 40);
    assert!(t.is_empty());
}

#[test]
fn removal_and_rebinding_keep_the_indexes_right() {
    let mut t = ConnTable::new(8, 9, 0);
    let ids: Vec<u32> = (0..5).map(|i| t.insert(conn(i, Forward::Nat, 50)).unwrap()).collect();
    let removed = t.remove(ids[2]);
    assert_eq!(t.lookup_client(TCP, removed.caddr, removed.cport, removed.vaddr, removed.vport), None);
    assert_eq!(t.lookup_reply(TCP, removed.daddr, removed.dport, removed.caddr, removed.cport), None);
    let c = *t.get(ids[3]);
    t.get_mut(ids[3]).state = ConnState::TimeWait;
    t.rebind(ids[3], 0xC613_000C, 9090, Forward::Nat, 2, (c.caddr, c.cport));
    assert_eq!(t.lookup_reply(TCP, c.daddr, c.dport, c.caddr, c.cport), None, "old server no longer matches");
    assert_eq!(t.lookup_reply(TCP, 0xC613_000C, 9090, c.caddr, c.cport), Some(ids[3]));
    assert_eq!(t.lookup_client(TCP, c.caddr, c.cport, c.vaddr, c.vport), Some(ids[3]));
    assert_eq!(t.get(ids[3]).state, ConnState::None);
    assert_eq!(t.get(ids[3]).dest, 2);
    assert_eq!(t.iter().count(), 4);
    assert_eq!(t.expire(50, usize::MAX, |_| {}), 4);
}

#[test]
fn new_connections_queued_for_the_reply_index_are_found_before_and_after_filing() {
    let mut t = ConnTable::new(100, 7, 0);
    let hash = |t: &ConnTable, c: &Conn| t.client_hash(c.proto, c.caddr, c.cport, c.vaddr, c.vport);
    let mut held = Vec::new();
    // More than one queue's worth: a full queue is filed at once.
    for i in 0..40 {
        let c = conn(i, Forward::Nat, 10);
        held.push(t.insert_deferring_reply(c, hash(&t, &c)).unwrap());
        assert!(t.deferred_len() <= rvs_core::conn::reply_defer::DEFERRED_MAX);
    }
    assert_eq!(t.deferred_len(), 40 - rvs_core::conn::reply_defer::DEFERRED_MAX);
    let reply = |t: &ConnTable, i: u32| t.lookup_reply(TCP, 0xC613_000B, 8080, 0xC612_0000 + i, 40000 + i as u16);
    for i in 0..40 {
        assert_eq!(reply(&t, i), Some(held[i as usize]), "queued or filed, {i} is found by its reply");
    }
    // Removed and rebound while queued: off the queue, and filed (or not) as its new key says.
    t.remove(held[35]);
    t.rebind(held[36], 0xC613_000C, 8080, Forward::DirectRoute, 2, (0xC612_0000 + 36, 40036));
    t.file_deferred(|_| {});
    assert_eq!(t.deferred_len(), 0);
    for i in 0..40 {
        let want = (i != 35 && i != 36).then(|| held[i as usize]);
        assert_eq!(reply(&t, i), want, "{i} after filing");
    }
    assert_eq!(t.len(), 39);
}

#[test]
fn an_entry_is_one_cache_line_and_memory_is_counted_whole() {
    assert_eq!(std::mem::size_of::<Conn>(), 64);
    assert_eq!(std::mem::align_of::<Conn>(), 64);
    // 64 (the entry with all its links) + two indexes of a 64-byte bucket per ~8.5 entries
    // (7.5 bytes each) + the wheel: at most 80 bytes a connection, whatever the size.
    for capacity in [100_000, 1 << 20, (1 << 20) + 1, 3_000_000] {
        let t = ConnTable::<u32>::new(capacity, 1, 0);
        let per = t.memory_bytes() as f64 / t.capacity() as f64;
        assert!((78.0..=80.0).contains(&per), "{capacity}: {per} bytes per connection");
    }
}

/// The defect an outside review found: more connections due in one second than the expiry
/// budget, a budget stop, then a FIN (a shorter expiry) on a connection of the put-back list
/// before its second is walked again. The put-back list lost a back link, so the refiled entry
/// stayed linked from its predecessor: entries were lost from the wheel, expired twice, or the
/// wheel looped. Run on a thread with a deadline, since the broken wheel can loop forever.
#[test]
fn a_shortened_expiry_after_a_budget_stop_expires_every_connection_once() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut t = ConnTable::new(8, 3, 0);
        // Second 10's slot lists the newest first: 2 and 1 are due, 0 was extended by traffic
        // (lazily: it stays in the slot until walked).
        let ids: Vec<u32> = (0..3).map(|i| t.insert(conn(i, Forward::DirectRoute, 10)).unwrap()).collect();
        t.set_expires(ids[0], 1000);
        let mut fired = Vec::new();
        assert_eq!(t.expire(10, 1, |c| fired.push(c.cport)), 1, "budget 1: 2 expires, 1 and 0 are put back");
        t.set_expires(ids[0], 130); // a FIN on a put-back entry: refiled at once
        for now in [12, 200, 2000, 5000, 9000] {
            t.expire(now, usize::MAX, |c| fired.push(c.cport));
        }
        fired.sort_unstable();
        tx.send((fired, t.len())).unwrap();
    });
    let (fired, len) =
        rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the timer wheel looped (a corrupted list)");
    assert_eq!(fired, vec![40000, 40001, 40002], "each connection expires exactly once");
    assert_eq!(len, 0);
}

/// A FULLNAT connection from `i`'s client to real server `daddr:80` through local end `(laddr, lport)`.
fn fullnat(i: u32, daddr: u32, (laddr, lport): (u32, u16)) -> Conn {
    let mut c = Conn::new(TCP, 0x0A00_0000 + i, 40000, 0x0A00_0064, 80, daddr, 80, Forward::FullNat, 0, 0);
    (c.laddr, c.lport) = (laddr, lport);
    c.expires = 50;
    c
}

/// Two starts of rvsd (two seeds) do not hand out the same local ports in the same order: a
/// director made master just after its start would otherwise reuse, one by one, the ports the
/// other director used after its own start, still in TIME_WAIT on the real servers.
#[test]
fn each_start_searches_local_ports_from_its_own_point_of_the_share() {
    const LIP: u32 = 0xC000_020A;
    let rs = 0xAC10_0001;
    let share = (1024, 64_512);
    let first_ports = |seed: u64| -> Vec<u16> {
        let mut t = ConnTable::new(64, 3, 0).with_local_port_seed(seed);
        (0..20)
            .map(|i| {
                let p = t.take_lport(TCP, rs, 80, LIP, share, 1).expect("a free port");
                t.insert(fullnat(i, rs, (LIP, p))).unwrap();
                p
            })
            .collect()
    };
    let (a, b) = (first_ports(0x5EED_0001), first_ports(0x5EED_0002));
    assert!(a.iter().chain(&b).all(|&p| p >= 1024), "ports of the share: {a:?} {b:?}");
    assert!(a.iter().all(|p| !b.contains(p)), "two starts share no port of their first 20: {a:?} {b:?}");
    assert_eq!(first_ports(0x5EED_0001), a, "one seed, one order");
}

#[test]
fn local_ports_are_free_per_real_server_and_come_back_when_their_connection_ends() {
    const LIP: u32 = 0xC000_020A;
    let (rs1, rs2) = (0xAC10_0001, 0xAC10_0002);
    let mut t = ConnTable::new(64, 3, 0);
    // A share of 3 ports: 40000, 40002, 40004 (every 2nd: core 0 of 2).
    let share = (40000, 3);
    let mut held = vec![];
    for i in 0..3 {
        let p = t.take_lport(TCP, rs1, 80, LIP, share, 2).expect("a free port");
        held.push(t.insert(fullnat(i, rs1, (LIP, p))).unwrap());
    }
    let mut ports: Vec<u16> = held.iter().map(|&i| t.get(i).lport).collect();
    ports.sort_unstable();
    assert_eq!(ports, vec![40000, 40002, 40004], "each port of the share once");
    assert_eq!(t.take_lport(TCP, rs1, 80, LIP, share, 2), None, "the share is used up towards rs1");
    assert_eq!(t.local_addrs().get(LIP).map(|r| (r.in_use, r.exhausted)), Some((3, 1)));
    // The same ports serve another real server, and another protocol.
    assert!(t.take_lport(TCP, rs2, 80, LIP, share, 2).is_some());
    assert!(t.take_lport(17, rs1, 80, LIP, share, 2).is_some());
    // The reply finds its connection by the local end.
    let c = *t.get(held[1]);
    assert_eq!(t.lookup_reply(TCP, rs1, 80, LIP, c.lport), Some(held[1]));
    assert_eq!(t.lookup_reply(TCP, rs1, 80, c.caddr, c.cport), None, "not by the client's end");
    // Its port is free again once it is gone.
    t.remove(held[1]);
    assert_eq!(t.take_lport(TCP, rs1, 80, LIP, share, 2), Some(c.lport));
    assert_eq!(t.local_addrs().get(LIP).map(|r| r.in_use), Some(2));
    // Rebinding to a NAT real server gives the port back and keys the reply by the client.
    t.rebind(held[0], rs2, 8080, Forward::Nat, 1, (0x0A00_0000, 40000));
    assert_eq!(t.local_addrs().get(LIP).map(|r| r.in_use), Some(1));
    assert_eq!(t.lookup_reply(TCP, rs2, 8080, 0x0A00_0000, 40000), Some(held[0]));
    assert_eq!(t.expire(50, usize::MAX, |_| {}), 2);
    assert_eq!(t.local_addrs().get(LIP).map(|r| r.in_use), Some(0));
    t.compact_local_addrs(|_| false);
    assert!(t.local_addrs().get(LIP).is_none(), "a drained address no longer configured is forgotten");
}
