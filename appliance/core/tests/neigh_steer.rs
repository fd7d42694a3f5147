//! Dynamic neighbours and multi-core steering at the pipeline level: a packet whose next hop
//! is unknown is held (`Pending`) fully rewritten; ARP senders are reported for learning; with
//! several cores, both directions of a NAT connection go to the same owner core while DR
//! traffic stays where it lands.

mod common;

use common::*;
use rvs_core::neigh::NeighbourTable;
use rvs_core::service::{Forward, Protocol, Timeouts};
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::wire::Mac;
use rvs_core::xmit::route::set_dst_mac;
use rvs_core::{Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const NOW: u64 = 1_000_000;

#[test]
fn unknown_next_hops_are_held_rewritten_and_learned_from_arp() {
    let snap = Arc::new(
        Snapshot::new(
            interfaces(),
            services(),
            Vec::<(std::net::IpAddr, rvs_core::wire::Mac)>::new(),
            Timeouts::default(),
        )
        .unwrap(),
    );
    let neighbours = Arc::new(NeighbourTable::default());
    let mut p = Pipeline::with_neighbours(PipelineConfig::default(), Arc::clone(&snap), Arc::clone(&neighbours), NOW);

    let syn = from_client(VIP_NAT).tcp(40000, 80, SYN, 1, b"");
    let mut f = VecFrame::new(&syn);
    assert_eq!(p.process(NOW, 0, &mut f), Verdict::Pending { port: 1, next_hop: RS1.into() });
    // Rewritten already; only the destination MAC is missing.
    let mut want =
        PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, Mac::ZERO, CLIENT, RS1) }.tcp(40000, 8080, SYN, 1, b"");
    assert!(f.data() == &want[..], "held frame\n{}\nvs\n{}", hex(f.data()), hex(&want));

    // RS1 asks for the director's inside address: answered, and RS1 reported for learning.
    let arp = PacketBuilder::new(RS1_MAC, Mac::BROADCAST, RS1, RS1).arp_request(DIP_IN);
    let mut a = VecFrame::new(&arp);
    assert_eq!(p.process(NOW, 1, &mut a), Verdict::Reply);
    let learned = p.take_learned().to_vec();
    assert_eq!(learned.len(), 1);
    assert_eq!((learned[0].ip, learned[0].mac, learned[0].port, learned[0].answer), (RS1.into(), RS1_MAC, 1, false));
    assert!(p.take_learned().is_empty(), "taken once");
    // An ARP from a host not on the port's network is not learned.
    let stray = PacketBuilder::new(RS1_MAC, Mac::BROADCAST, Ipv4Addr::new(10, 9, 9, 9), RS1).arp_request(DIP_IN);
    p.process(NOW, 1, &mut VecFrame::new(&stray));
    assert!(p.take_learned().is_empty());

    // The control plane learns it; the held frame gets its MAC; new packets go straight out.
    neighbours.learn(RS1, RS1_MAC, 1000);
    set_dst_mac(f.data_mut(), RS1_MAC);
    set_dst_mac(&mut want, RS1_MAC);
    assert!(f.data() == &want[..]);
    let mut g = VecFrame::new(&from_client(VIP_NAT).tcp(40000, 80, ACK, 2, b""));
    assert_eq!(p.process(NOW, 0, &mut g), Verdict::Forward(1));
    assert_eq!(&g.data()[0..6], &RS1_MAC.0);
    // The reply's next hop (the router) is unknown until learned.
    let mut r = VecFrame::new(&from_real(RS1_MAC, RS1).tcp(8080, 40000, SYN | ACK, 9, b""));
    assert_eq!(p.process(NOW, 1, &mut r), Verdict::Pending { port: 0, next_hop: ROUTER.into() });
    assert_eq!(p.counters().pending, 2);
}

fn two_cores(snap: &Arc<Snapshot>) -> Vec<Pipeline> {
    let neighbours = Arc::new(NeighbourTable::default());
    (0..2)
        .map(|k| {
            let cfg = PipelineConfig { core: k, cores: 2, ..PipelineConfig::default() };
            Pipeline::with_neighbours(cfg, Arc::clone(snap), Arc::clone(&neighbours), NOW)
        })
        .collect()
}

#[test]
fn both_directions_of_a_nat_connection_meet_on_the_owner_core() {
    let snap = Arc::new(snapshot());
    let mut cores = two_cores(&snap);
    // Clients owned by core 1 and by core 0.
    let c1 = (1..255u8).map(|k| Ipv4Addr::new(203, 0, 113, k)).find(|&a| snap.owner(a, 2) == 1).unwrap();
    let c0 = (1..255u8).map(|k| Ipv4Addr::new(203, 0, 113, k)).find(|&a| snap.owner(a, 2) == 0).unwrap();
    let b = PacketBuilder::new(ROUTER_MAC, OUT_MAC, c1, VIP_NAT);
    let syn = b.tcp(5555, 80, SYN, 1, b"");
    assert_eq!(cores[0].process(NOW, 0, &mut VecFrame::new(&syn)), Verdict::Redirect(1), "arrived on core 0");
    assert_eq!(cores[1].process(NOW, 0, &mut VecFrame::new(&syn)), Verdict::Forward(1), "the owner schedules it");
    let reply = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, c1).tcp(8080, 5555, SYN | ACK, 1, b"");
    assert_eq!(cores[0].process(NOW, 1, &mut VecFrame::new(&reply)), Verdict::Redirect(1), "the reply lands on core 0");
    assert_eq!(cores[1].process(NOW, 1, &mut VecFrame::new(&reply)), Verdict::Forward(0));
    assert_eq!(cores[0].connections().len(), 0);
    assert_eq!(cores[1].connections().len(), 1);
    // A client core 0 owns is processed where it lands.
    let syn0 = PacketBuilder::new(ROUTER_MAC, OUT_MAC, c0, VIP_NAT).tcp(5556, 80, SYN, 1, b"");
    assert_eq!(cores[0].process(NOW, 0, &mut VecFrame::new(&syn0)), Verdict::Forward(1));
    // DR needs no steering: the core it lands on keeps it (RSS keeps a flow on one queue).
    let dr = PacketBuilder::new(ROUTER_MAC, OUT_MAC, c1, VIP_DR).tcp(5557, 80, SYN, 1, b"");
    assert_eq!(cores[0].process(NOW, 0, &mut VecFrame::new(&dr)), Verdict::Forward(1));
    assert_eq!(cores[0].counters().redirected, 2);
}

#[test]
fn a_persistent_client_network_has_one_owner_core() {
    let mut svc = service(0, Protocol::Tcp, VIP_DR, "rr", &[(RS_DR, 1)], Forward::DirectRoute, 0);
    svc.persistence = 60;
    svc.persistence_prefix = 24;
    let snap = Arc::new(snapshot_with(vec![svc.clone()]).with_steer_prefix(24));
    for net in 0..50u8 {
        let owners: Vec<u16> = (1..255u8).map(|h| snap.owner(Ipv4Addr::new(198, 51, net, h), 4)).collect();
        assert!(owners.iter().all(|&o| o == owners[0]), "network {net}: {owners:?}");
    }
    let spread: std::collections::HashSet<u16> =
        (0..64u8).map(|n| snap.owner(Ipv4Addr::new(198, 51, n, 1), 4)).collect();
    assert_eq!(spread.len(), 4, "networks spread over all cores");
    // Persistence steers even a DR service: a client on the wrong core is redirected.
    let mut cores = two_cores(&snap);
    let c = (1..255u8).map(|k| Ipv4Addr::new(203, 0, k, 1)).find(|&a| snap.owner(a, 2) == 1).unwrap();
    let syn = PacketBuilder::new(ROUTER_MAC, OUT_MAC, c, VIP_DR).tcp(1, 80, SYN, 1, b"");
    assert_eq!(cores[0].process(NOW, 0, &mut VecFrame::new(&syn)), Verdict::Redirect(1));
}

/// The owner of a client depends only on the daemon's steering prefix, never on the services of
/// the live snapshot: turning persistence on or changing its netmask must not re-home
/// established connections (they would be looked for on a core that does not hold them).
#[test]
fn the_owner_core_does_not_move_with_live_persistence_edits() {
    let plain = service(0, Protocol::Tcp, VIP_NAT, "rr", &[(RS1, 1)], Forward::Nat, 0);
    let mut persistent = plain.clone();
    persistent.persistence = 300;
    persistent.persistence_prefix = 24;
    let mut coarse = persistent.clone();
    coarse.persistence_prefix = 16;
    for prefix in [32, 24] {
        let snaps: Vec<_> = [&plain, &persistent, &coarse]
            .iter()
            .map(|s| snapshot_with(vec![(*s).clone()]).with_steer_prefix(prefix))
            .collect();
        for k in 0..=255u8 {
            let client = Ipv4Addr::new(203, 0, k, 7);
            let owners: Vec<u16> = snaps.iter().map(|s| s.owner(client, 2)).collect();
            assert!(owners.iter().all(|&o| o == owners[0]), "prefix /{prefix}, client {client}: {owners:?}");
        }
    }
}
