//! The SIP persistence engine (`ipvsadm --pe sip`, IPVS's `ip_vs_pe_sip.c`) on fixtures: a UDP
//! service with persistence keeps each SIP dialog (Call-ID) on one real server, whatever socket
//! carries it; with one-packet scheduling one client socket's dialogs spread over the servers;
//! a datagram without a Call-ID is refused; the engine needs a persistent UDP service.

mod common;

use common::*;
use rvs_core::service::{ConfigError, Dest, Forward, Protocol, Timeouts};
use rvs_core::wire::Mac;
use rvs_core::{DropReason, Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const NOW: u64 = 1_000_000;

fn pipeline_with(ops: bool) -> Pipeline {
    let mut sip = service(0, Protocol::Udp, VIP_NAT, "rr", &[], Forward::Nat, 0);
    sip.port = 5060;
    sip.dests = vec![Dest::new(0, RS1, 5060, 1, Forward::Nat), Dest::new(1, RS2, 5060, 1, Forward::Nat)];
    (sip.persistence, sip.pe_sip, sip.ops) = (60, true, ops);
    let snap = Snapshot::new(interfaces(), vec![sip], neighbours(), Timeouts::default()).unwrap();
    Pipeline::new(PipelineConfig::default(), Arc::new(snap), NOW)
}

fn invite(call_id: &str) -> Vec<u8> {
    format!("INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.7:5060\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\r\n")
        .into_bytes()
}

/// The real server's MAC a datagram from `src`:`sport` carrying `payload` went to.
fn to(p: &mut Pipeline, src: Ipv4Addr, sport: u16, payload: &[u8]) -> Result<Mac, Verdict> {
    let frame =
        rvs_core::wire::build::PacketBuilder::new(ROUTER_MAC, OUT_MAC, src, VIP_NAT).udp(sport, 5060, payload, true);
    let mut f = VecFrame::new(&frame);
    match p.process(NOW, 0, &mut f) {
        Verdict::Forward(1) => Ok(Mac(f.data()[0..6].try_into().unwrap())),
        v => Err(v),
    }
}

#[test]
fn each_dialog_keeps_its_server_whatever_socket_carries_it() {
    let mut p = pipeline_with(true);
    let one = |p: &mut Pipeline, id: &str| to(p, CLIENT, 5060, &invite(id)).unwrap();
    assert_eq!(one(&mut p, "a@x"), RS1_MAC, "rr: the first dialog to RS1");
    assert_eq!(one(&mut p, "b@x"), RS2_MAC, "the second dialog, same socket, to RS2");
    assert_eq!(one(&mut p, "a@x"), RS1_MAC, "dialog a stays");
    assert_eq!(one(&mut p, "b@x"), RS2_MAC, "dialog b stays");
    assert_eq!(one(&mut p, "c@x"), RS1_MAC);
    // Another client (a proxy forking the dialog) carrying dialog b: the same server.
    assert_eq!(to(&mut p, Ipv4Addr::new(203, 0, 113, 99), 7000, &invite("b@x")), Ok(RS2_MAC));
    assert_eq!(p.templates().count(), 3, "one template per dialog");
    assert_eq!(p.connections().len(), 0, "one-packet: no entries");
    assert_eq!(
        to(&mut p, CLIENT, 5060, b"not sip at all"),
        Err(Verdict::Drop(DropReason::SipNoCallId)),
        "no dialog to persist by"
    );
}

#[test]
fn without_ops_a_socket_is_one_connection_placed_by_its_first_dialog() {
    let mut p = pipeline_with(false);
    assert_eq!(to(&mut p, CLIENT, 5060, &invite("a@x")), Ok(RS1_MAC));
    assert_eq!(to(&mut p, CLIENT, 5060, &invite("b@x")), Ok(RS1_MAC), "the socket's connection holds");
    assert_eq!(to(&mut p, Ipv4Addr::new(203, 0, 113, 99), 7000, &invite("a@x")), Ok(RS1_MAC), "dialog a's template");
    assert_eq!(to(&mut p, Ipv4Addr::new(203, 0, 113, 98), 7000, &invite("z@x")), Ok(RS2_MAC), "a new dialog: rr");
    let loads: u32 = p.loads().iter().map(|l| l.active + l.inactive).sum();
    assert_eq!(loads, p.connections().len() as u32, "no template pins a connection");
}

#[test]
fn the_engine_needs_a_persistent_udp_service() {
    for (proto, persistence) in [(Protocol::Udp, 0), (Protocol::Tcp, 60)] {
        let mut s = service(0, proto, VIP_NAT, "rr", &[(RS1, 1)], Forward::Nat, 0);
        (s.persistence, s.pe_sip) = (persistence, true);
        let e = Snapshot::new(interfaces(), vec![s], neighbours(), Timeouts::default()).unwrap_err();
        assert!(matches!(e, ConfigError::BadPe(_)), "{proto:?} -p {persistence}: {e}");
    }
}
