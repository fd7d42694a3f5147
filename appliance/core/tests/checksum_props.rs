//! Property tests: every incremental checksum patch (RFC 1624) equals a full recomputation
//! (RFC 1071), over thousands of random packets and rewrites.

use proptest::prelude::*;
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::checksum;
use rvs_core::wire::ipv4::Ipv4Packet;
use rvs_core::wire::tcp::TcpPacket;
use rvs_core::wire::udp::UdpPacket;
use rvs_core::wire::Mac;
use rvs_core::xmit::dec_ttl;
use rvs_core::xmit::nat::{rewrite, rewrite_both, End};
use std::net::Ipv4Addr;

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

#[derive(Debug, Clone)]
struct Pkt {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    ttl: u8,
    ident: u16,
    udp: bool,
    udp_csum: bool,
    payload: Vec<u8>,
}

fn pkt() -> impl Strategy<Value = Pkt> {
    (
        addr(),
        addr(),
        any::<u16>(),
        any::<u16>(),
        2u8..=255,
        any::<u16>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(src, dst, sport, dport, ttl, ident, udp, udp_csum, payload)| Pkt {
            src,
            dst,
            sport,
            dport,
            ttl,
            ident,
            udp,
            udp_csum,
            payload,
        })
}

fn build(p: &Pkt) -> Vec<u8> {
    let b = PacketBuilder { ttl: p.ttl, ident: p.ident, ..PacketBuilder::new(Mac([2; 6]), Mac([4; 6]), p.src, p.dst) };
    if p.udp {
        b.udp(p.sport, p.dport, &p.payload, p.udp_csum)
    } else {
        b.tcp(p.sport, p.dport, 0x18, 7, &p.payload)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// A NAT rewrite of either end, patched incrementally, is byte-identical to the same packet
    /// built from scratch with full checksums, and both checksums verify.
    #[test]
    fn nat_rewrite_equals_full_recomputation(p in pkt(), new_addr in addr(), new_port in any::<u16>(), src_end in any::<bool>()) {
        let mut f = build(&p);
        let proto = if p.udp { 17 } else { 6 };
        let end = if src_end { End::Src } else { End::Dst };
        rewrite(&mut f, 14, 34, proto, end, new_addr.octets(), new_port, true);
        let mut q = p.clone();
        if src_end { q.src = new_addr; q.sport = new_port; } else { q.dst = new_addr; q.dport = new_port; }
        let want = build(&q);
        prop_assert_eq!(&f, &want);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        prop_assert!(ip.verify_checksum());
        if p.udp {
            let u = UdpPacket::new_checked(ip.payload()).unwrap();
            prop_assert!(u.verify_checksum(ip.src(), ip.dst()));
            prop_assert_eq!(u.checksum() == 0, !p.udp_csum, "UDP checksum 0 stays 0, and only then");
        } else {
            prop_assert!(TcpPacket::new_checked(ip.payload()).unwrap().verify_checksum(ip.src(), ip.dst()));
        }
    }

    /// FULLNAT's rewrite of both ends, every changed word summed and folded once a checksum,
    /// is byte-identical to the packet built from scratch with full checksums.
    #[test]
    fn both_ends_rewritten_at_once_equal_full_recomputation(
        p in pkt(),
        (new_src, new_dst) in (addr(), addr()),
        (new_sport, new_dport) in (any::<u16>(), any::<u16>()),
    ) {
        let mut f = build(&p);
        let proto = if p.udp { 17 } else { 6 };
        rewrite_both(&mut f, 14, 34, proto, (new_dst.octets(), new_dport), (new_src.octets(), new_sport));
        let want = build(&Pkt { src: new_src, dst: new_dst, sport: new_sport, dport: new_dport, ..p.clone() });
        prop_assert_eq!(&f, &want);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        prop_assert!(ip.verify_checksum());
        if p.udp {
            prop_assert_eq!(UdpPacket::new_checked(ip.payload()).unwrap().checksum() == 0, !p.udp_csum);
        }
    }

    /// TTL decrement patched incrementally equals the packet built with TTL-1.
    #[test]
    fn ttl_decrement_equals_full_recomputation(p in pkt()) {
        let mut f = build(&p);
        prop_assert!(dec_ttl(&mut f, 14));
        let want = build(&Pkt { ttl: p.ttl - 1, ..p });
        prop_assert_eq!(f, want);
    }

    /// RFC 1624 eqn. 3 for any 16-bit word of any buffer, and for any 32-bit field.
    #[test]
    fn update_matches_recompute(mut data in proptest::collection::vec(any::<u8>(), 8..200), at in any::<prop::sample::Index>(), new16 in any::<u16>(), new32 in any::<u32>()) {
        let n = data.len() / 2 * 2;
        data.truncate(n);
        let i = at.index(n / 2 - 1) * 2;
        let c = checksum::checksum(&data);
        let old = u16::from_be_bytes([data[i], data[i + 1]]);
        data[i..i + 2].copy_from_slice(&new16.to_be_bytes());
        let inc = checksum::update16(c, old, new16);
        prop_assert_eq!(inc, checksum::checksum(&data));
        if n >= 8 {
            let j = i.min(n - 4);
            let c = checksum::checksum(&data);
            let old4 = [data[j], data[j + 1], data[j + 2], data[j + 3]];
            data[j..j + 4].copy_from_slice(&new32.to_be_bytes());
            let inc = checksum::update32(c, old4, new32.to_be_bytes());
            prop_assert_eq!(inc, checksum::checksum(&data));
        }
    }
}
