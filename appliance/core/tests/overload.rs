//! The overload defences on a simulated clock: embryonic entries evicted first and never an
//! established one, pressure levels and the short SYN_RECV timeout, the stateless fallback of
//! hash services (same picks as the scheduler, later packets found by the same hash), the
//! new-connection rate limit, and per-real thresholds (`-x/-y`) within and across cores.

mod common;

use common::*;
use rvs_core::conn::ConnState;
use rvs_core::pipeline::PressureLevel;
use rvs_core::service::{Forward, OverloadPolicy, Protocol, Service, Timeouts};
use rvs_core::threshold::ThresholdGauge;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::wire::Mac;
use rvs_core::{DropReason, Pipeline, PipelineConfig, Snapshot, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const T0: u64 = 1_000_000; // ms

fn secs(s: u64) -> u64 {
    T0 + s * 1000
}

fn send(p: &mut Pipeline, now_ms: u64, port: u16, frame: Vec<u8>) -> (Verdict, Mac) {
    send_at(p, now_ms, port, frame)
}

fn client(n: u32) -> rvs_core::wire::build::PacketBuilder {
    rvs_core::wire::build::PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::from(0x0A00_0000 + n), VIP_DR)
}

fn pipe(services: Vec<Service>, policy: OverloadPolicy, capacity: usize) -> Pipeline {
    let snap = Snapshot::new(interfaces(), services, neighbours(), Timeouts::default()).unwrap().with_overload(policy);
    Pipeline::new(PipelineConfig { conn_capacity: capacity, ..PipelineConfig::default() }, Arc::new(snap), T0)
}

fn dr(sched: &str) -> Vec<Service> {
    vec![service(0, Protocol::Tcp, VIP_DR, sched, &[(RS1, 1), (RS2, 1)], Forward::DirectRoute, 0)]
}

fn states(p: &Pipeline) -> Vec<(u32, ConnState)> {
    let mut v: Vec<_> = p.connections().iter().map(|(_, c)| (c.caddr - 0x0A00_0000, c.state)).collect();
    v.sort_unstable_by_key(|x| x.0);
    v
}

#[test]
fn a_full_table_evicts_an_embryonic_entry_never_an_established_one() {
    let mut p = pipe(dr("rr"), OverloadPolicy::default(), 4);
    // Clients 1 and 2 establish and talk (DR sees only the client: a handshake, then segments).
    for n in [1, 2] {
        dr_converse(&mut p, secs(0), n);
    }
    // Spoofed SYNs fill the rest and keep coming: each new one replaces an embryonic one.
    for n in 100..140 {
        assert!(matches!(send(&mut p, secs(1), 0, client(n).tcp(1000, 80, SYN, 1, b"")).0, Verdict::Forward(1)));
    }
    assert_eq!(p.connections().len(), 4);
    assert_eq!(p.counters().evicted, 38);
    assert_eq!(p.counters().drops(DropReason::TableFull), 0);
    let s = states(&p);
    assert_eq!(&s[..2], &[(1, ConnState::Established), (2, ConnState::Established)], "{s:?}");
    // The established clients still flow; a new client's handshake completes.
    for n in [1, 2] {
        assert!(matches!(send(&mut p, secs(2), 0, client(n).tcp(1000, 80, ACK, 3, b"x")).0, Verdict::Forward(1)));
    }
    dr_converse(&mut p, secs(2), 7);
    // With every entry established and talking, a SYN is refused and counted.
    dr_converse(&mut p, secs(2), 8);
    assert!(states(&p).iter().all(|s| s.1 == ConnState::Established), "{:?}", states(&p));
    let before = p.counters().evicted;
    assert_eq!(send(&mut p, secs(2), 0, client(9).tcp(1000, 80, SYN, 1, b"")).0, Verdict::Drop(DropReason::TableFull));
    assert_eq!(p.counters().evicted, before);
    assert_eq!(p.counters().drops(DropReason::TableFull), 1);
}

#[test]
fn udp_flows_never_answered_are_embryonic_answered_ones_are_not() {
    let svcs = vec![service(0, Protocol::Udp, VIP_NAT, "rr", &[(RS1, 1)], Forward::Nat, 0)];
    let mut p = pipe(svcs, OverloadPolicy::default(), 2);
    let c = |n: u32| rvs_core::wire::build::PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::from(n), VIP_NAT);
    assert!(matches!(send(&mut p, secs(0), 0, c(1).udp(5000, 80, b"q", true)).0, Verdict::Forward(1)));
    let reply = from_real(RS1_MAC, RS1);
    let reply = rvs_core::wire::build::PacketBuilder { dst: Ipv4Addr::from(1), ..reply };
    assert_eq!(send(&mut p, secs(0), 1, reply.udp(80, 5000, b"a", true)).0, Verdict::Forward(0));
    for n in 2..10 {
        assert!(matches!(send(&mut p, secs(0), 0, c(n).udp(5000, 80, b"q", true)).0, Verdict::Forward(1)));
    }
    let mut left: Vec<u32> = p.connections().iter().map(|(_, k)| k.caddr).collect();
    left.sort_unstable();
    assert_eq!(left, vec![1, 9], "the answered flow stays; one-way flows made room for each other");
    assert_eq!(p.counters().evicted, 7);
}

#[test]
fn pressure_shortens_syn_recv_and_each_level_change_is_counted() {
    let policy = OverloadPolicy { pressure_percent: 50, syn_timeout: 3, ..OverloadPolicy::default() };
    let mut p = pipe(dr("rr"), policy, 8);
    for n in 0..3 {
        send(&mut p, secs(0), 0, client(n).tcp(1000, 80, SYN, 1, b""));
    }
    assert_eq!(p.pressure_level(), PressureLevel::Normal);
    let long: Vec<u32> = p.connections().iter().map(|(_, c)| c.expires).collect();
    assert!(long.iter().all(|&e| e >= 1000 + 60), "SYN_RECV lives 60 s normally: {long:?}");
    send(&mut p, secs(0), 0, client(3).tcp(1000, 80, SYN, 1, b""));
    assert_eq!(p.pressure_level(), PressureLevel::Pressure, "4 of 8 = 50%");
    assert_eq!(p.counters().level_changes, 1);
    send(&mut p, secs(0), 0, client(4).tcp(1000, 80, SYN, 1, b""));
    let short = p.connections().iter().find(|(_, c)| c.caddr == 0x0A00_0004).unwrap().1.expires;
    assert_eq!(short, 1000 + 3, "under pressure SYN_RECV gets syn_timeout");
    for n in 5..9 {
        send(&mut p, secs(0), 0, client(n).tcp(1000, 80, SYN, 1, b""));
    }
    assert_eq!(p.pressure_level(), PressureLevel::Full);
    assert_eq!(p.counters().level_changes, 2);
    assert_eq!(p.counters().evicted, 1, "the ninth SYN took the oldest embryonic entry's place");
    // The short-lived ones go at 3 s; 2 of 8 left is under 50% less 10 points.
    p.poll_timers(secs(4));
    assert_eq!(p.connections().len(), 2);
    assert_eq!(p.pressure_level(), PressureLevel::Normal);
    assert_eq!(p.counters().level_changes, 3);
    // Hysteresis: pressure is left 10 points under its threshold, full under 95%.
    assert_eq!(PressureLevel::Pressure.next(4, 10, 50, false), PressureLevel::Pressure);
    assert_eq!(PressureLevel::Normal.next(4, 10, 50, false), PressureLevel::Normal);
    assert_eq!(PressureLevel::Pressure.next(3, 10, 50, false), PressureLevel::Normal);
    assert_eq!(PressureLevel::Full.next(19, 20, 50, false), PressureLevel::Full);
    assert_eq!(PressureLevel::Full.next(18, 20, 50, false), PressureLevel::Pressure);
    assert_eq!(PressureLevel::Normal.next(1, 20, 50, true), PressureLevel::Full);
}

#[test]
fn a_hash_service_forwards_statelessly_when_full_with_the_schedulers_picks() {
    for sched in ["mh", "sh"] {
        let mut stateful = pipe(dr(sched), OverloadPolicy::default(), 1024);
        let mut full = pipe(dr(sched), OverloadPolicy::default(), 2);
        for n in 0..200 {
            let syn = client(n).tcp(1000, 80, SYN, 1, b"");
            let (v1, m1) = send(&mut stateful, secs(0), 0, syn.clone());
            let (v2, m2) = send(&mut full, secs(0), 0, syn);
            assert_eq!((v1, m1), (v2, m2), "{sched}: client {n}");
            // A later packet of the flow, without an entry, finds the same server.
            let (v3, m3) = send(&mut full, secs(0), 0, client(n).tcp(1000, 80, ACK, 2, b"x"));
            assert_eq!((v3, m3), (v1, m1), "{sched}: client {n}, second packet");
        }
        assert_eq!(full.connections().len(), 2);
        assert!(full.counters().stateless_forwarded >= 2 * 198, "{:?}", full.counters());
        assert_eq!(full.counters().evicted, 0, "a hash service goes stateless rather than evict");
        let macs: std::collections::BTreeSet<_> =
            (0..50).map(|n| send(&mut full, secs(0), 0, client(n).tcp(1000, 80, ACK, 3, b"")).1).collect();
        assert_eq!(macs.len(), 2, "{sched}: both real servers get flows");
    }
}

#[test]
fn nat_and_non_hash_services_never_go_stateless() {
    let mut p = pipe(dr("wlc"), OverloadPolicy::default(), 2);
    for n in 0..2 {
        dr_converse(&mut p, secs(0), n);
    }
    assert_eq!(send(&mut p, secs(0), 0, client(5).tcp(1000, 80, SYN, 1, b"")).0, Verdict::Drop(DropReason::TableFull));
    assert_eq!(
        send(&mut p, secs(0), 0, client(5).tcp(1000, 80, ACK, 2, b"")).0,
        Verdict::Drop(DropReason::NoConnection)
    );
    let mh_nat = vec![service(0, Protocol::Tcp, VIP_NAT, "mh", &[(RS1, 1)], Forward::Nat, 0)];
    let snap = Snapshot::new(interfaces(), mh_nat, neighbours(), Timeouts::default()).unwrap();
    assert!(!snap.stateless_capable(0), "NAT needs state");
    let off = OverloadPolicy { stateless_fallback: false, ..OverloadPolicy::default() };
    let mut p = pipe(dr("mh"), off, 2);
    assert_eq!(
        send(&mut p, secs(0), 0, client(5).tcp(1000, 80, ACK, 2, b"")).0,
        Verdict::Drop(DropReason::NoConnection)
    );
    assert_eq!(p.counters().stateless_forwarded, 0);
}

#[test]
fn above_the_new_connection_rate_hash_services_go_stateless_until_the_next_second() {
    let policy = OverloadPolicy { new_conn_rate: 3, ..OverloadPolicy::default() };
    let mut p = pipe(dr("mh"), policy, 1024);
    for n in 0..10 {
        assert!(matches!(send(&mut p, secs(0), 0, client(n).tcp(1000, 80, SYN, 1, b"")).0, Verdict::Forward(1)));
    }
    assert_eq!(p.connections().len(), 3);
    assert_eq!(p.counters().stateless_forwarded, 7);
    for n in 10..13 {
        send(&mut p, secs(1), 0, client(n).tcp(1000, 80, SYN, 1, b""));
    }
    assert_eq!(p.connections().len(), 6, "a new second, a new allowance");
}

fn threshold_svc(upper: u32, lower: u32) -> Vec<Service> {
    let mut s = dr("rr");
    s[0].dests[0].u_threshold = upper;
    s[0].dests[0].l_threshold = lower;
    s
}

/// Opens a DR connection from client `n` and says which real server took it (true: RS1).
fn open(p: &mut Pipeline, now: u64, n: u32) -> bool {
    let (v, mac) = send(p, now, 0, client(n).tcp(1000, 80, SYN, 1, b""));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(send(p, now, 0, client(n).tcp(1000, 80, ACK, 2, b"")).0, Verdict::Forward(1));
    mac == RS1_MAC
}

fn close(p: &mut Pipeline, now: u64, n: u32) {
    let (v, _) = send(p, now, 0, client(n).tcp(1000, 80, rvs_core::wire::tcp::flags::RST, 2, b""));
    assert_eq!(v, Verdict::Forward(1));
}

#[test]
fn a_real_server_at_its_upper_threshold_gets_nothing_new_until_below_the_lower() {
    let mut p = pipe(threshold_svc(3, 2), OverloadPolicy::default(), 1024);
    let picks: Vec<bool> = (0..8).map(|n| open(&mut p, secs(0), n)).collect();
    // rr alternates RS1, RS2 until RS1 holds 3; then only RS2.
    assert_eq!(picks, vec![true, false, true, false, true, false, false, false]);
    // RST moves established connections to CLOSE (10 s): they count until they expire.
    close(&mut p, secs(1), 0);
    close(&mut p, secs(1), 2);
    p.poll_timers(secs(12));
    assert_eq!(p.loads()[0].active + p.loads()[0].inactive, 1);
    assert!((20..26).any(|n| open(&mut p, secs(12), n)), "below the lower threshold RS1 takes connections again");
}

#[test]
fn thresholds_count_connections_of_every_core() {
    let gauge = Arc::new(ThresholdGauge::new(2));
    let snap = Arc::new(Snapshot::new(interfaces(), threshold_svc(4, 0), neighbours(), Timeouts::default()).unwrap());
    let mut cores: Vec<Pipeline> = (0..2)
        .map(|core| {
            let cfg = PipelineConfig { conn_capacity: 1024, core, cores: 2, ..PipelineConfig::default() };
            let mut p = Pipeline::new(cfg, Arc::clone(&snap), T0);
            p.share_thresholds(Arc::clone(&gauge));
            p
        })
        .collect();
    // Each core puts 2 connections on RS1 (rr, one in two): 4 together, the upper threshold.
    let mut n = 0;
    for p in cores.iter_mut() {
        let mut on_rs1 = 0;
        while on_rs1 < 2 {
            on_rs1 += u32::from(open(p, secs(0), n));
            n += 1;
        }
    }
    assert!(gauge.is_overloaded(0));
    // Core 0 learns it at its burst boundary; from then on neither core sends RS1 anything.
    cores[0].poll_timers(secs(0));
    for p in cores.iter_mut() {
        assert!((0..6).all(|_| {
            n += 1;
            !open(p, secs(0), n)
        }));
    }
}

/// NAT client `n` of [`nat_flood_pipe`]'s service: the frame builder and, once scheduled, the
/// builder of its real server's replies.
fn nat_client(n: u32) -> rvs_core::wire::build::PacketBuilder {
    rvs_core::wire::build::PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::from(0x0A00_0000 + n), VIP_NAT)
}

fn nat_reply(p: &Pipeline, n: u32) -> rvs_core::wire::build::PacketBuilder {
    let c = p.connections().iter().find(|(_, c)| c.caddr == 0x0A00_0000 + n).expect("scheduled").1;
    let (mac, rs) = if Ipv4Addr::from(c.daddr) == RS1 { (RS1_MAC, RS1) } else { (RS2_MAC, RS2) };
    rvs_core::wire::build::PacketBuilder { dst: Ipv4Addr::from(0x0A00_0000 + n), ..from_real(mac, rs) }
}

fn nat_flood_pipe(capacity: usize) -> Pipeline {
    let svcs = vec![service(0, Protocol::Tcp, VIP_NAT, "rr", &[(RS1, 1), (RS2, 1)], Forward::Nat, 0)];
    pipe(svcs, OverloadPolicy::default(), capacity)
}

/// A real NAT connection: handshake answered by the real server, a request and its answer.
fn nat_converse(p: &mut Pipeline, now: u64, n: u32) {
    let c = nat_client(n);
    assert!(matches!(send(p, now, 0, c.tcp(1000, 80, SYN, 1, b"")).0, Verdict::Forward(1)), "client {n}: SYN");
    let r = nat_reply(p, n);
    assert_eq!(send(p, now, 1, r.tcp(80, 1000, SYN | ACK, 7, b"")).0, Verdict::Forward(0));
    assert!(matches!(send(p, now, 0, c.tcp(1000, 80, ACK, 2, b"")).0, Verdict::Forward(1)));
    assert!(matches!(send(p, now, 0, c.tcp(1000, 80, ACK, 2, b"GET /")).0, Verdict::Forward(1)));
    assert_eq!(send(p, now, 1, r.tcp(80, 1000, ACK, 8, b"200 OK")).0, Verdict::Forward(0));
}

/// Review defect 1, NAT: a spoofed SYN and a blind ACK (the client never saw the SYN-ACK) moved
/// an entry to ESTABLISHED, which was never evicted: two packets an entry filled the table and
/// every real SYN then got `table_full`. A NAT entry grows up only once the real server answered
/// the established connection.
#[test]
fn spoofed_syn_and_blind_ack_pairs_never_lock_a_nat_table() {
    let mut p = nat_flood_pipe(16);
    for n in [1, 2] {
        nat_converse(&mut p, secs(0), n);
    }
    // Ten times the table in spoofed pairs. The real server answers each SYN (its SYN-ACK goes
    // to the spoofed address) and resets every other blind ACK, as a kernel does.
    for n in 100..260 {
        let c = nat_client(n);
        assert!(matches!(send(&mut p, secs(1), 0, c.tcp(1000, 80, SYN, 1, b"")).0, Verdict::Forward(1)), "{n}");
        let r = nat_reply(&p, n);
        assert_eq!(send(&mut p, secs(1), 1, r.tcp(80, 1000, SYN | ACK, 7, b"")).0, Verdict::Forward(0));
        assert!(matches!(send(&mut p, secs(1), 0, c.tcp(1000, 80, ACK, 2, b"")).0, Verdict::Forward(1)));
        if n % 2 == 0 {
            assert_eq!(
                send(&mut p, secs(1), 1, r.tcp(80, 1000, rvs_core::wire::tcp::flags::RST, 8, b"")).0,
                Verdict::Forward(0)
            );
        }
    }
    assert_eq!(p.counters().drops(DropReason::TableFull), 0, "{:?}", p.counters());
    // The held connections still flow, both ways; a new client is served during the flood.
    for n in [1, 2] {
        assert!(matches!(
            send(&mut p, secs(2), 0, nat_client(n).tcp(1000, 80, ACK, 7, b"more")).0,
            Verdict::Forward(1)
        ));
        let r = nat_reply(&p, n).tcp(80, 1000, ACK, 14, b"ok");
        assert_eq!(send(&mut p, secs(2), 1, r).0, Verdict::Forward(0));
    }
    nat_converse(&mut p, secs(2), 3);
    assert_eq!(p.counters().drops(DropReason::TableFull), 0);
}

/// A DR client that has said enough to count as a live peer: a handshake and 8 more segments.
fn dr_converse(p: &mut Pipeline, now: u64, n: u32) {
    assert!(matches!(send(p, now, 0, client(n).tcp(1000, 80, SYN, 1, b"")).0, Verdict::Forward(1)), "client {n}");
    for k in 0..9 {
        assert!(matches!(send(p, now, 0, client(n).tcp(1000, 80, ACK, 2 + k, b"x")).0, Verdict::Forward(1)));
    }
}

/// Review defect 1, DR: the director never sees the reply, so an entry the client moved to
/// ESTABLISHED stays evictable (and, under pressure, short-lived) until it has carried more
/// client packets than IPVS's `todrop_entry` drops (8).
#[test]
fn spoofed_syn_and_blind_ack_pairs_never_lock_a_dr_table() {
    let policy = OverloadPolicy { syn_timeout: 3, ..OverloadPolicy::default() };
    let mut p = pipe(dr("rr"), policy, 16);
    for n in [1, 2] {
        dr_converse(&mut p, secs(0), n);
    }
    for n in 100..260 {
        assert!(matches!(send(&mut p, secs(1), 0, client(n).tcp(1000, 80, SYN, 1, b"")).0, Verdict::Forward(1)));
        assert!(matches!(send(&mut p, secs(1), 0, client(n).tcp(1000, 80, ACK, 2, b"")).0, Verdict::Forward(1)));
    }
    assert_eq!(p.counters().drops(DropReason::TableFull), 0, "{:?}", p.counters());
    for n in [1, 2] {
        assert!(matches!(send(&mut p, secs(2), 0, client(n).tcp(1000, 80, ACK, 20, b"y")).0, Verdict::Forward(1)));
    }
    dr_converse(&mut p, secs(2), 3);
    // Blind-established entries made under pressure are short-lived: once the flood stops they
    // are gone within syn_timeout, the held ones stay.
    p.poll_timers(secs(6));
    let mut left: Vec<u32> = p.connections().iter().map(|(_, c)| c.caddr - 0x0A00_0000).collect();
    left.sort_unstable();
    assert_eq!(left, vec![1, 2, 3]);
}
