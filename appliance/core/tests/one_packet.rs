//! One-packet scheduling (`ipvsadm -o`) on fixtures: each UDP datagram of an ops service is
//! scheduled on its own (one client port spreads over the servers), leaves no entry, counts as
//! a connection; a NAT reply is translated from the configuration; persistence still pins a
//! client; TCP to an ops service is unaffected; an ambiguous NAT real server is refused.

mod common;

use common::*;
use rvs_core::service::{ConfigError, Dest, Forward, Protocol, Timeouts};
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::tcp::flags::SYN;
use rvs_core::{Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const NOW: u64 = 1_000_000;

/// UDP VIP_NAT:53 (ops, rr) over RS1:5353 and RS2:5353 (NAT), UDP VIP_DR:53 (ops, rr) over
/// RS_DR (DR) and TCP VIP_NAT:53 (ops flag set, rr) over RS1:5353 and RS2:5353.
fn snap(persistence: u32) -> Snapshot {
    let nat = |id, port| vec![Dest::new(id, RS1, port, 1, Forward::Nat), Dest::new(id + 1, RS2, port, 1, Forward::Nat)];
    let mut udp = service(0, Protocol::Udp, VIP_NAT, "rr", &[], Forward::Nat, 0);
    udp.port = 53;
    udp.dests = nat(0, 5353);
    udp.ops = true;
    udp.persistence = persistence;
    let mut dr = service(1, Protocol::Udp, VIP_DR, "rr", &[(RS_DR, 1)], Forward::DirectRoute, 2);
    dr.port = 53;
    dr.dests[0].port = 53;
    dr.ops = true;
    let mut tcp = service(2, Protocol::Tcp, VIP_NAT, "rr", &[], Forward::Nat, 0);
    tcp.port = 53;
    tcp.dests = nat(3, 5353);
    tcp.ops = true;
    Snapshot::new(interfaces(), vec![udp, dr, tcp], neighbours(), Timeouts::default()).unwrap()
}

fn to_rs(mac: rvs_core::wire::Mac, dst: Ipv4Addr) -> PacketBuilder {
    PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, mac, CLIENT, dst) }
}

fn send(p: &mut Pipeline, port: u16, frame: Vec<u8>) -> (Verdict, Vec<u8>) {
    let mut f = VecFrame::new(&frame);
    let v = p.process(NOW, port, &mut f);
    (v, f.data().to_vec())
}

#[test]
fn each_datagram_is_scheduled_alone_and_leaves_no_entry() {
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap(0)), NOW);
    let c = from_client(VIP_NAT);
    for (k, (mac, rs)) in [(RS1_MAC, RS1), (RS2_MAC, RS2), (RS1_MAC, RS1), (RS2_MAC, RS2)].into_iter().enumerate() {
        let (v, out) = send(&mut p, 0, c.udp(5000, 53, b"query", true));
        assert_eq!(v, Verdict::Forward(1), "datagram {k}");
        assert_eq!(out, to_rs(mac, rs).udp(5000, 5353, b"query", true), "datagram {k}: one client port, rr");
    }
    assert_eq!(p.connections().len(), 0, "no entries");
    assert_eq!(p.counters().one_packet, 4);
    assert_eq!((p.dest_stats()[0].conns, p.dest_stats()[1].conns), (2, 2), "each datagram counts as a connection");

    // RS2's answer has no entry: its source becomes VIP:53 from the configuration.
    let (v, out) = send(&mut p, 1, from_real(RS2_MAC, RS2).udp(5353, 5000, b"answer", true));
    assert_eq!(v, Verdict::Forward(0));
    let want = PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) };
    assert_eq!(out, want.udp(53, 5000, b"answer", true));
    assert_eq!(p.counters().one_packet_replies, 1);
    assert_eq!(p.dest_stats()[1].pkts_out, 1);

    // DR: the frame goes to the real server's MAC unchanged.
    let (v, out) = send(&mut p, 0, from_client(VIP_DR).udp(5000, 53, b"q", true));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(&out[0..6], &RS_DR_MAC.0[..]);
    assert_eq!(p.connections().len(), 0);

    // TCP to a service with the flag: an ordinary connection (IPVS applies it to UDP only).
    let (v, _) = send(&mut p, 0, c.tcp(6000, 53, SYN, 1, b""));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(p.connections().len(), 1, "TCP keeps its entry");
}

#[test]
fn persistence_pins_each_datagram_and_the_template_expires_after_the_last() {
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap(30)), NOW);
    let c = from_client(VIP_NAT);
    let first = send(&mut p, 0, c.udp(5000, 53, b"q", true)).1;
    for port in 5001..5010 {
        let out = send(&mut p, 0, c.udp(port, 53, b"q", true)).1;
        assert_eq!(out[0..6], first[0..6], "pinned to one real server");
    }
    assert_eq!(p.connections().len(), 0);
    assert_eq!(p.templates().count(), 1);
    // 31 s after the last datagram the template has gone: rr moves on to the other server.
    let mut f = VecFrame::new(&c.udp(6000, 53, b"q", true));
    p.poll_timers(NOW + 31_000);
    assert_eq!(p.process(NOW + 31_000, 0, &mut f), Verdict::Forward(1));
    assert_ne!(f.data()[0..6], first[0..6], "a new template, scheduled afresh");
}

#[test]
fn a_nat_real_server_behind_two_ops_services_is_refused() {
    let mut a = service(0, Protocol::Udp, VIP_NAT, "rr", &[(RS1, 1)], Forward::Nat, 0);
    a.ops = true;
    let mut b = service(1, Protocol::Udp, VIP_DR, "rr", &[(RS1, 1)], Forward::Nat, 1);
    b.ops = true;
    let e = Snapshot::new(interfaces(), vec![a.clone(), b.clone()], neighbours(), Timeouts::default()).unwrap_err();
    assert!(matches!(e, ConfigError::AmbiguousOpsReal { .. }), "{e}");
    b.ops = false;
    Snapshot::new(interfaces(), vec![a, b], neighbours(), Timeouts::default())
        .expect("one ops service per real server");
}
