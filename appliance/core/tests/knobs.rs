//! IPVS's knobs on fixtures, one per setting: `conn_reuse_mode` 0, 1 (IPVS's default) and 2,
//! and `expire_quiescent_template` 0 (the default) and 1.

mod common;

use common::*;
use rvs_core::knobs::Knobs;
use rvs_core::service::{Forward, Protocol, Timeouts};
use rvs_core::wire::tcp::flags::{ACK, FIN, RST, SYN};
use rvs_core::wire::Mac;
use rvs_core::{Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const NOW: u64 = 1_000_000;

/// TCP VIP_NAT:80 rr over RS1, RS2 (NAT, ports 80) and TCP VIP_DR:80 rr over RS_DR, RS_TUN
/// (both DR), with `knobs`.
fn pipeline_with_knobs(knobs: Knobs) -> Pipeline {
    let nat = service(0, Protocol::Tcp, VIP_NAT, "rr", &[(RS1, 1), (RS2, 1)], Forward::Nat, 0);
    let dr = service(1, Protocol::Tcp, VIP_DR, "rr", &[(RS_DR, 1), (RS_TUN, 1)], Forward::DirectRoute, 2);
    let snap = Snapshot::new(interfaces(), vec![nat, dr], neighbours(), Timeouts::default()).unwrap().with_knobs(knobs);
    Pipeline::new(PipelineConfig::default(), Arc::new(snap), NOW)
}

fn send(p: &mut Pipeline, port: u16, frame: Vec<u8>) -> (Verdict, Mac) {
    let mut f = VecFrame::new(&frame);
    let v = p.process(NOW, port, &mut f);
    (v, Mac(f.data()[0..6].try_into().unwrap()))
}

fn reuse(mode: u8) -> Knobs {
    Knobs { conn_reuse_mode: mode, ..Knobs::default() }
}

/// A NAT connection from port 40000 ended by the client's RST (CLOSE), then a SYN from the
/// same port: which real server gets it.
fn nat_after_close(mode: u8) -> Mac {
    let mut p = pipeline_with_knobs(reuse(mode));
    let c = from_client(VIP_NAT);
    assert_eq!(send(&mut p, 0, c.tcp(40000, 80, SYN, 1, b"")).1, RS1_MAC, "rr: first to RS1");
    send(&mut p, 1, from_real(RS1_MAC, RS1).tcp(80, 40000, SYN | ACK, 500, b""));
    send(&mut p, 0, c.tcp(40000, 80, ACK, 2, b""));
    send(&mut p, 0, c.tcp(40000, 80, RST, 2, b""));
    assert_eq!(p.connections().iter().next().unwrap().1.state.name(), "CLOSE");
    send(&mut p, 0, c.tcp(40000, 80, SYN, 9000, b"")).1
}

/// A DR connection from port 40000 the client closed with a FIN (FIN_WAIT: all a DR director
/// sees), then a SYN from the same port.
fn dr_after_fin(mode: u8) -> Mac {
    let mut p = pipeline_with_knobs(reuse(mode));
    let c = from_client(VIP_DR);
    assert_eq!(send(&mut p, 0, c.tcp(40000, 80, SYN, 1, b"")).1, RS_DR_MAC);
    send(&mut p, 0, c.tcp(40000, 80, ACK, 2, b""));
    send(&mut p, 0, c.tcp(40000, 80, FIN | ACK, 2, b""));
    assert_eq!(p.connections().iter().next().unwrap().1.state.name(), "FIN_WAIT");
    send(&mut p, 0, c.tcp(40000, 80, SYN, 9000, b"")).1
}

#[test]
fn conn_reuse_mode_decides_where_a_reused_port_goes() {
    assert_eq!(nat_after_close(1), RS2_MAC, "mode 1 (IPVS's default): CLOSE is rescheduled (rr: RS2)");
    assert_eq!(nat_after_close(0), RS1_MAC, "mode 0: the old connection's server");
    assert_eq!(nat_after_close(2), RS2_MAC, "mode 2 includes mode 1");
    assert_eq!(dr_after_fin(1), RS_DR_MAC, "mode 1: FIN_WAIT is not safe to reschedule");
    assert_eq!(dr_after_fin(2), RS_TUN_MAC, "mode 2: an input-only connection in FIN_WAIT is");
    assert_eq!(dr_after_fin(0), RS_DR_MAC);
}

/// A persistent UDP service (-p 300) over RS1 and RS2: a client pinned to RS1, RS1 then
/// quiesced; where the client's next flow goes.
fn after_quiesce(expire: bool) -> Ipv4Addr {
    let knobs = Knobs { expire_quiescent_template: expire, ..Knobs::default() };
    let snap = |w1| {
        let mut s = service(0, Protocol::Udp, VIP_NAT, "rr", &[(RS1, w1), (RS2, 1)], Forward::DirectRoute, 0);
        s.persistence = 300;
        Arc::new(Snapshot::new(interfaces(), vec![s], neighbours(), Timeouts::default()).unwrap().with_knobs(knobs))
    };
    let mut p = Pipeline::new(PipelineConfig::default(), snap(1), NOW);
    let c = from_client(VIP_NAT);
    assert_eq!(send(&mut p, 0, c.udp(5000, 80, b"x", true)).1, RS1_MAC);
    p.apply(snap(0));
    match send(&mut p, 0, c.udp(5001, 80, b"x", true)) {
        (Verdict::Forward(1), m) if m == RS1_MAC => RS1,
        (Verdict::Forward(1), m) if m == RS2_MAC => RS2,
        other => panic!("{other:?}"),
    }
}

#[test]
fn expire_quiescent_template_drops_a_template_to_a_quiesced_server() {
    assert_eq!(after_quiesce(false), RS1, "0 (IPVS's default): the template keeps its quiesced server");
    assert_eq!(after_quiesce(true), RS2, "1: the template goes, the client is scheduled afresh");
}

/// The NAT pipelines (IPv4 and IPv6 test services) with `knobs`.
fn nat_pipelines(knobs: Knobs) -> (Pipeline, Pipeline) {
    let s4 = Snapshot::new(interfaces(), services(), neighbours(), Timeouts::default()).unwrap().with_knobs(knobs);
    let s6 = common::v6::snapshot6().with_knobs(knobs);
    let cfg = PipelineConfig { conn6_capacity: 1024, ..PipelineConfig::default() };
    (Pipeline::new(cfg, Arc::new(s4), NOW), Pipeline::new(cfg, Arc::new(s6), NOW))
}

#[test]
fn nat_icmp_send_answers_a_real_servers_stray_packet_with_port_unreachable() {
    use common::v6::*;
    let on = Knobs { nat_icmp_send: true, ..Knobs::default() };
    let (mut p4, mut p6) = nat_pipelines(on);
    let stray = from_real(RS1_MAC, RS1).tcp(8080, 40000, ACK, 5, b"late");
    let mut f = VecFrame::new(&stray);
    assert_eq!(p4.process(NOW, 1, &mut f), Verdict::Reply, "no connection expects it");
    let out = f.data();
    assert_eq!(&out[0..6], &RS1_MAC.0[..], "back to the real server");
    let ip = rvs_core::wire::ipv4::Ipv4Packet::new_checked(&out[14..]).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.protocol()), (DIP_IN, RS1, 1), "from the director's inside address");
    assert!(ip.verify_checksum());
    assert_eq!((out[34], out[35]), (3, 3), "destination unreachable, port unreachable");
    assert_eq!(&out[42..42 + 28], &rvs_core::wire::build::ip_part(&stray)[..28], "quotes the header and 8 bytes");
    assert_eq!(p4.counters().nat_icmp_sent, 1);
    let rst = from_real(RS1_MAC, RS1).tcp(8080, 40000, RST, 5, b"");
    assert_ne!(p4.process(NOW, 1, &mut VecFrame::new(&rst)), Verdict::Reply, "never about a RST");

    let stray6 = from_real6(RS1_MAC, RS6_1).tcp(8080, 40000, ACK, 5, b"late");
    let mut f = VecFrame::new(&stray6);
    assert_eq!(p6.process(NOW, 1, &mut f), Verdict::Reply);
    let out = f.data();
    assert_eq!(&out[14 + 8..14 + 24], &DIP6_IN.octets(), "from the director's inside address");
    assert_eq!(&out[14 + 24..14 + 40], &RS6_1.octets());
    assert_eq!((out[54], out[55]), (1, 4), "ICMPv6 destination unreachable, port unreachable");

    let (mut p4, _) = nat_pipelines(Knobs::default());
    assert_ne!(p4.process(NOW, 1, &mut VecFrame::new(&stray)), Verdict::Reply, "0 (IPVS's default): no answer");
}

#[test]
fn ignore_tunneled_hands_other_protocols_to_a_vip_to_the_kernel() {
    let ipip = from_client(VIP_NAT).ip(4, &[0x45; 40]);
    for (on, want) in [(false, Verdict::Drop(rvs_core::DropReason::UnsupportedProtocol)), (true, Verdict::ToKernel)] {
        let knobs = Knobs { ignore_tunneled: on, ..Knobs::default() };
        let snap = snapshot().with_knobs(knobs).with_kernel_exception(true);
        let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap), NOW);
        assert_eq!(p.process(NOW, 0, &mut VecFrame::new(&ipip)), want, "ignore_tunneled = {on}");
    }
}

/// `expire_nodest_conn`: a NAT connection to RS1, then RS1 deleted (a snapshot without it):
/// 0 drops its packets and keeps the entry (IPVS's default), 1 expires the entry at the first
/// packet, 2 (rvs's default) keeps forwarding to RS1's address until the connection ends.
#[test]
fn expire_nodest_conn_decides_what_a_deleted_servers_connections_get() {
    for mode in [0u8, 1, 2] {
        let knobs = Knobs { expire_nodest_conn: mode, ..Knobs::default() };
        let mut p = pipeline_with_knobs(knobs);
        let c = from_client(VIP_NAT);
        assert_eq!(send(&mut p, 0, c.tcp(40000, 80, SYN, 1, b"")).1, RS1_MAC);
        send(&mut p, 1, from_real(RS1_MAC, RS1).tcp(80, 40000, SYN | ACK, 500, b""));
        send(&mut p, 0, c.tcp(40000, 80, ACK, 2, b""));
        let nat = service(0, Protocol::Tcp, VIP_NAT, "rr", &[(RS2, 1)], Forward::Nat, 1);
        let snap = Snapshot::new(interfaces(), vec![nat], neighbours(), Timeouts::default()).unwrap().with_knobs(knobs);
        p.apply(Arc::new(snap));
        let (v, mac) = send(&mut p, 0, c.tcp(40000, 80, ACK, 2, b"GET"));
        let entries = p.connections().len();
        match mode {
            0 => {
                assert_eq!(v, Verdict::Drop(rvs_core::DropReason::DestDeleted), "0: dropped");
                assert_eq!(entries, 1, "0: the entry stays (the server may come back)");
            }
            1 => {
                assert_eq!(v, Verdict::Drop(rvs_core::DropReason::DestDeleted), "1: dropped");
                assert_eq!(entries, 0, "1: the entry expired");
                assert_eq!(p.loads()[0].active, 0, "its load released");
                let (v, mac) = send(&mut p, 0, c.tcp(40000, 80, SYN, 9000, b""));
                assert_eq!((v, mac), (Verdict::Forward(1), RS2_MAC), "the client's new SYN is scheduled afresh");
            }
            _ => assert_eq!((v, mac), (Verdict::Forward(1), RS1_MAC), "2: still to RS1's address"),
        }
    }
    assert_eq!(Knobs::default().expire_nodest_conn, 2, "rvs's default drains");
}

/// `schedule_icmp`: a frag-needed for a DR flow this director holds no entry for (another
/// director's, behind ECMP) goes to the real server the hash picks for the quoted flow with 1,
/// and is dropped as unmatched with 0 (IPVS's default).
#[test]
fn schedule_icmp_sends_an_unmatched_error_to_the_flows_real_server() {
    use rvs_core::wire::build::{ip_part, PacketBuilder};
    use rvs_core::wire::icmp::IcmpRepr;
    for on in [false, true] {
        let knobs = Knobs { schedule_icmp: on, ..Knobs::default() };
        let dr = service(1, Protocol::Tcp, VIP_DR, "sh", &[(RS_DR, 1), (RS_TUN, 1)], Forward::DirectRoute, 2);
        let snap = Snapshot::new(interfaces(), vec![dr], neighbours(), Timeouts::default()).unwrap().with_knobs(knobs);
        let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap), NOW);
        // The server's reply VIP:80 -> CLIENT:40000 met a router with a smaller MTU.
        let reply = PacketBuilder::new(ROUTER_MAC, OUT_MAC, VIP_DR, CLIENT).tcp(80, 40000, ACK, 1, &[0; 1400]);
        let err = PacketBuilder::new(ROUTER_MAC, OUT_MAC, ROUTER, VIP_DR)
            .icmp(IcmpRepr::frag_needed(1400), &ip_part(&reply)[..28]);
        let (v, mac) = send(&mut p, 0, err.clone());
        if on {
            // sh picks by the client's address: the server a SYN from it would get.
            let (_, want) = send(&mut p, 0, from_client(VIP_DR).tcp(40000, 80, SYN, 1, b""));
            assert_eq!((v, mac), (Verdict::Forward(1), want), "1: to the flow's real server");
            assert_eq!(p.counters().icmp_scheduled, 1);
            assert_eq!(p.connections().len(), 1, "the error made no entry (the SYN made one)");
        } else {
            assert_eq!(v, Verdict::Drop(rvs_core::DropReason::IcmpUnmatched), "0: unmatched");
        }
    }
}
