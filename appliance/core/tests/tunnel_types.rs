//! GUE and GRE encapsulation for TUN real servers (`--tun-type gue|gre`), both families, on
//! fixtures: each output frame is taken apart and checked field by field against the
//! specifications (outer header, UDP/GUE or GRE header, checksums computed independently in
//! full, the client's packet untouched behind them), and the MTU left for the sender shrinks
//! by the tunnel header.

mod common;

use common::v6::*;
use common::*;
use rvs_core::service::{Forward, Tunnel, TunnelCsum, TunnelKind};
use rvs_core::wire::build::ip_part;
use rvs_core::wire::checksum;
use rvs_core::wire::ipv4::{protocol, Ipv4Packet};
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{Frame, Pipeline, PipelineConfig, VecFrame, Verdict};
use std::sync::Arc;

const NOW: u64 = 1_000_000;

fn tun(kind: TunnelKind, port: u16, csum: TunnelCsum) -> Tunnel {
    Tunnel { kind, port, csum }
}

/// The IPv4 and IPv6 test pipelines with the TUN real servers wrapping as `t`.
fn pipelines(t: Tunnel) -> (Pipeline, Pipeline) {
    let mut v4 = services();
    v4[3].dests[0].tunnel = t;
    let p4 = Pipeline::new(PipelineConfig::default(), Arc::new(snapshot_with(v4)), NOW);
    let mut v6 = services6();
    let i = v6.iter().position(|s| s.dests.iter().any(|d| d.forward == Forward::Tunnel && d.addr.is_ipv6())).unwrap();
    v6[i].dests[0].tunnel = t;
    let cfg = PipelineConfig { conn6_capacity: 1024, ..PipelineConfig::default() };
    (p4, Pipeline::new(cfg, Arc::new(snapshot6_with(v6, 1500)), NOW))
}

fn send(p: &mut Pipeline, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut f = VecFrame::new(frame);
    let v = p.process(NOW, 0, &mut f);
    (v, f.data().to_vec())
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Checks the tunnel header at `at` of `out` (the outer header's `proto` given, `pseudo` the
/// outer pseudo-header sum for GUE's UDP checksum) and returns where the inner packet starts.
fn check_tunnel_header(out: &[u8], at: usize, proto: u8, t: Tunnel, inner_proto: u8, pseudo: u64) -> usize {
    match t.kind {
        TunnelKind::Gue => {
            assert_eq!(proto, protocol::UDP);
            let sport = be16(out, at);
            assert!((32768..=60999).contains(&sport), "source port from the flow hash: {sport}");
            assert_eq!(be16(out, at + 2), t.port, "to --tun-port");
            assert_eq!(usize::from(be16(out, at + 4)), out.len() - at, "UDP length");
            let csum = be16(out, at + 6);
            if t.csum == TunnelCsum::NoCsum {
                assert_eq!(csum, 0, "--tun-nocsum: no UDP checksum");
            } else {
                assert_ne!(csum, 0);
                assert_eq!(checksum::fold(pseudo + checksum::sum(&out[at..])), 0xffff, "UDP checksum verifies");
            }
            assert_eq!(&out[at + 8..at + 12], &[0, inner_proto, 0, 0], "GUE version 0, no options, proto_ctype");
            at + 12
        }
        TunnelKind::Gre => {
            assert_eq!(proto, 47);
            let ethertype = if inner_proto == protocol::IPIP { 0x0800 } else { 0x86dd };
            assert_eq!(be16(out, at + 2), ethertype, "GRE protocol type");
            if t.csum == TunnelCsum::Csum {
                assert_eq!(be16(out, at), 0x8000, "C bit, version 0");
                assert_eq!(checksum::checksum(&out[at..]), 0, "GRE checksum over header and payload");
                at + 8
            } else {
                assert_eq!(be16(out, at), 0, "no flags, version 0");
                at + 4
            }
        }
        TunnelKind::Ipip => at,
    }
}

#[test]
fn gue_and_gre_wrap_ipv4_and_ipv6_as_the_specifications_say() {
    for t in [
        tun(TunnelKind::Gue, 6080, TunnelCsum::NoCsum),
        tun(TunnelKind::Gue, 6080, TunnelCsum::Csum),
        tun(TunnelKind::Gue, 5555, TunnelCsum::RemCsum),
        tun(TunnelKind::Gre, 0, TunnelCsum::NoCsum),
        tun(TunnelKind::Gre, 0, TunnelCsum::Csum),
    ] {
        let (mut p4, mut p6) = pipelines(t);
        // IPv4: outer DIP_IN -> RS_TUN, DF copied, header checksum valid.
        let syn = from_client(VIP_TUN).tcp(40000, 80, SYN, 1, b"");
        let (v, out) = send(&mut p4, &syn);
        assert_eq!(v, Verdict::Forward(1), "{t:?}");
        assert_eq!(&out[0..6], &RS_TUN_MAC.0[..]);
        let outer = Ipv4Packet::new_checked(&out[14..]).unwrap();
        assert!(outer.verify_checksum() && outer.dont_frag(), "{t:?}");
        assert_eq!((outer.src(), outer.dst()), (DIP_IN, RS_TUN));
        assert_eq!(usize::from(outer.total_len()), out.len() - 14);
        let pseudo = checksum::pseudo_header_sum(DIP_IN.octets(), RS_TUN.octets(), 17, (out.len() - 34) as u16);
        let inner = check_tunnel_header(&out, 34, outer.protocol(), t, protocol::IPIP, pseudo);
        assert_eq!(&out[inner..], ip_part(&syn), "{t:?}: the client's packet untouched");

        // IPv6: outer DIP6_IN -> RS6_TUN.
        let syn6 = from_client6(VIP6_TUN).tcp(40000, 80, SYN, 1, b"");
        let (v, out) = send(&mut p6, &syn6);
        assert_eq!(v, Verdict::Forward(1), "{t:?}");
        let nh = out[14 + 6];
        assert_eq!(&out[14 + 8..14 + 24], &DIP6_IN.octets());
        assert_eq!(&out[14 + 24..14 + 40], &RS6_TUN.octets());
        assert_eq!(usize::from(be16(&out, 14 + 4)), out.len() - 54, "payload length");
        let pseudo = checksum::pseudo_header_sum_v6(DIP6_IN.octets(), RS6_TUN.octets(), 17, (out.len() - 54) as u32);
        let inner = check_tunnel_header(&out, 54, nh, t, 41, pseudo);
        assert_eq!(&out[inner..], ip_part(&syn6), "{t:?}: the client's IPv6 packet untouched");
    }
}

#[test]
fn the_mtu_left_for_the_sender_shrinks_by_the_tunnel_header() {
    // GUE adds 20 + 8 + 4 bytes: 1468 bytes of inner packet fit a 1500-byte egress, 1469 do not.
    let (mut p4, _) = pipelines(tun(TunnelKind::Gue, 6080, TunnelCsum::NoCsum));
    let c = from_client(VIP_TUN);
    assert_eq!(send(&mut p4, &c.tcp(40000, 80, SYN, 1, b"")).0, Verdict::Forward(1));
    let fits = c.tcp(40000, 80, ACK, 2, &[7; 1468 - 40]);
    assert_eq!(send(&mut p4, &fits).0, Verdict::Forward(1));
    let (v, reply) = send(&mut p4, &c.tcp(40000, 80, ACK, 2, &[7; 1469 - 40]));
    assert_eq!(v, Verdict::Reply, "frag-needed to the client");
    assert_eq!(be16(&reply, 14 + 20 + 6), 1468, "next-hop MTU 1500 - 32");
    // GRE with its checksum adds 20 + 8.
    let (mut p4, _) = pipelines(tun(TunnelKind::Gre, 0, TunnelCsum::Csum));
    assert_eq!(send(&mut p4, &c.tcp(40000, 80, SYN, 1, b"")).0, Verdict::Forward(1));
    let (v, reply) = send(&mut p4, &c.tcp(40000, 80, ACK, 2, &[7; 1473 - 40]));
    assert_eq!(v, Verdict::Reply);
    assert_eq!(be16(&reply, 14 + 20 + 6), 1472);
}

#[test]
fn tunnel_options_are_checked_as_ipvsadm_checks_them() {
    let bad = |t: Tunnel, f: Forward| {
        let mut s = services();
        s[3].dests[0].tunnel = t;
        s[3].dests[0].forward = f;
        rvs_core::Snapshot::new(interfaces(), s, neighbours(), rvs_core::service::Timeouts::default())
            .unwrap_err()
            .to_string()
    };
    assert!(
        bad(tun(TunnelKind::Gue, 0, TunnelCsum::NoCsum), Forward::Tunnel).contains("'tun-port' option for the 'gue'")
    );
    assert!(bad(tun(TunnelKind::Gre, 6080, TunnelCsum::NoCsum), Forward::Tunnel).contains("illegal 'tun-port'"));
    assert!(bad(tun(TunnelKind::Gre, 0, TunnelCsum::RemCsum), Forward::Tunnel).contains("'tun-remcsum'"));
    assert!(
        bad(tun(TunnelKind::Ipip, 0, TunnelCsum::Csum), Forward::Tunnel).contains("'tun-csum' option with the 'ipip'")
    );
    let e = bad(tun(TunnelKind::Gre, 0, TunnelCsum::NoCsum), Forward::DirectRoute);
    assert!(e.contains("conflict with forward method"), "{e}");
}
