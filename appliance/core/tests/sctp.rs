//! SCTP services (`--sctp-service`) on fixtures: an association through NAT from INIT to
//! SHUTDOWN COMPLETE, each rewritten packet with a correct CRC32c (and a corrupted one still
//! caught), IPVS's SCTP states and active/inactive counts, what may start an association
//! (INIT; with `sloppy_sctp` any chunk but ABORT, for hash schedulers), DR, a reused port after
//! CLOSED, sync records with IPVS's SCTP state numbers, and IPv6.

mod common;

use common::*;
use rvs_core::conn::SyncPolicy;
use rvs_core::knobs::Knobs;
use rvs_core::pipeline::Installed;
use rvs_core::service::{Dest, Forward, Protocol, Timeouts};
use rvs_core::wire::build::{ip_part, sctp_chunk, PacketBuilder};
use rvs_core::wire::sctp::{self, chunk};
use rvs_core::{DropReason, Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const NOW: u64 = 1_000_000;
const PORT: u16 = 3868;
const RPORT: u16 = 3869;

/// SCTP VIP_NAT:3868 (`sched`) over RS1:3869 and RS2:3869 (NAT), SCTP VIP_DR:3868 (rr) over
/// RS_DR (DR).
fn snap(sched: &str, knobs: Knobs) -> Snapshot {
    let mut nat = service(0, Protocol::Sctp, VIP_NAT, sched, &[], Forward::Nat, 0);
    nat.port = PORT;
    nat.dests = vec![Dest::new(0, RS1, RPORT, 1, Forward::Nat), Dest::new(1, RS2, RPORT, 1, Forward::Nat)];
    let mut dr = service(1, Protocol::Sctp, VIP_DR, "rr", &[(RS_DR, 1)], Forward::DirectRoute, 2);
    dr.port = PORT;
    dr.dests[0].port = PORT;
    Snapshot::new(interfaces(), vec![nat, dr], neighbours(), Timeouts::default()).unwrap().with_knobs(knobs)
}

fn pipeline(sched: &str, knobs: Knobs) -> Pipeline {
    Pipeline::new(PipelineConfig::default(), Arc::new(snap(sched, knobs)), NOW)
}

fn send(p: &mut Pipeline, port: u16, frame: Vec<u8>) -> (Verdict, Vec<u8>) {
    let mut f = VecFrame::new(&frame);
    let v = p.process(NOW, port, &mut f);
    (v, f.data().to_vec())
}

fn init() -> Vec<u8> {
    // initiate tag, a_rwnd, outbound streams, inbound streams, initial TSN
    sctp_chunk(chunk::INIT, 0, &[0, 0, 0, 7, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1])
}

fn chunk_of(kind: u8) -> Vec<u8> {
    sctp_chunk(kind, 0, &[0xab; 8])
}

/// The transport part of a frame and whether its CRC32c is right.
fn sctp_of(frame: &[u8]) -> (&[u8], bool) {
    let ip = ip_part(frame);
    let seg = &ip[20..];
    (seg, sctp::checksum_ok(seg))
}

fn state(p: &Pipeline) -> &'static str {
    p.connections().iter().next().map_or("-", |(_, c)| c.state.name())
}

#[test]
fn a_nat_association_lives_through_ipvs_states_with_every_checksum_right() {
    let mut p = pipeline("rr", Knobs::default());
    let c = from_client(VIP_NAT);
    let r1 = from_real(RS1_MAC, RS1);
    let to_rs1 = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, CLIENT, RS1) };
    let to_client = PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) };

    let (v, out) = send(&mut p, 0, c.sctp(5000, PORT, 0, &init()));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(out, to_rs1.sctp(5000, RPORT, 0, &init()), "destination and port rewritten, CRC32c afresh");
    assert!(sctp_of(&out).1);
    assert_eq!(state(&p), "INIT1");

    let steps: [(bool, u8, &str); 7] = [
        (false, chunk::INIT_ACK, "C-SENT"),
        (true, chunk::COOKIE_ECHO, "C-REPLIED"),
        (false, chunk::COOKIE_ACK, "ESTABLISHED"),
        (true, chunk::DATA, "ESTABLISHED"),
        (true, chunk::SHUTDOWN, "S-RECEIVED"),
        (false, chunk::SHUTDOWN_ACK, "S-ACK-SENT"),
        (true, chunk::SHUTDOWN_COMPLETE, "CLOSED"),
    ];
    for (from_client, kind, want) in steps {
        let (v, out) = if from_client {
            let (v, out) = send(&mut p, 0, c.sctp(5000, PORT, 7, &chunk_of(kind)));
            assert_eq!(out, to_rs1.sctp(5000, RPORT, 7, &chunk_of(kind)), "{want}");
            (v, out)
        } else {
            let (v, out) = send(&mut p, 1, r1.sctp(RPORT, 5000, 9, &chunk_of(kind)));
            assert_eq!(out, to_client.sctp(PORT, 5000, 9, &chunk_of(kind)), "{want}: from VIP:3868");
            (v, out)
        };
        assert!(matches!(v, Verdict::Forward(_)) && sctp_of(&out).1, "{want}");
        assert_eq!(state(&p), want);
        let l = p.loads()[0];
        let active = want == "ESTABLISHED";
        assert_eq!((l.active, l.inactive), (u32::from(active), u32::from(!active)), "{want}: counts");
    }

    // A second association goes to RS2 (rr); an INIT reusing the closed one's ports is
    // scheduled afresh (conn_reuse_mode 1): RS1 again.
    let (_, out) = send(&mut p, 0, c.sctp(5001, PORT, 0, &init()));
    assert_eq!(&out[0..6], &RS2_MAC.0[..]);
    let (_, out) = send(&mut p, 0, c.sctp(5000, PORT, 0, &init()));
    assert_eq!(&out[0..6], &RS1_MAC.0[..], "the CLOSED association's ports start a new one");
    assert_eq!(p.connections().len(), 2);
}

#[test]
fn a_corrupted_packet_keeps_a_bad_checksum_through_nat() {
    let mut p = pipeline("rr", Knobs::default());
    let mut frame = from_client(VIP_NAT).sctp(5000, PORT, 0, &init());
    let last = frame.len() - 1;
    frame[last] ^= 0x20; // damaged after its sender computed the checksum
    let (v, out) = send(&mut p, 0, frame);
    assert_eq!(v, Verdict::Forward(1));
    assert!(!sctp_of(&out).1, "the real server's stack will drop it, as it would have");
}

#[test]
fn only_an_init_starts_an_association_unless_sloppy_sctp_and_a_hash() {
    let data = from_client(VIP_NAT).sctp(5000, PORT, 7, &chunk_of(chunk::DATA));
    let mut p = pipeline("rr", Knobs::default());
    assert_eq!(send(&mut p, 0, data.clone()).0, Verdict::Drop(DropReason::NoConnection));
    let sloppy = Knobs { sloppy_sctp: true, ..Knobs::default() };
    let mut p = pipeline("rr", sloppy);
    assert_eq!(send(&mut p, 0, data.clone()).0, Verdict::Drop(DropReason::NotHashedPickup), "rr: no pickup");
    let mut p = pipeline("sh", sloppy);
    assert_eq!(send(&mut p, 0, data).0, Verdict::Forward(1), "sloppy_sctp and sh: picked up");
    assert_eq!(state(&p), "ESTABLISHED");
    let abort = from_client(VIP_NAT).sctp(5002, PORT, 7, &chunk_of(chunk::ABORT));
    let mut p = pipeline("sh", sloppy);
    assert_eq!(send(&mut p, 0, abort).0, Verdict::Drop(DropReason::NotHashedPickup), "never an ABORT");
    assert_eq!(p.connections().len(), 0);
}

#[test]
fn dr_forwards_the_packet_unchanged_but_its_macs() {
    let mut p = pipeline("rr", Knobs::default());
    let frame = from_client(VIP_DR).sctp(5000, PORT, 0, &init());
    let (v, out) = send(&mut p, 0, frame.clone());
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(&out[0..6], &RS_DR_MAC.0[..]);
    assert_eq!(&ip_part(&out)[20..], &ip_part(&frame)[20..], "the SCTP packet untouched");
    send(&mut p, 0, from_client(VIP_DR).sctp(5000, PORT, 7, &chunk_of(chunk::COOKIE_ECHO)));
    assert_eq!(state(&p), "ESTABLISHED", "input-only: the client's COOKIE ECHO establishes");
}

#[test]
fn sync_records_carry_ipvs_sctp_states_and_a_backup_installs_them() {
    let master = snap("rr", Knobs::default()).with_sync_master(Some(SyncPolicy::default()));
    let mut m = Pipeline::new(PipelineConfig::default(), Arc::new(master), NOW);
    let c = from_client(VIP_NAT);
    send(&mut m, 0, c.sctp(5000, PORT, 0, &init()));
    send(&mut m, 1, from_real(RS1_MAC, RS1).sctp(RPORT, 5000, 9, &chunk_of(chunk::INIT_ACK)));
    send(&mut m, 0, c.sctp(5000, PORT, 7, &chunk_of(chunk::COOKIE_ECHO)));
    send(&mut m, 1, from_real(RS1_MAC, RS1).sctp(RPORT, 5000, 9, &chunk_of(chunk::COOKIE_ACK)));
    send(&mut m, 0, c.sctp(5000, PORT, 7, &chunk_of(chunk::DATA)));
    let sent: Vec<_> = m.drain_sync().collect();
    assert_eq!(sent.len(), 1, "the third client packet, ESTABLISHED: {sent:?}");
    assert_eq!((sent[0].protocol, sent[0].state, sent[0].dport), (132, 8, RPORT), "IPVS's SCTP ESTABLISHED is 8");
    let mut b = pipeline("rr", Knobs::default());
    assert_eq!(b.install_synced(&sent[0], NOW), Installed::Created);
    assert_eq!(state(&b), "ESTABLISHED");
    let (v, out) = send(&mut b, 0, c.sctp(5000, PORT, 7, &chunk_of(chunk::DATA)));
    assert_eq!((v, &out[0..6]), (Verdict::Forward(1), &RS1_MAC.0[..]), "the backup forwards it");
}

#[test]
fn an_ipv6_association_through_nat() {
    use common::v6::*;
    let mut svc = service(20, Protocol::Sctp, Ipv4Addr::UNSPECIFIED, "rr", &[], Forward::Nat, 0);
    svc.vip = VIP6_NAT.into();
    svc.port = PORT;
    svc.persistence_prefix = 128;
    svc.dests = vec![Dest::new(20, RS6_1, RPORT, 1, Forward::Nat)];
    let mut all = services6();
    all.push(svc);
    let cfg = PipelineConfig { conn_capacity: 64, conn6_capacity: 64, ..PipelineConfig::default() };
    let mut p = Pipeline::new(cfg, Arc::new(snapshot6_with(all, 1500)), NOW);
    let (v, out) = send(&mut p, 0, from_client6(VIP6_NAT).sctp(5000, PORT, 0, &init()));
    assert_eq!(v, Verdict::Forward(1));
    let seg = &out[14 + 40..];
    assert_eq!((u16::from_be_bytes([seg[2], seg[3]]), sctp::checksum_ok(seg)), (RPORT, true));
    let (v, out) = send(&mut p, 1, from_real6(RS1_MAC, RS6_1).sctp(RPORT, 5000, 9, &chunk_of(chunk::INIT_ACK)));
    assert_eq!(v, Verdict::Forward(0));
    let seg = &out[14 + 40..];
    assert_eq!((u16::from_be_bytes([seg[0], seg[1]]), sctp::checksum_ok(seg)), (PORT, true));
    assert_eq!(&out[14 + 8..14 + 24], &VIP6_NAT.octets(), "from the VIP");
}
