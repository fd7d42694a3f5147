//! Connection sync through two pipelines: a master queues records as IPVS's sender rule says
//! (3rd, 53rd... client packet; closing states at once; templates first), they travel as IPVS
//! sync v1 datagrams, and a backup that installs them forwards the flows' next packets to the
//! same real servers without ever having seen their SYNs.

mod common;

use common::*;
use rvs_core::conn::{ConnState, SyncPolicy};
use rvs_core::pipeline::Installed;
use rvs_core::service::{Forward, Protocol, Timeouts, UNBOUND_DEST};
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::ipvs_sync::{self, conn_flags, SyncConn, SyncWriter};
use rvs_core::wire::tcp::flags::{ACK, FIN, SYN};
use rvs_core::wire::Mac;
use rvs_core::{DropReason, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const T0: u64 = 1_000_000;

fn send(p: &mut Pipeline, port: u16, frame: Vec<u8>) -> (Verdict, Mac) {
    send_at(p, T0, port, frame)
}

fn snap(master: bool) -> Snapshot {
    let mut svcs = services();
    svcs[2] = service(2, Protocol::Tcp, VIP_DR, "rr", &[(RS1, 1), (RS2, 1)], Forward::DirectRoute, 10);
    svcs[2].persistence = 300;
    svcs[2].persistence_prefix = 24;
    let s = Snapshot::new(interfaces(), svcs, neighbours(), Timeouts::default()).unwrap();
    s.with_sync_master(master.then(SyncPolicy::default))
}

fn pipe(master: bool) -> Pipeline {
    Pipeline::new(PipelineConfig { conn_capacity: 1024, ..PipelineConfig::default() }, Arc::new(snap(master)), T0)
}

fn drained(p: &mut Pipeline) -> Vec<SyncConn> {
    p.drain_sync().collect()
}

#[test]
fn the_master_sends_on_the_third_and_fifty_third_packet_and_closing_states_at_once() {
    let mut m = pipe(true);
    let c = from_client(VIP_NAT);
    let r = from_real(RS1_MAC, RS1);
    send(&mut m, 0, c.tcp(40000, 80, SYN, 1, b""));
    send(&mut m, 1, r.tcp(8080, 40000, SYN | ACK, 1, b""));
    send(&mut m, 0, c.tcp(40000, 80, ACK, 2, b""));
    assert!(drained(&mut m).is_empty(), "two client packets: nothing yet");
    send(&mut m, 0, c.tcp(40000, 80, ACK, 2, b"GET"));
    let sent = drained(&mut m);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let rec = sent[0];
    assert_eq!((rec.protocol, rec.state, rec.timeout), (6, ConnState::Established as u16, 900));
    assert_eq!(rec.flags, conn_flags::MASQ, "NAT, established: no other flag");
    assert_eq!(
        (rec.caddr, rec.cport, rec.vaddr, rec.vport, rec.daddr, rec.dport),
        (CLIENT.into(), 40000, VIP_NAT.into(), 80, RS1.into(), 8080)
    );
    for _ in 4..53 {
        send(&mut m, 0, c.tcp(40000, 80, ACK, 2, b"x"));
    }
    assert!(drained(&mut m).is_empty(), "packets 4..52");
    send(&mut m, 0, c.tcp(40000, 80, ACK, 2, b"x"));
    assert_eq!(drained(&mut m).len(), 1, "the 53rd");
    send(&mut m, 0, c.tcp(40000, 80, FIN | ACK, 2, b""));
    let fin = drained(&mut m);
    assert_eq!(fin.len(), 1, "a closing state goes at once");
    assert_eq!(fin[0].state, ConnState::CloseWait as u16);
    assert_eq!(fin[0].flags, conn_flags::MASQ | conn_flags::INACTIVE);
    assert_eq!(m.counters().sync_sent, 3);
    // Without the master role nothing is queued.
    let mut quiet = pipe(false);
    for _ in 0..5 {
        send(&mut quiet, 0, from_client(VIP_DR).tcp(1, 80, ACK, 2, b""));
    }
    assert!(drained(&mut quiet).is_empty());
}

/// Sets up `n` DR connections (persistent service, /24) on `m`, each sent once to the backups.
fn dr_flows(m: &mut Pipeline, n: u16) -> Vec<SyncConn> {
    for k in 0..n {
        let c = PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(203, 0, 113, k as u8 + 1), VIP_DR);
        send(m, 0, c.tcp(5000 + k, 80, SYN, 1, b""));
        send(m, 0, c.tcp(5000 + k, 80, ACK, 2, b""));
        send(m, 0, c.tcp(5000 + k, 80, ACK, 2, b"x"));
    }
    drained(m)
}

#[test]
fn a_backup_forwards_synced_flows_to_the_same_real_servers() {
    let mut m = pipe(true);
    let records = dr_flows(&mut m, 6);
    // A persistent service: each connection's template goes first.
    assert_eq!(records.len(), 12, "{records:?}");
    for pair in records.chunks(2) {
        assert_ne!(pair[0].flags & conn_flags::TEMPLATE, 0, "template first: {pair:?}");
        assert_eq!((pair[0].cport, pair[0].timeout, pair[0].state), (0, 300, 0));
        assert_eq!(pair[0].caddr, Ipv4Addr::new(203, 0, 113, 0), "the client network, /24");
        assert_eq!(pair[1].flags, conn_flags::DROUTE | conn_flags::NOOUTPUT);
    }
    // Over the wire, as the kernel would send them.
    let mut w = SyncWriter::new(7, ipvs_sync::DEFAULT_MAXLEN);
    let mut msgs = Vec::new();
    for r in &records {
        if !w.push(r) {
            msgs.extend(w.take());
            assert!(w.push(r));
        }
    }
    msgs.extend(w.take());
    let mut b = pipe(false);
    let mut got = Vec::new();
    for msg in &msgs {
        got.extend(ipvs_sync::parse(msg, 7).unwrap().conns);
    }
    assert_eq!(got.len(), 12);
    // Before the records the backup drops the flows' packets; after, it forwards each to the
    // master's real server.
    let probe = |k: u16| {
        PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(203, 0, 113, k as u8 + 1), VIP_DR).tcp(
            5000 + k,
            80,
            ACK,
            3,
            b"y",
        )
    };
    assert_eq!(send(&mut b, 0, probe(0)).0, Verdict::Drop(DropReason::NoConnection));
    let results: Vec<Installed> = got.iter().map(|r| b.install_synced(r, T0)).collect();
    // One client network, one template (created once, then refreshed); six connections.
    let want: Vec<Installed> = (0..6)
        .flat_map(|k| [if k == 0 { Installed::Created } else { Installed::Refreshed }, Installed::Created])
        .collect();
    assert_eq!(results, want);
    for k in 0..6 {
        let on_master = send(&mut m, 0, probe(k));
        let on_backup = send(&mut b, 0, probe(k));
        assert_eq!(on_backup, on_master, "flow {k}");
    }
    assert_eq!(b.counters().sync_installed, 12);
    let active: u32 = b.loads().iter().map(|l| l.active).sum();
    assert_eq!(active, 6, "established connections count as active on their real servers");
    // The template pins a new connection of the same client network to the same server.
    let first = send(&mut m, 0, probe(0)).1;
    let newcomer =
        PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(203, 0, 113, 200), VIP_DR).tcp(9000, 80, SYN, 1, b"");
    for _ in 0..4 {
        assert_eq!(send(&mut b, 0, newcomer.clone()).1, first, "persistence followed the template");
    }
    // A record again refreshes rather than duplicates.
    assert_eq!(b.install_synced(&got[1], T0 + 1000), Installed::Refreshed);
    assert_eq!(b.connections().len(), 7);
}

#[test]
fn a_record_of_an_unknown_real_server_is_kept_unbound_and_still_forwards() {
    let mut b = pipe(false);
    let rec = SyncConn {
        protocol: 6,
        flags: conn_flags::DROUTE | conn_flags::NOOUTPUT,
        state: ConnState::Established as u16,
        cport: 4242,
        vport: 80,
        dport: 80,
        fwmark: 0,
        timeout: 900,
        caddr: CLIENT.into(),
        vaddr: VIP_DR.into(),
        daddr: RS_TUN.into(), // on-link, but not a real server of this service here
    };
    assert_eq!(b.install_synced(&rec, T0), Installed::Created);
    let c = b.connections().iter().next().unwrap().1;
    assert_eq!((c.dest, c.state), (UNBOUND_DEST, ConnState::Established));
    let (v, mac) = send(&mut b, 0, from_client(VIP_DR).tcp(4242, 80, ACK, 2, b"z"));
    assert_eq!((v, mac), (Verdict::Forward(1), RS_TUN_MAC));
    // No service for it: ignored and counted.
    let other = SyncConn { vaddr: Ipv4Addr::new(198, 18, 0, 99).into(), ..rec };
    assert_eq!(b.install_synced(&other, T0), Installed::NoService);
    assert_eq!(b.counters().sync_ignored, 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 1000, ..Default::default() })]

    /// A valid header over random records: the receiver never panics, and installs exactly what
    /// it reports as created (nothing from a rejected message).
    #[test]
    fn garbage_never_panics_nor_inserts_what_was_not_a_record(
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        n in 0u8..12,
    ) {
        let mut msg = vec![0, 0, 0, 0, n, 1, 0, 0];
        msg.extend(&body);
        let len = msg.len() as u16;
        msg[2..4].copy_from_slice(&len.to_be_bytes());
        let mut b = pipe(false);
        let created = match ipvs_sync::parse(&msg, 0) {
            Err(_) => 0,
            Ok(got) => got.conns.iter().filter(|r| b.install_synced(r, T0) == Installed::Created && r.flags & conn_flags::TEMPLATE == 0).count(),
        };
        proptest::prop_assert_eq!(b.connections().len(), created);
    }
}

#[test]
fn with_a_refresh_period_a_long_connection_is_sent_again_once_the_period_passes() {
    let policy = SyncPolicy::new(3, 0).unwrap().with_refresh(60, 0);
    let snap = Snapshot::new(interfaces(), services(), neighbours(), Timeouts::default())
        .unwrap()
        .with_sync_master(Some(policy));
    let mut m = Pipeline::new(PipelineConfig { conn_capacity: 64, ..PipelineConfig::default() }, Arc::new(snap), T0);
    let c = from_client(VIP_DR);
    let at = |m: &mut Pipeline, s: u64, flags: u8| {
        m.process(T0 + s * 1000, 0, &mut VecFrame::new(&c.tcp(7000, 80, flags, 1, b"x")));
        m.drain_sync().count()
    };
    assert_eq!(at(&mut m, 0, SYN), 0, "SYN_RECV is never sent");
    assert_eq!(at(&mut m, 0, ACK), 1, "established: sent (time decides, not the packet count)");
    assert_eq!(at(&mut m, 10, ACK), 0);
    assert_eq!(at(&mut m, 59, ACK), 0, "within the refresh period");
    assert_eq!(at(&mut m, 61, ACK), 1, "the period passed: sent again");
    assert_eq!(at(&mut m, 62, ACK), 0);
}

#[test]
fn ipv6_connections_sync_as_72_byte_records_and_a_backup_forwards_them() {
    use common::v6::*;
    let master = snapshot6().with_sync_master(Some(SyncPolicy::default()));
    let cfg = PipelineConfig { conn_capacity: 256, conn6_capacity: 256, ..PipelineConfig::default() };
    let mut m = Pipeline::new(cfg, Arc::new(master), T0);
    let c = from_client6(VIP6_NAT);
    send(&mut m, 0, c.tcp(40000, 80, SYN, 1, b""));
    send(&mut m, 1, from_real6(RS1_MAC, RS6_1).tcp(8080, 40000, SYN | ACK, 1, b""));
    send(&mut m, 0, c.tcp(40000, 80, ACK, 2, b""));
    send(&mut m, 0, c.tcp(40000, 80, ACK, 2, b"GET"));
    let sent = drained(&mut m);
    assert_eq!(sent.len(), 1, "the third client packet: {sent:?}");
    assert_eq!(
        (sent[0].caddr, sent[0].vaddr, sent[0].daddr, sent[0].dport),
        (CLIENT6.into(), VIP6_NAT.into(), RS6_1.into(), 8080)
    );
    let mut w = SyncWriter::new(1, ipvs_sync::DEFAULT_MAXLEN);
    assert!(w.push(&sent[0]));
    let msg = w.take().unwrap();
    assert_eq!(msg.len(), ipvs_sync::HEADER_LEN + ipvs_sync::V6_RECORD_LEN);
    let rec = ipvs_sync::parse(&msg, 1).unwrap().conns[0];
    let mut b = Pipeline::new(cfg, Arc::new(snapshot6()), T0);
    let next = c.tcp(40000, 80, ACK, 5, b"more");
    assert_eq!(send(&mut b, 0, next.clone()).0, Verdict::Drop(DropReason::NoConnection));
    assert_eq!(b.install_synced(&rec, T0), Installed::Created);
    assert_eq!(b.connections6().len(), 1);
    let (on_master, on_backup) = (send(&mut m, 0, next.clone()), send(&mut b, 0, next));
    assert_eq!(on_backup, on_master, "the backup sends the flow to the master's real server");
    assert_eq!(on_backup, (Verdict::Forward(1), RS1_MAC));
}
