//! The IPv6 side of the test network: the same two ports, dual-stack.
//!
//! ```text
//!  client 2001:db8:ff::7 -- router fe80::fe --[port 0: 2001:db8::1/64]  rvs  [port 1: 2001:db8:1::1/64]-- real servers
//! ```
//! Services: tcp [VIP6_NAT]:80 -> RS6_1:8080, RS6_2:8080 (NAT, rr); udp [VIP6_NAT]:53 ->
//! RS6_1:5353 (NAT); tcp [VIP6_DR]:80 -> RS6_DR (DR); tcp [VIP6_TUN]:80 -> RS6_TUN (TUN); and
//! every IPv4 service of [`super::services`].

use super::*;
use rvs_core::wire::build::PacketBuilder6;
use std::net::{IpAddr, Ipv6Addr};

pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 7);
pub const ROUTER6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xfe);
pub const DIP6_OUT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const DIP6_IN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const VIP6_NAT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
pub const VIP6_DR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x101);
pub const VIP6_TUN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x102);
pub const RS6_1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x11);
pub const RS6_2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x12);
pub const RS6_DR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x21);
pub const RS6_TUN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x31);

fn svc6(id: u16, protocol: Protocol, vip: Ipv6Addr, port: u16, dests: Vec<Dest>) -> Service {
    Service {
        id,
        protocol,
        vip: vip.into(),
        port,
        scheduler: "rr".into(),
        sched_flags: 0,
        persistence: 0,
        persistence_prefix: 128,
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

pub fn services6() -> Vec<Service> {
    let mut all = services();
    all.extend([
        svc6(
            10,
            Protocol::Tcp,
            VIP6_NAT,
            80,
            vec![Dest::new(10, RS6_1, 8080, 1, Forward::Nat), Dest::new(11, RS6_2, 8080, 1, Forward::Nat)],
        ),
        svc6(11, Protocol::Udp, VIP6_NAT, 53, vec![Dest::new(12, RS6_1, 5353, 1, Forward::Nat)]),
        svc6(12, Protocol::Tcp, VIP6_DR, 80, vec![Dest::new(13, RS6_DR, 80, 1, Forward::DirectRoute)]),
        svc6(13, Protocol::Tcp, VIP6_TUN, 80, vec![Dest::new(14, RS6_TUN, 80, 1, Forward::Tunnel)]),
    ]);
    all
}

pub fn interfaces6(in_mtu: u16) -> Vec<Interface> {
    let mut i = interfaces();
    i[0].addr6 = Some((DIP6_OUT, 64));
    i[0].gateway6 = Some(ROUTER6);
    i[1].addr6 = Some((DIP6_IN, 64));
    i[1].mtu = in_mtu;
    i
}

pub fn neighbours6() -> Vec<(IpAddr, Mac)> {
    let mut n: Vec<(IpAddr, Mac)> = neighbours().into_iter().map(|(a, m)| (a.into(), m)).collect();
    n.extend([
        (ROUTER6.into(), ROUTER_MAC),
        (RS6_1.into(), RS1_MAC),
        (RS6_2.into(), RS2_MAC),
        (RS6_DR.into(), RS_DR_MAC),
        (RS6_TUN.into(), RS_TUN_MAC),
    ]);
    n
}

pub fn snapshot6_with(services: Vec<Service>, in_mtu: u16) -> Snapshot {
    Snapshot::new(interfaces6(in_mtu), services, neighbours6(), Timeouts::default()).expect("valid test config")
}

pub fn snapshot6() -> Snapshot {
    snapshot6_with(services6(), 1500)
}

pub fn pipeline6() -> Pipeline {
    Pipeline::new(
        PipelineConfig { conn_capacity: 1024, conn6_capacity: 1024, ..PipelineConfig::default() },
        Arc::new(snapshot6()),
        1_000_000,
    )
}

/// Frames from the IPv6 client (through the router) to `dst`.
pub fn from_client6(dst: Ipv6Addr) -> PacketBuilder6 {
    PacketBuilder6::new(ROUTER_MAC, OUT_MAC, CLIENT6, dst)
}

/// Frames from a real server to the IPv6 client.
pub fn from_real6(src_mac: Mac, src: Ipv6Addr) -> PacketBuilder6 {
    PacketBuilder6::new(src_mac, IN_MAC, src, CLIENT6)
}

/// Fuzz seeds of the IPv6 paths, in the harness's format.
pub fn seeds6() -> Vec<(&'static str, Vec<u8>)> {
    use rvs_core::wire::build::ip_part;
    use rvs_core::wire::icmpv6::{kind, na_flags};
    use rvs_core::wire::ipv6::next_header;
    use rvs_core::wire::tcp::flags::{ACK, FIN, SYN};
    let c = from_client6(VIP6_NAT);
    let r1 = from_real6(RS1_MAC, RS6_1);
    let to_rs = PacketBuilder6::new(IN_MAC, RS1_MAC, CLIENT6, RS6_1).tcp(40000, 8080, SYN, 1, b"");
    let to_client = PacketBuilder6::new(OUT_MAC, ROUTER_MAC, VIP6_NAT, CLIENT6).tcp(80, 40000, SYN | ACK, 9, b"");
    let enc = |fs: &[(u8, Vec<u8>)]| super::harness::encode(&fs.iter().map(|(k, f)| (*k, &f[..])).collect::<Vec<_>>());
    let mut target_ll = RS6_DR.octets().to_vec();
    target_ll.extend_from_slice(&[2, 1]);
    target_ll.extend_from_slice(&RS_DR_MAC.0);
    vec![
        (
            "nat6_tcp_flow",
            enc(&[
                (0, c.tcp(40000, 80, SYN, 1, b"")),
                (1, r1.tcp(8080, 40000, SYN | ACK, 9, b"")),
                (0, c.tcp(40000, 80, ACK, 2, b"GET / HTTP/1.0\r\n\r\n")),
                (1, r1.tcp(8080, 40000, ACK | FIN, 10, b"HTTP/1.0 200 OK\r\n\r\n")),
                (2, c.tcp(40000, 80, FIN | ACK, 3, b"")),
            ]),
        ),
        ("nat6_udp", enc(&[(0, c.udp(5000, 53, b"q")), (1, r1.udp(5353, 5000, b"a"))])),
        ("dr6", enc(&[(0, from_client6(VIP6_DR).tcp(1, 80, SYN, 1, b""))])),
        (
            "tun6_and_too_big",
            enc(&[
                (0, from_client6(VIP6_TUN).tcp(2, 80, SYN, 1, b"")),
                (0, from_client6(VIP6_TUN).tcp(2, 80, ACK, 2, &[1; 1440])),
            ]),
        ),
        (
            "ndp",
            enc(&[
                (0, PacketBuilder6::new(ROUTER_MAC, OUT_MAC, ROUTER6, VIP6_NAT).neighbour_solicitation(VIP6_NAT)),
                (
                    1,
                    PacketBuilder6 { hop_limit: 255, ..PacketBuilder6::new(RS_DR_MAC, IN_MAC, RS6_DR, DIP6_IN) }
                        .icmpv6(kind::NEIGHBOR_ADVERT, 0, na_flags::SOLICITED, &target_ll),
                ),
            ]),
        ),
        ("echo6", enc(&[(0, c.icmpv6(kind::ECHO_REQUEST, 0, 0x0001_0001, b"abcd"))])),
        (
            "icmp6_errors",
            enc(&[
                (0, c.tcp(40000, 80, SYN, 1, b"")),
                (1, PacketBuilder6::new(RS1_MAC, IN_MAC, RS6_1, CLIENT6).icmpv6(1, 4, 0, ip_part(&to_rs))),
                (
                    0,
                    PacketBuilder6::new(ROUTER_MAC, OUT_MAC, ROUTER6, VIP6_NAT).icmpv6(
                        kind::PACKET_TOO_BIG,
                        0,
                        1400,
                        ip_part(&to_client),
                    ),
                ),
            ]),
        ),
        (
            "ext_headers",
            enc(&[
                (0, from_client6(VIP6_DR).with_ext(next_header::HOP_BY_HOP, 1).tcp(4, 80, SYN, 1, b"")),
                (0, from_client6(VIP6_DR).with_ext(next_header::FRAGMENT, 1).tcp(5, 80, SYN, 1, b"")),
            ]),
        ),
    ]
}

/// [`super::established`] over IPv6 (`mode` without its `6`): the dual-stack network, the same
/// flows, 78-byte frames (IPv6's shortest TCP frame with FCS).
pub fn established6(mode: &str) -> (Pipeline, Vec<(u16, Vec<u8>)>) {
    let cfg = PipelineConfig { conn_capacity: 1024, conn6_capacity: 1 << 16, ..PipelineConfig::default() };
    let mut p = Pipeline::new(cfg, Arc::new(snapshot6()), ESTABLISHED_NOW);
    let vip = match mode {
        "nat_in" | "nat_out" => VIP6_NAT,
        "dr" => VIP6_DR,
        "tun" => VIP6_TUN,
        m => panic!("unknown mode {m:?}6"),
    };
    let tmpl = from_client6(vip);
    let client = |port: u16, flags: u8, seq: u32, payload: &[u8]| tmpl.tcp(port, 80, flags, seq, payload);
    let real = |second: bool, port: u16, flags: u8, seq: u32, payload: &[u8]| {
        let (mac, rs) = if second { (RS2_MAC, RS6_2) } else { (RS1_MAC, RS6_1) };
        from_real6(mac, rs).tcp(8080, port, flags, seq, payload)
    };
    let frames = super::establish(&mut p, mode, client, real, &[]);
    (p, frames)
}
