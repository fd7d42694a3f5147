//! The start of every packet, read once: the Ethernet destination checked, ARP and IPv4 told
//! apart, the IPv4 header validated (RFC 791 §3.1, RFC 1812 §5.2.2: lengths, IHL, checksum;
//! fragments dropped, as rvs does not reassemble), the TCP or UDP header checked and the flow
//! key and its connection-table hash taken. The result, a [`Parsed`], is read by the burst's
//! look-ahead and carried into processing (VPP's lb carries its hash the same way), so no
//! packet is parsed or hashed twice.

use super::*;
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;

/// Where the headers of an IPv4 packet are, and its flow key.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ip {
    /// Where the IPv4 header starts, the transport header starts, and the IP packet ends
    /// (l3 + total length): u16 keeps a burst's worth of these small.
    l3: u16,
    l4: u16,
    end: u16,
    pub(super) proto: u8,
    pub(super) src: Ipv4Addr,
    pub(super) dst: Ipv4Addr,
    /// TCP/UDP source and destination ports (0 for other protocols).
    pub(super) sport: u16,
    pub(super) dport: u16,
    /// TCP flags (0 for UDP and other protocols).
    pub(super) tcp_flags: u8,
    /// The flow's hash in the connection table's client-side index (TCP and UDP); the low 32
    /// bits are all an index uses.
    c_hash: u32,
}

impl Ip {
    /// Where the IPv4 header starts.
    #[inline]
    pub(super) fn l3(&self) -> usize {
        usize::from(self.l3)
    }

    /// Where the transport header starts.
    #[inline]
    pub(super) fn l4(&self) -> usize {
        usize::from(self.l4)
    }

    /// Where the IP packet ends (Ethernet padding may follow).
    #[inline]
    pub(super) fn end(&self) -> usize {
        usize::from(self.end)
    }

    /// The flow's [`ConnTable::client_hash`].
    #[inline]
    pub(super) fn c_hash(&self) -> u64 {
        u64::from(self.c_hash)
    }

    pub(super) fn len(&self) -> u64 {
        u64::from(self.end - self.l3)
    }
}

/// A frame's headers as read once, by [`Pipeline::lookahead`] or by [`Pipeline::process`].
/// Valid only for the unchanged frame it was read from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parsed {
    /// The frame's length when read (a cheap guard against a mix-up).
    len: u32,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, Default)]
enum Kind {
    /// Not read yet.
    #[default]
    Unread,
    Drop(DropReason),
    Arp {
        l2: usize,
    },
    Ipv4(Ip),
}

impl Parsed {
    /// The flow of a TCP/UDP packet, for the look-ahead.
    pub(super) fn flow(&self) -> Option<&Ip> {
        match &self.kind {
            Kind::Ipv4(ip) if ip.proto == protocol::TCP || ip.proto == protocol::UDP => Some(ip),
            _ => None,
        }
    }
}

fn ip_error(e: WireError) -> DropReason {
    match e {
        WireError::BadVersion => DropReason::Ipv4BadVersion,
        WireError::BadHeaderLen => DropReason::Ipv4BadHeaderLen,
        WireError::BadTotalLen => DropReason::Ipv4BadTotalLen,
        WireError::Truncated | WireError::Unsupported => DropReason::Ipv4Truncated,
    }
}

impl PerCore {
    /// Reads a frame that arrived on `port` (no change to it, no counting).
    #[inline(always)]
    pub(super) fn parse(&self, snap: &Snapshot, port: u16, d: &[u8]) -> Parsed {
        Parsed { len: d.len() as u32, kind: self.parse_kind(snap, port, d) }
    }

    #[inline(always)]
    fn parse_kind(&self, snap: &Snapshot, port: u16, d: &[u8]) -> Kind {
        let Some(itf) = snap.interfaces().get(usize::from(port)) else {
            return Kind::Drop(DropReason::NotForUs);
        };
        let eth = EthernetFrame::new_unchecked(d);
        if eth.check_len().is_err() {
            return Kind::Drop(DropReason::EthernetTruncated);
        }
        let dmac = eth.dst();
        if !dmac.is_multicast() && dmac != itf.mac {
            return Kind::Drop(DropReason::OtherMac);
        }
        let l2 = eth.header_len();
        match eth.ethertype() {
            EtherType::ARP => Kind::Arp { l2 },
            EtherType::IPV4 => self.parse_ipv4(d, l2),
            _ => Kind::Drop(DropReason::UnsupportedEthertype),
        }
    }

    #[inline(always)]
    fn parse_ipv4(&self, d: &[u8], l2: usize) -> Kind {
        if d.len() > usize::from(u16::MAX) {
            return Kind::Drop(DropReason::Ipv4BadTotalLen); // no IPv4 packet is this long
        }
        let p = Ipv4Packet::new_unchecked(&d[l2..]);
        if let Err(e) = p.check_len() {
            return Kind::Drop(ip_error(e));
        }
        if !p.verify_checksum() {
            return Kind::Drop(DropReason::Ipv4BadChecksum);
        }
        if p.is_fragment() {
            return Kind::Drop(DropReason::Fragment);
        }
        // A frame is far shorter than 64 KiB (the PMD's buffers), so these fit a u16.
        let mut ip = Ip {
            l3: l2 as u16,
            l4: (l2 + p.header_len()) as u16,
            end: (l2 + usize::from(p.total_len())) as u16,
            proto: p.protocol(),
            src: p.src(),
            dst: p.dst(),
            sport: 0,
            dport: 0,
            tcp_flags: 0,
            c_hash: 0,
        };
        let seg = &d[ip.l4()..ip.end()];
        match ip.proto {
            protocol::TCP => {
                let t = TcpPacket::new_unchecked(seg);
                if seg.len() < crate::wire::tcp::HEADER_LEN {
                    return Kind::Drop(DropReason::L4Truncated);
                }
                if t.check_len().is_err() {
                    return Kind::Drop(DropReason::TcpBadHeaderLen);
                }
                (ip.sport, ip.dport, ip.tcp_flags) = (t.src_port(), t.dst_port(), t.flags());
            }
            protocol::UDP => {
                let u = UdpPacket::new_unchecked(seg);
                if seg.len() < crate::wire::udp::HEADER_LEN {
                    return Kind::Drop(DropReason::L4Truncated);
                }
                if u.check_len().is_err() {
                    return Kind::Drop(DropReason::UdpBadLength);
                }
                (ip.sport, ip.dport) = (u.src_port(), u.dst_port());
            }
            _ => return Kind::Ipv4(ip),
        }
        ip.c_hash = self.conns.client_hash(ip.proto, u32::from(ip.src), ip.sport, u32::from(ip.dst), ip.dport) as u32;
        Kind::Ipv4(ip)
    }

    /// Handles a frame as `parsed` read it (or reads it now: none given, or not this frame's).
    #[inline]
    pub(super) fn dispatch<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        port: u16,
        frame: &mut F,
        parsed: Option<&Parsed>,
    ) -> Verdict {
        let fresh;
        let parsed = match parsed {
            Some(p) if p.len as usize == frame.len() && !matches!(p.kind, Kind::Unread) => p,
            _ => {
                fresh = self.parse(snap, port, frame.data());
                &fresh
            }
        };
        match parsed.kind {
            Kind::Drop(r) => Verdict::Drop(r),
            Kind::Arp { l2 } => self.arp(snap, port, frame, l2),
            Kind::Ipv4(ref ip) => {
                if frame.len() > ip.end() {
                    frame.truncate(ip.end()); // Ethernet padding
                }
                match ip.proto {
                    protocol::TCP | protocol::UDP => self.transport(snap, now, frame, ip),
                    protocol::ICMP => self.icmp(snap, port, frame, ip),
                    _ if snap.is_vip(ip.dst) => Verdict::Drop(DropReason::UnsupportedProtocol),
                    _ => Self::not_ours(snap, ip.dst),
                }
            }
            Kind::Unread => Verdict::Drop(DropReason::EthernetTruncated), // parse never leaves it
        }
    }

    pub(super) fn not_ours(snap: &Snapshot, dst: Ipv4Addr) -> Verdict {
        if snap.local_port(dst).is_some() || snap.kernel_exception() {
            Verdict::ToKernel
        } else {
            Verdict::Drop(DropReason::NotForUs)
        }
    }
}
