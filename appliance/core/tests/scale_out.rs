//! Scale-out behind an ECMP router (`[ha] mode = "ecmp"`): when the router moves a flow to a
//! director that never saw it, IPVS's `sloppy_tcp` pick-up makes an entry for it, with IPVS's
//! state, only where a hash scheduler makes every director pick the same real server; other
//! schedulers drop such segments with their own reason. VIPs are routed, so ARP for them is
//! never answered.

mod common;

use common::*;
use rvs_core::conn::ConnState;
use rvs_core::sched::NAMES;
use rvs_core::service::{Dest, Forward, OverloadPolicy, Protocol, Service};
use rvs_core::wire::tcp::flags::{ACK, FIN, PSH, RST, SYN};
use rvs_core::wire::Mac;
use rvs_core::{DropReason, Pipeline, PipelineConfig, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const T0: u64 = 1_000_000;

fn node(services: Vec<Service>, sloppy_tcp: bool) -> Pipeline {
    // Without the stateless fallback, so that every forwarded flow shows as an entry.
    let policy = OverloadPolicy { stateless_fallback: false, ..OverloadPolicy::default() };
    let snap = snapshot_with(services).with_overload(policy).with_ecmp(true, sloppy_tcp);
    Pipeline::new(PipelineConfig::default(), Arc::new(snap), T0)
}

fn dr(sched: &str) -> Vec<Service> {
    vec![service(0, Protocol::Tcp, VIP_DR, sched, &[(RS1, 1), (RS2, 1)], Forward::DirectRoute, 0)]
}

fn client(n: u32) -> rvs_core::wire::build::PacketBuilder {
    rvs_core::wire::build::PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::from(0x0A00_0000 + n), VIP_DR)
}

fn send(p: &mut Pipeline, port: u16, frame: Vec<u8>) -> (Verdict, Mac) {
    send_at(p, T0, port, frame)
}

#[test]
fn sloppy_tcp_picks_up_a_mid_flow_segment_only_for_hash_schedulers() {
    for &sched in NAMES {
        let mut p = node(dr(sched), true);
        let (v, _) = send(&mut p, 0, client(1).tcp(1000, 80, ACK | PSH, 7, b"data"));
        if rvs_core::sched::is_hash(sched) {
            assert_eq!(v, Verdict::Forward(1), "{sched}");
            let conns = p.connections();
            assert_eq!(conns.len(), 1, "{sched}: the segment made an entry");
            // IPVS's INPUT_ONLY table: NONE + ACK is CLOSE (its short timeout), as in the kernel.
            assert_eq!(conns.iter().next().unwrap().1.state, ConnState::Close, "{sched}");
            assert_eq!(p.counters().new_conns, 1);
            // The next segments find it; a FIN moves it on as for any connection.
            assert_eq!(send(&mut p, 0, client(1).tcp(1000, 80, ACK, 11, b"")).0, Verdict::Forward(1));
            assert_eq!(send(&mut p, 0, client(1).tcp(1000, 80, FIN | ACK, 11, b"")).0, Verdict::Forward(1));
            assert_eq!(p.connections().len(), 1);
        } else {
            assert_eq!(v, Verdict::Drop(DropReason::NotHashedPickup), "{sched}");
            assert!(p.connections().is_empty(), "{sched}");
            assert_eq!(p.counters().drops(DropReason::NotHashedPickup), 1);
            // A SYN still starts a connection with any scheduler.
            assert_eq!(send(&mut p, 0, client(2).tcp(1000, 80, SYN, 1, b"")).0, Verdict::Forward(1), "{sched}");
        }
        // A reset never starts anything (IPVS: `!th->rst`).
        assert_eq!(
            send(&mut p, 0, client(3).tcp(1000, 80, RST | ACK, 9, b"")).0,
            Verdict::Drop(DropReason::NoConnection)
        );
    }
}

#[test]
fn without_sloppy_tcp_a_mid_flow_segment_is_dropped_as_before() {
    let mut p = node(dr("mh"), false);
    assert_eq!(send(&mut p, 0, client(1).tcp(1000, 80, ACK, 7, b"x")).0, Verdict::Drop(DropReason::NoConnection));
    assert!(p.connections().is_empty());
}

#[test]
fn every_node_picks_the_same_real_server_for_a_flow_it_never_saw() {
    // Node A saw the handshakes; node B gets the flows mid-way after the router rehashed. B's
    // real servers carry other ids; for mh they were also added in another order (sh and dh
    // fill their buckets in list order, as IPVS does, so nodes must list them alike).
    let servers = [(RS1, 2), (RS2, 1), (RS_DR, 3)];
    for sched in ["mh", "sh", "dh"] {
        let a_svc = service(0, Protocol::Tcp, VIP_DR, sched, &servers, Forward::DirectRoute, 0);
        let mut b_svc = a_svc.clone();
        b_svc.id = 9;
        b_svc.dests = a_svc.dests.iter().map(|d| Dest::new(d.id + 40, d.addr, 80, d.weight, d.forward)).collect();
        if sched == "mh" {
            b_svc.dests.rotate_left(1);
        }
        let (mut a, mut b) = (node(vec![a_svc], true), node(vec![b_svc], true));
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..300u32 {
            let c = rvs_core::wire::build::PacketBuilder::new(
                ROUTER_MAC,
                OUT_MAC,
                Ipv4Addr::from(0x0A00_0000 + n * 7919),
                VIP_DR,
            );
            let sport = 1024 + n as u16;
            let (va, mac_a) = send(&mut a, 0, c.tcp(sport, 80, SYN, 1, b""));
            let (vb, mac_b) = send(&mut b, 0, c.tcp(sport, 80, ACK | PSH, 2, b"mid-flow"));
            assert_eq!((va, vb), (Verdict::Forward(1), Verdict::Forward(1)), "{sched} flow {n}");
            assert_eq!(mac_a, mac_b, "{sched} flow {n}: both nodes send it to the same real server");
            seen.insert(mac_a);
        }
        // dh hashes the destination: one VIP, one server.
        assert_eq!(seen.len(), if sched == "dh" { 1 } else { 3 }, "{sched}: {seen:?}");
        assert_eq!(b.connections().len(), 300, "{sched}: node B holds an entry per picked-up flow");
    }
}

#[test]
fn arp_for_a_routed_vip_is_not_answered_but_the_directors_own_address_is() {
    let mut p = node(dr("mh"), true);
    let asker = rvs_core::wire::build::PacketBuilder::new(ROUTER_MAC, Mac::BROADCAST, ROUTER, DIP_OUT);
    assert_eq!(send(&mut p, 0, asker.arp_request(VIP_DR)).0, Verdict::Drop(DropReason::ArpForRoutedVip));
    assert_eq!(send(&mut p, 0, asker.arp_request(DIP_OUT)).0, Verdict::Reply);
    // Outside ecmp mode the VIP is on-link and answered.
    let snap = snapshot_with(dr("mh"));
    let mut standalone = Pipeline::new(PipelineConfig::default(), Arc::new(snap), T0);
    assert_eq!(send(&mut standalone, 0, asker.arp_request(VIP_DR)).0, Verdict::Reply);
}

#[test]
fn the_port_flag_spreads_one_clients_connections_and_every_node_agrees() {
    for (sched, port_flag) in [("mh", "mh-port"), ("sh", "sh-port")] {
        let plain = dr(sched);
        let mut flagged = dr(sched);
        flagged[0].sched_flags = rvs_core::sched::flags::parse(sched, port_flag).unwrap();
        let (mut a, mut b, mut c) = (node(plain, true), node(flagged.clone(), true), node(flagged, true));
        let (mut unflagged_macs, mut flagged_macs) =
            (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
        for sport in 2000..2064u16 {
            unflagged_macs.insert(send(&mut a, 0, client(1).tcp(sport, 80, SYN, 1, b"")).1);
            let (_, mb) = send(&mut b, 0, client(1).tcp(sport, 80, SYN, 1, b""));
            let (_, mc) = send(&mut c, 0, client(1).tcp(sport, 80, ACK, 2, b"mid-flow"));
            assert_eq!(mb, mc, "{sched}: another node picks up the flow on the same server");
            flagged_macs.insert(mb);
        }
        assert_eq!(unflagged_macs.len(), 1, "{sched}: without {port_flag} one client, one server");
        assert_eq!(flagged_macs.len(), 2, "{sched}: with {port_flag} its connections spread");
    }
}
