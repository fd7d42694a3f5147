//! IP fragments on fixtures (shallow reassembly, `pipeline/fragments.rs`): a UDP datagram of
//! 3,000 bytes in three fragments through NAT (the datagram's checksum right once the real
//! server reassembles it), a NAT reply's fragments, DR, IPv6's Fragment header, a later fragment
//! held until its first, and the attacks refused: tiny first fragments, overlaps (RFC 1858,
//! RFC 5722), fragments of other protocols.

mod common;

use common::*;
use rvs_core::pipeline::FRAGMENT_TIMEOUT_S;
use rvs_core::wire::build::{ip_part, PacketBuilder};
use rvs_core::wire::checksum;
use rvs_core::wire::ipv4::Ipv4Packet;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{DropReason, Frame, Pipeline, VecFrame, Verdict};
use std::net::Ipv4Addr;

const NOW: u64 = 1_000_000;

/// The frames of `datagram` (an IPv4 frame, DF clear) cut into fragments of at most `size`
/// payload bytes (a multiple of 8), in order.
fn fragments(datagram: &[u8], size: usize) -> Vec<Vec<u8>> {
    let payload = &ip_part(datagram)[20..];
    let head = &datagram[..14 + 20];
    payload
        .chunks(size)
        .enumerate()
        .map(|(i, part)| {
            let mut f = head.to_vec();
            f.extend_from_slice(part);
            let more = (i + 1) * size < payload.len();
            let word = ((i * size / 8) as u16) | if more { 0x2000 } else { 0 };
            f[14 + 6..14 + 8].copy_from_slice(&word.to_be_bytes());
            f[14 + 2..14 + 4].copy_from_slice(&((20 + part.len()) as u16).to_be_bytes());
            Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
            f
        })
        .collect()
}

fn send_at(p: &mut Pipeline, ms: u64, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut f = VecFrame::new(frame);
    let v = p.process(ms, port, &mut f);
    (v, f.data().to_vec())
}

fn send(p: &mut Pipeline, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>) {
    send_at(p, NOW, port, frame)
}

/// The UDP datagram the receiver reassembles from `frames`, and whether its checksum is right.
fn reassembled_udp(frames: &[Vec<u8>]) -> (Vec<u8>, bool) {
    let ip = Ipv4Packet::new_unchecked(ip_part(&frames[0]));
    let (src, dst) = (ip.src(), ip.dst());
    let udp: Vec<u8> = frames.iter().flat_map(|f| ip_part(f)[20..].to_vec()).collect();
    let pseudo = checksum::pseudo_header_sum(src.octets(), dst.octets(), 17, udp.len() as u16);
    let ok = checksum::fold(pseudo + checksum::sum(&udp)) == 0xffff;
    (udp, ok)
}

fn big(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn a_fragmented_datagram_through_nat_arrives_whole() {
    let mut p = pipeline();
    let data = big(3000);
    let frames = fragments(&PacketBuilder { df: false, ..from_client(VIP_NAT) }.udp(40000, 53, &data, true), 1480);
    assert_eq!(frames.len(), 3);
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let (v, o) = send(&mut p, 0, f);
        assert_eq!(v, Verdict::Forward(1), "fragment {i}");
        assert_eq!(&o[0..6], &RS1_MAC.0[..], "fragment {i}: to RS1");
        let ip = Ipv4Packet::new_unchecked(ip_part(&o));
        assert_eq!((ip.src(), ip.dst()), (CLIENT, RS1), "fragment {i}");
        assert!(ip.verify_checksum(), "fragment {i}: IP checksum");
        assert_eq!(ip.frag_offset(), (i * 1480) as u16, "fragment {i} keeps its place");
        out.push(o);
    }
    let (udp, ok) = reassembled_udp(&out);
    assert!(ok, "the reassembled datagram's UDP checksum covers the new address and port");
    assert_eq!((u16::from_be_bytes([udp[2], udp[3]]), &udp[8..]), (5353, &data[..]), "port rewritten, data whole");
    assert_eq!(p.counters().fragments_followed, 2);
    assert_eq!(p.connections().len(), 1, "one connection for the datagram");

    // The real server's fragmented answer goes back from VIP:53.
    let answer = fragments(&PacketBuilder { df: false, ..from_real(RS1_MAC, RS1) }.udp(5353, 40000, &data, true), 1480);
    let mut back = Vec::new();
    for f in &answer {
        let (v, o) = send(&mut p, 1, f);
        assert_eq!(v, Verdict::Forward(0));
        assert_eq!(Ipv4Packet::new_unchecked(ip_part(&o)).src(), VIP_NAT);
        back.push(o);
    }
    let (udp, ok) = reassembled_udp(&back);
    assert!(ok && u16::from_be_bytes([udp[0], udp[1]]) == 53, "the reply reassembles from VIP:53");
}

#[test]
fn a_later_fragment_before_its_first_is_held_then_goes() {
    let mut p = pipeline();
    let frames = fragments(&PacketBuilder { df: false, ..from_client(VIP_NAT) }.udp(40001, 53, &big(3000), true), 1480);
    let gen0 = p.fragment_generation();
    assert_eq!(send(&mut p, 0, &frames[2]).0, Verdict::HoldFragment, "its first not seen yet");
    assert_eq!(p.counters().fragments_held, 1);
    assert_eq!(send(&mut p, 0, &frames[0]).0, Verdict::Forward(1));
    assert_ne!(p.fragment_generation(), gen0, "the caller learns to try its held fragments");
    let (v, o) = send(&mut p, 0, &frames[2]);
    assert_eq!((v, Ipv4Packet::new_unchecked(ip_part(&o)).dst()), (Verdict::Forward(1), RS1));
    assert_eq!(send(&mut p, 0, &frames[1]).0, Verdict::Forward(1));
    // The record ends with its timeout: a late fragment is then a stranger.
    let late = NOW + u64::from(FRAGMENT_TIMEOUT_S) * 1000 + 1000;
    assert_eq!(send_at(&mut p, late, 0, &frames[1]).0, Verdict::HoldFragment);
}

#[test]
fn dr_sends_every_fragment_to_the_flows_real_server_unchanged() {
    let mut p = pipeline();
    let c = from_client(VIP_DR);
    send(&mut p, 0, &c.tcp(40000, 80, SYN, 1, b""));
    let frames = fragments(&PacketBuilder { df: false, ..c }.tcp(40000, 80, ACK, 2, &big(2000)), 1000);
    for f in &frames {
        let (v, o) = send(&mut p, 0, f);
        assert_eq!((v, &o[0..6]), (Verdict::Forward(1), &RS_DR_MAC.0[..]));
        assert_eq!(ip_part(&o)[20..], ip_part(f)[20..], "the IP payload untouched");
    }
}

#[test]
fn tiny_and_overlapping_fragments_and_other_protocols_are_refused() {
    let mut p = pipeline();
    let c = PacketBuilder { df: false, ..from_client(VIP_DR) };
    send(&mut p, 0, &from_client(VIP_DR).tcp(40000, 80, SYN, 1, b""));
    // A first fragment of 8 bytes cannot hold a TCP header (RFC 1858 §3.1).
    let tiny = fragments(&c.tcp(40000, 80, ACK, 2, &big(64)), 8);
    assert_eq!(send(&mut p, 0, &tiny[0]).0, Verdict::Drop(DropReason::FragmentTiny));
    // FO = 1 for TCP is the overlapping attack itself (RFC 1858 §4).
    assert_eq!(send(&mut p, 0, &tiny[1]).0, Verdict::Drop(DropReason::FragmentOverlap));

    // A later fragment overlapping the first's data: dropped, and the rest of its datagram.
    let frames = fragments(&c.tcp(40000, 80, ACK, 2, &big(3000)), 1480);
    assert_eq!(send(&mut p, 0, &frames[0]).0, Verdict::Forward(1));
    let mut overlap = frames[1].clone();
    overlap[14 + 6..14 + 8].copy_from_slice(&(0x2000u16 | (1000 / 8)).to_be_bytes());
    Ipv4Packet::new_unchecked(&mut overlap[14..]).fill_checksum();
    assert_eq!(send(&mut p, 0, &overlap).0, Verdict::Drop(DropReason::FragmentOverlap));
    assert_eq!(send(&mut p, 0, &frames[2]).0, Verdict::Drop(DropReason::FragmentOverlap), "its datagram is spoiled");

    // ICMP fragments (a big ping) are not balanced.
    let ping = PacketBuilder { df: false, ..from_client(VIP_NAT) }.ip(1, &[8u8; 3000]);
    assert_eq!(send(&mut p, 0, &fragments(&ping, 1480)[0]).0, Verdict::Drop(DropReason::Fragment));
}

#[test]
fn ipv6_fragments_follow_their_flow_through_nat() {
    use common::v6::*;
    let mut p = pipeline6();
    let data = big(3000);
    let whole = from_client6(VIP6_NAT).udp(40000, 53, &data);
    let udp = &ip_part(&whole)[40..];
    let mut out = Vec::new();
    for (i, part) in udp.chunks(1448).enumerate() {
        let more = (i + 1) * 1448 < udp.len();
        let word = (i * 1448) as u16 | u16::from(more);
        let mut payload = vec![17, 0];
        payload.extend(word.to_be_bytes());
        payload.extend(0xdead_beef_u32.to_be_bytes());
        payload.extend_from_slice(part);
        let frame = from_client6(VIP6_NAT).ip(44, &payload);
        let (v, o) = send(&mut p, 0, &frame);
        assert_eq!(v, Verdict::Forward(1), "fragment {i}");
        assert_eq!(&o[14 + 24..14 + 40], &RS6_1.octets(), "fragment {i}: to RS6_1");
        out.extend_from_slice(&o[14 + 48..]);
    }
    assert_eq!(u16::from_be_bytes([out[2], out[3]]), 5353, "the first fragment's port rewritten");
    assert_eq!(&out[8..], &data[..], "the data whole");
    let pseudo = checksum::pseudo_header_sum_v6(CLIENT6.octets(), RS6_1.octets(), 17, out.len() as u32);
    assert_eq!(checksum::fold(pseudo + checksum::sum(&out)), 0xffff, "the datagram's checksum right");
    assert_eq!(p.counters().fragments_followed, 2);
}

#[test]
fn an_unfragmented_flow_is_unchanged_by_all_this() {
    let mut p = pipeline();
    let (v, o) = send(&mut p, 0, &from_client(VIP_NAT).udp(40000, 53, b"q", true));
    assert_eq!(v, Verdict::Forward(1));
    assert!(!Ipv4Packet::new_unchecked(ip_part(&o)).is_fragment());
    assert_eq!((p.counters().fragments_followed, p.counters().fragments_held), (0, 0));
    let _ = Ipv4Addr::UNSPECIFIED;
}
