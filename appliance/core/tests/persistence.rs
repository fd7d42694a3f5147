//! Persistence (`-p SECONDS`, `-M NETMASK`) as IPVS does it, on a simulated clock: a template
//! per client network pins the real server, lives while its connections do and for the
//! persistence timeout after the last one ends, keeps a quiesced server (no new templates go
//! there), and is dropped when its server is deleted.

mod common;

use common::*;
use rvs_core::service::{Forward, Protocol, Timeouts};
use rvs_core::{Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const T0: u64 = 1_000_000;

fn at(s: u64) -> u64 {
    T0 + s * 1000
}

/// UDP service on VIP_NAT:80, rr over RS1 (dest 0), RS2 (dest 1), -p 300 -M 255.255.255.0;
/// UDP timeout 20 s.
fn snap(rs1_weight: u32, with_rs1: bool) -> Snapshot {
    let mut reals = vec![(RS1, rs1_weight), (RS2, 1)];
    let mut s = service(0, Protocol::Udp, VIP_NAT, "rr", &reals, Forward::DirectRoute, 0);
    if !with_rs1 {
        reals.remove(0);
        s.dests.remove(0);
    }
    s.persistence = 300;
    s.persistence_prefix = 24;
    Snapshot::new(interfaces(), vec![s], neighbours(), Timeouts { tcp: 900, tcpfin: 120, udp: 20 }).unwrap()
}

/// Sends one datagram from `client:port`; returns the real server it went to.
fn send(p: &mut Pipeline, now: u64, client: Ipv4Addr, port: u16) -> Option<Ipv4Addr> {
    let b = rvs_core::wire::build::PacketBuilder::new(ROUTER_MAC, OUT_MAC, client, VIP_NAT);
    let mut f = VecFrame::new(&b.udp(port, 80, b"x", true));
    match p.process(now, 0, &mut f) {
        Verdict::Forward(1) => {
            let mac = &f.data()[0..6];
            [(RS1_MAC, RS1), (RS2_MAC, RS2)].iter().find(|(m, _)| &m.0[..] == mac).map(|x| x.1)
        }
        _ => None,
    }
}

fn apply(p: &mut Pipeline, s: Snapshot) {
    p.apply(Arc::new(s));
}

#[test]
fn a_client_network_is_pinned_while_the_template_lives() {
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap(1, true)), T0);
    let a = Ipv4Addr::new(203, 0, 113, 7);
    let b = Ipv4Addr::new(203, 0, 113, 200); // same /24
    let c = Ipv4Addr::new(203, 0, 114, 7); // another /24
    assert_eq!(send(&mut p, at(0), a, 1000), Some(RS1), "rr: first");
    assert_eq!(send(&mut p, at(0), a, 1001), Some(RS1), "pinned (rr alone would say RS2)");
    assert_eq!(send(&mut p, at(1), b, 5000), Some(RS1), "same /24: same template");
    assert_eq!(send(&mut p, at(1), c, 5000), Some(RS2), "another network: scheduled (rr: next)");
    assert_eq!(p.templates().count(), 2);
    let t = p.templates().find(|(k, _)| *k & 0xffff_ffff == 0xCB00_7100).unwrap().1;
    assert_eq!(t.n_control, 3, "three live connections placed by it");

    // The connections expire at 21 s; the template lives 300 s after that.
    p.poll_timers(at(21));
    assert_eq!(p.connections().len(), 0);
    let t = *p.templates().find(|(k, _)| *k & 0xffff_ffff == 0xCB00_7100).unwrap().1;
    assert_eq!(t.n_control, 0);
    assert!(t.expires >= ((T0 / 1000) as u32) + 21 + 300 - 1, "{t:?}");
    assert_eq!(send(&mut p, at(300), a, 2000), Some(RS1), "still pinned 279 s after the last one ended");
    // That connection renews it: ends at 320, template until 620.
    for s in (320..=619).step_by(10) {
        p.poll_timers(at(s));
    }
    assert!(p.templates().any(|(k, _)| k & 0xffff_ffff == 0xCB00_7100), "alive until 620");
    // The sweep is incremental (a budget of slots per burst): give it enough bursts.
    for _ in 0..64 {
        p.poll_timers(at(621));
    }
    assert!(p.templates().all(|(k, _)| k & 0xffff_ffff != 0xCB00_7100), "expired after its timeout");
    // Scheduled afresh now: rr continues where it was (RS2 was last) -> RS1; make it visible
    // by quiescing RS1 first.
    apply(&mut p, snap(0, true));
    assert_eq!(send(&mut p, at(650), a, 3000), Some(RS2), "no template: scheduled, and RS1 is quiesced");
}

#[test]
fn a_quiesced_server_keeps_its_live_templates_but_gets_no_new_ones() {
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap(1, true)), T0);
    let a = Ipv4Addr::new(203, 0, 113, 7);
    let d = Ipv4Addr::new(198, 51, 100, 7);
    assert_eq!(send(&mut p, at(0), a, 1000), Some(RS1));
    apply(&mut p, snap(0, true)); // quiesce RS1 (weight 0)
    assert_eq!(send(&mut p, at(1), a, 1001), Some(RS1), "template honoured (expire_quiescent_template = 0)");
    for k in 0..5 {
        assert_eq!(
            send(&mut p, at(1), Ipv4Addr::new(198, 51, 100 + k, 9), 1),
            Some(RS2),
            "new networks never go to RS1"
        );
    }
    let _ = d;
}

#[test]
fn deleting_the_pinned_server_invalidates_its_template() {
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap(1, true)), T0);
    let a = Ipv4Addr::new(203, 0, 113, 7);
    assert_eq!(send(&mut p, at(0), a, 1000), Some(RS1));
    apply(&mut p, snap(1, false)); // RS1 deleted
    assert_eq!(send(&mut p, at(1), a, 1000), Some(RS1), "the existing connection drains to RS1");
    assert_eq!(send(&mut p, at(1), a, 1001), Some(RS2), "a new connection is rescheduled");
}

#[test]
fn a_full_template_table_still_schedules_and_counts_it() {
    let cfg = PipelineConfig { template_capacity: 2, ..PipelineConfig::default() };
    let mut p = Pipeline::new(cfg, Arc::new(snap(1, true)), T0);
    for k in 0..4u8 {
        assert!(send(&mut p, at(0), Ipv4Addr::new(10, k, 0, 1), 1000).is_some());
    }
    assert_eq!(p.templates().count(), 2);
    assert_eq!(p.counters().template_full, 2);
}
