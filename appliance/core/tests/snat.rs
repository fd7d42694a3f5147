//! SNAT on fixtures: inside hosts (the real servers' side, port 1) reach the outside (port 0)
//! from a pool's addresses; TCP, UDP and ICMP echo each way with every checksum checked against
//! frames built whole; endpoint-independent mapping keeps a host's public end towards every
//! destination, address-and-port-dependent takes one per connection; nothing outside opens a
//! connection inward unless endpoint-independent filtering lets it reach a live mapping; a
//! mapping goes with its last connection; a host's packets go to its owner core; what the
//! snapshot refuses.

mod common;

use common::*;
use rvs_core::service::{ConfigError, LocalPorts, Timeouts};
use rvs_core::snat::{SnatFiltering, SnatMapping, SnatRule};
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::icmp::{IcmpPacket, IcmpRepr};
use rvs_core::wire::ipv4::protocol;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{DropReason, Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const NOW: u64 = 1_000_000;
const POOL1: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 50);
const POOL2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 51);
/// An inside host (on the real servers' network, with RS1's neighbour entry).
const HOST: Ipv4Addr = RS1;
/// Outside servers, behind the router.
const SERVER: Ipv4Addr = CLIENT;
const SERVER2: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 8);

fn rule(mapping: SnatMapping, filtering: SnatFiltering) -> SnatRule {
    SnatRule {
        id: 3,
        source: Ipv4Addr::new(198, 19, 0, 0),
        prefix_len: 24,
        protocol: None,
        out_port: Some(0),
        pool: vec![POOL1, POOL2],
        ports: LocalPorts::default(),
        mapping,
        filtering,
    }
}

fn snap_with(r: SnatRule) -> Snapshot {
    snapshot().with_snat(vec![r]).expect("valid rule")
}

fn pipeline_on(snap: Snapshot, core: u16, cores: u16) -> Pipeline {
    Pipeline::new(PipelineConfig { core, cores, ..PipelineConfig::default() }, Arc::new(snap), NOW)
}

fn send(p: &mut Pipeline, port: u16, frame: Vec<u8>) -> (Verdict, Vec<u8>) {
    let mut f = VecFrame::new(&frame);
    let v = p.process(NOW, port, &mut f);
    (v, f.data().to_vec())
}

fn from_host() -> PacketBuilder {
    PacketBuilder::new(RS1_MAC, IN_MAC, HOST, SERVER)
}

/// The public end an outbound frame left from.
fn public_end(out: &[u8]) -> (Ipv4Addr, u16) {
    (Ipv4Addr::new(out[26], out[27], out[28], out[29]), u16::from_be_bytes([out[34], out[35]]))
}

#[test]
fn tcp_and_udp_leave_from_the_pool_and_replies_come_back() {
    let mut p = pipeline_on(snap_with(rule(SnatMapping::EndpointIndependent, SnatFiltering::default())), 0, 1);
    let (v, out) = send(&mut p, 1, from_host().tcp(40000, 80, SYN, 7, b""));
    assert_eq!(v, Verdict::Forward(0), "{}", hex(&out));
    let (pub_addr, pub_port) = public_end(&out);
    assert_eq!(pub_addr, POOL1);
    let to_server = PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, POOL1, SERVER) };
    assert_eq!(out, to_server.tcp(pub_port, 80, SYN, 7, b""), "only the source changed");
    let reply = PacketBuilder::new(ROUTER_MAC, OUT_MAC, SERVER, POOL1).tcp(80, pub_port, SYN | ACK, 9, b"");
    let (v, out) = send(&mut p, 0, reply);
    assert_eq!(v, Verdict::Forward(1));
    let to_host = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, SERVER, HOST) };
    assert_eq!(out, to_host.tcp(80, 40000, SYN | ACK, 9, b""));
    let (_, out) = send(&mut p, 1, from_host().tcp(40000, 80, ACK, 8, b"GET /"));
    assert_eq!(out, to_server.tcp(pub_port, 80, ACK, 8, b"GET /"));

    // Endpoint-independent mapping: the same public end towards another server.
    let (v, out) = send(&mut p, 1, PacketBuilder::new(RS1_MAC, IN_MAC, HOST, SERVER2).tcp(40000, 443, SYN, 1, b""));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(public_end(&out), (POOL1, pub_port));
    assert_eq!(p.snat_mappings(), 1);

    // UDP (a mapping of its own protocol), both ways.
    let (v, out) = send(&mut p, 1, from_host().udp(5353, 53, b"query", true));
    assert_eq!(v, Verdict::Forward(0));
    let (ua, up) = public_end(&out);
    assert_eq!(
        out,
        PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, ua, SERVER) }.udp(up, 53, b"query", true)
    );
    let answer = PacketBuilder::new(ROUTER_MAC, OUT_MAC, SERVER, ua).udp(53, up, b"answer", true);
    assert_eq!(send(&mut p, 0, answer).1, to_host.udp(53, 5353, b"answer", true));
    // The rule's traffic counts as its service id's.
    let st = p.service_stats()[usize::from(rule(SnatMapping::default(), SnatFiltering::default()).svc_id())];
    assert_eq!((st.conns, st.pkts_in, st.pkts_out), (3, 4, 2));

    // A host outside the rule's prefix is not SNAT's.
    let other = PacketBuilder::new(RS1_MAC, IN_MAC, Ipv4Addr::new(198, 19, 1, 5), SERVER).tcp(1, 80, SYN, 1, b"");
    assert_eq!(send(&mut p, 1, other).0, Verdict::Drop(DropReason::NotForUs));
    // Nor is a packet to the director itself, under a rule for any egress port.
    let mut any_port = pipeline_on(
        snap_with(SnatRule { out_port: None, ..rule(SnatMapping::default(), SnatFiltering::default()) }),
        0,
        1,
    );
    let to_director = PacketBuilder::new(RS1_MAC, IN_MAC, HOST, DIP_IN).tcp(40000, 22, SYN, 1, b"");
    assert_eq!(send(&mut any_port, 1, to_director).0, Verdict::ToKernel, "the director's own");
    assert_eq!(send(&mut any_port, 1, from_host().tcp(40000, 80, SYN, 1, b"")).0, Verdict::Forward(0));
    // A segment that starts nothing starts no connection.
    assert_eq!(send(&mut p, 1, from_host().tcp(40001, 80, ACK, 1, b"")).0, Verdict::Drop(DropReason::NoConnection));
}

#[test]
fn nothing_outside_opens_a_connection_inward_unless_filtering_lets_it_reach_a_mapping() {
    for filtering in [SnatFiltering::AddressAndPortDependent, SnatFiltering::EndpointIndependent] {
        let mut p = pipeline_on(snap_with(rule(SnatMapping::EndpointIndependent, filtering)), 0, 1);
        // No mapping at all: nothing gets in.
        let knock = PacketBuilder::new(ROUTER_MAC, OUT_MAC, SERVER, POOL1).tcp(999, 40000, SYN, 1, b"");
        assert_eq!(send(&mut p, 0, knock).0, Verdict::Drop(DropReason::NoConnection), "{filtering:?}");
        let (_, out) = send(&mut p, 1, from_host().udp(5353, 53, b"hello", true));
        let (a, port) = public_end(&out);
        // Another server (or port) sends to the mapping.
        let stranger = PacketBuilder::new(ROUTER_MAC, OUT_MAC, SERVER2, a).udp(9999, port, b"in", true);
        let (v, out) = send(&mut p, 0, stranger);
        if filtering == SnatFiltering::AddressAndPortDependent {
            assert_eq!(v, Verdict::Drop(DropReason::NoConnection), "only replies come in");
        } else {
            assert_eq!(v, Verdict::Forward(1), "endpoint-independent filtering lets it reach the host");
            let to_host = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, SERVER2, HOST) };
            assert_eq!(out, to_host.udp(9999, 5353, b"in", true));
            assert_eq!(p.counters().snat_inbound, 1);
            // The host's answer leaves from the mapping.
            let back = PacketBuilder::new(RS1_MAC, IN_MAC, HOST, SERVER2).udp(5353, 9999, b"ok", true);
            let (_, out) = send(&mut p, 1, back);
            assert_eq!(public_end(&out), (a, port));
        }
    }
}

#[test]
fn address_and_port_dependent_mapping_takes_a_port_per_connection_and_mappings_go_with_their_last() {
    let mut p = pipeline_on(snap_with(rule(SnatMapping::AddressAndPortDependent, SnatFiltering::default())), 0, 1);
    let (_, a) = send(&mut p, 1, from_host().tcp(40000, 80, SYN, 1, b""));
    let (_, b) = send(&mut p, 1, PacketBuilder::new(RS1_MAC, IN_MAC, HOST, SERVER2).tcp(40000, 80, SYN, 1, b""));
    assert_ne!(public_end(&a), public_end(&b), "the pool in turn, a port each");
    assert_eq!(p.snat_mappings(), 0, "no mapping is kept");

    let mut p = pipeline_on(snap_with(rule(SnatMapping::EndpointIndependent, SnatFiltering::default())), 0, 1);
    send(&mut p, 1, from_host().udp(5353, 53, b"q", true));
    assert_eq!(p.snat_mappings(), 1);
    p.poll_timers(NOW + 3_600_000); // past UDP's timeout
    assert_eq!(p.snat_mappings(), 0, "the mapping went with its connection");
    assert_eq!(p.local_addr_uses().map(|(_, n, _)| n).sum::<u32>(), 0, "its port is free again");
}

#[test]
fn icmp_echo_maps_its_identifier() {
    let mut p = pipeline_on(snap_with(rule(SnatMapping::EndpointIndependent, SnatFiltering::default())), 0, 1);
    let echo = |id: u16| IcmpRepr { msg_type: 8, code: 0, rest: [(id >> 8) as u8, id as u8, 0, 1] };
    let (v, out) = send(&mut p, 1, from_host().icmp(echo(77), b"ping"));
    assert_eq!(v, Verdict::Forward(0), "{}", hex(&out));
    let (a, ident) = (public_end(&out).0, u16::from_be_bytes([out[38], out[39]]));
    assert_eq!(a, POOL1);
    let want =
        PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, POOL1, SERVER) }.icmp(echo(ident), b"ping");
    assert_eq!(out, want, "source and identifier mapped, both checksums right");
    let reply = |id: u16| IcmpRepr { msg_type: 0, code: 0, rest: [(id >> 8) as u8, id as u8, 0, 1] };
    let (v, out) = send(&mut p, 0, PacketBuilder::new(ROUTER_MAC, OUT_MAC, SERVER, POOL1).icmp(reply(ident), b"ping"));
    assert_eq!(v, Verdict::Forward(1));
    let back = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, SERVER, HOST) }.icmp(reply(77), b"ping");
    assert_eq!(out, back);
    assert!(IcmpPacket::new_unchecked(&out[34..]).verify_checksum());
    // A reply no request made is no one's; the pool address still answers its own pings.
    let stray = PacketBuilder::new(ROUTER_MAC, OUT_MAC, SERVER, POOL1).icmp(reply(ident ^ 1), b"x");
    assert_eq!(send(&mut p, 0, stray).0, Verdict::Drop(DropReason::NoConnection));
    let ping = PacketBuilder::new(ROUTER_MAC, OUT_MAC, SERVER, POOL1).icmp(echo(5), b"hi");
    assert_eq!(send(&mut p, 0, ping).0, Verdict::Reply);
    assert!(p.connections().iter().any(|(_, c)| c.proto == protocol::ICMP && c.cport == 77));
}

#[test]
fn a_hosts_packets_go_to_its_owner_core_whose_ports_its_replies_name() {
    let snap = snap_with(rule(SnatMapping::EndpointIndependent, SnatFiltering::default()));
    let owner = snap.owner(HOST, 2);
    let mut other = pipeline_on(snap.clone(), 1 - owner, 2);
    assert_eq!(send(&mut other, 1, from_host().tcp(40000, 80, SYN, 1, b"")).0, Verdict::Redirect(owner));
    let mut mine = pipeline_on(snap, owner, 2);
    let (v, out) = send(&mut mine, 1, from_host().tcp(40000, 80, SYN, 1, b""));
    assert_eq!(v, Verdict::Forward(0));
    let (_, port) = public_end(&out);
    assert_eq!(port % 2, owner, "a port of the owner's share");
    let reply = PacketBuilder::new(ROUTER_MAC, OUT_MAC, SERVER, POOL1).tcp(80, port, SYN | ACK, 1, b"");
    assert_eq!(send(&mut other, 0, reply).0, Verdict::Redirect(owner));
}

#[test]
fn the_snapshot_refuses_rules_that_cannot_work() {
    let refused = |r: SnatRule| match snapshot().with_snat(vec![r]) {
        Err(ConfigError::BadSnat { msg, .. }) => msg,
        other => panic!("{other:?}"),
    };
    let base = || rule(SnatMapping::default(), SnatFiltering::default());
    assert!(refused(SnatRule { pool: vec![VIP_NAT], ..base() }).contains("is a VIP"));
    assert!(refused(SnatRule { pool: vec![LIP], ..base() }).contains("FULLNAT local address"));
    assert!(refused(SnatRule { pool: vec![DIP_OUT], ..base() }).contains("director's own"));
    assert!(refused(SnatRule { out_port: Some(7), ..base() }).contains("egress port 7"));
    let two = vec![base(), SnatRule { id: 4, ..base() }];
    match snapshot().with_snat(two) {
        Err(ConfigError::BadSnat { msg, .. }) => assert!(msg.contains("another rule's"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // The pool is answered for by ARP as VIPs are.
    let snap = snap_with(base());
    assert!(snap.family::<u32>().answers_for(u32::from(POOL2)));
    let _ = Timeouts::default();
}

#[test]
fn a_synced_snat_connection_keeps_its_public_end_and_mapping_on_the_backup() {
    use rvs_core::conn::SyncPolicy;
    use rvs_core::pipeline::{record_owner, Installed};
    use rvs_core::wire::ipvs_sync::{parse, SyncWriter};
    let base = snap_with(rule(SnatMapping::EndpointIndependent, SnatFiltering::default()));
    let mut master = pipeline_on(base.clone().with_sync_master(Some(SyncPolicy::default())), 0, 1);
    let (_, out) = send(&mut master, 1, from_host().tcp(40000, 80, SYN, 1, b""));
    let (public, port) = public_end(&out);
    send(&mut master, 0, PacketBuilder::new(ROUTER_MAC, OUT_MAC, SERVER, public).tcp(80, port, SYN | ACK, 1, b""));
    for _ in 0..3 {
        send(&mut master, 1, from_host().tcp(40000, 80, ACK, 2, b"data"));
    }
    let rec = master.drain_sync().next_back().expect("a record");
    let mut w = SyncWriter::new(1, 1472);
    assert!(w.push(&rec));
    let got = parse(&w.take().unwrap(), 1).unwrap().conns[0];
    let owner = record_owner(&base, &got, 2);
    assert_eq!(owner, base.owner(HOST, 2), "on the host's owner core");
    let mut backup = pipeline_on(base.clone(), owner, 2);
    assert_eq!(backup.install_synced(&got, NOW), Installed::Created);
    assert_eq!(backup.snat_mappings(), 1, "the host's mapping comes with it");
    // After a failover: the server's segment reaches the host, the host's leaves from the
    // same public end, and a new connection of the host keeps it (endpoint-independent).
    let seg = PacketBuilder::new(ROUTER_MAC, OUT_MAC, SERVER, public).tcp(80, port, ACK, 2, b"more");
    assert_eq!(send(&mut backup, 0, seg).0, Verdict::Forward(1));
    let (_, out) = send(&mut backup, 1, from_host().tcp(40000, 80, ACK, 6, b"x"));
    assert_eq!(public_end(&out), (public, port));
    let (v, out) =
        send(&mut backup, 1, PacketBuilder::new(RS1_MAC, IN_MAC, HOST, SERVER2).tcp(40000, 443, SYN, 1, b""));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(public_end(&out), (public, port));
    // Without a rule that takes it, a record of no service is not kept.
    let mut bare = pipeline_on(snapshot(), 0, 1);
    assert_eq!(bare.install_synced(&got, NOW), Installed::NoService);
}
