//! The test network shared by rvs-core's tests and benches.
//!
//! ```text
//!  client 203.0.113.7 -- router 198.18.0.254 --[port 0: 198.18.0.1/24]  rvs  [port 1: 198.19.0.1/24]-- real servers
//! ```
//! Services: tcp VIP_NAT:80 -> RS1:8080, RS2:8080 (NAT, rr); udp VIP_NAT:53 -> RS1:5353 (NAT);
//! tcp VIP_DR:80 -> RS_DR (DR); tcp VIP_TUN:80 -> RS_TUN (TUN); tcp VIP_NAT:81 -> RS1:81 weight 0;
//! tcp VIP_FNAT:80 -> RS1:8080, RS2:8080 (FULLNAT from LIP, rr).
#![allow(dead_code)]

pub mod harness;
pub mod v6;

use rvs_core::service::{Dest, Forward, Interface, Protocol, Service, Timeouts};
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::Mac;
use rvs_core::{Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

pub const OUT_MAC: Mac = Mac([2, 0, 0, 0, 0, 1]);
pub const IN_MAC: Mac = Mac([2, 0, 0, 0, 1, 1]);
pub const ROUTER_MAC: Mac = Mac([2, 0, 0, 0, 0, 0xfe]);
pub const RS1_MAC: Mac = Mac([2, 0, 0, 0, 2, 11]);
pub const RS2_MAC: Mac = Mac([2, 0, 0, 0, 2, 12]);
pub const RS_DR_MAC: Mac = Mac([2, 0, 0, 0, 2, 21]);
pub const RS_TUN_MAC: Mac = Mac([2, 0, 0, 0, 2, 31]);

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
pub const DIP_OUT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const DIP_IN: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub const VIP_NAT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
pub const VIP_DR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 101);
pub const VIP_TUN: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 102);
pub const RS1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
pub const RS2: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 12);
pub const RS_DR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 21);
pub const RS_TUN: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 31);
pub const VIP_FNAT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 103);
/// The FULLNAT service's local address.
pub const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 201);

fn dest(id: u16, addr: Ipv4Addr, port: u16, weight: u32, forward: Forward) -> Dest {
    Dest::new(id, addr, port, weight, forward)
}

fn svc(id: u16, protocol: Protocol, vip: Ipv4Addr, port: u16, dests: Vec<Dest>) -> Service {
    Service {
        id,
        protocol,
        vip: vip.into(),
        port,
        scheduler: "rr".into(),
        sched_flags: 0,
        persistence: 0,
        persistence_prefix: 32,
        ops: false,
        fwmark: 0,
        pe_sip: false,
        dests,
        laddrs: vec![],
        lports: Default::default(),
        toa: false,
        proxy_protocol: Default::default(),
        uoa: false,
        synproxy: false,
        access: Default::default(),
    }
}

pub fn services() -> Vec<Service> {
    vec![
        svc(
            0,
            Protocol::Tcp,
            VIP_NAT,
            80,
            vec![dest(0, RS1, 8080, 1, Forward::Nat), dest(1, RS2, 8080, 1, Forward::Nat)],
        ),
        svc(1, Protocol::Udp, VIP_NAT, 53, vec![dest(2, RS1, 5353, 1, Forward::Nat)]),
        svc(2, Protocol::Tcp, VIP_DR, 80, vec![dest(3, RS_DR, 80, 1, Forward::DirectRoute)]),
        svc(3, Protocol::Tcp, VIP_TUN, 80, vec![dest(4, RS_TUN, 80, 1, Forward::Tunnel)]),
        svc(4, Protocol::Tcp, VIP_NAT, 81, vec![dest(5, RS1, 81, 0, Forward::Nat)]),
        Service {
            laddrs: vec![LIP.into()],
            ..svc(
                5,
                Protocol::Tcp,
                VIP_FNAT,
                80,
                vec![dest(6, RS1, 8080, 1, Forward::FullNat), dest(7, RS2, 8080, 1, Forward::FullNat)],
            )
        },
    ]
}

pub fn interfaces() -> Vec<Interface> {
    vec![Interface::v4(OUT_MAC, DIP_OUT, 24, Some(ROUTER), 1500), Interface::v4(IN_MAC, DIP_IN, 24, None, 1500)]
}

pub fn neighbours() -> Vec<(Ipv4Addr, Mac)> {
    vec![(ROUTER, ROUTER_MAC), (RS1, RS1_MAC), (RS2, RS2_MAC), (RS_DR, RS_DR_MAC), (RS_TUN, RS_TUN_MAC)]
}

pub fn snapshot() -> Snapshot {
    Snapshot::new(interfaces(), services(), neighbours(), Timeouts::default()).expect("valid test config")
}

pub fn pipeline() -> Pipeline {
    pipeline_with(PipelineConfig { conn_capacity: 1024, ..PipelineConfig::default() })
}

pub fn pipeline_with(cfg: PipelineConfig) -> Pipeline {
    Pipeline::new(cfg, Arc::new(snapshot()), 1_000_000)
}

/// Frames from the client (through the router) to `dst`.
pub fn from_client(dst: Ipv4Addr) -> PacketBuilder {
    PacketBuilder::new(ROUTER_MAC, OUT_MAC, CLIENT, dst)
}

/// Frames from a real server to the client (NAT replies).
pub fn from_real(src_mac: Mac, src: Ipv4Addr) -> PacketBuilder {
    PacketBuilder::new(src_mac, IN_MAC, src, CLIENT)
}

/// Hex dump for assertion messages.
pub fn hex(b: &[u8]) -> String {
    b.chunks(16)
        .map(|c| c.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fuzz seeds: named harness inputs covering every path with real frames.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    use rvs_core::wire::build::ip_part;
    use rvs_core::wire::icmp::{kind, IcmpRepr};
    use rvs_core::wire::tcp::flags::{ACK, FIN, RST, SYN};
    let c = from_client(VIP_NAT);
    let r1 = from_real(RS1_MAC, RS1);
    let sent = PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT).tcp(80, 40000, SYN | ACK, 9, b"");
    let echo = IcmpRepr { msg_type: kind::ECHO_REQUEST, code: 0, rest: [0, 1, 0, 1] };
    let nat_flow = [
        (0u8, c.tcp(40000, 80, SYN, 1, b"")),
        (1, r1.tcp(8080, 40000, SYN | ACK, 9, b"")),
        (0, c.tcp(40000, 80, ACK, 2, b"GET / HTTP/1.0\r\n\r\n")),
        (1, r1.tcp(8080, 40000, ACK | FIN, 10, b"HTTP/1.0 200 OK\r\n\r\n")),
        (2, c.tcp(40000, 80, FIN | ACK, 3, b"")),
        (0, c.tcp(40000, 80, SYN, 100, b"")),
    ];
    let enc = |fs: &[(u8, Vec<u8>)]| harness::encode(&fs.iter().map(|(k, f)| (*k, &f[..])).collect::<Vec<_>>());
    vec![
        ("nat_tcp_flow", enc(&nat_flow)),
        ("nat_udp", enc(&[(0, c.udp(5000, 53, b"q", true)), (1, r1.udp(5353, 5000, b"a", false))])),
        (
            "dr",
            enc(&[(0, from_client(VIP_DR).tcp(1, 80, SYN, 1, b"")), (0, from_client(VIP_DR).tcp(1, 80, RST, 2, b""))]),
        ),
        (
            "tun",
            enc(&[
                (0, from_client(VIP_TUN).tcp(2, 80, SYN, 1, b"")),
                (0, from_client(VIP_TUN).tcp(2, 80, ACK, 2, &[1; 1460])),
            ]),
        ),
        ("arp", enc(&[(0, PacketBuilder::new(ROUTER_MAC, OUT_MAC, ROUTER, ROUTER).arp_request(VIP_DR))])),
        ("echo", enc(&[(0, c.icmp(echo, b"abcd"))])),
        (
            "icmp_error",
            enc(&[
                (0, c.tcp(40000, 80, SYN, 1, b"")),
                (
                    0,
                    PacketBuilder::new(ROUTER_MAC, OUT_MAC, ROUTER, VIP_NAT)
                        .icmp(IcmpRepr::frag_needed(1400), &ip_part(&sent)[..28]),
                ),
                (1, r1.icmp(IcmpRepr::frag_needed(1400), &ip_part(&r1.tcp(8080, 40000, ACK, 1, b""))[..28])),
            ]),
        ),
        ("vlan", enc(&[(0, PacketBuilder { vlan: Some(7), ..from_client(VIP_DR) }.tcp(3, 80, SYN, 1, b""))])),
        ("sync", enc(&sync_seed())),
        ("nat64", enc(&nat64_seed())),
        ("snat", enc(&snat_seed())),
        ("synproxy", enc(&synproxy_seed())),
    ]
    .into_iter()
    .chain(v6::seeds6())
    .collect()
}

/// NAT64 ([`harness::harness_snapshot`]): a handshake and the PROXY header's first data, the
/// server's answer to the local address, ICMP errors both ways, a UDP datagram and its answer.
fn nat64_seed() -> Vec<(u8, Vec<u8>)> {
    use rvs_core::wire::build::{ip_part, PacketBuilder6};
    use rvs_core::wire::icmp::IcmpRepr;
    use rvs_core::wire::tcp::flags::{ACK, SYN};
    let c = v6::from_client6(v6::VIP6_NAT);
    let rs = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, harness::LIP64);
    let to_rs = PacketBuilder::new(IN_MAC, RS1_MAC, harness::LIP64, RS1).tcp(1024, 8080, ACK, 2, b"");
    let to_client = PacketBuilder6::new(OUT_MAC, ROUTER_MAC, v6::VIP6_NAT, v6::CLIENT6).tcp(64, 40000, ACK, 9, b"");
    vec![
        (0, c.tcp(40000, 64, SYN, 1, b"")),
        (1, rs.tcp(8080, 1024, SYN | ACK, 9, b"")),
        (0, c.tcp(40000, 64, ACK, 2, b"")),
        (0, c.tcp(40000, 64, ACK, 2, b"GET / HTTP/1.0\r\n\r\n")),
        (1, rs.tcp(8080, 1024, ACK, 10, b"HTTP/1.0 200 OK\r\n\r\n")),
        (
            1,
            PacketBuilder::new(RS1_MAC, IN_MAC, RS1, harness::LIP64)
                .icmp(IcmpRepr::frag_needed(1400), &ip_part(&to_rs)[..28]),
        ),
        (
            0,
            PacketBuilder6::new(ROUTER_MAC, OUT_MAC, v6::DIP6_OUT, v6::VIP6_NAT).icmpv6(
                2,
                0,
                1300,
                &ip_part(&to_client)[..48],
            ),
        ),
        (0, c.udp(5000, 5364, b"q")),
        (1, rs.udp(5353, 1025, b"a", false)),
    ]
}

/// SNAT ([`harness::harness_snapshot`]): an inside host's SYN out, the answer to the pool, a
/// stranger let in by endpoint-independent filtering, an echo out and back, a denied client.
/// A TCP segment with options from `macs.0` to `macs.1` (IPv4).
#[allow(clippy::too_many_arguments)]
pub fn tcp_with_options(
    macs: (Mac, Mac),
    (src, dst): (Ipv4Addr, Ipv4Addr),
    (sport, dport): (u16, u16),
    (seq, ack, flags): (u32, u32, u8),
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    use rvs_core::Frame;
    let mut f = VecFrame::new(&[0u8; 14]);
    f.data_mut()[0..6].copy_from_slice(&macs.1 .0);
    f.data_mut()[6..12].copy_from_slice(&macs.0 .0);
    let s = rvs_core::xmit::segment::Segment {
        v6: false,
        src: u128::from(u32::from(src)),
        dst: u128::from(u32::from(dst)),
        sport,
        dport,
        seq,
        ack,
        flags,
        window: 502,
        ttl: 64,
        options,
        payload,
    };
    rvs_core::xmit::segment::write_segment(&mut f, 14, &s).expect("room");
    f.data().to_vec()
}

/// Timestamps option (NOP NOP TS).
pub fn ts_option(val: u32, ecr: u32) -> Vec<u8> {
    [&[1u8, 1, 8, 10][..], &val.to_be_bytes(), &ecr.to_be_bytes()].concat()
}

/// A client's life through the SYN proxy of the harness's service (the cookie read from the
/// SYN-ACK a pipeline of the harness's configuration gives): its SYN, its ACK with data, the
/// server's SYN-ACK and answer, a SACK, an ACK storm, a forged cookie; then a second client
/// whose server never answers while the clock moves a second at a time (retries, then the
/// reset).
fn synproxy_seed() -> Vec<(u8, Vec<u8>)> {
    use rvs_core::wire::tcp::flags::{ACK, SYN};
    use rvs_core::Frame;
    let port = harness::SYNPROXY_PORT;
    let c = |sport: u16, (seq, ack, flags): (u32, u32, u8), opts: &[u8], data: &[u8]| {
        tcp_with_options((ROUTER_MAC, OUT_MAC), (CLIENT, VIP_NAT), (sport, port), (seq, ack, flags), opts, data)
    };
    let s = |(seq, ack, flags): (u32, u32, u8), opts: &[u8], data: &[u8]| {
        tcp_with_options((RS1_MAC, IN_MAC), (RS1, CLIENT), (80, 41000), (seq, ack, flags), opts, data)
    };
    let syn_opts = [&[2u8, 4, 5, 180, 4, 2, 8, 10][..], &1000u32.to_be_bytes(), &[0, 0, 0, 0, 1, 3, 3, 7]].concat();
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(harness::harness_snapshot()), 1_000_000);
    let mut cookie = |sport: u16, isn: u32, syn: &[u8]| {
        let mut f = VecFrame::new(syn);
        assert_eq!(p.process(1_000_000, 0, &mut f), Verdict::Reply, "the SYN answered");
        let d = f.data();
        let ack = u32::from_be_bytes(d[38..42].try_into().unwrap());
        let tsval = u32::from_be_bytes(d[34 + 28..34 + 32].try_into().unwrap()); // MSS, SACK_PERM, TS
        let _ = (sport, isn);
        (ack, tsval)
    };
    let syn1 = c(41000, (500, 0, SYN), &syn_opts, b"");
    let (k1, ts1) = cookie(41000, 500, &syn1);
    let syn2 = c(41001, (800, 0, SYN), &syn_opts, b"");
    let (k2, ts2) = cookie(41001, 800, &syn2);
    let srv_opts = [&[2u8, 4, 5, 180, 4, 2][..], &ts_option(5000, 1001)[2..], &[1, 3, 3, 9]].concat();
    let mut sack = ts_option(1003, ts1 + 10);
    sack.extend_from_slice(&[1, 1, 5, 10]);
    sack.extend_from_slice(&(k1 + 100).to_be_bytes());
    sack.extend_from_slice(&(k1 + 200).to_be_bytes());
    let mut out = vec![
        (0u8, syn1),
        (0, c(41000, (501, k1 + 1, ACK), &ts_option(1001, ts1), b"GET /")),
        (1, s((9000, 501, SYN | ACK), &srv_opts, b"")),
        (1, s((9001, 506, ACK), &ts_option(5010, 1001), b"HTTP/1.0 200 OK\r\n")),
        (0, c(41000, (506, k1 + 18, ACK), &sack, b"")),
    ];
    for _ in 0..12 {
        out.push((0, c(41000, (506, k1 + 18, ACK), &[], b"")));
    }
    out.push((0, c(41002, (77, 12345, ACK), &[], b"")));
    out.push((0, syn2));
    out.push((0, c(41001, (801, k2 + 1, ACK), &ts_option(1001, ts2), b"")));
    for k in 0..5u32 {
        // A second a record: the silent server's SYN again each time, then the reset.
        out.push((1 << 1, c(41003 + k as u16, (77, 12345, ACK), &[], b"")));
    }
    out
}

fn snat_seed() -> Vec<(u8, Vec<u8>)> {
    use rvs_core::wire::icmp::IcmpRepr;
    use rvs_core::wire::tcp::flags::{ACK, SYN};
    let host = PacketBuilder::new(RS1_MAC, IN_MAC, RS1, CLIENT);
    let outside = PacketBuilder::new(ROUTER_MAC, OUT_MAC, CLIENT, harness::POOL);
    let echo = IcmpRepr { msg_type: 8, code: 0, rest: [0, 7, 0, 1] };
    let reply = IcmpRepr { msg_type: 0, code: 0, rest: [4, 2, 0, 1] }; // ports 1024-1026 taken in turn
    vec![
        (1, host.tcp(40000, 80, SYN, 1, b"")),
        (0, outside.tcp(80, 1024, SYN | ACK, 9, b"")),
        (1, host.udp(5000, 53, b"q", true)),
        (0, PacketBuilder::new(ROUTER_MAC, OUT_MAC, ROUTER, harness::POOL).udp(999, 1025, b"in", true)),
        (1, host.icmp(echo, b"ping")),
        (0, outside.icmp(reply, b"ping")),
        (0, PacketBuilder::new(ROUTER_MAC, OUT_MAC, harness::DENIED, VIP_NAT).tcp(1, 80, SYN, 1, b"")),
    ]
}

/// A sync seed (harness records of `ctl` bit 7): a datagram installing a NAT connection, a DR
/// one, an IPv6 NAT one and a record with a malformed option, another that moves the NAT one to
/// the other real server, then packets of those flows from both sides.
fn sync_seed() -> Vec<(u8, Vec<u8>)> {
    use rvs_core::wire::ipvs_sync::{conn_flags, SyncConn, SyncWriter, DEFAULT_MAXLEN};
    use rvs_core::wire::tcp::flags::ACK;
    let nat = SyncConn {
        protocol: 6,
        flags: conn_flags::MASQ,
        state: 1, // ESTABLISHED
        cport: 40000,
        vport: 80,
        dport: 8080,
        fwmark: 0,
        timeout: 900,
        caddr: CLIENT.into(),
        vaddr: VIP_NAT.into(),
        daddr: RS1.into(),
        local: None,
        seq_in: None,
        seq_out: None,
        proxy_shift: None,
    };
    let dr = SyncConn {
        flags: conn_flags::DROUTE | conn_flags::NOOUTPUT,
        dport: 80,
        vaddr: VIP_DR.into(),
        daddr: RS_DR.into(),
        ..nat
    };
    let nat6 = SyncConn { caddr: v6::CLIENT6.into(), vaddr: v6::VIP6_NAT.into(), daddr: v6::RS6_1.into(), ..nat };
    let datagram = |records: &[SyncConn], bad_option: bool| {
        let mut w = SyncWriter::new(0, DEFAULT_MAXLEN);
        for r in records {
            assert!(w.push(r));
        }
        let mut m = w.take().expect("records");
        if bad_option {
            // One more record, with a SEQ option of a bad length: skipped alone.
            let mut one = SyncWriter::new(0, DEFAULT_MAXLEN);
            assert!(one.push(&SyncConn { cport: 40001, ..nat }));
            let rec = &one.take().expect("a record")[8..];
            m.extend_from_slice(rec);
            m.extend_from_slice(&[1, 2, 0, 0]);
            let at = m.len() - rec.len() - 4;
            m[at + 2..at + 4].copy_from_slice(&((rec.len() + 4) as u16).to_be_bytes());
            m[4] += 1;
            let total = m.len() as u16;
            m[2..4].copy_from_slice(&total.to_be_bytes());
        }
        m
    };
    let moved = SyncConn { daddr: RS2.into(), ..nat };
    vec![
        (0x80, datagram(&[nat, dr, nat6], true)),
        (0, from_client(VIP_NAT).tcp(40000, 80, ACK, 5, b"more")),
        (1, from_real(RS1_MAC, RS1).tcp(8080, 40000, ACK, 9, b"ok")),
        (0, from_client(VIP_DR).tcp(40000, 80, ACK, 5, b"dr")),
        (0, v6::from_client6(v6::VIP6_NAT).tcp(40000, 80, ACK, 5, b"six")),
        (0x80 | 2, datagram(&[moved], false)),
        (0, from_client(VIP_NAT).tcp(40000, 80, ACK, 9, b"again")),
    ]
}

/// A snapshot of the test network with other services.
/// Processes `frame` arriving on `port` at `now_ms`; returns the verdict and the destination
/// MAC the frame left with.
pub fn send_at(p: &mut Pipeline, now_ms: u64, port: u16, frame: Vec<u8>) -> (Verdict, Mac) {
    let mut f = VecFrame::new(&frame);
    let v = p.process(now_ms, port, &mut f);
    let mut mac = [0; 6];
    mac.copy_from_slice(&rvs_core::Frame::data(&f)[..6]);
    (v, Mac(mac))
}

pub fn snapshot_with(services: Vec<Service>) -> Snapshot {
    Snapshot::new(interfaces(), services, neighbours(), Timeouts::default()).expect("valid test config")
}

/// A service on the test network (ids: service `id`, real servers `first_dest..`).
pub fn service(
    id: u16,
    protocol: Protocol,
    vip: Ipv4Addr,
    sched: &str,
    reals: &[(Ipv4Addr, u32)],
    forward: Forward,
    first_dest: u16,
) -> Service {
    Service {
        id,
        protocol,
        vip: vip.into(),
        port: 80,
        scheduler: sched.into(),
        persistence: 0,
        persistence_prefix: 32,
        ops: false,
        fwmark: 0,
        pe_sip: false,
        sched_flags: 0,
        dests: reals
            .iter()
            .enumerate()
            .map(|(i, &(addr, weight))| Dest::new(first_dest + i as u16, addr, 80, weight, forward))
            .collect(),
        laddrs: vec![],
        lports: Default::default(),
        toa: false,
        proxy_protocol: Default::default(),
        uoa: false,
        synproxy: false,
        access: Default::default(),
    }
}

/// The clock (ms) at which [`established`] sets its flows up.
pub const ESTABLISHED_NOW: u64 = 1_000_000;
/// Flows [`established`] sets up.
pub const ESTABLISHED_FLOWS: u16 = 1024;

/// A pipeline with [`ESTABLISHED_FLOWS`] established TCP flows of `mode` (`nat_in`, `nat_out`,
/// `dr`, `tun`, `fnat_in`, `fnat_out`), and one 64-byte frame (with FCS) per flow to replay:
/// (arrival port, bytes). NAT and FULLNAT flows alternate between RS1 and RS2 (rr).
pub fn established(mode: &str) -> (Pipeline, Vec<(u16, Vec<u8>)>) {
    established_in(mode, 1 << 16)
}

/// [`established`] on a table of `capacity` connections.
pub fn established_in(mode: &str, capacity: usize) -> (Pipeline, Vec<(u16, Vec<u8>)>) {
    let mut p = pipeline_with(PipelineConfig { conn_capacity: capacity, ..PipelineConfig::default() });
    let vip = match mode {
        "nat_in" | "nat_out" => VIP_NAT,
        "dr" => VIP_DR,
        "tun" => VIP_TUN,
        "fnat_in" | "fnat_out" => VIP_FNAT,
        m => panic!("unknown mode {m:?}"),
    };
    let tmpl = from_client(vip);
    let client = |port: u16, flags: u8, seq: u32, payload: &[u8]| tmpl.tcp(port, 80, flags, seq, payload);
    let real = |second: bool, port: u16, flags: u8, seq: u32, payload: &[u8]| {
        let (mac, rs) = if second { (RS2_MAC, RS2) } else { (RS1_MAC, RS1) };
        let to = if mode.starts_with("fnat") { LIP } else { CLIENT };
        PacketBuilder::new(mac, IN_MAC, rs, to).tcp(8080, port, flags, seq, payload)
    };
    // 14 + 20 + 20 + 6 bytes of payload: 64 on the wire with the FCS.
    let frames = establish(&mut p, mode, client, real, &[0; 6]);
    (p, frames)
}

/// Sets up [`ESTABLISHED_FLOWS`] flows of `mode` on `p` (SYN, for NAT and FULLNAT the real
/// server's SYN-ACK and first ACK from RS1 and RS2 in turn) from the frame builders of either family
/// (`client(port, flags, seq, payload)`, `real(second server, port, ...)`: `port` is the
/// client's, or FULLNAT's local port); returns one ACK per flow carrying `payload`, to replay:
/// (arrival port, bytes).
pub fn establish(
    p: &mut Pipeline,
    mode: &str,
    client: impl Fn(u16, u8, u32, &[u8]) -> Vec<u8>,
    real: impl Fn(bool, u16, u8, u32, &[u8]) -> Vec<u8>,
    payload: &[u8],
) -> Vec<(u16, Vec<u8>)> {
    use rvs_core::wire::tcp::flags::{ACK, SYN};
    let mut frames = Vec::new();
    for i in 0..ESTABLISHED_FLOWS {
        let (port, second) = (10_000 + i, i % 2 == 1);
        let mut f = VecFrame::new(&client(port, SYN, 1, b""));
        assert!(matches!(p.process(ESTABLISHED_NOW, 0, &mut f), Verdict::Forward(_)));
        // FULLNAT: the real server answers the local port the SYN left from.
        let to =
            if mode.starts_with("fnat") { rvs_core::wire::build::tcp_ports(rvs_core::Frame::data(&f)).0 } else { port };
        if mode.starts_with("nat") || mode.starts_with("fnat") {
            let mut r = VecFrame::new(&real(second, to, SYN | ACK, 1, b""));
            assert_eq!(p.process(ESTABLISHED_NOW, 1, &mut r), Verdict::Forward(0));
            // The server's first segment past its SYN-ACK: the connection proved a live peer
            // (a full table under a SYN flood keeps it: `Conn::is_embryonic`).
            let mut r = VecFrame::new(&real(second, to, ACK, 2, b""));
            assert_eq!(p.process(ESTABLISHED_NOW, 1, &mut r), Verdict::Forward(0));
        }
        if mode.ends_with("_out") {
            frames.push((1, real(second, to, ACK, 2, payload)));
        } else {
            frames.push((0, client(port, ACK, 2, payload)));
        }
    }
    frames
}
