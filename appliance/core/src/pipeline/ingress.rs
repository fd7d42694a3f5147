//! The start of every packet, read once: the Ethernet destination checked, ARP, IPv4 and IPv6
//! told apart, the IPv4 header validated (RFC 791 §3.1, RFC 1812 §5.2.2: lengths, IHL, checksum;
//! a fragment told apart for [`super::fragments`]) or the IPv6 header's length checked and its
//! extension headers walked to the upper layer within a bound (RFC 8200 §4; a Fragment header
//! read), the TCP, UDP or SCTP header checked and the flow key and its connection-table hash
//! taken. The result, a [`Parsed`], is read by the burst's
//! look-ahead and carried into processing (VPP's lb carries its hash the same way), so no
//! packet is parsed or hashed twice.

use super::*;
use crate::wire::ipv6::{ExtError, Ipv6Packet};
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;

/// Where the headers of an IP packet of family `K` are, and its flow key.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ip<K = u32> {
    /// Where the IP header starts, the transport header starts (after IPv6's extension
    /// headers), and the IP packet ends: u16 keeps a burst's worth of these small.
    l3: u16,
    l4: u16,
    end: u16,
    pub(super) proto: u8,
    pub(super) src: K,
    pub(super) dst: K,
    /// TCP/UDP source and destination ports (0 for other protocols).
    pub(super) sport: u16,
    pub(super) dport: u16,
    /// TCP flags; for SCTP the packet's chunk event ([`crate::wire::sctp::event`]); 0 for UDP
    /// and other protocols.
    pub(super) tcp_flags: u8,
    /// The flow's hash in the connection table's client-side index (TCP and UDP); the low 32
    /// bits are all an index uses.
    c_hash: u32,
}

impl<K> Ip<K> {
    /// Where the IP header starts.
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

    /// The same packet after `n` bytes were put in it (before its end).
    pub(super) fn grown(&self, n: usize) -> Self
    where
        K: Copy,
    {
        Ip { end: self.end + n as u16, ..*self }
    }

    /// The headers of a packet translated to the other family (NAT64): `ip`'s flow, now at
    /// `l4`, between `src` and `dst`. Its hash is not taken: a translated packet has found its
    /// connection.
    pub(super) fn translated<J>(ip: &Ip<J>, l4: usize, (src, dst): (K, K)) -> Self {
        let end = l4 + (ip.end() - ip.l4());
        Ip {
            l3: ip.l3,
            l4: l4 as u16,
            end: end as u16,
            proto: ip.proto,
            src,
            dst,
            sport: ip.sport,
            dport: ip.dport,
            tcp_flags: ip.tcp_flags,
            c_hash: 0,
        }
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
    Ipv4(Ip<u32>),
    Ipv6(Ip<u128>),
    /// A TCP, UDP or SCTP fragment (its ports read only in the first; its place in the
    /// datagram read again when it is handled, so that this enum stays as small as it was).
    Frag4(Ip<u32>),
    Frag6(Ip<u128>),
}

impl Parsed {
    /// The flow of an IPv4 TCP/UDP packet, for the look-ahead.
    pub(super) fn flow(&self) -> Option<&Ip<u32>> {
        match &self.kind {
            Kind::Ipv4(ip) if is_flow(ip.proto) => Some(ip),
            _ => None,
        }
    }

    /// The flow of an IPv6 TCP/UDP packet, for the look-ahead.
    pub(super) fn flow6(&self) -> Option<&Ip<u128>> {
        match &self.kind {
            Kind::Ipv6(ip) if is_flow(ip.proto) => Some(ip),
            _ => None,
        }
    }
}

/// True for the transports rvs balances: TCP, UDP and SCTP.
#[inline(always)]
pub(super) fn is_flow(proto: u8) -> bool {
    proto == protocol::TCP || proto == protocol::UDP || proto == protocol::SCTP
}

fn ext_error(e: ExtError) -> DropReason {
    match e {
        ExtError::Truncated => DropReason::Ipv6ExtTruncated,
        ExtError::Fragment => DropReason::Fragment,
        ExtError::TooManyHeaders => DropReason::Ipv6ExtTooLong,
        ExtError::NoUpperLayer => DropReason::Ipv6NoUpperLayer,
    }
}

impl<K: AddrKey> Ip<K> {
    /// The headers of an IP packet of family `K`: at `l3`, its transport header at `l4`, its
    /// end at `end`; the ports, flags and hash not read yet.
    #[inline(always)]
    pub(super) fn at((l3, l4, end): (usize, usize, usize), proto: u8, (src, dst): (K, K)) -> Self {
        // A frame is far shorter than 64 KiB (the PMD's buffers), so these fit a u16.
        Ip {
            l3: l3 as u16,
            l4: l4 as u16,
            end: end as u16,
            proto,
            src,
            dst,
            sport: 0,
            dport: 0,
            tcp_flags: 0,
            c_hash: 0,
        }
    }

    /// Reads the TCP or UDP header (lengths checked) into the ports and flags, and takes the
    /// flow's hash in `table`; other protocols keep zeros. Shared by both families.
    #[inline(always)]
    fn read_flow(&mut self, d: &[u8], table: &ConnTable<K>) -> Result<(), DropReason> {
        self.read_flow_of::<false>(d, table)
    }

    /// [`Ip::read_flow`]; of a first fragment (`FRAGMENT`) a UDP length may run past the
    /// fragment: it is the whole datagram's.
    #[inline(always)]
    fn read_flow_of<const FRAGMENT: bool>(&mut self, d: &[u8], table: &ConnTable<K>) -> Result<(), DropReason> {
        let seg = &d[self.l4()..self.end()];
        match self.proto {
            protocol::TCP => {
                let t = TcpPacket::new_unchecked(seg);
                if seg.len() < crate::wire::tcp::HEADER_LEN {
                    return Err(DropReason::L4Truncated);
                }
                if t.check_len().is_err() {
                    return Err(DropReason::TcpBadHeaderLen);
                }
                (self.sport, self.dport, self.tcp_flags) = (t.src_port(), t.dst_port(), t.flags());
            }
            protocol::UDP => {
                let u = UdpPacket::new_unchecked(seg);
                if seg.len() < crate::wire::udp::HEADER_LEN {
                    return Err(DropReason::L4Truncated);
                }
                if u.check_len().is_err() && !(FRAGMENT && u.len() >= crate::wire::udp::HEADER_LEN as u16) {
                    return Err(DropReason::UdpBadLength);
                }
                (self.sport, self.dport) = (u.src_port(), u.dst_port());
            }
            protocol::SCTP => self.read_sctp(seg)?,
            _ => return Ok(()),
        }
        self.c_hash = table.client_hash(self.proto, self.src, self.sport, self.dst, self.dport) as u32;
        Ok(())
    }
}

impl<K> Ip<K> {
    /// The SCTP part of [`Ip::read_flow`]: the ports as TCP's and UDP's, and the packet's chunk
    /// event where TCP keeps its flags. Out of line: TCP and UDP packets never pay for it.
    #[cold]
    #[inline(never)]
    fn read_sctp(&mut self, seg: &[u8]) -> Result<(), DropReason> {
        use crate::wire::sctp;
        if seg.len() < sctp::HEADER_LEN + sctp::CHUNK_HEADER_LEN {
            return Err(DropReason::L4Truncated);
        }
        let u = UdpPacket::new_unchecked(seg);
        (self.sport, self.dport, self.tcp_flags) = (u.src_port(), u.dst_port(), sctp::event(seg));
        Ok(())
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
    /// The kind of an IPv4 fragment: a first one's transport header read whole (RFC 1858's
    /// tiny fragment refused), a later one's protocol kept; fragments of other protocols dropped.
    #[cold]
    fn fragment_kind(&self, d: &[u8], mut ip: Ip<u32>, offset: u16) -> Kind {
        if !is_flow(ip.proto) {
            return Kind::Drop(DropReason::Fragment);
        }
        if offset == 0 {
            if let Err(r) = ip.read_flow_of::<true>(d, &self.tables.v4) {
                return Kind::Drop(if r == DropReason::L4Truncated { DropReason::FragmentTiny } else { r });
            }
        }
        Kind::Frag4(ip)
    }

    /// [`PerCore::fragment_kind`] for IPv6.
    #[cold]
    fn fragment_kind6(&self, d: &[u8], mut ip: Ip<u128>, offset: u16) -> Kind {
        if !is_flow(ip.proto) {
            return Kind::Drop(DropReason::Fragment);
        }
        if offset == 0 {
            if let Err(r) = ip.read_flow_of::<true>(d, &self.tables.v6) {
                return Kind::Drop(if r == DropReason::L4Truncated { DropReason::FragmentTiny } else { r });
            }
        }
        Kind::Frag6(ip)
    }

    /// Reads a frame that arrived on `port` (no change to it, no counting).
    #[inline(always)]
    pub(super) fn parse<F: Frame>(&self, snap: &Snapshot, port: u16, f: &F) -> Parsed {
        let d = f.data();
        Parsed { len: d.len() as u32, kind: self.parse_kind(snap, port, d, f.ipv4_checksum_good()) }
    }

    #[inline(always)]
    fn parse_kind(&self, snap: &Snapshot, port: u16, d: &[u8], checksum_good: bool) -> Kind {
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
            // One copy each way: the software check's copy stays as it was without the flag.
            EtherType::IPV4 if checksum_good => self.parse_ipv4::<true>(d, l2),
            EtherType::IPV4 => self.parse_ipv4::<false>(d, l2),
            EtherType::IPV6 => self.parse_ipv6(d, l2),
            _ => Kind::Drop(DropReason::UnsupportedEthertype),
        }
    }

    #[inline(always)]
    fn parse_ipv4<const CHECKSUM_GOOD: bool>(&self, d: &[u8], l2: usize) -> Kind {
        if d.len() > usize::from(u16::MAX) {
            return Kind::Drop(DropReason::Ipv4BadTotalLen); // no IPv4 packet is this long
        }
        let p = Ipv4Packet::new_unchecked(&d[l2..]);
        if let Err(e) = p.check_len() {
            return Kind::Drop(ip_error(e));
        }
        // The NIC's verdict when it gave one (the lengths are still checked here).
        // The NIC's verdict when it gave one (the lengths are still checked here).
        if !CHECKSUM_GOOD && !p.verify_checksum() {
            return Kind::Drop(DropReason::Ipv4BadChecksum);
        }
        let (l4, end) = (l2 + p.header_len(), l2 + usize::from(p.total_len()));
        let mut ip = Ip::at((l2, l4, end), p.protocol(), (u32::from(p.src()), u32::from(p.dst())));
        if p.is_fragment() {
            return self.fragment_kind(d, ip, p.frag_offset());
        }
        if let Err(r) = ip.read_flow(d, &self.tables.v4) {
            return Kind::Drop(r);
        }
        Kind::Ipv4(ip)
    }

    #[inline(never)] // off the IPv4 path's code
    fn parse_ipv6(&self, d: &[u8], l2: usize) -> Kind {
        if d.len() > usize::from(u16::MAX) {
            return Kind::Drop(DropReason::Ipv6Truncated); // a frame is far shorter (jumbograms are not carried)
        }
        let p = Ipv6Packet::new_unchecked(&d[l2..]);
        match p.check_len() {
            Ok(()) => {}
            Err(WireError::BadVersion) => return Kind::Drop(DropReason::Ipv6BadVersion),
            Err(_) => return Kind::Drop(DropReason::Ipv6Truncated),
        }
        let end = l2 + p.total_len();
        let (upper, frag) = match crate::wire::ipv6::walk_fragment(&d[l2..end], p.next_header()) {
            Ok(u) => u,
            Err(e) => return Kind::Drop(ext_error(e)),
        };
        let addrs = (u128::from(p.src()), u128::from(p.dst()));
        let mut ip = Ip::at((l2, l2 + upper.offset, end), upper.protocol, addrs);
        if let Some(f) = frag {
            return self.fragment_kind6(d, ip, f.offset);
        }
        if let Err(r) = ip.read_flow(d, &self.tables.v6) {
            return Kind::Drop(r);
        }
        Kind::Ipv6(ip)
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
        match parsed {
            Some(p) if p.len as usize == frame.len() && !matches!(p.kind, Kind::Unread) => {
                self.dispatch_kind(snap, now, port, frame, &p.kind)
            }
            _ => {
                // Read here and handled by value: the kind stays in registers, never a `Parsed`.
                let kind = self.parse_kind(snap, port, frame.data(), frame.ipv4_checksum_good());
                self.dispatch_kind(snap, now, port, frame, &kind)
            }
        }
    }

    #[inline(always)]
    fn dispatch_kind<F: Frame>(&mut self, snap: &Snapshot, now: u32, port: u16, frame: &mut F, kind: &Kind) -> Verdict {
        // An attack in progress: the director's deny list drops its sources before any table.
        if snap.blackholes() && Self::blackholed(snap, kind) {
            return Verdict::Drop(DropReason::Blackholed);
        }
        match *kind {
            Kind::Drop(r) => Verdict::Drop(r),
            Kind::Arp { l2 } => self.arp(snap, port, frame, l2),
            Kind::Ipv4(ref ip) => {
                if frame.len() > ip.end() {
                    frame.truncate(ip.end()); // Ethernet padding
                }
                match ip.proto {
                    protocol::TCP | protocol::UDP => self.transport(snap, now, frame, ip),
                    protocol::ICMP => self.icmp(snap, now, port, frame, ip),
                    protocol::SCTP => self.transport(snap, now, frame, ip),
                    _ if snap.is_vip(Ipv4Addr::from(ip.dst)) => Self::other_protocol(snap),
                    _ => Self::not_ours(snap, ip.dst),
                }
            }
            Kind::Ipv6(ref ip) => {
                if frame.len() > ip.end() {
                    frame.truncate(ip.end()); // Ethernet padding
                }
                match ip.proto {
                    protocol::TCP | protocol::UDP => self.transport(snap, now, frame, ip),
                    crate::wire::ipv6::next_header::ICMPV6 => self.icmpv6(snap, now, port, frame, ip),
                    protocol::SCTP => self.transport(snap, now, frame, ip),
                    _ if snap.family::<u128>().is_vip(ip.dst) => Self::other_protocol(snap),
                    _ => Self::not_ours(snap, ip.dst),
                }
            }
            Kind::Frag4(ref ip) => {
                if frame.len() > ip.end() {
                    frame.truncate(ip.end());
                }
                let f = super::fragments::FragInfo::of_v4(frame.data(), ip.l3());
                self.fragment(snap, now, frame, ip, f)
            }
            Kind::Frag6(ref ip) => {
                if frame.len() > ip.end() {
                    frame.truncate(ip.end());
                }
                let Some(f) = super::fragments::FragInfo::of_v6(frame.data(), ip.l3(), ip.end()) else {
                    return Verdict::Drop(DropReason::Fragment);
                };
                self.fragment(snap, now, frame, ip, f)
            }
            Kind::Unread => Verdict::Drop(DropReason::EthernetTruncated), // parse never leaves it
        }
    }

    /// True for an IP packet whose source the director's deny list holds.
    #[cold]
    #[inline(never)]
    fn blackholed(snap: &Snapshot, kind: &Kind) -> bool {
        match kind {
            Kind::Ipv4(ip) | Kind::Frag4(ip) => snap.denied(ip.src),
            Kind::Ipv6(ip) | Kind::Frag6(ip) => snap.denied(ip.src),
            _ => false,
        }
    }

    /// A packet to a VIP of a protocol rvs does not balance: to the kernel under
    /// `ignore_tunneled` (when it has an exception path), else dropped.
    fn other_protocol(snap: &Snapshot) -> Verdict {
        if snap.knobs().ignore_tunneled && snap.kernel_exception() {
            Verdict::ToKernel
        } else {
            Verdict::Drop(DropReason::UnsupportedProtocol)
        }
    }

    pub(super) fn not_ours<K: Family>(snap: &Snapshot, dst: K) -> Verdict {
        if snap.family::<K>().local_port(dst).is_some() || snap.kernel_exception() {
            Verdict::ToKernel
        } else {
            Verdict::Drop(DropReason::NotForUs)
        }
    }
}
