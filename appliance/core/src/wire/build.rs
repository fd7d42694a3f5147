//! Building whole frames from values: for tests, fuzz seeds, benches and traffic generators.
//! Every checksum is computed in full here, which makes built frames an independent check
//! of the incremental rewrites.

use super::arp::{ArpRepr, OP_REQUEST, PACKET_LEN as ARP_LEN};
use super::ethernet::{EtherType, EthernetRepr};
use super::icmp::{IcmpRepr, HEADER_LEN as ICMP_LEN};
use super::ipv4::{protocol, Ipv4Repr, HEADER_LEN as IP_LEN};
use super::ipv6::{next_header::ICMPV6, Ipv6Repr, HEADER_LEN as IP6_LEN};
use super::tcp::{TcpRepr, HEADER_LEN as TCP_LEN};
use super::udp::{UdpRepr, HEADER_LEN as UDP_LEN};
use super::Mac;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Addresses and IP header fields of the frames to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketBuilder {
    /// Ethernet source.
    pub src_mac: Mac,
    /// Ethernet destination.
    pub dst_mac: Mac,
    /// 802.1Q VLAN id.
    pub vlan: Option<u16>,
    /// IP source.
    pub src: Ipv4Addr,
    /// IP destination.
    pub dst: Ipv4Addr,
    /// TTL.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't-fragment flag.
    pub df: bool,
    /// TOS byte.
    pub tos: u8,
}

impl PacketBuilder {
    /// Frames `src -> dst` between two MACs, TTL 64, DF set.
    pub fn new(src_mac: Mac, dst_mac: Mac, src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        PacketBuilder { src_mac, dst_mac, vlan: None, src, dst, ttl: 64, ident: 0x1234, df: true, tos: 0 }
    }

    /// An IPv4 frame carrying `payload` as protocol `proto`.
    pub fn ip(&self, proto: u8, payload: &[u8]) -> Vec<u8> {
        let eth = EthernetRepr { src: self.src_mac, dst: self.dst_mac, vlan: self.vlan, ethertype: EtherType::IPV4 };
        let l2 = eth.header_len();
        let mut f = vec![0u8; l2 + IP_LEN + payload.len()];
        eth.emit(&mut f);
        Ipv4Repr {
            src: self.src,
            dst: self.dst,
            protocol: proto,
            payload_len: payload.len() as u16,
            ttl: self.ttl,
            ident: self.ident,
            dont_frag: self.df,
            tos: self.tos,
        }
        .emit(&mut f[l2..]);
        f[l2 + IP_LEN..].copy_from_slice(payload);
        f
    }

    /// A TCP segment with flags `flags`.
    pub fn tcp(&self, sport: u16, dport: u16, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut seg = vec![0u8; TCP_LEN + payload.len()];
        segment(sport, dport, flags, seq).emit(&mut seg, payload, self.src, self.dst);
        self.ip(protocol::TCP, &seg)
    }

    /// A UDP datagram (checksum 0 = none when `with_checksum` is false).
    pub fn udp(&self, sport: u16, dport: u16, payload: &[u8], with_checksum: bool) -> Vec<u8> {
        let mut dg = vec![0u8; UDP_LEN + payload.len()];
        UdpRepr { src_port: sport, dst_port: dport }.emit(&mut dg, payload, self.src, self.dst, with_checksum);
        self.ip(protocol::UDP, &dg)
    }

    /// An SCTP packet with verification tag `vtag` carrying `chunks` (already laid out), its
    /// CRC32c filled in.
    pub fn sctp(&self, sport: u16, dport: u16, vtag: u32, chunks: &[u8]) -> Vec<u8> {
        self.ip(protocol::SCTP, &sctp_packet(sport, dport, vtag, chunks))
    }

    /// An ICMP message.
    pub fn icmp(&self, repr: IcmpRepr, data: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; ICMP_LEN + data.len()];
        repr.emit(&mut m, data);
        self.ip(protocol::ICMP, &m)
    }

    /// An ARP request from this builder's source (MAC and IP) for `target`, broadcast.
    pub fn arp_request(&self, target: Ipv4Addr) -> Vec<u8> {
        let eth = EthernetRepr { src: self.src_mac, dst: Mac::BROADCAST, vlan: self.vlan, ethertype: EtherType::ARP };
        let l2 = eth.header_len();
        let mut f = vec![0u8; l2 + ARP_LEN];
        eth.emit(&mut f);
        ArpRepr {
            operation: OP_REQUEST,
            sender_mac: self.src_mac,
            sender_ip: self.src,
            target_mac: Mac::ZERO,
            target_ip: target,
        }
        .emit(&mut f[l2..]);
        f
    }
}

/// The TCP header the builders write: ACK 1 when the ACK flag is set, a 64240-byte window.
fn segment(sport: u16, dport: u16, flags: u8, seq: u32) -> TcpRepr {
    TcpRepr { src_port: sport, dst_port: dport, seq, ack: if flags & 0x10 != 0 { 1 } else { 0 }, flags, window: 64240 }
}

/// Addresses and header fields of the IPv6 frames to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketBuilder6 {
    /// Ethernet source.
    pub src_mac: Mac,
    /// Ethernet destination.
    pub dst_mac: Mac,
    /// IPv6 source.
    pub src: Ipv6Addr,
    /// IPv6 destination.
    pub dst: Ipv6Addr,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class and flow label (the low 28 bits of the first word).
    pub class_flow: u32,
    /// Extension headers between the fixed header and the upper layer, in order: (type, bytes
    /// of the header, its first byte, the next header, written when built).
    pub ext: Vec<(u8, Vec<u8>)>,
}

impl PacketBuilder6 {
    /// Frames `src -> dst` between two MACs, hop limit 64, no extension header.
    pub fn new(src_mac: Mac, dst_mac: Mac, src: Ipv6Addr, dst: Ipv6Addr) -> Self {
        PacketBuilder6 { src_mac, dst_mac, src, dst, hop_limit: 64, class_flow: 0, ext: Vec::new() }
    }

    /// Adds an extension header of type `kind` (Hop-by-Hop, Destination Options, Routing: a
    /// PadN-filled header of `units` 8-octet units; Fragment: a first fragment of 8 bytes).
    pub fn with_ext(mut self, kind: u8, units: usize) -> Self {
        use super::ipv6::next_header::FRAGMENT;
        let b = if kind == FRAGMENT {
            vec![0, 0, 0, 1, 0, 0, 0x12, 0x34] // offset 0, more fragments
        } else {
            let len = units.max(1) * 8;
            let mut b = vec![0u8; len];
            b[1] = (units.max(1) - 1) as u8;
            b[2] = 1; // PadN over the rest
            b[3] = (len - 4) as u8;
            b
        };
        self.ext.push((kind, b));
        self
    }

    /// An IPv6 frame carrying `payload` as upper layer `next` behind the extension headers.
    pub fn ip(&self, next: u8, payload: &[u8]) -> Vec<u8> {
        let eth = EthernetRepr { src: self.src_mac, dst: self.dst_mac, vlan: None, ethertype: EtherType::IPV6 };
        let l2 = eth.header_len();
        let ext_len: usize = self.ext.iter().map(|e| e.1.len()).sum();
        let mut f = vec![0u8; l2 + IP6_LEN + ext_len + payload.len()];
        eth.emit(&mut f);
        let first = self.ext.first().map_or(next, |e| e.0);
        Ipv6Repr {
            src: self.src,
            dst: self.dst,
            next_header: first,
            payload_len: (ext_len + payload.len()) as u16,
            hop_limit: self.hop_limit,
        }
        .emit(&mut f[l2..]);
        f[l2..l2 + 4].copy_from_slice(&(6u32 << 28 | self.class_flow & 0x0fff_ffff).to_be_bytes());
        let mut at = l2 + IP6_LEN;
        for (i, (_, b)) in self.ext.iter().enumerate() {
            f[at..at + b.len()].copy_from_slice(b);
            f[at] = self.ext.get(i + 1).map_or(next, |e| e.0);
            at += b.len();
        }
        f[at..].copy_from_slice(payload);
        f
    }

    /// Fills the checksum at `at` of upper-layer message `m` (protocol `next`) for this
    /// builder's addresses (RFC 8200 §8.1).
    fn checksum(&self, next: u8, m: &mut [u8], at: usize) {
        m[at..at + 2].fill(0);
        let acc = super::checksum::pseudo_header_sum_v6(self.src.octets(), self.dst.octets(), next, m.len() as u32)
            + super::checksum::sum(m);
        let c = !super::checksum::fold(acc);
        let c = if next == protocol::UDP { super::checksum::udp_nonzero(c) } else { c };
        m[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }

    /// A TCP segment with flags `flags`.
    pub fn tcp(&self, sport: u16, dport: u16, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut seg = vec![0u8; TCP_LEN + payload.len()];
        // The IPv4 pseudo-header's checksum is replaced by IPv6's below.
        segment(sport, dport, flags, seq).emit(&mut seg, payload, Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
        self.checksum(protocol::TCP, &mut seg, 16);
        self.ip(protocol::TCP, &seg)
    }

    /// A UDP datagram (its checksum is mandatory in IPv6).
    pub fn udp(&self, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut dg = vec![0u8; UDP_LEN + payload.len()];
        UdpRepr { src_port: sport, dst_port: dport }.emit(
            &mut dg,
            payload,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            false,
        );
        self.checksum(protocol::UDP, &mut dg, 6);
        self.ip(protocol::UDP, &dg)
    }

    /// An SCTP packet (as [`PacketBuilder::sctp`]).
    pub fn sctp(&self, sport: u16, dport: u16, vtag: u32, chunks: &[u8]) -> Vec<u8> {
        self.ip(protocol::SCTP, &sctp_packet(sport, dport, vtag, chunks))
    }

    /// An ICMPv6 message of `msg_type`/`code` with type-specific word `rest` and `data`.
    pub fn icmpv6(&self, msg_type: u8, code: u8, rest: u32, data: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; 8 + data.len()];
        m[0] = msg_type;
        m[1] = code;
        m[4..8].copy_from_slice(&rest.to_be_bytes());
        m[8..].copy_from_slice(data);
        self.checksum(ICMPV6, &mut m, 2);
        self.ip(ICMPV6, &m)
    }

    /// A Neighbor Solicitation for `target` to its solicited-node group, hop limit 255, with
    /// the source link-layer option unless the source is `::` (duplicate address detection).
    pub fn neighbour_solicitation(&self, target: Ipv6Addr) -> Vec<u8> {
        let group = super::icmpv6::solicited_node(&target);
        let b = PacketBuilder6 {
            dst_mac: super::icmpv6::multicast_mac(&group),
            dst: group,
            hop_limit: 255,
            ..self.clone()
        };
        let mut data = target.octets().to_vec();
        if !self.src.is_unspecified() {
            data.extend_from_slice(&[1, 1]);
            data.extend_from_slice(&self.src_mac.0);
        }
        b.icmpv6(super::icmpv6::kind::NEIGHBOR_SOLICIT, 0, 0, &data)
    }
}

/// The IP packet of a frame (past Ethernet and any VLAN tag), for quoting in ICMP errors.
pub fn ip_part(frame: &[u8]) -> &[u8] {
    let l2 = if u16::from_be_bytes([frame[12], frame[13]]) == EtherType::VLAN { 18 } else { 14 };
    &frame[l2..]
}

/// The transport ports (source, destination) of an IPv4 or IPv6 frame without extension
/// headers (TCP, UDP and SCTP have them first).
pub fn tcp_ports(frame: &[u8]) -> (u16, u16) {
    let ip = ip_part(frame);
    let l4 = if ip[0] >> 4 == 6 { 40 } else { usize::from(ip[0] & 0xf) * 4 };
    (u16::from_be_bytes([ip[l4], ip[l4 + 1]]), u16::from_be_bytes([ip[l4 + 2], ip[l4 + 3]]))
}

/// An SCTP packet: the common header, `chunks`, the CRC32c.
pub fn sctp_packet(sport: u16, dport: u16, vtag: u32, chunks: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(super::sctp::HEADER_LEN + chunks.len());
    p.extend(sport.to_be_bytes());
    p.extend(dport.to_be_bytes());
    p.extend(vtag.to_be_bytes());
    p.extend([0; 4]);
    p.extend(chunks);
    super::sctp::fill_checksum(&mut p);
    p
}

/// One SCTP chunk of `kind` with `flags` and `value`, padded to 4 bytes (RFC 9260 §3.2).
pub fn sctp_chunk(kind: u8, flags: u8, value: &[u8]) -> Vec<u8> {
    let len = (super::sctp::CHUNK_HEADER_LEN + value.len()) as u16;
    let mut c = vec![kind, flags];
    c.extend(len.to_be_bytes());
    c.extend(value);
    c.resize(c.len().div_ceil(4) * 4, 0);
    c
}
