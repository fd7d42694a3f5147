//! Building whole frames from values: for tests, fuzz seeds, benches and traffic generators.
//! Every checksum is computed in full here, which makes built frames an independent check
//! of the incremental rewrites.

use super::arp::{ArpRepr, OP_REQUEST, PACKET_LEN as ARP_LEN};
use super::ethernet::{EtherType, EthernetRepr};
use super::icmp::{IcmpRepr, HEADER_LEN as ICMP_LEN};
use super::ipv4::{protocol, Ipv4Repr, HEADER_LEN as IP_LEN};
use super::tcp::{TcpRepr, HEADER_LEN as TCP_LEN};
use super::udp::{UdpRepr, HEADER_LEN as UDP_LEN};
use super::Mac;
use std::net::Ipv4Addr;

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
        TcpRepr {
            src_port: sport,
            dst_port: dport,
            seq,
            ack: if flags & 0x10 != 0 { 1 } else { 0 },
            flags,
            window: 64240,
        }
        .emit(&mut seg, payload, self.src, self.dst);
        self.ip(protocol::TCP, &seg)
    }

    /// A UDP datagram (checksum 0 = none when `with_checksum` is false).
    pub fn udp(&self, sport: u16, dport: u16, payload: &[u8], with_checksum: bool) -> Vec<u8> {
        let mut dg = vec![0u8; UDP_LEN + payload.len()];
        UdpRepr { src_port: sport, dst_port: dport }.emit(&mut dg, payload, self.src, self.dst, with_checksum);
        self.ip(protocol::UDP, &dg)
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

/// The IP packet of a frame (past Ethernet and any VLAN tag), for quoting in ICMP errors.
pub fn ip_part(frame: &[u8]) -> &[u8] {
    let l2 = if u16::from_be_bytes([frame[12], frame[13]]) == EtherType::VLAN { 18 } else { 14 };
    &frame[l2..]
}
