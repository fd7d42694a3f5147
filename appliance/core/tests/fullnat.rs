//! FULLNAT on fixtures: both addresses rewritten each way (every checksum checked against
//! frames the builder makes whole), local ports taken per real server from the core's share and
//! given back at expiry, exhaustion refused and counted, replies of another core's port handed
//! to it, a local address answered by ARP, ICMP errors translated both ways, IPv6, and what the
//! snapshot refuses.

mod common;

use common::*;
use rvs_core::service::{ConfigError, Dest, Forward, LocalPorts, Protocol, Timeouts};
use rvs_core::wire::build::{PacketBuilder, PacketBuilder6};
use rvs_core::wire::icmp::{kind, IcmpRepr};
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{DropReason, Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

const NOW: u64 = 1_000_000;
const LIP1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 201);
const LIP2: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 202);
const LIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x201);

/// tcp VIP_NAT:80 and udp VIP_NAT:53 over RS1, RS2 (FULLNAT, rr), local addresses `laddrs`,
/// ports `lports`.
fn snap(laddrs: &[Ipv4Addr], lports: LocalPorts) -> Snapshot {
    let mut tcp = service(0, Protocol::Tcp, VIP_NAT, "rr", &[], Forward::FullNat, 0);
    tcp.dests = vec![Dest::new(0, RS1, 8080, 1, Forward::FullNat), Dest::new(1, RS2, 8080, 1, Forward::FullNat)];
    let mut udp = service(1, Protocol::Udp, VIP_NAT, "rr", &[], Forward::FullNat, 2);
    udp.port = 53;
    udp.dests = vec![Dest::new(2, RS1, 5353, 1, Forward::FullNat)];
    for s in [&mut tcp, &mut udp] {
        s.laddrs = laddrs.iter().map(|a| IpAddr::V4(*a)).collect();
        s.lports = lports;
    }
    Snapshot::new(interfaces(), vec![tcp, udp], neighbours(), Timeouts::default()).expect("valid")
}

fn pipeline_on(snap: Snapshot, core: u16, cores: u16) -> Pipeline {
    Pipeline::new(PipelineConfig { core, cores, ..PipelineConfig::default() }, Arc::new(snap), NOW)
}

fn send(p: &mut Pipeline, port: u16, frame: Vec<u8>) -> (Verdict, Vec<u8>) {
    let mut f = VecFrame::new(&frame);
    let v = p.process(NOW, port, &mut f);
    (v, f.data().to_vec())
}

/// The TCP source port of an IPv4 frame (no VLAN).
fn sport(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[34], frame[35]])
}

#[test]
fn both_ends_are_rewritten_each_way_with_every_checksum_right() {
    let mut p = pipeline_on(snap(&[LIP1], LocalPorts::default()), 0, 1);
    let (v, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, SYN, 1000, b""));
    assert_eq!(v, Verdict::Forward(1));
    let lport = sport(&out);
    let to_rs1 = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, LIP1, RS1) };
    assert_eq!(out, to_rs1.tcp(lport, 8080, SYN, 1000, b""), "SYN: CIP:cport -> LIP:lport, VIP:80 -> RS1:8080");
    // The reply from RS1 to LIP:lport goes back to the client from VIP:80.
    let reply = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).tcp(8080, lport, SYN | ACK, 5000, b"");
    let (v, out) = send(&mut p, 1, reply);
    assert_eq!(v, Verdict::Forward(0));
    let to_client = PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) };
    assert_eq!(out, to_client.tcp(80, 40000, SYN | ACK, 5000, b""));
    // Data both ways, on the same connection.
    let (_, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1001, b"GET /"));
    assert_eq!(out, to_rs1.tcp(lport, 8080, ACK, 1001, b"GET /"));
    let data = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).tcp(8080, lport, ACK, 5001, b"200 OK");
    let (_, out) = send(&mut p, 1, data);
    assert_eq!(out, to_client.tcp(80, 40000, ACK, 5001, b"200 OK"));
    let conns = p.connections();
    let c = conns.iter().map(|(_, c)| c).next().expect("one connection");
    assert_eq!((c.state.name(), c.laddr, c.lport), ("ESTABLISHED", u32::from(LIP1), lport));
    // A packet to the local address with no connection is no one's.
    let stray = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).tcp(8080, lport ^ 1, ACK, 1, b"");
    assert_eq!(send(&mut p, 1, stray).0, Verdict::Drop(DropReason::NoConnection));
}

#[test]
fn udp_and_ipv6_are_translated_too() {
    let mut p = pipeline_on(snap(&[LIP1], LocalPorts::default()), 0, 1);
    let (v, out) = send(&mut p, 0, from_client(VIP_NAT).udp(5000, 53, b"query", true));
    assert_eq!(v, Verdict::Forward(1));
    let lport = sport(&out);
    let to_rs1 = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, LIP1, RS1) };
    assert_eq!(out, to_rs1.udp(lport, 5353, b"query", true));
    let answer = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).udp(5353, lport, b"answer", true);
    let to_client = PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) };
    assert_eq!(send(&mut p, 1, answer).1, to_client.udp(53, 5000, b"answer", true));

    // IPv6: the same, with the pseudo-header's 128-bit addresses.
    use common::v6::*;
    let mut svc = service(0, Protocol::Tcp, VIP_NAT, "rr", &[], Forward::FullNat, 0);
    svc.vip = VIP6_NAT.into();
    svc.dests = vec![Dest::new(0, RS6_1, 8080, 1, Forward::FullNat)];
    svc.laddrs = vec![LIP6.into()];
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snapshot6_with(vec![svc], 1500)), NOW);
    let (v, out) = send(&mut p, 0, from_client6(VIP6_NAT).tcp(40000, 80, SYN, 7, b""));
    assert_eq!(v, Verdict::Forward(1));
    let lport = u16::from_be_bytes([out[54], out[55]]);
    let want = PacketBuilder6 { hop_limit: 63, ..PacketBuilder6::new(IN_MAC, RS1_MAC, LIP6, RS6_1) };
    assert_eq!(out, want.tcp(lport, 8080, SYN, 7, b""));
    let reply = PacketBuilder6::new(RS1_MAC, IN_MAC, RS6_1, LIP6).tcp(8080, lport, SYN | ACK, 9, b"");
    let (v, out) = send(&mut p, 1, reply);
    assert_eq!(v, Verdict::Forward(0));
    let back = PacketBuilder6 { hop_limit: 63, ..PacketBuilder6::new(OUT_MAC, ROUTER_MAC, VIP6_NAT, CLIENT6) };
    assert_eq!(out, back.tcp(80, 40000, SYN | ACK, 9, b""));
}

#[test]
fn ports_come_from_the_cores_share_per_real_server_until_exhausted() {
    // Core 1 of 2 over 40000-40005: ports 40001, 40003, 40005; two local addresses.
    let lports = LocalPorts { lo: 40000, hi: 40005 };
    let mut p = pipeline_on(snap(&[LIP1, LIP2], lports), 1, 2);
    let mut seen = vec![];
    for cport in 0..13u16 {
        let (v, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(50000 + cport, 80, SYN, 1, b""));
        if cport == 12 {
            // rr alternates RS1, RS2: 6 each fill 3 ports x 2 addresses of each server.
            assert_eq!(v, Verdict::Drop(DropReason::LaddrExhausted), "the 13th finds no port");
            break;
        }
        assert_eq!(v, Verdict::Forward(1), "connection {cport}");
        let src = Ipv4Addr::new(out[26], out[27], out[28], out[29]);
        let dst = Ipv4Addr::new(out[30], out[31], out[32], out[33]);
        seen.push((dst, src, sport(&out)));
    }
    for (_, _, port) in &seen {
        assert_eq!(LocalPorts::owner(*port, 2), 1, "port {port} is core 1's");
    }
    let mut distinct = seen.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 12, "no two connections share (RIP, LIP, lport)");
    assert_eq!(seen.iter().filter(|s| s.1 == LIP1).count(), 6, "both local addresses used in turn");
    let uses: Vec<_> = p.local_addr_uses().collect();
    // Each address's 6 ports are held; each ran out at least once (the 13th tried both).
    for lip in [LIP1, LIP2] {
        assert!(uses.iter().any(|&(a, held, out)| a == IpAddr::V4(lip) && held == 6 && out >= 1), "{uses:?}");
    }
    assert_eq!(p.counters().drops(DropReason::LaddrExhausted), 1);
    // At expiry (SYN_RECV's 60 s) the ports come back.
    p.poll_timers(NOW + 200_000);
    assert!(p.local_addr_uses().all(|(_, in_use, _)| in_use == 0));
    let (v, _) = send_at(&mut p, NOW + 200_000, 0, from_client(VIP_NAT).tcp(50099, 80, SYN, 1, b""));
    assert_eq!(v, Verdict::Forward(1));
}

#[test]
fn a_reply_for_another_cores_port_is_handed_to_it() {
    let mut p = pipeline_on(snap(&[LIP1], LocalPorts::default()), 0, 2);
    for port in [40001u16, 40002] {
        let reply = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).tcp(8080, port, ACK, 1, b"");
        let want = if port % 2 == 0 { Verdict::Drop(DropReason::NoConnection) } else { Verdict::Redirect(1) };
        assert_eq!(send(&mut p, 1, reply).0, want, "port {port}");
    }
    // A client's SYN is not steered: any core takes it, from its own share.
    let (v, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, SYN, 1, b""));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(LocalPorts::owner(sport(&out), 2), 0);
}

#[test]
fn a_local_address_is_answered_by_arp_and_echo() {
    let mut p = pipeline_on(snap(&[LIP1], LocalPorts::default()), 0, 1);
    let ask = PacketBuilder::new(RS1_MAC, rvs_core::wire::Mac::BROADCAST, RS1, DIP_IN).arp_request(LIP1);
    assert_eq!(send(&mut p, 1, ask).0, Verdict::Reply);
    let ping = IcmpRepr { msg_type: kind::ECHO_REQUEST, code: 0, rest: [0, 1, 0, 1] };
    let echo = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).icmp(ping, b"hi");
    assert_eq!(send(&mut p, 1, echo).0, Verdict::Reply);
}

#[test]
fn icmp_errors_are_translated_both_ways() {
    let mut p = pipeline_on(snap(&[LIP1], LocalPorts::default()), 0, 1);
    let syn = from_client(VIP_NAT).tcp(40000, 80, SYN, 1000, b"");
    let (_, to_rs) = send(&mut p, 0, syn.clone());
    let lport = sport(&to_rs);
    // A router between rvs and RS1 cannot forward the SYN: its error, about LIP:lport -> RS1,
    // reaches the client about VIP:80 <- CIP:40000 (the client's own SYN, as it sent it).
    let quote_sent = &to_rs[14..14 + 28];
    let too_big = IcmpRepr::frag_needed(1400);
    let err = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).icmp(too_big, quote_sent);
    let (v, out) = send(&mut p, 1, err);
    assert_eq!(v, Verdict::Forward(0));
    let mut quote_back = syn[14..14 + 28].to_vec();
    quote_back[8] = 63; // the quote is of the packet as it left rvs: TTL one lower...
    let back = PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) };
    let want = back.icmp(too_big, &quote_back);
    assert_eq!(&out[14 + 12..14 + 20], &want[14 + 12..14 + 20], "outer: VIP -> CIP");
    assert_eq!(&out[34 + 8 + 12..34 + 8 + 20], &quote_back[12..20], "quote: CIP -> VIP");
    assert_eq!(&out[34 + 8 + 20..34 + 8 + 24], &quote_back[20..24], "quote ports: 40000 -> 80");
    assert!(rvs_core::wire::icmp::IcmpPacket::new_unchecked(&out[34..]).verify_checksum());
    assert!(rvs_core::wire::ipv4::Ipv4Packet::new_unchecked(&out[14..]).verify_checksum());
    // The client's error about a reply (VIP:80 -> CIP:40000) reaches RS1 about RS1:8080 ->
    // LIP:lport, from LIP.
    let reply_quote = PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT).tcp(80, 40000, SYN | ACK, 1, b"");
    let unreach = IcmpRepr::port_unreachable();
    let err = PacketBuilder::new(ROUTER_MAC, OUT_MAC, CLIENT, VIP_NAT).icmp(unreach, &reply_quote[14..14 + 28]);
    let (v, out) = send(&mut p, 0, err);
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(&out[26..34], &[LIP1.octets(), RS1.octets()].concat()[..], "outer: LIP -> RS1");
    let q = &out[34 + 8..];
    assert_eq!(&q[12..20], &[RS1.octets(), LIP1.octets()].concat()[..], "quote: RS1 -> LIP");
    assert_eq!((u16::from_be_bytes([q[20], q[21]]), u16::from_be_bytes([q[22], q[23]])), (8080, lport));
    assert!(rvs_core::wire::icmp::IcmpPacket::new_unchecked(&out[34..]).verify_checksum());
}

#[test]
fn the_snapshot_refuses_what_cannot_work() {
    let refused = |laddrs: &[IpAddr], lports: LocalPorts| {
        let mut s = service(0, Protocol::Tcp, VIP_NAT, "rr", &[(RS1, 1)], Forward::FullNat, 0);
        s.laddrs = laddrs.to_vec();
        s.lports = lports;
        match Snapshot::new(interfaces(), vec![s], neighbours(), Timeouts::default()) {
            Err(ConfigError::BadLocalAddr { msg, .. }) => msg,
            other => panic!("{laddrs:?} {lports:?}: {other:?}"),
        }
    };
    let ok = LocalPorts::default();
    assert!(refused(&[], ok).contains("needs an IPv4 local address"));
    assert!(refused(&[LIP6.into()], ok).contains("family"));
    assert!(refused(&[LIP1.into(), LIP1.into()], ok).contains("twice"));
    assert!(refused(&[VIP_NAT.into()], ok).contains("is a VIP"));
    assert!(refused(&[LIP1.into()], LocalPorts { lo: 9, hi: 8 }).contains("ordered"));
}

#[test]
fn shares_split_the_range_without_overlap() {
    let r = LocalPorts { lo: 1024, hi: 65535 };
    let total: u32 = (0..3).map(|c| r.share(c, 3).1).sum();
    assert_eq!(total, 65535 - 1024 + 1);
    for c in 0..3u16 {
        let (first, _) = r.share(c, 3);
        assert_eq!(LocalPorts::owner(first, 3), c);
        assert!((1024..1027).contains(&first));
    }
    assert_eq!(LocalPorts { lo: 5, hi: 5 }.share(1, 2), (5, 1));
    assert_eq!(LocalPorts { lo: 5, hi: 5 }.share(0, 2), (0, 0), "a core may have no port at all");
}

#[test]
fn a_synced_connection_keeps_its_local_end_on_the_backup_worker_that_owns_its_port() {
    use rvs_core::conn::SyncPolicy;
    use rvs_core::pipeline::{record_owner, Installed};
    use rvs_core::wire::ipvs_sync::{parse, SyncWriter};
    let base = snap(&[LIP1], LocalPorts::default());
    let master_snap = base.clone().with_sync_master(Some(SyncPolicy::default()));
    let mut master = pipeline_on(master_snap, 1, 2);
    let (_, out) = send(&mut master, 0, from_client(VIP_NAT).tcp(40000, 80, SYN, 1000, b""));
    let lport = sport(&out);
    let reply = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).tcp(8080, lport, SYN | ACK, 5000, b"");
    send(&mut master, 1, reply.clone());
    send(&mut master, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1001, b""));
    send(&mut master, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1001, b"GET")); // IPVS's 3rd: sent
    let sent: Vec<_> = master.drain_sync().collect();
    let rec = *sent.last().expect("a record");
    assert_eq!(rec.local, Some((IpAddr::V4(LIP1), lport)));
    // Over the wire: the local end is an option a kernel IPVS skips (F_PARAM set).
    let mut w = SyncWriter::new(1, 1472);
    assert!(w.push(&rec));
    let msg = w.take().unwrap();
    assert_eq!(&msg[8 + 36..8 + 38], &[0x60, 6], "type LOCAL_END | F_PARAM, 6 bytes");
    let got = parse(&msg, 1).unwrap().conns[0];
    assert_eq!(got.local, rec.local);
    // The backup (2 workers) installs it on the worker whose share holds the port.
    let owner = record_owner(&base, &got, 2);
    assert_eq!(owner, LocalPorts::owner(lport, 2));
    let mut backup = pipeline_on(base.clone(), owner, 2);
    assert_eq!(backup.install_synced(&got, NOW), Installed::Created);
    // After a failover the reply and the client's next segment flow as on the master.
    let (v, out) =
        send(&mut backup, 1, PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).tcp(8080, lport, ACK, 5001, b"x"));
    assert_eq!(v, Verdict::Forward(0));
    let to_client = PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) };
    assert_eq!(out, to_client.tcp(80, 40000, ACK, 5001, b"x"));
    let (_, out) = send(&mut backup, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1002, b"y"));
    let to_rs1 = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, LIP1, RS1) };
    assert_eq!(out, to_rs1.tcp(lport, 8080, ACK, 1002, b"y"));
    // Its port is reserved there: a new connection to RS1 takes another.
    let (_, out) = send(&mut backup, 0, from_client(VIP_NAT).tcp(40002, 80, SYN, 1, b""));
    assert_ne!((out[30..34].to_vec(), sport(&out)), (RS1.octets().to_vec(), lport));
    // A record without its local end cannot be kept.
    let bare = rvs_core::wire::ipvs_sync::SyncConn { local: None, cport: 40009, ..got };
    assert_eq!(backup.install_synced(&bare, NOW), Installed::NoService);
    // With persistence the service is steered by client: its records go to the client's core.
    let mut persistent = base.services().to_vec();
    persistent[0].persistence = 60;
    let steered = Snapshot::new(interfaces(), persistent, neighbours(), Timeouts::default()).unwrap();
    assert_eq!(record_owner(&steered, &got, 2), steered.owner_ip(CLIENT.into(), 2));
}

/// `frame` (IPv4 TCP without options) with an MSS option of `mss`.
fn with_mss(frame: Vec<u8>, mss: u16) -> Vec<u8> {
    let mut f = VecFrame::new(&frame);
    assert!(rvs_core::xmit::toa::open_gap(&mut f, 54, 4));
    let mut d = f.data().to_vec();
    d[54..58].copy_from_slice(&[2, 4, (mss >> 8) as u8, mss as u8]);
    d[46] = 6 << 4; // data offset 24 bytes
    let total = u16::from_be_bytes([d[16], d[17]]) + 4;
    d[16..18].copy_from_slice(&total.to_be_bytes());
    let mut ip = rvs_core::wire::ipv4::Ipv4Packet::new_unchecked(&mut d[14..34]);
    ip.fill_checksum();
    let (src, dst) = (Ipv4Addr::new(d[26], d[27], d[28], d[29]), Ipv4Addr::new(d[30], d[31], d[32], d[33]));
    rvs_core::wire::tcp::TcpPacket::new_unchecked(&mut d[34..]).fill_checksum(src, dst);
    d
}

/// The MSS option of an IPv4 TCP frame built by [`with_mss`].
fn mss_of(frame: &[u8]) -> u16 {
    assert_eq!(frame[54], 2);
    u16::from_be_bytes([frame[56], frame[57]])
}

fn tcp_ok(frame: &[u8]) -> bool {
    let (src, dst) = (
        Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]),
        Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33]),
    );
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    rvs_core::wire::ipv4::Ipv4Packet::new_unchecked(&frame[14..34]).verify_checksum()
        && rvs_core::wire::tcp::TcpPacket::new_unchecked(&frame[34..14 + total]).verify_checksum(src, dst)
}

#[test]
fn toa_tells_the_real_server_the_client_until_it_answers_and_mss_leaves_room_for_it() {
    let mut base = snap(&[LIP1], LocalPorts::default());
    let mut services = base.services().to_vec();
    services[0].toa = true;
    let mut itfs = interfaces();
    itfs[1].mtu = 1400; // the path to the real servers is narrower
    base = Snapshot::new(itfs, services, neighbours(), Timeouts::default()).unwrap();
    let mut p = pipeline_on(base, 0, 1);
    // The SYN's MSS is held to the path to the server: 1400 - 40.
    let (_, out) = send(&mut p, 0, with_mss(from_client(VIP_NAT).tcp(40000, 80, SYN, 1000, b""), 1460));
    assert_eq!(mss_of(&out), 1360);
    assert!(tcp_ok(&out));
    let lport = sport(&out);
    // The SYN-ACK's leaves room for TOA on the client's side: 1500 - 40 - 8.
    let synack = with_mss(PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).tcp(8080, lport, SYN | ACK, 5000, b""), 1460);
    let (_, out) = send(&mut p, 1, synack);
    assert_eq!(mss_of(&out), 1452);
    assert!(tcp_ok(&out));
    // The handshake's ACK and the request carry TOA: 254, 8, the client's port and address.
    let toa = [&[254u8, 8][..], &40000u16.to_be_bytes(), &CLIENT.octets()].concat();
    for (what, seg) in [("ACK", &b""[..]), ("request", &b"GET / HTTP/1.0\r\n\r\n"[..])] {
        let (v, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1001, seg));
        assert_eq!(v, Verdict::Forward(1));
        assert_eq!(out[46] >> 4, 7, "{what}: data offset 28 bytes");
        assert_eq!(&out[54..62], &toa[..], "{what}: TOA after the header");
        assert_eq!(&out[62..], seg, "{what}: the payload follows");
        assert_eq!(usize::from(u16::from_be_bytes([out[16], out[17]])), 20 + 28 + seg.len());
        assert!(tcp_ok(&out), "{what}: checksums");
        assert_eq!(&out[26..30], &LIP1.octets(), "{what}: from the local address");
    }
    // Once the server answered, no more.
    send(&mut p, 1, PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1).tcp(8080, lport, ACK, 5001, b"200 OK"));
    let (_, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1019, b""));
    assert_eq!(out[46] >> 4, 5, "no option once the server has answered");
    assert_eq!(p.counters().toa_added, 2);
}

/// The sequence and acknowledgment numbers of an IPv4 TCP frame.
fn seq_ack(frame: &[u8]) -> (u32, u32) {
    let n = |at: usize| u32::from_be_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]);
    (n(38), n(42))
}

/// `frame` (IPv4 TCP) with acknowledgment number `ack`, its checksum computed afresh.
fn with_ack(mut d: Vec<u8>, ack: u32) -> Vec<u8> {
    d[42..46].copy_from_slice(&ack.to_be_bytes());
    let (src, dst) = (Ipv4Addr::new(d[26], d[27], d[28], d[29]), Ipv4Addr::new(d[30], d[31], d[32], d[33]));
    rvs_core::wire::tcp::TcpPacket::new_unchecked(&mut d[34..]).fill_checksum(src, dst);
    d
}

#[test]
fn the_proxy_header_goes_in_front_of_the_first_data_and_sequence_numbers_follow() {
    use rvs_core::wire::proxy_protocol::ProxyProtocol;
    let base = snap(&[LIP1], LocalPorts::default());
    let mut services = base.services().to_vec();
    services[0].proxy_protocol = ProxyProtocol::V2;
    let base = Snapshot::new(interfaces(), services, neighbours(), Timeouts::default()).unwrap();
    let mut p = pipeline_on(base, 0, 1);
    let (_, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, SYN, 1000, b""));
    let lport = sport(&out);
    let from_rs = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1);
    let to_rs1 = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, LIP1, RS1) };
    let to_client = PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) };
    let (_, out) = send(&mut p, 1, with_ack(from_rs.tcp(8080, lport, SYN | ACK, 5000, b""), 1001));
    assert_eq!(seq_ack(&out), (5000, 1001), "the SYN-ACK as it was");
    // The handshake's ACK: nothing inserted, nothing moved.
    let (_, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1001, b""));
    assert_eq!(out, to_rs1.tcp(lport, 8080, ACK, 1001, b""));
    // The first data: the header in front, at the same sequence number.
    let mut header = vec![0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0, 12];
    header.extend_from_slice(&CLIENT.octets());
    header.extend_from_slice(&VIP_NAT.octets());
    header.extend_from_slice(&[0x9c, 0x40, 0, 80]);
    let first = [&header[..], b"GET /"].concat();
    let (v, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1001, b"GET /"));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(out, to_rs1.tcp(lport, 8080, ACK, 1001, &first), "header and data, every checksum right");
    // The server acknowledges header and data: the client hears of its own 5 bytes.
    let (_, out) = send(&mut p, 1, with_ack(from_rs.tcp(8080, lport, ACK, 5001, b"HTTP"), 1034));
    assert_eq!(out, with_ack(to_client.tcp(80, 40000, ACK, 5001, b"HTTP"), 1006));
    // Part of the header acknowledged: none of the client's bytes.
    let (_, out) = send(&mut p, 1, with_ack(from_rs.tcp(8080, lport, ACK, 5005, b""), 1010));
    assert_eq!(seq_ack(&out), (5005, 1001));
    // The client's next data moves by the header's 28 bytes; a resent first segment gets the
    // header again.
    let (_, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1006, b" HTTP/1.0"));
    assert_eq!(out, to_rs1.tcp(lport, 8080, ACK, 1034, b" HTTP/1.0"));
    let (_, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1001, b"GET /"));
    assert_eq!(out, to_rs1.tcp(lport, 8080, ACK, 1001, &first));
    assert_eq!(p.counters().proxy_headers, 2);
    // The client closes; a new SYN on the same ports (TIME_WAIT reused) is a new connection:
    // its first data gets a header of its own, at its own first sequence number.
    for (from_client_side, flags) in
        [(true, rvs_core::wire::tcp::flags::FIN | ACK), (false, rvs_core::wire::tcp::flags::FIN | ACK), (true, ACK)]
    {
        let f = if from_client_side {
            from_client(VIP_NAT).tcp(40000, 80, flags, 1015, b"")
        } else {
            with_ack(from_rs.tcp(8080, lport, flags, 5010, b""), 1044)
        };
        send(&mut p, if from_client_side { 0 } else { 1 }, f);
    }
    let (_, syn) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, SYN, 90000, b""));
    let lport2 = sport(&syn);
    let (_, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 90001, b"GET /"));
    let to_rs = |rs: Ipv4Addr, mac| PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, mac, LIP1, rs) };
    let rs = Ipv4Addr::new(out[30], out[31], out[32], out[33]);
    let want = to_rs(rs, if rs == RS1 { RS1_MAC } else { RS2_MAC }).tcp(lport2, 8080, ACK, 90001, &first);
    assert_eq!(out, want, "the reused connection's first data carries its header");
    assert_eq!(p.counters().proxy_headers, 3);
}

#[test]
fn uoa_tells_the_real_server_the_client_on_a_flows_first_datagrams() {
    let base = snap(&[LIP1], LocalPorts::default());
    let mut services = base.services().to_vec();
    services[1].uoa = true; // udp VIP_NAT:53
    let base = Snapshot::new(interfaces(), services, neighbours(), Timeouts::default()).unwrap();
    let mut p = pipeline_on(base, 0, 1);
    let uoa = [&[31u8, 8][..], &5000u16.to_be_bytes(), &CLIENT.octets()].concat();
    for k in 1..=4u16 {
        let (v, out) = send(&mut p, 0, from_client(VIP_NAT).udp(5000, 53, b"query", true));
        assert_eq!(v, Verdict::Forward(1));
        let ihl = usize::from(out[14] & 0x0f) * 4;
        let ip = rvs_core::wire::ipv4::Ipv4Packet::new_unchecked(&out[14..14 + ihl]);
        assert!(ip.verify_checksum(), "datagram {k}: header checksum");
        assert_eq!(usize::from(u16::from_be_bytes([out[16], out[17]])), ihl + 8 + 5, "datagram {k}: total length");
        let udp = &out[14 + ihl..];
        let (src, dst) = (LIP1, RS1);
        let sum = rvs_core::wire::checksum::pseudo_header_sum(src.octets(), dst.octets(), 17, 13)
            + rvs_core::wire::checksum::sum(&udp[..13]);
        assert_eq!(rvs_core::wire::checksum::fold(sum), 0xffff, "datagram {k}: UDP checksum");
        assert_eq!(&udp[8..13], b"query");
        if k <= 3 {
            assert_eq!(ihl, 28, "datagram {k} carries UOA");
            assert_eq!(&out[34..42], &uoa[..]);
        } else {
            assert_eq!(ihl, 20, "the 4th does not");
        }
    }
    assert_eq!(p.counters().uoa_added, 3);
    // Not for IPv6 or TCP services: refused.
    let mut bad = base_tcp_with(|s| s.uoa = true);
    assert!(matches!(bad.pop(), Some(Err(ConfigError::BadLocalAddr { .. }))));
}

/// The test snapshot with service 0 (tcp) changed by `f`: its validation's result.
fn base_tcp_with(f: impl Fn(&mut rvs_core::service::Service)) -> Vec<Result<Snapshot, ConfigError>> {
    let base = snap(&[LIP1], LocalPorts::default());
    let mut services = base.services().to_vec();
    f(&mut services[0]);
    vec![Snapshot::new(interfaces(), services, neighbours(), Timeouts::default())]
}

#[test]
fn the_proxy_protocols_adjustment_is_synced_so_the_stream_holds_after_a_failover() {
    use rvs_core::conn::SyncPolicy;
    use rvs_core::pipeline::Installed;
    use rvs_core::wire::ipvs_sync::{conn_flags, parse, SyncWriter};
    use rvs_core::wire::proxy_protocol::ProxyProtocol;
    let base = snap(&[LIP1], LocalPorts::default());
    let mut services = base.services().to_vec();
    services[0].proxy_protocol = ProxyProtocol::V2;
    let base = Snapshot::new(interfaces(), services, neighbours(), Timeouts::default()).unwrap();
    let mut master = pipeline_on(base.clone().with_sync_master(Some(SyncPolicy::default())), 0, 1);
    let (_, out) = send(&mut master, 0, from_client(VIP_NAT).tcp(40000, 80, SYN, 1000, b""));
    let lport = sport(&out);
    let from_rs = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, LIP1);
    send(&mut master, 1, with_ack(from_rs.tcp(8080, lport, SYN | ACK, 5000, b""), 1001));
    send(&mut master, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1001, b""));
    send(&mut master, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1001, b"GET /"));
    // The header went in front of the first data: a record says so at once (IPVS's SEQ option).
    let rec = master.drain_sync().next_back().expect("a record");
    assert_eq!(rec.seq_in, Some([1001, 28, 0]), "init_seq, delta, previous_delta");
    assert_ne!(rec.flags & conn_flags::IN_SEQ, 0);
    let mut w = SyncWriter::new(1, 1472);
    assert!(w.push(&rec));
    let got = parse(&w.take().unwrap(), 1).unwrap().conns[0];
    assert_eq!((got.seq_in, got.local), (rec.seq_in, rec.local), "both options over the wire");
    let mut backup = pipeline_on(base, 0, 1);
    assert_eq!(backup.install_synced(&got, NOW), Installed::Created);
    // After a failover: the client's next data moves by the header, the server's ACK back.
    let to_rs1 = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, LIP1, RS1) };
    let (_, out) = send(&mut backup, 0, from_client(VIP_NAT).tcp(40000, 80, ACK, 1006, b" HTTP/1.0"));
    assert_eq!(out, to_rs1.tcp(lport, 8080, ACK, 1034, b" HTTP/1.0"));
    let (_, out) = send(&mut backup, 1, with_ack(from_rs.tcp(8080, lport, ACK, 5001, b"HTTP"), 1043));
    assert_eq!(seq_ack(&out), (5001, 1015));
}
