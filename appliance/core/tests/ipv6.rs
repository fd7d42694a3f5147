//! IPv6 through the pipeline, Katran-style: each step an input frame, the verdict and the exact
//! output frame, built independently (every checksum computed in full) — NAT both ways, DR,
//! TUN (ip6ip6) and its Packet Too Big, neighbour discovery, echo, extension headers, ICMPv6
//! errors of NAT connections in both directions; the IPv4 services of the same snapshot
//! keep working.

mod common;

use common::v6::*;
use common::*;
use rvs_core::wire::build::PacketBuilder6;
use rvs_core::wire::icmpv6::{kind, na_flags};
use rvs_core::wire::ipv6::next_header;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::wire::Mac;
use rvs_core::{DropReason, Frame, Pipeline, Snapshot, VecFrame, Verdict};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

const NOW: u64 = 1_000_000;

/// Runs `input` on `port`; checks the verdict and, when given, the exact output frame.
fn check(p: &mut Pipeline, desc: &str, port: u16, input: &[u8], verdict: Verdict, want: Option<&[u8]>) -> Vec<u8> {
    let mut f = VecFrame::with_headroom(input, 128);
    let v = p.process(NOW, port, &mut f);
    assert_eq!(v, verdict, "{desc}: verdict");
    if let Some(want) = want {
        assert!(f.data() == want, "{desc}: output frame\n got:\n{}\nwant:\n{}", hex(f.data()), hex(want));
    }
    f.data().to_vec()
}

fn to_rs6(mac: Mac, dst: Ipv6Addr, hop_limit: u8) -> PacketBuilder6 {
    PacketBuilder6 { hop_limit, ..PacketBuilder6::new(IN_MAC, mac, CLIENT6, dst) }
}

fn to_client6(src: Ipv6Addr, hop_limit: u8) -> PacketBuilder6 {
    PacketBuilder6 { hop_limit, ..PacketBuilder6::new(OUT_MAC, ROUTER_MAC, src, CLIENT6) }
}

#[test]
fn nat_both_ways_with_the_real_port_differing() {
    let mut p = pipeline6();
    let syn = from_client6(VIP6_NAT).tcp(40000, 80, SYN, 1, b"");
    let want = to_rs6(RS1_MAC, RS6_1, 63).tcp(40000, 8080, SYN, 1, b"");
    check(&mut p, "SYN to the VIP", 0, &syn, Verdict::Forward(1), Some(&want));
    let reply = from_real6(RS1_MAC, RS6_1).tcp(8080, 40000, SYN | ACK, 1, b"");
    let want = to_client6(VIP6_NAT, 63).tcp(80, 40000, SYN | ACK, 1, b"");
    check(&mut p, "SYN-ACK from the real server", 1, &reply, Verdict::Forward(0), Some(&want));
    let data = from_client6(VIP6_NAT).tcp(40000, 80, ACK, 2, b"GET / HTTP/1.1\r\n\r\n");
    let want = to_rs6(RS1_MAC, RS6_1, 63).tcp(40000, 8080, ACK, 2, b"GET / HTTP/1.1\r\n\r\n");
    check(&mut p, "data", 0, &data, Verdict::Forward(1), Some(&want));
    // rr: the next connection goes to the other real server.
    let syn2 = from_client6(VIP6_NAT).tcp(40001, 80, SYN, 1, b"");
    let want = to_rs6(RS2_MAC, RS6_2, 63).tcp(40001, 8080, SYN, 1, b"");
    check(&mut p, "second SYN", 0, &syn2, Verdict::Forward(1), Some(&want));
    assert_eq!(p.connections6().len(), 2);
    assert!(p.connections().is_empty(), "IPv6 connections live in their own table");
    // UDP, whose checksum is mandatory in IPv6.
    let q = from_client6(VIP6_NAT).udp(5000, 53, b"query");
    let want = to_rs6(RS1_MAC, RS6_1, 63).udp(5000, 5353, b"query");
    check(&mut p, "UDP to the VIP", 0, &q, Verdict::Forward(1), Some(&want));
    let a = from_real6(RS1_MAC, RS6_1).udp(5353, 5000, b"answer");
    let want = to_client6(VIP6_NAT, 63).udp(53, 5000, b"answer");
    check(&mut p, "UDP answer", 1, &a, Verdict::Forward(0), Some(&want));
}

#[test]
fn dr_rewrites_only_the_macs_and_tun_wraps_in_ipv6() {
    let mut p = pipeline6();
    let syn = from_client6(VIP6_DR).tcp(40000, 80, SYN, 1, b"");
    let want = PacketBuilder6::new(IN_MAC, RS_DR_MAC, CLIENT6, VIP6_DR).tcp(40000, 80, SYN, 1, b"");
    check(&mut p, "DR", 0, &syn, Verdict::Forward(1), Some(&want));

    let b = PacketBuilder6 { class_flow: 0x0b1_2345, ..from_client6(VIP6_TUN) };
    let syn = b.tcp(40000, 80, SYN, 1, b"");
    let inner = rvs_core::wire::build::ip_part(&syn).to_vec();
    let outer = PacketBuilder6 { class_flow: 0x0b1_2345, ..PacketBuilder6::new(IN_MAC, RS_TUN_MAC, DIP6_IN, RS6_TUN) };
    let want = outer.ip(next_header::IPV6, &inner);
    check(&mut p, "TUN: ip6ip6, the inner packet untouched (RFC 2473)", 0, &syn, Verdict::Forward(1), Some(&want));
}

#[test]
fn a_packet_that_no_longer_fits_the_tunnel_gets_packet_too_big_with_the_mtu() {
    let mut p = pipeline6();
    let big = from_client6(VIP6_TUN).tcp(40000, 80, ACK, 2, &[7u8; 1500 - 40 - 20]); // 1500 bytes of IPv6
    let syn = from_client6(VIP6_TUN).tcp(40000, 80, SYN, 1, b"");
    check(&mut p, "SYN", 0, &syn, Verdict::Forward(1), None);
    // The error quotes as much as keeps it within 1280 bytes, from the VIP to the client.
    let quote = &rvs_core::wire::build::ip_part(&big)[..1280 - 48];
    let want = PacketBuilder6::new(ROUTER_MAC, ROUTER_MAC, VIP6_TUN, CLIENT6);
    let want = PacketBuilder6 { src_mac: OUT_MAC, ..want }.icmpv6(kind::PACKET_TOO_BIG, 0, 1500 - 40, quote);
    let out = check(&mut p, "too big once wrapped", 0, &big, Verdict::Reply, Some(&want));
    assert_eq!(out.len(), 14 + 1280);
    // An error never answers an error, and no Packet Too Big is sent for a packet within the
    // minimum MTU: a tunnel MTU of 1300 cannot carry 1280 bytes, such a packet is dropped.
    let mut small = Pipeline::new(Default::default(), Arc::new(snapshot6_with(services6(), 1300)), NOW);
    check(&mut small, "SYN", 0, &syn, Verdict::Forward(1), None);
    let at_min = from_client6(VIP6_TUN).tcp(40000, 80, ACK, 2, &[7u8; 1280 - 40 - 20]);
    check(&mut small, "1280 bytes, tunnel MTU 1260", 0, &at_min, Verdict::Drop(DropReason::TooBig), None);
}

#[test]
fn neighbour_solicitations_for_vips_and_own_addresses_are_answered_and_solicitors_learned() {
    let mut p = pipeline6();
    let router = PacketBuilder6::new(ROUTER_MAC, OUT_MAC, ROUTER6, VIP6_NAT);
    for target in [VIP6_NAT, DIP6_OUT, snapshot6().interfaces()[0].link_local()] {
        let ns = router.neighbour_solicitation(target);
        let mut opt = target.octets().to_vec();
        opt.extend_from_slice(&[2, 1]);
        opt.extend_from_slice(&OUT_MAC.0);
        let na = PacketBuilder6 { hop_limit: 255, ..PacketBuilder6::new(OUT_MAC, ROUTER_MAC, target, ROUTER6) };
        let want = na.icmpv6(kind::NEIGHBOR_ADVERT, 0, na_flags::SOLICITED | na_flags::OVERRIDE, &opt);
        check(&mut p, &format!("NS for {target}"), 0, &ns, Verdict::Reply, Some(&want));
    }
    let learned = p.take_learned();
    assert_eq!(learned.len(), 3);
    assert_eq!((learned[0].ip, learned[0].mac, learned[0].port), (IpAddr::from(ROUTER6), ROUTER_MAC, 0));
    assert!(learned.iter().all(|l| !l.answer), "a solicitation vouches for nothing (RFC 4861 §7.2.3: STALE)");
    // Duplicate address detection (from ::): the answer goes to all nodes, not solicited.
    let dad = PacketBuilder6::new(ROUTER_MAC, OUT_MAC, Ipv6Addr::UNSPECIFIED, VIP6_NAT).neighbour_solicitation(VIP6_DR);
    let all = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut opt = VIP6_DR.octets().to_vec();
    opt.extend_from_slice(&[2, 1]);
    opt.extend_from_slice(&OUT_MAC.0);
    let na =
        PacketBuilder6 { hop_limit: 255, ..PacketBuilder6::new(OUT_MAC, Mac([0x33, 0x33, 0, 0, 0, 1]), VIP6_DR, all) };
    let want = na.icmpv6(kind::NEIGHBOR_ADVERT, 0, na_flags::OVERRIDE, &opt);
    check(&mut p, "DAD for a VIP", 0, &dad, Verdict::Reply, Some(&want));
    assert!(p.take_learned().is_empty(), "nothing learned from ::");
    // Another address: the kernel's business; a forwarded (hop limit 254) one is refused.
    let other = router.neighbour_solicitation(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x999));
    check(&mut p, "NS for another address", 0, &other, Verdict::ToKernel, None);
    let mut forwarded = router.neighbour_solicitation(VIP6_NAT);
    forwarded[14 + 7] = 254;
    check(&mut p, "NS not from the link", 0, &forwarded, Verdict::Drop(DropReason::NdMalformed), None);
    let mut bad_sum = router.neighbour_solicitation(VIP6_NAT);
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 1;
    check(&mut p, "NS with a bad checksum", 0, &bad_sum, Verdict::Drop(DropReason::NdMalformed), None);
}

#[test]
fn a_neighbour_advertisement_is_learned_and_an_unknown_next_hop_is_pending() {
    let mut p = Pipeline::new(
        Default::default(),
        Arc::new(
            Snapshot::new(interfaces6(1500), services6(), Vec::<(IpAddr, Mac)>::new(), Default::default()).unwrap(),
        ),
        NOW,
    );
    let syn = from_client6(VIP6_DR).tcp(40000, 80, SYN, 1, b"");
    check(
        &mut p,
        "no MAC for the real server yet",
        0,
        &syn,
        Verdict::Pending { port: 1, next_hop: RS6_DR.into() },
        None,
    );
    let mut opt = RS6_DR.octets().to_vec();
    opt.extend_from_slice(&[2, 1]);
    opt.extend_from_slice(&RS_DR_MAC.0);
    let na = PacketBuilder6 { hop_limit: 255, ..PacketBuilder6::new(RS_DR_MAC, IN_MAC, RS6_DR, DIP6_IN) }.icmpv6(
        kind::NEIGHBOR_ADVERT,
        0,
        na_flags::SOLICITED | na_flags::OVERRIDE,
        &opt,
    );
    check(&mut p, "the advertisement", 1, &na, Verdict::ToKernel, None);
    let l = p.take_learned();
    assert_eq!((l[0].ip, l[0].mac, l[0].port, l[0].answer), (IpAddr::from(RS6_DR), RS_DR_MAC, 1, true));
}

#[test]
fn echo_requests_to_vips_and_own_addresses_are_answered() {
    let mut p = pipeline6();
    for dst in [VIP6_NAT, DIP6_OUT] {
        let req = from_client6(dst).icmpv6(kind::ECHO_REQUEST, 0, 0x1234_0001, b"abcdefgh");
        let want = to_client6(dst, 64).icmpv6(kind::ECHO_REPLY, 0, 0x1234_0001, b"abcdefgh");
        check(&mut p, &format!("echo to {dst}"), 0, &req, Verdict::Reply, Some(&want));
    }
}

#[test]
fn extension_headers_are_walked_and_fragments_followed() {
    let mut p = pipeline6();
    let hbh = from_client6(VIP6_DR).with_ext(next_header::HOP_BY_HOP, 1).with_ext(next_header::DEST_OPTS, 2);
    let syn = hbh.tcp(40000, 80, SYN, 1, b"");
    let mut want = syn.clone();
    want[..6].copy_from_slice(&RS_DR_MAC.0);
    want[6..12].copy_from_slice(&IN_MAC.0);
    check(&mut p, "Hop-by-Hop and Destination Options before TCP", 0, &syn, Verdict::Forward(1), Some(&want));
    let frag = from_client6(VIP6_DR).with_ext(next_header::FRAGMENT, 1).tcp(40000, 80, SYN, 1, b"");
    check(&mut p, "a first fragment (RFC 8200 §4.5: its header chain whole)", 0, &frag, Verdict::Forward(1), None);
    let mut long = from_client6(VIP6_DR);
    for _ in 0..9 {
        long = long.with_ext(next_header::DEST_OPTS, 1);
    }
    check(&mut p, "nine headers", 0, &long.tcp(1, 80, SYN, 1, b""), Verdict::Drop(DropReason::Ipv6ExtTooLong), None);
    let esp = from_client6(VIP6_DR).ip(next_header::ESP, &[0; 16]);
    check(&mut p, "ESP", 0, &esp, Verdict::Drop(DropReason::Ipv6NoUpperLayer), None);
    let mut cut = syn.clone();
    cut.truncate(cut.len() - 4);
    check(&mut p, "payload length past the frame", 0, &cut, Verdict::Drop(DropReason::Ipv6Truncated), None);
    let mut ttl = from_client6(VIP6_NAT);
    ttl.hop_limit = 1;
    check(&mut p, "hop limit 1", 0, &ttl.tcp(1, 80, SYN, 1, b""), Verdict::Drop(DropReason::TtlExceeded), None);
    check(
        &mut p,
        "no service on the port",
        0,
        &from_client6(VIP6_NAT).tcp(1, 8, SYN, 1, b""),
        Verdict::Drop(DropReason::NoService),
        None,
    );
}

#[test]
fn icmpv6_errors_follow_their_nat_connection_both_ways() {
    let mut p = pipeline6();
    let syn = from_client6(VIP6_NAT).tcp(40000, 80, SYN, 1, b"");
    let to_rs = check(&mut p, "SYN", 0, &syn, Verdict::Forward(1), None);
    // The real server's port is unreachable: its error, quoting what rvs sent it, reaches the
    // client from the VIP, quoting what the client sent.
    let err =
        PacketBuilder6::new(RS1_MAC, IN_MAC, RS6_1, CLIENT6).icmpv6(1, 4, 0, rvs_core::wire::build::ip_part(&to_rs));
    let quote = to_rs6(RS1_MAC, VIP6_NAT, 63).tcp(40000, 80, SYN, 1, b"");
    let want = to_client6(VIP6_NAT, 63).icmpv6(1, 4, 0, rvs_core::wire::build::ip_part(&quote));
    check(&mut p, "from the real-server side", 1, &err, Verdict::Forward(0), Some(&want));
    // A router on the client's side says a reply was too big: the real server hears it, about
    // its own packet.
    let reply = from_real6(RS1_MAC, RS6_1).tcp(8080, 40000, SYN | ACK, 1, b"");
    let to_client = check(&mut p, "SYN-ACK", 1, &reply, Verdict::Forward(0), None);
    let router = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 1);
    let ptb = PacketBuilder6::new(ROUTER_MAC, OUT_MAC, router, VIP6_NAT).icmpv6(
        kind::PACKET_TOO_BIG,
        0,
        1400,
        rvs_core::wire::build::ip_part(&to_client),
    );
    let quote = PacketBuilder6 { hop_limit: 63, ..PacketBuilder6::new(OUT_MAC, ROUTER_MAC, RS6_1, CLIENT6) }.tcp(
        8080,
        40000,
        SYN | ACK,
        1,
        b"",
    );
    let want = PacketBuilder6 { hop_limit: 63, ..PacketBuilder6::new(IN_MAC, RS1_MAC, router, RS6_1) }.icmpv6(
        kind::PACKET_TOO_BIG,
        0,
        1400,
        rvs_core::wire::build::ip_part(&quote),
    );
    check(&mut p, "from the client side", 0, &ptb, Verdict::Forward(1), Some(&want));
    let stray = PacketBuilder6::new(ROUTER_MAC, OUT_MAC, router, VIP6_NAT).icmpv6(
        1,
        4,
        0,
        rvs_core::wire::build::ip_part(&from_client6(VIP6_NAT).tcp(1, 2, SYN, 1, b"")),
    );
    check(&mut p, "quoting no connection", 0, &stray, Verdict::Drop(DropReason::IcmpUnmatched), None);
}

#[test]
fn ipv4_services_of_a_dual_stack_snapshot_are_unchanged() {
    let mut p = pipeline6();
    let syn = from_client(VIP_NAT).tcp(40000, 80, SYN, 1, b"");
    let want = rvs_core::wire::build::PacketBuilder {
        ttl: 63,
        ..rvs_core::wire::build::PacketBuilder::new(IN_MAC, RS1_MAC, CLIENT, RS1)
    }
    .tcp(40000, 8080, SYN, 1, b"");
    check(&mut p, "IPv4 NAT", 0, &syn, Verdict::Forward(1), Some(&want));
    assert_eq!((p.connections().len(), p.connections6().len()), (1, 0));
}

#[test]
fn ipv6_connections_expire_and_a_persistent_slash_64_sticks_to_one_server() {
    let mut services = services6();
    let s = services.iter_mut().find(|s| s.id == 10).unwrap();
    s.persistence = 300;
    s.persistence_prefix = 64;
    let mut p = Pipeline::new(Default::default(), Arc::new(snapshot6_with(services, 1500)), NOW);
    let mut servers = Vec::new();
    for host in 1..=6u16 {
        let c = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, host);
        let syn = PacketBuilder6::new(ROUTER_MAC, OUT_MAC, c, VIP6_NAT).tcp(40000, 80, SYN, 1, b"");
        let out = check(&mut p, "SYN", 0, &syn, Verdict::Forward(1), None);
        servers.push(out[0..6].to_vec());
    }
    assert!(servers.windows(2).all(|w| w[0] == w[1]), "one /64, one real server (rr alone would alternate)");
    let other = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 1);
    let syn = PacketBuilder6::new(ROUTER_MAC, OUT_MAC, other, VIP6_NAT).tcp(40000, 80, SYN, 1, b"");
    let out = check(&mut p, "another /64", 0, &syn, Verdict::Forward(1), None);
    assert_ne!(out[0..6].to_vec(), servers[0], "rr moves on for a new network");
    assert_eq!(p.connections6().len(), 7);
    // Unanswered handshakes expire on the simulated clock (SYN_RECV: 60 s).
    assert_eq!(p.poll_timers(NOW + 61_000), 7);
    assert!(p.connections6().is_empty());
}

#[test]
fn with_two_cores_an_ipv6_nat_flow_meets_on_the_core_that_owns_its_client() {
    let snap = Arc::new(snapshot6());
    let core = |k| {
        let cfg = rvs_core::PipelineConfig { core: k, cores: 2, conn6_capacity: 64, ..Default::default() };
        Pipeline::new(cfg, Arc::clone(&snap), NOW)
    };
    let (mut p0, mut p1) = (core(0), core(1));
    let client = (1..200u16)
        .map(|h| Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, h))
        .find(|a| snap.owner_ip((*a).into(), 2) == 1)
        .unwrap();
    let syn = PacketBuilder6::new(ROUTER_MAC, OUT_MAC, client, VIP6_NAT).tcp(40000, 80, SYN, 1, b"");
    check(&mut p0, "SYN on another core", 0, &syn, Verdict::Redirect(1), None);
    check(&mut p1, "SYN on its owner", 0, &syn, Verdict::Forward(1), None);
    let reply = PacketBuilder6::new(RS1_MAC, IN_MAC, RS6_1, client).tcp(8080, 40000, SYN | ACK, 1, b"");
    check(&mut p0, "the reply on another core", 1, &reply, Verdict::Redirect(1), None);
    check(&mut p1, "the reply on its owner", 1, &reply, Verdict::Forward(0), None);
}
