//! Connection life on a simulated clock: per-state timeouts (`--set tcp tcpfin udp`), TCP
//! transitions moving connections between active and inactive, expiry releasing real-server
//! counts, TIME_WAIT reuse, and snapshot swaps that leave established connections alone.

mod common;

use common::*;
use rvs_core::service::{Interface, Timeouts};
use rvs_core::wire::tcp::flags::{ACK, FIN, RST, SYN};
use rvs_core::{DropReason, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::sync::Arc;

const T0: u64 = 1_000_000; // ms

fn send(p: &mut Pipeline, now_ms: u64, port: u16, frame: Vec<u8>) -> Verdict {
    let mut f = VecFrame::new(&frame);
    p.process(now_ms, port, &mut f)
}

fn secs(s: u64) -> u64 {
    T0 + s * 1000
}

fn with_timeouts(t: Timeouts) -> Pipeline {
    let snap = Snapshot::new(interfaces(), services(), neighbours(), t).unwrap();
    Pipeline::new(PipelineConfig { conn_capacity: 64, ..PipelineConfig::default() }, Arc::new(snap), T0)
}

#[test]
fn established_nat_connection_lives_for_tcp_timeout_after_its_last_packet() {
    let mut p = with_timeouts(Timeouts { tcp: 30, tcpfin: 10, udp: 20 });
    let c = from_client(VIP_NAT);
    let r = from_real(RS1_MAC, RS1);
    assert_eq!(send(&mut p, secs(0), 0, c.tcp(40000, 80, SYN, 1, b"")), Verdict::Forward(1));
    assert_eq!(send(&mut p, secs(0), 1, r.tcp(8080, 40000, SYN | ACK, 1, b"")), Verdict::Forward(0));
    assert_eq!(send(&mut p, secs(1), 0, c.tcp(40000, 80, ACK, 2, b"")), Verdict::Forward(1));
    assert_eq!((p.loads()[0].active, p.loads()[0].inactive), (1, 0));

    // Traffic at t=20 pushes expiry to 50.
    assert_eq!(send(&mut p, secs(20), 1, r.tcp(8080, 40000, ACK, 2, b"data")), Verdict::Forward(0));
    assert_eq!(p.poll_timers(secs(49)), 0);
    assert_eq!(p.connections().len(), 1);
    assert_eq!(p.poll_timers(secs(50)), 1);
    assert!(p.connections().is_empty());
    assert_eq!((p.loads()[0].active, p.loads()[0].inactive), (0, 0), "expiry releases the count");
    assert_eq!(p.counters().expired_conns, 1);
    // The connection is gone: a late ACK is no longer forwarded.
    assert_eq!(send(&mut p, secs(51), 0, c.tcp(40000, 80, ACK, 3, b"")), Verdict::Drop(DropReason::NoConnection));
}

#[test]
fn syn_recv_times_out_after_60s_and_udp_after_its_timeout() {
    let mut p = with_timeouts(Timeouts { tcp: 900, tcpfin: 120, udp: 7 });
    let c = from_client(VIP_NAT);
    send(&mut p, secs(0), 0, c.tcp(40000, 80, SYN, 1, b""));
    send(&mut p, secs(0), 0, c.udp(5000, 53, b"q", true));
    assert_eq!(p.connections().len(), 2);
    assert_eq!(p.poll_timers(secs(6)), 0);
    assert_eq!(p.poll_timers(secs(7)), 1, "UDP after 7 s");
    assert_eq!(p.poll_timers(secs(59)), 0);
    assert_eq!(p.poll_timers(secs(60)), 1, "SYN_RECV after 60 s (IPVS default)");
    assert_eq!(p.loads()[0], Default::default());
    assert_eq!(p.loads()[2], Default::default());
}

#[test]
fn close_sequence_shortens_the_timeout_and_rst_closes() {
    let mut p = with_timeouts(Timeouts { tcp: 900, tcpfin: 15, udp: 300 });
    let c = from_client(VIP_DR);
    send(&mut p, secs(0), 0, c.tcp(40000, 80, SYN, 1, b""));
    send(&mut p, secs(0), 0, c.tcp(40000, 80, ACK, 2, b""));
    assert_eq!(p.loads()[3].active, 1);
    // DR, input only: FIN -> FIN_WAIT (tcpfin = 15 s), no longer active.
    send(&mut p, secs(100), 0, c.tcp(40000, 80, FIN | ACK, 3, b""));
    assert_eq!(p.connections().iter().next().unwrap().1.state.name(), "FIN_WAIT");
    assert_eq!((p.loads()[3].active, p.loads()[3].inactive), (0, 1));
    assert_eq!(p.poll_timers(secs(114)), 0);
    assert_eq!(p.poll_timers(secs(115)), 1, "expired 15 s after the FIN, not 900");

    send(&mut p, secs(200), 0, c.tcp(40001, 80, SYN, 1, b""));
    send(&mut p, secs(200), 0, c.tcp(40001, 80, ACK, 2, b""));
    send(&mut p, secs(201), 0, c.tcp(40001, 80, RST, 3, b""));
    assert_eq!(p.connections().iter().next().unwrap().1.state.name(), "CLOSE");
    assert_eq!(p.poll_timers(secs(210)), 0);
    assert_eq!(p.poll_timers(secs(211)), 1, "CLOSE lives 10 s");
}

#[test]
fn a_syn_on_a_time_wait_connection_is_scheduled_afresh() {
    let mut p = with_timeouts(Timeouts::default());
    let c = from_client(VIP_NAT);
    let r1 = from_real(RS1_MAC, RS1);
    send(&mut p, secs(0), 0, c.tcp(40000, 80, SYN, 1, b""));
    send(&mut p, secs(0), 1, r1.tcp(8080, 40000, SYN | ACK, 1, b""));
    send(&mut p, secs(0), 0, c.tcp(40000, 80, ACK, 2, b""));
    send(&mut p, secs(1), 0, c.tcp(40000, 80, FIN | ACK, 2, b""));
    send(&mut p, secs(1), 1, r1.tcp(8080, 40000, FIN | ACK, 2, b""));
    assert_eq!(p.connections().iter().next().unwrap().1.state.name(), "TIME_WAIT");
    // Same client port again: rr moves it to RS2, and RS1's count is released.
    assert_eq!(send(&mut p, secs(2), 0, c.tcp(40000, 80, SYN, 100, b"")), Verdict::Forward(1));
    let conn = *p.connections().iter().next().unwrap().1;
    assert_eq!(conn.daddr, u32::from(RS2));
    assert_eq!(conn.state.name(), "SYN_RECV");
    assert_eq!(p.loads()[0], Default::default());
    assert_eq!(p.loads()[1].inactive, 1);
    assert_eq!(p.connections().len(), 1);
    assert_eq!(p.counters().new_conns, 2);
}

#[test]
fn snapshot_swaps_keep_established_connections_on_their_real_server() {
    let mut p = with_timeouts(Timeouts::default());
    let c = from_client(VIP_NAT);
    send(&mut p, secs(0), 0, c.tcp(40000, 80, SYN, 1, b"")); // RS1
                                                             // Quiesce RS1 and delete RS2.
    let mut svcs = services();
    svcs[0].dests[0].weight = 0;
    svcs[0].dests.truncate(1);
    let snap = Arc::new(Snapshot::new(interfaces(), svcs.clone(), neighbours(), Timeouts::default()).unwrap());
    p.apply(snap);
    assert_eq!(send(&mut p, secs(1), 0, c.tcp(40000, 80, ACK, 2, b"")), Verdict::Forward(1), "existing conn flows");
    assert_eq!(
        send(&mut p, secs(1), 0, c.tcp(40001, 80, SYN, 1, b"")),
        Verdict::Drop(DropReason::NoDest),
        "quiesced: no new connections"
    );
    // Delete the whole service: the connection still drains to RS1.
    svcs.remove(0);
    p.apply(Arc::new(Snapshot::new(interfaces(), svcs, neighbours(), Timeouts::default()).unwrap()));
    assert_eq!(send(&mut p, secs(2), 0, c.tcp(40000, 80, ACK, 3, b"x")), Verdict::Forward(1));
    // VIP_NAT still has other services: a new SYN to port 80 now finds no service there.
    assert_eq!(send(&mut p, secs(2), 0, c.tcp(40002, 80, SYN, 1, b"")), Verdict::Drop(DropReason::NoService));
}

#[test]
fn a_table_full_of_established_connections_refuses_a_new_one_and_counts_it() {
    let mut p =
        Pipeline::new(PipelineConfig { conn_capacity: 2, ..PipelineConfig::default() }, Arc::new(snapshot()), T0);
    let c = from_client(VIP_NAT);
    let r = from_real(RS1_MAC, RS1);
    for port in [1, 2] {
        assert_eq!(send(&mut p, secs(0), 0, c.tcp(port, 80, SYN, 1, b"")), Verdict::Forward(1));
    }
    // Both complete their handshakes (rr: port 1 went to RS1, port 2 to RS2).
    let r2 = from_real(RS2_MAC, RS2);
    assert_eq!(send(&mut p, secs(0), 1, r.tcp(8080, 1, SYN | ACK, 1, b"")), Verdict::Forward(0));
    assert_eq!(send(&mut p, secs(0), 1, r2.tcp(8080, 2, SYN | ACK, 1, b"")), Verdict::Forward(0));
    for port in [1, 2] {
        assert_eq!(send(&mut p, secs(0), 0, c.tcp(port, 80, ACK, 2, b"GET")), Verdict::Forward(1));
    }
    // The servers answer the requests: both connections are real, never evicted.
    assert_eq!(send(&mut p, secs(0), 1, r.tcp(8080, 1, ACK, 2, b"OK")), Verdict::Forward(0));
    assert_eq!(send(&mut p, secs(0), 1, r2.tcp(8080, 2, ACK, 2, b"OK")), Verdict::Forward(0));
    assert_eq!(send(&mut p, secs(0), 0, c.tcp(3, 80, SYN, 1, b"")), Verdict::Drop(DropReason::TableFull));
    assert_eq!(p.counters().drops(DropReason::TableFull), 1);
    assert_eq!(p.counters().evicted, 0, "an established connection is never evicted");
    p.poll_timers(secs(901));
    assert_eq!(send(&mut p, secs(901), 0, c.tcp(3, 80, SYN, 1, b"")), Verdict::Forward(1), "room again after expiry");
}

#[test]
fn config_errors_name_what_is_wrong_and_kernel_exception_is_opt_in() {
    let mut dup = services();
    dup.push(dup[0].clone());
    let last = dup.last_mut().unwrap();
    last.id = 9;
    for (i, d) in last.dests.iter_mut().enumerate() {
        d.id = 100 + i as u16;
    }
    let e =
        Snapshot::new(interfaces(), dup, Vec::<(std::net::IpAddr, rvs_core::wire::Mac)>::new(), Timeouts::default())
            .unwrap_err();
    assert_eq!(e.to_string(), "service tcp 198.18.0.100:80: defined twice");
    let mut bad = services();
    bad[0].scheduler = "fastest".into();
    let e =
        Snapshot::new(interfaces(), bad, Vec::<(std::net::IpAddr, rvs_core::wire::Mac)>::new(), Timeouts::default())
            .unwrap_err();
    assert!(e.to_string().contains("unknown scheduler \"fastest\""), "{e}");
    let mut dr_port = services();
    dr_port[2].dests[0].port = 8080;
    let e = Snapshot::new(
        interfaces(),
        dr_port,
        Vec::<(std::net::IpAddr, rvs_core::wire::Mac)>::new(),
        Timeouts::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("port must equal the virtual port"), "{e}");
    let none: Vec<Interface> = vec![];
    assert!(Snapshot::new(none, vec![], Vec::<(std::net::IpAddr, rvs_core::wire::Mac)>::new(), Timeouts::default())
        .is_err());

    let snap = snapshot().with_kernel_exception(true);
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap), T0);
    let stray = from_client(std::net::Ipv4Addr::new(198, 18, 0, 77)).tcp(1, 22, SYN, 1, b"");
    assert_eq!(send(&mut p, secs(0), 0, stray), Verdict::ToKernel);
}

/// An established flow's entry is written only where a field changes: its client packet count
/// stops at `PKTS_COUNTED` without a sync master (the sync tests cover counting with one),
/// and its expiry moves only when the second does. An unchanged line is never dirtied, so at
/// 10 M flows evicting it costs no write-back.
#[test]
fn packets_within_one_second_leave_an_established_entry_unchanged() {
    use rvs_core::conn::entry::PKTS_COUNTED;
    for mode in ["dr", "tun", "nat_in", "nat_out", "fnat_in", "fnat_out"] {
        let (mut p, frames) = established(mode);
        let (port, frame) = frames[0].clone();
        let entries = |p: &Pipeline| p.connections().iter().map(|(i, c)| (i, *c)).collect::<Vec<_>>();
        for _ in 0..=PKTS_COUNTED {
            assert!(matches!(send(&mut p, ESTABLISHED_NOW, port, frame.clone()), Verdict::Forward(_)), "{mode}");
        }
        let before = entries(&p);
        for ms in 0..40 {
            assert!(matches!(send(&mut p, ESTABLISHED_NOW + ms * 20, port, frame.clone()), Verdict::Forward(_)));
        }
        assert_eq!(entries(&p), before, "{mode}: 40 packets in the same second changed the entry");
        // The next second moves the expiry, and only that.
        send(&mut p, ESTABLISHED_NOW + 1000, port, frame.clone());
        let after = entries(&p);
        let changed: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
        assert_eq!(changed.len(), 1, "{mode}");
        let (b, a) = changed[0];
        let mut moved_back = a.1;
        moved_back.expires = b.1.expires;
        assert_eq!((a.1.expires - b.1.expires, moved_back), (1, b.1), "{mode}");
    }
}
