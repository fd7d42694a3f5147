//! Katran-style fixture tables (one file, as the forwarding methods share one test network and
//! one step format): each step is {description, input frame, expected verdict,
//! expected output frame}, run in order against one pipeline (steps build on the connections
//! earlier steps created). Expected frames are built independently with the packet builder,
//! whose checksums are computed in full, so they also check every incremental checksum patch.

mod common;

use common::*;
use rvs_core::wire::arp::{ArpRepr, OP_REPLY};
use rvs_core::wire::build::{ip_part, PacketBuilder};
use rvs_core::wire::ethernet::{EtherType, EthernetRepr};
use rvs_core::wire::icmp::{kind, IcmpRepr};
use rvs_core::wire::ipv4::{protocol, Ipv4Packet, Ipv4Repr};
use rvs_core::wire::tcp::flags::{ACK, FIN, RST, SYN};
use rvs_core::wire::Mac;
use rvs_core::{DropReason, Frame, Pipeline, VecFrame, Verdict};
use std::net::Ipv4Addr;

const NOW: u64 = 1_000_000;

struct Step {
    desc: &'static str,
    port: u16,
    input: Vec<u8>,
    verdict: Verdict,
    output: Option<Vec<u8>>,
}

fn step(desc: &'static str, port: u16, input: Vec<u8>, verdict: Verdict, output: Option<Vec<u8>>) -> Step {
    Step { desc, port, input, verdict, output }
}

/// Runs the steps; returns the output frames.
fn run(p: &mut Pipeline, steps: &[Step]) -> Vec<Vec<u8>> {
    steps
        .iter()
        .map(|s| {
            let mut f = VecFrame::new(&s.input);
            let v = p.process(NOW, s.port, &mut f);
            assert_eq!(v, s.verdict, "{}: verdict", s.desc);
            if let Some(want) = &s.output {
                assert!(
                    f.data() == &want[..],
                    "{}: output frame\n got:\n{}\nwant:\n{}",
                    s.desc,
                    hex(f.data()),
                    hex(want)
                );
            }
            f.data().to_vec()
        })
        .collect()
}

fn to_rs(mac: Mac, dst: Ipv4Addr, ttl: u8) -> PacketBuilder {
    PacketBuilder { ttl, ..PacketBuilder::new(IN_MAC, mac, CLIENT, dst) }
}

fn to_client(src: Ipv4Addr, ttl: u8) -> PacketBuilder {
    PacketBuilder { ttl, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, src, CLIENT) }
}

#[test]
fn nat_tcp_both_directions_with_rr_and_ipvs_states() {
    let mut p = pipeline();
    let c = from_client(VIP_NAT);
    let steps = vec![
        step(
            "SYN to VIP:80 goes to RS1:8080, TTL-1, MACs for the inside",
            0,
            c.tcp(40000, 80, SYN, 1000, b""),
            Verdict::Forward(1),
            Some(to_rs(RS1_MAC, RS1, 63).tcp(40000, 8080, SYN, 1000, b"")),
        ),
        step(
            "a second client port goes to RS2 (rr)",
            0,
            c.tcp(40001, 80, SYN, 2000, b""),
            Verdict::Forward(1),
            Some(to_rs(RS2_MAC, RS2, 63).tcp(40001, 8080, SYN, 2000, b"")),
        ),
        step(
            "RS1's SYN-ACK goes back to the client from VIP:80",
            1,
            from_real(RS1_MAC, RS1).tcp(8080, 40000, SYN | ACK, 5000, b""),
            Verdict::Forward(0),
            Some(to_client(VIP_NAT, 63).tcp(80, 40000, SYN | ACK, 5000, b"")),
        ),
        step(
            "the client's ACK and data follow the connection to RS1",
            0,
            c.tcp(40000, 80, ACK, 1001, b"GET / HTTP/1.0\r\n\r\n"),
            Verdict::Forward(1),
            Some(to_rs(RS1_MAC, RS1, 63).tcp(40000, 8080, ACK, 1001, b"GET / HTTP/1.0\r\n\r\n")),
        ),
        step(
            "the reply with data",
            1,
            from_real(RS1_MAC, RS1).tcp(8080, 40000, ACK, 5001, b"HTTP/1.0 200 OK\r\n\r\n"),
            Verdict::Forward(0),
            Some(to_client(VIP_NAT, 63).tcp(80, 40000, ACK, 5001, b"HTTP/1.0 200 OK\r\n\r\n")),
        ),
    ];
    run(&mut p, &steps);
    let conns: Vec<_> = p.connections().iter().map(|(_, c)| *c).collect();
    assert_eq!(conns.len(), 2);
    let est = conns.iter().find(|c| c.cport == 40000).unwrap();
    assert_eq!(est.state.name(), "ESTABLISHED");
    assert_eq!((est.pkts_in, est.flags & rvs_core::conn::entry::F_REPLIED != 0), (2, true));
    let syn = conns.iter().find(|c| c.cport == 40001).unwrap();
    assert_eq!(syn.state.name(), "SYN_RECV");
    assert_eq!((p.loads()[0].active, p.loads()[0].inactive), (1, 0), "RS1: one established");
    assert_eq!((p.loads()[1].active, p.loads()[1].inactive), (0, 1), "RS2: one in handshake");
    assert_eq!(p.service_stats()[0].conns, 2);
    assert_eq!(p.service_stats()[0].pkts_in, 3);
    assert_eq!(p.service_stats()[0].pkts_out, 2);
    assert_eq!(p.counters().new_conns, 2);

    // Client closes: FIN moves it to CLOSE_WAIT and out of the active count.
    run(&mut p, &[step("client FIN", 0, c.tcp(40000, 80, FIN | ACK, 1019, b""), Verdict::Forward(1), None)]);
    assert_eq!((p.loads()[0].active, p.loads()[0].inactive), (0, 1));
}

#[test]
fn nat_udp_both_directions_and_checksum_none_stays_none() {
    let mut p = pipeline();
    let c = from_client(VIP_NAT);
    run(
        &mut p,
        &[
            step(
                "UDP to VIP:53 goes to RS1:5353",
                0,
                c.udp(5000, 53, b"query", true),
                Verdict::Forward(1),
                Some(to_rs(RS1_MAC, RS1, 63).udp(5000, 5353, b"query", true)),
            ),
            step(
                "the answer comes back from VIP:53",
                1,
                from_real(RS1_MAC, RS1).udp(5353, 5000, b"answer", true),
                Verdict::Forward(0),
                Some(to_client(VIP_NAT, 63).udp(53, 5000, b"answer", true)),
            ),
            step(
                "a datagram without checksum keeps checksum 0",
                0,
                c.udp(5001, 53, b"q2", false),
                Verdict::Forward(1),
                Some(to_rs(RS1_MAC, RS1, 63).udp(5001, 5353, b"q2", false)),
            ),
        ],
    );
    let conn = p.connections().iter().map(|(_, c)| *c).find(|c| c.cport == 5000).unwrap();
    assert_eq!(conn.state.name(), "UDP");
    assert_eq!(p.loads()[2].inactive, 2, "UDP connections count as inactive");
}

#[test]
fn dr_rewrites_only_macs_and_keeps_a_vlan_tag() {
    let mut p = pipeline();
    let c = from_client(VIP_DR);
    let syn = c.tcp(40000, 80, SYN, 1, b"");
    let mut want = syn.clone();
    want[0..6].copy_from_slice(&RS_DR_MAC.0);
    want[6..12].copy_from_slice(&IN_MAC.0);
    let tagged = PacketBuilder { vlan: Some(100), ..c }.tcp(40001, 80, SYN, 1, b"");
    let mut want_tagged = tagged.clone();
    want_tagged[0..6].copy_from_slice(&RS_DR_MAC.0);
    want_tagged[6..12].copy_from_slice(&IN_MAC.0);
    run(
        &mut p,
        &[
            step("DR SYN: MACs only, TTL and IP unchanged", 0, syn, Verdict::Forward(1), Some(want)),
            step("DR ACK follows", 0, c.tcp(40000, 80, ACK, 2, b"x"), Verdict::Forward(1), None),
            step("VLAN-tagged SYN keeps its tag", 0, tagged, Verdict::Forward(1), Some(want_tagged)),
            step("client FIN (input-only table)", 0, c.tcp(40000, 80, FIN | ACK, 3, b""), Verdict::Forward(1), None),
        ],
    );
    let conn = p.connections().iter().map(|(_, c)| *c).find(|c| c.cport == 40000).unwrap();
    assert_eq!(conn.state.name(), "FIN_WAIT", "DR sees only the client: ES + FIN -> FIN_WAIT");
}

#[test]
fn tun_encapsulates_and_answers_too_big_with_frag_needed() {
    let mut p = pipeline();
    let c = from_client(VIP_TUN);
    let syn = c.tcp(40000, 80, SYN, 1, b"");
    let out = run(&mut p, &[step("TUN SYN", 0, syn.clone(), Verdict::Forward(1), None)]);
    // Expected: Ethernet to RS_TUN, outer DIP_IN -> RS_TUN proto 4 TTL 64 DF copied, inner untouched.
    let outer = Ipv4Packet::new_checked(&out[0][14..]).unwrap();
    let eth = EthernetRepr { src: IN_MAC, dst: RS_TUN_MAC, vlan: None, ethertype: EtherType::IPV4 };
    let inner = ip_part(&syn);
    let mut want = vec![0u8; 14 + 20 + inner.len()];
    eth.emit(&mut want);
    Ipv4Repr {
        src: DIP_IN,
        dst: RS_TUN,
        protocol: protocol::IPIP,
        payload_len: inner.len() as u16,
        ttl: 64,
        ident: outer.ident(), // a per-core counter
        dont_frag: true,
        tos: 0,
    }
    .emit(&mut want[14..]);
    want[34..].copy_from_slice(inner);
    assert!(out[0] == want, "TUN frame\n got:\n{}\nwant:\n{}", hex(&out[0]), hex(&want));

    // 1460 bytes of payload: 1500-byte inner packet, 1520 encapsulated > MTU 1500.
    let big = c.tcp(40000, 80, ACK, 2, &[0x55; 1460]);
    let no_df = PacketBuilder { df: false, ..c }.tcp(40000, 80, ACK, 2, &[0x55; 1460]);
    let fits = c.tcp(40000, 80, ACK, 2, &[0x55; 1440]);
    let out = run(
        &mut p,
        &[
            step("1500-byte DF packet: frag-needed back to the client", 0, big.clone(), Verdict::Reply, None),
            step("without DF: dropped, rvs does not fragment", 0, no_df, Verdict::Drop(DropReason::TooBig), None),
            step("1480 bytes fit exactly", 0, fits, Verdict::Forward(1), None),
        ],
    );
    let reply = &out[0];
    let rip = Ipv4Packet::new_checked(&reply[14..]).unwrap();
    let want = PacketBuilder {
        ttl: 64,
        df: false,
        ident: rip.ident(),
        ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_TUN, CLIENT)
    }
    .icmp(IcmpRepr::frag_needed(1480), &ip_part(&big)[..28]);
    assert!(reply == &want, "frag-needed\n got:\n{}\nwant:\n{}", hex(reply), hex(&want));
    assert_eq!(out[2].len(), 14 + 20 + 1480);
}

#[test]
fn arp_for_vips_and_our_addresses_is_answered() {
    let mut p = pipeline();
    let router = PacketBuilder::new(ROUTER_MAC, Mac::BROADCAST, ROUTER, ROUTER);
    let reply_for = |ip: Ipv4Addr| {
        let mut f = vec![0u8; 42];
        EthernetRepr { src: OUT_MAC, dst: ROUTER_MAC, vlan: None, ethertype: EtherType::ARP }.emit(&mut f);
        ArpRepr { operation: OP_REPLY, sender_mac: OUT_MAC, sender_ip: ip, target_mac: ROUTER_MAC, target_ip: ROUTER }
            .emit(&mut f[14..]);
        f
    };
    run(
        &mut p,
        &[
            step("ARP for a DR VIP", 0, router.arp_request(VIP_DR), Verdict::Reply, Some(reply_for(VIP_DR))),
            step("ARP for the DIP", 0, router.arp_request(DIP_OUT), Verdict::Reply, Some(reply_for(DIP_OUT))),
            step(
                "ARP for someone else: to the kernel",
                0,
                router.arp_request(Ipv4Addr::new(198, 18, 0, 9)),
                Verdict::ToKernel,
                None,
            ),
            step(
                "short ARP",
                0,
                router.arp_request(VIP_DR)[..30].to_vec(),
                Verdict::Drop(DropReason::ArpMalformed),
                None,
            ),
        ],
    );
}

#[test]
fn icmp_echo_and_error_translation() {
    let mut p = pipeline();
    let c = from_client(VIP_NAT);
    let echo = IcmpRepr { msg_type: kind::ECHO_REQUEST, code: 0, rest: [0, 7, 0, 1] };
    let echo_reply = IcmpRepr { msg_type: kind::ECHO_REPLY, ..echo };
    let far_router = Ipv4Addr::new(192, 0, 2, 1);
    // Set up a NAT connection and capture the reply as the client side received it.
    let out = run(
        &mut p,
        &[
            step("SYN", 0, c.tcp(40000, 80, SYN, 1, b""), Verdict::Forward(1), None),
            step(
                "SYN-ACK out",
                1,
                from_real(RS1_MAC, RS1).tcp(8080, 40000, SYN | ACK, 9, b""),
                Verdict::Forward(0),
                None,
            ),
        ],
    );
    let sent_to_client = ip_part(&out[1])[..28].to_vec(); // VIP:80 -> CLIENT:40000, TTL 63
    let as_rs_sent = PacketBuilder { ttl: 63, ..from_real(RS1_MAC, RS1) }.tcp(8080, 40000, SYN | ACK, 9, b"");
    let rs_quote = ip_part(&as_rs_sent)[..28].to_vec(); // RS1:8080 -> CLIENT:40000
    let mut orig_rs_quote = ip_part(&from_real(RS1_MAC, RS1).tcp(8080, 40000, SYN | ACK, 9, b""))[..28].to_vec();
    let frag = IcmpRepr::frag_needed(1400);
    run(
        &mut p,
        &[
            step(
                "echo request to a VIP is answered",
                0,
                c.icmp(echo, b"abcdefgh"),
                Verdict::Reply,
                Some(PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT).icmp(echo_reply, b"abcdefgh")),
            ),
            step(
                "frag-needed from the client side about VIP->client goes to RS1, translated",
                0,
                PacketBuilder::new(ROUTER_MAC, OUT_MAC, far_router, VIP_NAT).icmp(frag, &sent_to_client),
                Verdict::Forward(1),
                Some(
                    PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, far_router, RS1) }
                        .icmp(frag, &rs_quote),
                ),
            ),
            step(
                "a long quote (Linux quotes up to 576 bytes): the inner TCP checksum is patched too",
                0,
                PacketBuilder::new(ROUTER_MAC, OUT_MAC, far_router, VIP_NAT).icmp(frag, &ip_part(&out[1])[..40]),
                Verdict::Forward(1),
                Some(
                    PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, far_router, RS1) }
                        .icmp(frag, &ip_part(&as_rs_sent)[..40]),
                ),
            ),
            step(
                "an error quoting RS1 -> client (no real server reports its own packet) matches nothing",
                1,
                PacketBuilder::new(RS1_MAC, IN_MAC, RS1, CLIENT).icmp(frag, &orig_rs_quote),
                Verdict::Drop(DropReason::IcmpUnmatched),
                None,
            ),
            step(
                "an error quoting no connection",
                0,
                PacketBuilder::new(ROUTER_MAC, OUT_MAC, far_router, VIP_NAT).icmp(frag, &{
                    orig_rs_quote[21] ^= 1; // another port
                    orig_rs_quote.clone()
                }),
                Verdict::Drop(DropReason::IcmpUnmatched),
                None,
            ),
            step(
                "an error too short to quote a header",
                0,
                PacketBuilder::new(ROUTER_MAC, OUT_MAC, far_router, VIP_NAT).icmp(frag, &sent_to_client[..24]),
                Verdict::Drop(DropReason::IcmpTruncated),
                None,
            ),
        ],
    );
}

/// Errors from the real-server side of a NAT service quote the packet rvsd sent there
/// (CLIENT -> RS1:rport). IPVS (`ip_vs_out_icmp`) finds the connection from the quote read in
/// reverse and sends the error to the client from the VIP, with the quote's destination put
/// back to VIP:vport, so the client's socket recognises its own packet (ECONNREFUSED for UDP,
/// path MTU for TCP).
#[test]
fn nat_icmp_errors_from_the_real_server_side_reach_the_client_translated() {
    let mut p = pipeline();
    let c = from_client(VIP_NAT);
    let inside_router = Ipv4Addr::new(198, 19, 0, 254);
    let out = run(
        &mut p,
        &[
            step("TCP SYN to VIP:80", 0, c.tcp(40000, 80, SYN, 1, b""), Verdict::Forward(1), None),
            step("UDP to VIP:53", 0, c.udp(5000, 53, b"query", true), Verdict::Forward(1), None),
        ],
    );
    // What the client sent, as rvsd would have forwarded it had it been addressed to the VIP.
    let client_tcp = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, RS1_MAC, CLIENT, VIP_NAT) };
    let tcp_as_sent = ip_part(&out[0]).to_vec(); // CLIENT:40000 -> RS1:8080
    let udp_as_sent = ip_part(&out[1]).to_vec(); // CLIENT:5000 -> RS1:5353
    let unreach = IcmpRepr { msg_type: kind::DEST_UNREACHABLE, code: 3, rest: [0; 4] };
    let frag = IcmpRepr::frag_needed(1400);
    run(
        &mut p,
        &[
            step(
                "RS1's port unreachable for the UDP flow goes to the client from VIP, quoting VIP:53",
                1,
                PacketBuilder::new(RS1_MAC, IN_MAC, RS1, CLIENT).icmp(unreach, &udp_as_sent),
                Verdict::Forward(0),
                Some(
                    PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) }
                        .icmp(unreach, ip_part(&client_tcp.udp(5000, 53, b"query", true))),
                ),
            ),
            step(
                "a router between rvsd and RS1 sends frag-needed for the TCP flow: the client gets it from VIP",
                1,
                PacketBuilder::new(RS1_MAC, IN_MAC, inside_router, CLIENT).icmp(frag, &tcp_as_sent[..28]),
                Verdict::Forward(0),
                Some(
                    PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) }
                        .icmp(frag, &ip_part(&client_tcp.tcp(40000, 80, SYN, 1, b""))[..28]),
                ),
            ),
            step(
                "a quote long enough to hold the TCP checksum: it is patched too",
                1,
                PacketBuilder::new(RS1_MAC, IN_MAC, inside_router, CLIENT).icmp(frag, &tcp_as_sent),
                Verdict::Forward(0),
                Some(
                    PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) }
                        .icmp(frag, ip_part(&client_tcp.tcp(40000, 80, SYN, 1, b""))),
                ),
            ),
        ],
    );
    assert_eq!(p.service_stats()[1].pkts_out, 1, "the error is counted on the UDP service, outbound");
}

#[test]
fn malformed_and_unwanted_inputs_each_have_their_drop_reason() {
    let mut p = pipeline();
    let c = from_client(VIP_NAT);
    let good = c.tcp(40000, 80, SYN, 1, b"");
    let patch = |f: &[u8], at: usize, v: u8, fix_csum: bool| {
        let mut g = f.to_vec();
        g[at] = v;
        if fix_csum {
            let mut ip = Ipv4Packet::new_unchecked(&mut g[14..]);
            ip.fill_checksum();
        }
        g
    };
    let mut v6 = good.clone();
    v6[12..14].copy_from_slice(&EtherType::IPV6.to_be_bytes());
    let mut mpls = good.clone();
    mpls[12..14].copy_from_slice(&0x8847u16.to_be_bytes());
    let mut frag_later = good.clone();
    frag_later[14 + 6] = 0x00;
    frag_later[14 + 7] = 0x10; // offset 128 bytes
    let frag_later = patch(&frag_later, 14 + 7, 0x10, true);
    let frag_first = patch(&c.tcp(40001, 80, SYN, 1, b""), 14 + 6, 0x20, true); // MF, offset 0
    let tcp_short = c.ip(protocol::TCP, &[0u8; 10]);
    let mut bad_doff = good.clone();
    bad_doff[14 + 20 + 12] = 0x40;
    let udp_bad = {
        let mut f = c.udp(5000, 53, b"abc", false);
        f[14 + 20 + 5] = 7;
        f
    };
    let udp_long = {
        let mut f = c.udp(5000, 53, b"abc", false);
        f[14 + 20 + 5] = 200;
        f
    };
    let mut bad_csum = good.clone();
    bad_csum[14 + 10] ^= 0xff;
    let ttl1 = PacketBuilder { ttl: 1, ..c }.tcp(40000, 80, SYN, 1, b"");
    let steps = vec![
        step("10-byte frame", 0, good[..10].to_vec(), Verdict::Drop(DropReason::EthernetTruncated), None),
        step(
            "unicast for another MAC",
            0,
            PacketBuilder { dst_mac: Mac([2, 9, 9, 9, 9, 9]), ..c }.tcp(1, 80, SYN, 1, b""),
            Verdict::Drop(DropReason::OtherMac),
            None,
        ),
        step("an IPv4 header behind IPv6's ethertype", 0, v6, Verdict::Drop(DropReason::Ipv6BadVersion), None),
        step("MPLS", 0, mpls, Verdict::Drop(DropReason::UnsupportedEthertype), None),
        step("IP header cut short", 0, good[..14 + 12].to_vec(), Verdict::Drop(DropReason::Ipv4Truncated), None),
        step(
            "total length past the frame",
            0,
            good[..good.len() - 4].to_vec(),
            Verdict::Drop(DropReason::Ipv4Truncated),
            None,
        ),
        step(
            "IP version 6 in an IPv4 frame",
            0,
            patch(&good, 14, 0x65, false),
            Verdict::Drop(DropReason::Ipv4BadVersion),
            None,
        ),
        step("IHL 4", 0, patch(&good, 14, 0x44, true), Verdict::Drop(DropReason::Ipv4BadHeaderLen), None),
        step(
            "total length below IHL",
            0,
            patch(&good, 14 + 3, 19, true),
            Verdict::Drop(DropReason::Ipv4BadTotalLen),
            None,
        ),
        step("bad header checksum", 0, bad_csum, Verdict::Drop(DropReason::Ipv4BadChecksum), None),
        step("a later fragment, its first not seen: held", 0, frag_later, Verdict::HoldFragment, None),
        step("a first fragment follows its flow", 0, frag_first, Verdict::Forward(1), None),
        step("TCP header cut short", 0, tcp_short, Verdict::Drop(DropReason::L4Truncated), None),
        step("TCP data offset 4", 0, bad_doff, Verdict::Drop(DropReason::TcpBadHeaderLen), None),
        step("UDP length 7", 0, udp_bad, Verdict::Drop(DropReason::UdpBadLength), None),
        step("UDP length past the datagram", 0, udp_long, Verdict::Drop(DropReason::UdpBadLength), None),
        step(
            "ACK to a VIP without a connection",
            0,
            c.tcp(40000, 80, ACK, 1, b""),
            Verdict::Drop(DropReason::NoConnection),
            None,
        ),
        step(
            "RST to a VIP without a connection",
            0,
            c.tcp(40000, 80, RST, 1, b""),
            Verdict::Drop(DropReason::NoConnection),
            None,
        ),
        step("every real server quiesced", 0, c.tcp(40000, 81, SYN, 1, b""), Verdict::Drop(DropReason::NoDest), None),
        step("TTL 1 cannot be forwarded by NAT", 0, ttl1, Verdict::Drop(DropReason::TtlExceeded), None),
        step(
            "not a VIP, not ours",
            0,
            from_client(Ipv4Addr::new(198, 18, 0, 77)).tcp(1, 80, SYN, 1, b""),
            Verdict::Drop(DropReason::NotForUs),
            None,
        ),
        step("SCTP without a chunk", 0, c.ip(132, &[0u8; 12]), Verdict::Drop(DropReason::L4Truncated), None),
        step("GRE to a VIP", 0, c.ip(47, &[0u8; 12]), Verdict::Drop(DropReason::UnsupportedProtocol), None),
        step(
            "a SYN to a VIP port with no service",
            0,
            c.tcp(1, 9999, SYN, 1, b""),
            Verdict::Drop(DropReason::NoService),
            None,
        ),
        step(
            "UDP to a VIP port with no service",
            0,
            c.udp(1, 9999, b"x", true),
            Verdict::Drop(DropReason::NoService),
            None,
        ),
        step("TCP to the director itself", 0, from_client(DIP_OUT).tcp(1, 22, SYN, 1, b""), Verdict::ToKernel, None),
    ];
    run(&mut p, &steps);
    let cnt = p.counters();
    assert_eq!(cnt.rx, steps.len() as u64);
    assert_eq!((cnt.fragments_held, cnt.forwarded), (1, 1), "the two fragments");
    assert_eq!(cnt.drops(DropReason::Ipv4Truncated), 2);
    assert_eq!(cnt.to_kernel, 1);
    assert_eq!(cnt.total_drops(), steps.len() as u64 - 3);
    // A NAT SYN dropped for TTL still made (and will expire) its connection, as in IPVS; the
    // first fragment made one; the malformed ones made none.
    assert!(p.connections().len() <= 2);
}

#[test]
fn ethernet_padding_is_trimmed_before_forwarding() {
    let mut p = pipeline();
    let syn = from_client(VIP_DR).tcp(40000, 80, SYN, 1, b"");
    assert_eq!(syn.len(), 54);
    let mut padded = syn.clone();
    padded.resize(60, 0);
    let mut f = VecFrame::new(&padded);
    assert_eq!(p.process(NOW, 0, &mut f), Verdict::Forward(1));
    assert_eq!(f.len(), 54);
}

/// A packet to a VIP port with no service creates nothing and is counted, also where traffic
/// that is not ours goes to the kernel (whose stack owns no VIP and would answer with resets).
#[test]
fn a_vip_port_with_no_service_creates_nothing_even_with_a_kernel_exception_port() {
    let snap = std::sync::Arc::new(snapshot().with_kernel_exception(true));
    let mut p = Pipeline::new(rvs_core::PipelineConfig::default(), snap, NOW);
    let c = from_client(VIP_NAT);
    run(
        &mut p,
        &[
            step("SYN flood to VIP:9999", 0, c.tcp(7, 9999, SYN, 1, b""), Verdict::Drop(DropReason::NoService), None),
            step("UDP to VIP:9999", 0, c.udp(7, 9999, b"x", true), Verdict::Drop(DropReason::NoService), None),
            step(
                "ssh to the director's own address",
                0,
                from_client(DIP_OUT).tcp(7, 22, SYN, 1, b""),
                Verdict::ToKernel,
                None,
            ),
            step(
                "another address: the kernel's business",
                0,
                from_client(Ipv4Addr::new(198, 18, 0, 77)).tcp(7, 80, SYN, 1, b""),
                Verdict::ToKernel,
                None,
            ),
        ],
    );
    assert_eq!(p.connections().len(), 0, "nothing was created");
    assert_eq!(p.counters().drops(DropReason::NoService), 2);
}

/// A NIC that checked the IPv4 header (`RTE_MBUF_F_RX_IP_CKSUM_GOOD`) spares the parse its own
/// check; without its word the header is checked in software, and the lengths always are.
#[test]
fn the_nics_checksum_verdict_replaces_the_software_check_and_only_it() {
    let mut p = pipeline();
    let c = from_client(VIP_NAT);
    let mut corrupt = c.tcp(40000, 80, SYN, 1, b"");
    corrupt[14 + 10] ^= 0xff; // the header checksum
    let mut soft = VecFrame::new(&corrupt);
    assert_eq!(p.process(0, 0, &mut soft), Verdict::Drop(DropReason::Ipv4BadChecksum));
    // The same bytes with the NIC's "good" (what a NIC says is trusted: it checked the wire).
    let mut offloaded = VecFrame::new(&corrupt);
    offloaded.ipv4_checksum_good = true;
    assert!(matches!(p.process(0, 0, &mut offloaded), Verdict::Forward(_)));
    // Its word covers the checksum only: a bad length is still refused.
    let good = c.tcp(40001, 80, SYN, 1, b"");
    let mut short = VecFrame::new(&good[..good.len() - 4]);
    short.ipv4_checksum_good = true;
    assert_eq!(p.process(0, 0, &mut short), Verdict::Drop(DropReason::Ipv4Truncated));
}
