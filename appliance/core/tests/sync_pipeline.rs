//! Connection sync through two pipelines: a master queues records as IPVS's sender rule says
//! (3rd, 53rd... client packet; closing states at once; a template after its connection, with
//! every client packet), they travel as IPVS
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
    // A persistent service: every client packet sends the connection's template, after the
    // connection's own record when that goes too (the third packet).
    assert_eq!(records.len(), 24, "{records:?}");
    let is_template = |r: &SyncConn| r.flags & conn_flags::TEMPLATE != 0;
    for flow in records.chunks(4) {
        let kinds: Vec<bool> = flow.iter().map(is_template).collect();
        assert_eq!(kinds, [true, true, false, true], "SYN, ACK, data + template: {flow:?}");
        assert_eq!((flow[0].cport, flow[0].timeout), (0, 300));
        assert_eq!(flow[0].caddr, Ipv4Addr::new(203, 0, 113, 0), "the client network, /24");
        assert_eq!(flow[2].flags, conn_flags::DROUTE | conn_flags::NOOUTPUT);
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
    assert_eq!(got.len(), 24);
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
        .flat_map(|k| {
            let first = if k == 0 { Installed::Created } else { Installed::Refreshed };
            [first, Installed::Refreshed, Installed::Created, Installed::Refreshed]
        })
        .collect();
    assert_eq!(results, want);
    for k in 0..6 {
        let on_master = send(&mut m, 0, probe(k));
        let on_backup = send(&mut b, 0, probe(k));
        assert_eq!(on_backup, on_master, "flow {k}");
    }
    assert_eq!(b.counters().sync_installed, 24);
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
    assert_eq!(b.install_synced(&got[2], T0 + 1000), Installed::Refreshed);
    assert_eq!(b.connections().len(), 7);
}

#[test]
fn a_record_of_an_unknown_real_server_is_kept_unbound_and_still_forwards() {
    let mut b = pipe(false);
    // RS_TUN is on-link, but not a real server of this service here.
    let rec = dr_record(RS_TUN, 0, ConnState::Established);
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

/// A backup that serves no VIP (VRRP backup): records come from the VIP's master.
fn vrrp_backup() -> Pipeline {
    let s = snap(false).with_held_vips(Some(&[]));
    Pipeline::new(PipelineConfig { conn_capacity: 1024, ..PipelineConfig::default() }, Arc::new(s), T0)
}

fn dr_record(daddr: Ipv4Addr, flags: u32, state: ConnState) -> SyncConn {
    SyncConn {
        protocol: 6,
        flags: flags | conn_flags::DROUTE | conn_flags::NOOUTPUT | conn_flags::SYNC,
        state: state as u16,
        cport: 4242,
        vport: 80,
        dport: 80,
        fwmark: 0,
        timeout: 900,
        caddr: CLIENT.into(),
        vaddr: VIP_DR.into(),
        daddr: daddr.into(),
        local: None,
        seq_in: None,
        seq_out: None,
        proxy_shift: None,
    }
}

/// Review defect 2: a client reuses its port and the master schedules it to another real
/// server; IPVS's `ip_vs_proc_conn` expires the backup's entry and creates the new one, and
/// ignores a later record of the old destination that says INACTIVE (the old connection's
/// expiry). The backup kept the old real server.
#[test]
fn a_record_of_another_real_server_replaces_the_backups_entry() {
    let mut b = vrrp_backup();
    assert_eq!(b.install_synced(&dr_record(RS1, 0, ConnState::Established), T0), Installed::Created);
    assert_eq!(b.loads()[10].active, 1);
    assert_eq!(b.install_synced(&dr_record(RS2, 0, ConnState::Established), T0), Installed::Created);
    assert_eq!(b.connections().len(), 1);
    let c = b.connections().iter().next().unwrap().1;
    assert_eq!((Ipv4Addr::from(c.daddr), c.dest), (RS2, 11), "the record's real server");
    assert_eq!((b.loads()[10].active, b.loads()[11].active), (0, 1), "counted on the new one only");
    // The old connection's closing record (inactive, the old server) changes nothing.
    assert_eq!(b.install_synced(&dr_record(RS1, conn_flags::INACTIVE, ConnState::TimeWait), T0), Installed::Stale);
    let c = b.connections().iter().next().unwrap().1;
    assert_eq!((Ipv4Addr::from(c.daddr), c.state), (RS2, ConnState::Established));
}

/// Hardening: while this director serves the VIP its own connections are authoritative: a
/// record (from a peer that is not the VIP's master) never moves one to another real server.
#[test]
fn a_record_never_moves_a_live_connection_of_a_vip_served_here() {
    let mut b = pipe(false); // serves every VIP
    assert_eq!(b.install_synced(&dr_record(RS1, 0, ConnState::Established), T0), Installed::Created);
    assert_eq!(b.install_synced(&dr_record(RS2, 0, ConnState::Established), T0), Installed::Conflict);
    let c = b.connections().iter().next().unwrap().1;
    assert_eq!(Ipv4Addr::from(c.daddr), RS1);
    assert_eq!(b.counters().sync_conflicts, 1);
}

/// Review defect 6: a record's timeout is clamped to what an operator may set (31 days), and 0
/// means the state's own timeout (IPVS's `ip_vs_proc_conn`), not "expire now".
#[test]
fn record_timeouts_are_clamped_and_zero_means_the_states_default() {
    let mut b = vrrp_backup();
    let huge = SyncConn { timeout: u32::MAX, ..dr_record(RS1, 0, ConnState::Established) };
    assert_eq!(b.install_synced(&huge, T0), Installed::Created);
    let c = *b.connections().iter().next().unwrap().1;
    assert_eq!(c.expires, 1000 + rvs_core::service::MAX_TIMEOUT_S, "clamped to 31 days");
    let zero = SyncConn { timeout: 0, cport: 4243, ..dr_record(RS1, 0, ConnState::FinWait) };
    assert_eq!(b.install_synced(&zero, T0), Installed::Created);
    let c = *b.connections().iter().find(|(_, c)| c.cport == 4243).unwrap().1;
    assert_eq!(c.expires, 1000 + Timeouts::default().tcpfin, "FIN_WAIT's own timeout");
    // A template of timeout 0 lives its service's persistence timeout (300 s here).
    let tmpl = SyncConn {
        flags: conn_flags::TEMPLATE | conn_flags::DROUTE | conn_flags::SYNC,
        state: 0,
        cport: 0,
        timeout: 0,
        caddr: Ipv4Addr::new(203, 0, 113, 0).into(),
        ..dr_record(RS1, 0, ConnState::None)
    };
    assert_eq!(b.install_synced(&tmpl, T0), Installed::Created);
    let newcomer = PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(203, 0, 113, 9), VIP_DR);
    let b_live =
        |b: &mut Pipeline, s: u64| send_at(b, T0 + s * 1000, 0, newcomer.tcp(7000 + s as u16, 80, SYN, 1, b""));
    let mut served = vrrp_backup_serving_all(b);
    assert_eq!(b_live(&mut served, 299).1, RS1_MAC, "the template still pins the network");
}

fn vrrp_backup_serving_all(mut b: Pipeline) -> Pipeline {
    b.apply(Arc::new(snap(false)));
    b
}

/// Review defect 11: an ICMP error about a connection is not one of its client's packets: it
/// must not move the sync threshold (the 3rd client packet is still the one sent).
#[test]
fn icmp_errors_do_not_count_towards_the_sync_threshold() {
    use rvs_core::wire::icmp::IcmpRepr;
    let mut m = pipe(true);
    let c = from_client(VIP_NAT);
    send(&mut m, 0, c.tcp(40000, 80, SYN, 1, b""));
    let (_, _) = send(&mut m, 1, from_real(RS1_MAC, RS1).tcp(8080, 40000, SYN | ACK, 1, b""));
    send(&mut m, 0, c.tcp(40000, 80, ACK, 2, b""));
    // A router on the client's side reports a packet VIP:80 -> CLIENT:40000 too big.
    let quote = rvs_core::wire::build::ip_part(
        &PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT).tcp(80, 40000, ACK, 9, b""),
    )[..28]
        .to_vec();
    let err = PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(198, 18, 0, 250), VIP_NAT)
        .icmp(IcmpRepr::frag_needed(1400), &quote);
    assert_eq!(send(&mut m, 0, err).0, Verdict::Forward(1));
    assert!(drained(&mut m).is_empty());
    send(&mut m, 0, c.tcp(40000, 80, ACK, 2, b"GET"));
    assert_eq!(drained(&mut m).len(), 1, "the third client packet is sent");
}

/// Review defect 3: IPVS sends a connection's persistence template with every client packet of
/// a connection it controls (`ip_vs_sync_conn`'s `control:` step, `sync_persist_mode` 0), so a
/// backup's template lives as long as the master's. rvs sent it only with the connection's own
/// record (3rd, 53rd... packet): a long connection with few packets let the backup's template
/// expire, and after a failover the client network went to another real server.
#[test]
fn templates_are_refreshed_with_every_client_packet_of_their_connections() {
    let mut m = pipe(true);
    let mut b = vrrp_backup();
    let net = |host: u8| PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(203, 0, 113, host), VIP_DR);
    let other = PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(192, 0, 2, 1), VIP_DR);
    send(&mut m, 0, other.tcp(1, 80, SYN, 1, b"")); // rr: RS1 for another network
    let at = |m: &mut Pipeline, b: &mut Pipeline, s: u64, flags: u8| {
        send_at(m, T0 + s * 1000, 0, net(1).tcp(5000, 80, flags, 2, b"x"));
        for r in m.drain_sync().collect::<Vec<_>>() {
            b.install_synced(&r, T0 + s * 1000);
        }
    };
    at(&mut m, &mut b, 0, SYN);
    let pinned = send_at(&mut m, T0, 0, net(2).tcp(6000, 80, SYN, 1, b"")).1;
    assert_eq!(pinned, RS2_MAC, "the network's template pins RS2 on the master");
    for s in [0, 0, 100, 200, 290, 380, 470] {
        at(&mut m, &mut b, s, ACK);
    }
    // 470 s on: the master's template lives (its connection does); so must the backup's.
    let mut b = vrrp_backup_serving_all(b);
    let after = send_at(&mut b, T0 + 480_000, 0, net(77).tcp(7000, 80, SYN, 1, b"")).1;
    assert_eq!(after, RS2_MAC, "after failover the client network reaches the same real server");
}

/// Review defect 12: a template record carries the flags and state the kernel sends:
/// TEMPLATE, the method, INACTIVE (a template is never active), NOOUTPUT for DR/TUN, and state
/// ASSURED (1) once a connection it controls was established; the connection's record comes
/// before its template's, as `ip_vs_sync_conn` adds them.
#[test]
fn template_records_carry_the_kernels_flags_and_state() {
    let mut m = pipe(true);
    let c = PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(203, 0, 113, 1), VIP_DR);
    send(&mut m, 0, c.tcp(5000, 80, SYN, 1, b""));
    let first = drained(&mut m);
    assert_eq!(first.len(), 1, "SYN_RECV is not sent, its template is: {first:?}");
    let want_flags = conn_flags::TEMPLATE | conn_flags::DROUTE | conn_flags::NOOUTPUT | conn_flags::INACTIVE;
    assert_eq!((first[0].flags, first[0].state), (want_flags, 0), "not yet assured");
    send(&mut m, 0, c.tcp(5000, 80, ACK, 2, b""));
    send(&mut m, 0, c.tcp(5000, 80, ACK, 2, b"x"));
    let sent = drained(&mut m);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[0].flags & conn_flags::TEMPLATE, conn_flags::TEMPLATE);
    assert_eq!(sent[1].flags & conn_flags::TEMPLATE, 0, "the connection, then its template");
    assert_eq!(sent[1].state, ConnState::Established as u16);
    assert_eq!((sent[2].flags, sent[2].state), (want_flags, 1), "ASSURED once established");
}

/// Found by the failover lab: a connection installed from a record counts on its real server
/// for the least-connection schedulers (and `-x` thresholds) as one made here does; the
/// scheduler's tree was never told, so a backup's wlc sent new clients to the busier server.
#[test]
fn synced_connections_count_for_the_backups_least_connection_scheduler() {
    let svcs = vec![service(0, Protocol::Tcp, VIP_DR, "wlc", &[(RS1, 1), (RS2, 1)], Forward::DirectRoute, 0)];
    let s = Snapshot::new(interfaces(), svcs, neighbours(), Timeouts::default()).unwrap();
    let mut b = Pipeline::new(PipelineConfig { conn_capacity: 64, ..PipelineConfig::default() }, Arc::new(s), T0);
    for port in [4242, 4243] {
        let r = SyncConn { cport: port, ..dr_record(RS1, 0, ConnState::Established) };
        assert_eq!(b.install_synced(&r, T0), Installed::Created);
    }
    assert_eq!(b.loads()[0].active, 2);
    for k in 0..2 {
        let syn = PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(192, 0, 2, k), VIP_DR).tcp(1, 80, SYN, 1, b"");
        assert_eq!(send(&mut b, 0, syn).1, RS2_MAC, "new client {k}: the idle real server");
    }
}
