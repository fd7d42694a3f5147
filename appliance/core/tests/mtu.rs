//! Review defect 7: the egress port's MTU applies to every forwarding method, as IPVS's
//! `ensure_mtu_is_adequate` does for NAT, DR and TUN alike. Before, only TUN compared its frame
//! with the egress MTU: NAT and DR forwarded a packet their egress could not carry, and a port
//! pair of different MTUs black-holed the flow. Now the sender hears "fragmentation needed"
//! (IPv4 with DF) or Packet Too Big (IPv6) with the MTU to use; without DF the packet is
//! dropped and counted (rvs does not fragment).

mod common;

use common::v6::*;
use common::*;
use rvs_core::service::{Interface, Timeouts};
use rvs_core::wire::build::{ip_part, PacketBuilder, PacketBuilder6};
use rvs_core::wire::icmp::IcmpRepr;
use rvs_core::wire::icmpv6::kind;
use rvs_core::wire::ipv4::Ipv4Packet;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{DropReason, Pipeline, PipelineConfig, Snapshot, Verdict};
use std::sync::Arc;

const T0: u64 = 1_000_000;

fn pipe(out_mtu: u16, in_mtu: u16) -> Pipeline {
    let itfs = vec![
        Interface::v4(OUT_MAC, DIP_OUT, 24, Some(ROUTER), out_mtu),
        Interface::v4(IN_MAC, DIP_IN, 24, None, in_mtu),
    ];
    let snap = Snapshot::new(itfs, services(), neighbours(), Timeouts::default()).unwrap();
    Pipeline::new(PipelineConfig { conn_capacity: 64, ..PipelineConfig::default() }, Arc::new(snap), T0)
}

fn send(p: &mut Pipeline, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut f = rvs_core::VecFrame::new(frame);
    let v = p.process(T0, port, &mut f);
    (v, rvs_core::Frame::data(&f).to_vec())
}

/// The frag-needed rvsd must send for `big` (a 1500-byte packet to `from`), advertising `mtu`.
fn frag_needed(
    reply: &[u8],
    to_mac: Mac,
    from: std::net::Ipv4Addr,
    to: std::net::Ipv4Addr,
    mtu: u16,
    big: &[u8],
) -> Vec<u8> {
    let ident = Ipv4Packet::new_checked(&reply[14..]).unwrap().ident();
    PacketBuilder { ttl: 64, df: false, ident, ..PacketBuilder::new(reply_src(reply), to_mac, from, to) }
        .icmp(IcmpRepr::frag_needed(mtu), &ip_part(big)[..28])
}

fn reply_src(reply: &[u8]) -> Mac {
    Mac(reply[6..12].try_into().unwrap())
}

use rvs_core::wire::Mac;

#[test]
fn nat_and_dr_answer_frag_needed_when_the_real_servers_port_is_smaller() {
    let mut p = pipe(1500, 1400);
    for vip in [VIP_NAT, VIP_DR] {
        let c = from_client(vip);
        assert_eq!(send(&mut p, 0, &c.tcp(40000, 80, SYN, 1, b"")).0, Verdict::Forward(1));
        let big = c.tcp(40000, 80, ACK, 2, &[0x55; 1460]); // 1500 bytes of IPv4
        let (v, reply) = send(&mut p, 0, &big);
        assert_eq!(v, Verdict::Reply, "{vip}: 1500 bytes do not fit the real server's 1400");
        let want = frag_needed(&reply, ROUTER_MAC, vip, CLIENT, 1400, &big);
        assert!(reply == want, "{vip}: frag-needed\n got:\n{}\nwant:\n{}", hex(&reply), hex(&want));
        assert_eq!(reply_src(&reply), OUT_MAC);
        let no_df = PacketBuilder { df: false, ..c }.tcp(40000, 80, ACK, 2, &[0x55; 1460]);
        assert_eq!(send(&mut p, 0, &no_df).0, Verdict::Drop(DropReason::TooBig), "{vip}: no DF, no fragmenting");
        let fits = c.tcp(40000, 80, ACK, 2, &[0x55; 1360]);
        assert_eq!(send(&mut p, 0, &fits).0, Verdict::Forward(1), "{vip}: 1400 bytes fit");
    }
    assert_eq!(p.counters().too_big_sent, 2);
}

#[test]
fn a_nat_reply_too_big_for_the_clients_port_gets_frag_needed_from_the_directors_address() {
    let mut p = pipe(1400, 1500);
    let c = from_client(VIP_NAT);
    assert_eq!(send(&mut p, 0, &c.tcp(40000, 80, SYN, 1, b"")).0, Verdict::Forward(1));
    let big = from_real(RS1_MAC, RS1).tcp(8080, 40000, ACK, 9, &[0x66; 1460]);
    let (v, reply) = send(&mut p, 1, &big);
    assert_eq!(v, Verdict::Reply, "the reply does not fit the client's side (1400)");
    // From the director's address on the real server's side, as a router would send it.
    let want = frag_needed(&reply, RS1_MAC, DIP_IN, RS1, 1400, &big);
    assert!(reply == want, "frag-needed\n got:\n{}\nwant:\n{}", hex(&reply), hex(&want));
    assert_eq!(reply_src(&reply), IN_MAC);
    let fits = from_real(RS1_MAC, RS1).tcp(8080, 40000, ACK, 9, &[0x66; 1360]);
    assert_eq!(send(&mut p, 1, &fits).0, Verdict::Forward(0));
}

#[test]
fn ipv6_nat_and_dr_answer_packet_too_big() {
    let mut p = Pipeline::new(
        PipelineConfig { conn_capacity: 64, conn6_capacity: 64, ..PipelineConfig::default() },
        Arc::new(snapshot6_with(services6(), 1400)),
        T0,
    );
    for vip in [VIP6_NAT, VIP6_DR] {
        let c = from_client6(vip);
        assert_eq!(send(&mut p, 0, &c.tcp(40000, 80, SYN, 1, b"")).0, Verdict::Forward(1));
        let big = c.tcp(40000, 80, ACK, 2, &[7u8; 1500 - 40 - 20]);
        let (v, reply) = send(&mut p, 0, &big);
        assert_eq!(v, Verdict::Reply, "{vip}");
        let quote = &ip_part(&big)[..1280 - 48];
        let want = PacketBuilder6 { src_mac: OUT_MAC, ..PacketBuilder6::new(ROUTER_MAC, ROUTER_MAC, vip, CLIENT6) }
            .icmpv6(kind::PACKET_TOO_BIG, 0, 1400, quote);
        assert!(reply == want, "{vip}: Packet Too Big\n got:\n{}\nwant:\n{}", hex(&reply), hex(&want));
    }
}
