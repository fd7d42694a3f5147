//! NAT64 on fixtures: an IPv6 VIP whose FULLNAT real servers are IPv4, through an IPv4 local
//! address. Every translated frame is compared with the one the builders make whole (so every
//! checksum is checked), ICMP errors are translated both ways, TOA carries the IPv6 client, a
//! reply too big for the client's path is refused to the server, and the snapshot refuses what
//! cannot work.

mod common;

use common::v6::*;
use common::*;
use rvs_core::service::{ConfigError, Dest, Forward, LocalPorts, Protocol, Service};
use rvs_core::wire::build::{PacketBuilder, PacketBuilder6};
use rvs_core::wire::icmp::IcmpRepr;
use rvs_core::wire::icmpv6::Icmpv6Packet;
use rvs_core::wire::ipv4::Ipv4Packet;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{DropReason, Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

const NOW: u64 = 1_000_000;
const LIP1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 201);

/// tcp [VIP6_NAT]:80 and udp [VIP6_NAT]:53 over the IPv4 RS1 (FULLNAT), local address LIP1.
fn nat64_services(toa: bool) -> Vec<Service> {
    let mut tcp = service(0, Protocol::Tcp, VIP_NAT, "rr", &[], Forward::FullNat, 0);
    tcp.vip = VIP6_NAT.into();
    tcp.persistence_prefix = 128;
    tcp.dests = vec![Dest::new(0, RS1, 8080, 1, Forward::FullNat)];
    tcp.toa = toa;
    let mut udp = tcp.clone();
    (udp.id, udp.protocol, udp.port, udp.toa) = (1, Protocol::Udp, 53, false);
    udp.dests = vec![Dest::new(1, RS1, 5353, 1, Forward::FullNat)];
    for s in [&mut tcp, &mut udp] {
        s.laddrs = vec![LIP1.into()];
        s.lports = LocalPorts::default();
    }
    vec![tcp, udp]
}

fn nat64_pipeline(toa: bool, in_mtu: u16) -> Pipeline {
    let snap = snapshot6_with(nat64_services(toa), in_mtu);
    Pipeline::new(PipelineConfig::default(), Arc::new(snap), NOW)
}

fn send(p: &mut Pipeline, port: u16, frame: Vec<u8>) -> (Verdict, Vec<u8>) {
    let mut f = VecFrame::new(&frame);
    let v = p.process(NOW, port, &mut f);
    (v, f.data().to_vec())
}

/// What rvs sends RS1 from LIP1 (the IPv4 identification is the director's own: read back).
fn to_rs1(out: &[u8]) -> PacketBuilder {
    let ident = u16::from_be_bytes([out[18], out[19]]);
    PacketBuilder { ttl: 63, ident, df: false, ..PacketBuilder::new(IN_MAC, RS1_MAC, LIP1, RS1) }
}

fn from_rs1() -> PacketBuilder {
    PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1)
}

fn to_client6() -> PacketBuilder6 {
    PacketBuilder6 { hop_limit: 63, ..PacketBuilder6::new(OUT_MAC, ROUTER_MAC, VIP6_NAT, CLIENT6) }
}

/// Opens a connection CLIENT6:40000 -> [VIP6_NAT]:80 and returns its local port.
fn handshake(p: &mut Pipeline) -> u16 {
    let (v, out) = send(p, 0, from_client6(VIP6_NAT).tcp(40000, 80, SYN, 7, b""));
    assert_eq!(v, Verdict::Forward(1), "{}", hex(&out));
    let lport = u16::from_be_bytes([out[34], out[35]]);
    assert_eq!(out, to_rs1(&out).tcp(lport, 8080, SYN, 7, b""), "SYN: IPv6 -> IPv4, LIP1:lport -> RS1:8080");
    let (v, out) = send(p, 1, from_rs1().tcp(8080, lport, SYN | ACK, 9, b""));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(out, to_client6().tcp(80, 40000, SYN | ACK, 9, b""), "SYN-ACK: IPv4 -> IPv6, from the VIP");
    lport
}

#[test]
fn tcp_and_udp_change_family_each_way_with_every_checksum_right() {
    let mut p = nat64_pipeline(false, 1500);
    let lport = handshake(&mut p);
    let (_, out) = send(&mut p, 0, from_client6(VIP6_NAT).tcp(40000, 80, ACK, 8, b"GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(out, to_rs1(&out).tcp(lport, 8080, ACK, 8, b"GET / HTTP/1.0\r\n\r\n"));
    let (_, out) = send(&mut p, 1, from_rs1().tcp(8080, lport, ACK, 10, b"HTTP/1.0 200 OK\r\n"));
    assert_eq!(out, to_client6().tcp(80, 40000, ACK, 10, b"HTTP/1.0 200 OK\r\n"));
    // The connection sits in IPv6's table with its IPv4 ends mapped.
    let c = p.connections6().iter().map(|(_, c)| *c).next().expect("one connection");
    let mapped = |a: Ipv4Addr| u128::from(a.to_ipv6_mapped());
    assert_eq!((c.state.name(), c.daddr, c.laddr, c.lport), ("ESTABLISHED", mapped(RS1), mapped(LIP1), lport));
    let uses: Vec<_> = p.local_addr_uses().collect();
    assert_eq!(uses, vec![(IpAddr::V4(LIP1), 1, 0)], "the port is LIP1's, reported as IPv4");

    // UDP; the server's datagram without a checksum gets one (IPv6 requires it).
    let (v, out) = send(&mut p, 0, from_client6(VIP6_NAT).udp(5000, 53, b"query"));
    assert_eq!(v, Verdict::Forward(1));
    let uport = u16::from_be_bytes([out[34], out[35]]);
    assert_eq!(out, to_rs1(&out).udp(uport, 5353, b"query", true));
    for with_checksum in [true, false] {
        let (v, out) = send(&mut p, 1, from_rs1().udp(5353, uport, b"answer", with_checksum));
        assert_eq!(v, Verdict::Forward(0));
        assert_eq!(out, to_client6().udp(53, 5000, b"answer"), "checksum given: {with_checksum}");
    }
    // A stray to the local address is still no one's.
    let stray = from_rs1().tcp(8080, lport ^ 1, ACK, 1, b"");
    assert_eq!(send(&mut p, 1, stray).0, Verdict::Drop(DropReason::NoConnection));
}

#[test]
fn toa_carries_the_ipv6_client_in_the_ipv4_segment() {
    let mut p = nat64_pipeline(true, 1500);
    let lport = handshake(&mut p);
    let (_, out) = send(&mut p, 0, from_client6(VIP6_NAT).tcp(40000, 80, ACK, 8, b""));
    let tcp = &out[34..];
    assert_eq!(tcp[12] >> 4, 10, "20 bytes of TCP header + 20 of TOA");
    let opt = &tcp[20..40];
    assert_eq!((opt[0], opt[1], u16::from_be_bytes([opt[2], opt[3]])), (254, 20, 40000));
    assert_eq!(Ipv6Addr::from(<[u8; 16]>::try_from(&opt[4..20]).unwrap()), CLIENT6);
    assert!(Ipv4Packet::new_unchecked(&out[14..]).verify_checksum());
    let mut whole = out.clone();
    rvs_core::xmit::toa::fill_tcp_checksum(&mut whole, 14, 34, false);
    assert_eq!(whole, out, "the TCP checksum is right");
    assert_eq!(u16::from_be_bytes([tcp[0], tcp[1]]), lport);
}

#[test]
fn icmp_errors_are_translated_both_ways() {
    let mut p = nat64_pipeline(false, 1500);
    let lport = handshake(&mut p);
    // A router on the servers' side: frag-needed (MTU 1400) about LIP1:lport -> RS1:8080.
    let quote = PacketBuilder::new(IN_MAC, RS1_MAC, LIP1, RS1).tcp(lport, 8080, ACK, 8, b"");
    let router = Ipv4Addr::new(198, 19, 0, 250);
    let err = PacketBuilder::new(RS1_MAC, IN_MAC, router, LIP1).icmp(IcmpRepr::frag_needed(1400), &quote[14..14 + 28]);
    let (v, out) = send(&mut p, 1, err);
    assert_eq!(v, Verdict::Forward(0), "{}", hex(&out));
    assert_eq!(u16::from_be_bytes([out[12], out[13]]), 0x86dd);
    let m = Icmpv6Packet::new_unchecked(&out[54..]);
    assert_eq!((m.msg_type(), m.code(), m.rest()), (2, 0, 1420), "Packet Too Big, 20 bytes more");
    assert!(m.verify_checksum(&VIP6_NAT, &CLIENT6), "from the VIP to the client");
    let q = &out[54 + 8..];
    let (qs, qd) = (&q[8..24], &q[24..40]);
    assert_eq!((qs, qd), (&CLIENT6.octets()[..], &VIP6_NAT.octets()[..]), "quote: CLIENT6 -> VIP6");
    assert_eq!((u16::from_be_bytes([q[40], q[41]]), u16::from_be_bytes([q[42], q[43]])), (40000, 80));

    // The client's side: Packet Too Big (1300) about a reply VIP6:80 -> CLIENT6:40000.
    let reply = PacketBuilder6::new(OUT_MAC, ROUTER_MAC, VIP6_NAT, CLIENT6).tcp(80, 40000, ACK, 10, b"");
    let ptb = PacketBuilder6::new(ROUTER_MAC, OUT_MAC, DIP6_OUT, VIP6_NAT).icmpv6(2, 0, 1300, &reply[14..14 + 48]);
    let (v, out) = send(&mut p, 0, ptb);
    assert_eq!(v, Verdict::Forward(1), "{}", hex(&out));
    assert_eq!(u16::from_be_bytes([out[12], out[13]]), 0x0800);
    let ip = Ipv4Packet::new_unchecked(&out[14..]);
    assert!(ip.verify_checksum());
    assert_eq!((ip.src(), ip.dst(), ip.protocol()), (LIP1, RS1, 1));
    let icmp = &out[34..];
    assert_eq!((icmp[0], icmp[1], u16::from_be_bytes([icmp[6], icmp[7]])), (3, 4, 1280), "frag-needed, 20 less");
    assert!(rvs_core::wire::icmp::IcmpPacket::new_unchecked(icmp).verify_checksum());
    let q = Ipv4Packet::new_unchecked(&icmp[8..]);
    assert!(q.verify_checksum(), "the quoted header is whole");
    assert_eq!((q.src(), q.dst()), (RS1, LIP1), "quote: RS1 -> LIP1");
    assert_eq!((u16::from_be_bytes([icmp[28], icmp[29]]), u16::from_be_bytes([icmp[30], icmp[31]])), (8080, lport));

    // What RFC 7915 does not translate (a source quench) is dropped, counted.
    let quench = IcmpRepr { msg_type: 4, code: 0, rest: [0; 4] };
    let err = PacketBuilder::new(RS1_MAC, IN_MAC, router, LIP1).icmp(quench, &quote[14..14 + 28]);
    assert_eq!(send(&mut p, 1, err).0, Verdict::Drop(DropReason::Nat64Untranslatable));
}

#[test]
fn a_reply_too_big_for_the_clients_path_is_refused_to_the_server() {
    let mut p = nat64_pipeline(false, 1500);
    let lport = handshake(&mut p);
    let full = vec![0x5a; 1500 - 40];
    let (v, out) = send(&mut p, 1, from_rs1().tcp(8080, lport, ACK, 10, &full));
    assert_eq!(v, Verdict::Reply, "1500 bytes of IPv4 are 1520 of IPv6");
    let icmp = &out[34..];
    assert_eq!((icmp[0], icmp[1], u16::from_be_bytes([icmp[6], icmp[7]])), (3, 4, 1480));
    // One that fits goes.
    let fits = vec![0x5a; 1500 - 60];
    assert_eq!(send(&mut p, 1, from_rs1().tcp(8080, lport, ACK, 10, &fits)).0, Verdict::Forward(0));
    // The client's full-size packet fits the IPv4 path (20 bytes shorter there).
    let (v, out) = send(&mut p, 0, from_client6(VIP6_NAT).tcp(40000, 80, ACK, 8, &fits));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(out.len(), 14 + 1480);
    assert!(Ipv4Packet::new_unchecked(&out[14..]).dont_frag(), "DF above 1260 bytes (RFC 7915 §5.1)");
}

#[test]
fn the_snapshot_takes_nat64_only_as_it_can_work() {
    let snap = |services: Vec<Service>| {
        Snapshot::new(interfaces6(1500), services, neighbours6(), rvs_core::service::Timeouts::default())
    };
    assert!(snap(nat64_services(false)).is_ok());
    // No IPv4 local address for the IPv4 real server.
    let mut s = nat64_services(false);
    s[0].laddrs = vec![IpAddr::V6("2001:db8:1::201".parse().unwrap())];
    match snap(s) {
        Err(ConfigError::BadLocalAddr { msg, .. }) => assert!(msg.contains("needs an IPv4 local address"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // One local address for an IPv4 FULLNAT service and a NAT64 one: two tables' ports.
    let mut s = nat64_services(false);
    let mut v4 = service(5, Protocol::Tcp, VIP_FNAT, "rr", &[], Forward::FullNat, 0);
    v4.dests = vec![Dest::new(9, RS2, 8080, 1, Forward::FullNat)];
    v4.laddrs = vec![LIP1.into()];
    s.push(v4);
    match snap(s) {
        Err(ConfigError::BadLocalAddr { msg, .. }) => assert!(msg.contains("NAT64"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // Only FULLNAT crosses families, and only from IPv6 to IPv4.
    let mut s = nat64_services(false);
    s[0].dests[0].forward = Forward::Nat;
    assert!(matches!(snap(s), Err(ConfigError::FamilyMismatch { .. })));
    let mut s = service(0, Protocol::Tcp, VIP_NAT, "rr", &[], Forward::FullNat, 0);
    s.dests = vec![Dest::new(0, RS6_1, 8080, 1, Forward::FullNat)];
    s.laddrs = vec![LIP1.into()];
    assert!(matches!(snap(vec![s]), Err(ConfigError::FamilyMismatch { .. })));
}

#[test]
fn the_proxy_header_tells_an_ipv4_server_the_ipv6_client_and_acks_move_back() {
    use rvs_core::wire::proxy_protocol::ProxyProtocol;
    let mut services = nat64_services(false);
    services[0].proxy_protocol = ProxyProtocol::V2;
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snapshot6_with(services, 1500)), NOW);
    let lport = handshake(&mut p);
    let (_, out) = send(&mut p, 0, from_client6(VIP6_NAT).tcp(40000, 80, ACK, 8, b""));
    assert_eq!(out, to_rs1(&out).tcp(lport, 8080, ACK, 8, b""), "the handshake's ACK as it was");
    // PROXY v2, TCP over IPv6 (0x21): the client's and the VIP's IPv6 addresses and ports.
    let mut header = vec![0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x21, 0, 36];
    header.extend_from_slice(&CLIENT6.octets());
    header.extend_from_slice(&VIP6_NAT.octets());
    header.extend_from_slice(&[0x9c, 0x40, 0, 80]);
    let (v, out) = send(&mut p, 0, from_client6(VIP6_NAT).tcp(40000, 80, ACK, 8, b"GET /"));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(out, to_rs1(&out).tcp(lport, 8080, ACK, 8, &[&header[..], b"GET /"].concat()));
    // The server acknowledges header and data: the IPv6 client hears of its own 5 bytes.
    let mut ack = from_rs1().tcp(8080, lport, ACK, 10, b"HTTP");
    ack[42..46].copy_from_slice(&(8 + 52 + 5u32).to_be_bytes());
    rvs_core::wire::tcp::TcpPacket::new_unchecked(&mut ack[34..]).fill_checksum(RS1, LIP1);
    let (_, out) = send(&mut p, 1, ack);
    let mut want = to_client6().tcp(80, 40000, ACK, 10, b"HTTP");
    want[62..66].copy_from_slice(&13u32.to_be_bytes());
    rvs_core::xmit::toa::fill_tcp_checksum(&mut want, 14, 54, true);
    assert_eq!(out, want);
}

#[test]
fn a_synced_nat64_connection_finds_its_ipv4_real_server_on_the_backup() {
    use rvs_core::conn::SyncPolicy;
    use rvs_core::pipeline::Installed;
    use rvs_core::wire::ipvs_sync::{parse, SyncWriter};
    let snap = snapshot6_with(nat64_services(false), 1500);
    let mut master = Pipeline::new(
        PipelineConfig::default(),
        Arc::new(snap.clone().with_sync_master(Some(SyncPolicy::default()))),
        NOW,
    );
    let lport = handshake(&mut master);
    for _ in 0..3 {
        send(&mut master, 0, from_client6(VIP6_NAT).tcp(40000, 80, ACK, 8, b"data"));
    }
    let rec = master.drain_sync().next_back().expect("a record");
    let mut w = SyncWriter::new(1, 1472);
    assert!(w.push(&rec));
    let got = parse(&w.take().unwrap(), 1).unwrap().conns[0];
    let mut backup = Pipeline::new(PipelineConfig::default(), Arc::new(snap), NOW);
    assert_eq!(backup.install_synced(&got, NOW), Installed::Created);
    let c = backup.connections6().iter().map(|(_, c)| *c).next().unwrap();
    assert_eq!((c.dest, c.lport), (0, lport), "bound to the IPv4 real server's id, its local port kept");
    let (v, out) = send(&mut backup, 1, from_rs1().tcp(8080, lport, ACK, 10, b"ok"));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(out, to_client6().tcp(80, 40000, ACK, 10, b"ok"));
}
