//! What the pipeline decided about a packet, and the per-core counters of those decisions.
//!
//! Drops are data (VPP's error table): every drop has a [`DropReason`] with a stable name,
//! counted per core and shown in stats.

/// The pipeline's decision. The frame has already been rewritten for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Transmit on this port.
    Forward(u16),
    /// Transmit back out of the port it arrived on (ARP reply, ICMP echo reply, frag-needed).
    Reply,
    /// Hand to the host's kernel (exception path): traffic for the director itself.
    ToKernel,
    /// Ready to go out of `port` but for its destination MAC: hold it until `next_hop`
    /// resolves (ARP, or NDP for an IPv6 next hop), then write that MAC and send it.
    Pending {
        /// Egress port.
        port: u16,
        /// The on-link next hop whose MAC is missing.
        next_hop: std::net::IpAddr,
    },
    /// Belongs to a connection owned by another core: hand the frame, unchanged, to that core.
    Redirect(u16),
    /// A later IP fragment whose first fragment has not been seen: keep the frame, unchanged,
    /// and process it again once [`crate::Pipeline::fragment_generation`] moves (a first
    /// fragment was seen), or drop it after [`crate::pipeline::FRAGMENT_HOLD_MS`].
    HoldFragment,
    /// Drop it, for this reason.
    Drop(DropReason),
}

macro_rules! drop_reasons {
    ($($(#[$doc:meta])* $name:ident = $text:literal,)*) => {
        /// Why a packet was dropped.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $($(#[$doc])* $name,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
            /// Number of reasons.
            pub const COUNT: usize = Self::ALL.len();

            /// Stable snake_case name for stats and metrics.
            pub fn name(self) -> &'static str {
                match self {
                    $(DropReason::$name => $text,)*
                }
            }
        }
    };
}

drop_reasons! {
    /// Shorter than an Ethernet header (or its VLAN tag).
    EthernetTruncated = "ethernet_truncated",
    /// A unicast frame for another MAC (seen in promiscuous mode).
    OtherMac = "other_mac",
    /// Neither IPv4, IPv6 nor ARP (QinQ, MPLS, ...).
    UnsupportedEthertype = "unsupported_ethertype",
    /// ARP shorter than 28 bytes, or not Ethernet/IPv4.
    ArpMalformed = "arp_malformed",
    /// Shorter than an IPv4 header, or than its total length.
    Ipv4Truncated = "ipv4_truncated",
    /// IP version is not 4.
    Ipv4BadVersion = "ipv4_bad_version",
    /// IHL below 5.
    Ipv4BadHeaderLen = "ipv4_bad_header_len",
    /// Total length below the header length.
    Ipv4BadTotalLen = "ipv4_bad_total_len",
    /// Header checksum wrong.
    Ipv4BadChecksum = "ipv4_bad_checksum",
    /// An IP fragment of a protocol rvs does not balance (ICMP, ...): only TCP, UDP and SCTP
    /// fragments follow their connection ([`crate::pipeline`]'s shallow reassembly).
    Fragment = "fragment",
    /// A first fragment too short to hold the whole transport header (RFC 1858 §3.1; for IPv6
    /// the whole header chain, RFC 8200 §4.5 and RFC 7112).
    FragmentTiny = "fragment_tiny",
    /// A later fragment that overlaps its datagram's first fragment (RFC 1858 §4, RFC 5722):
    /// it could rewrite the transport header a decision was made on. Its datagram's later
    /// fragments go too.
    FragmentOverlap = "fragment_overlap",
    /// The fragment table is full: a datagram's later fragments cannot be followed.
    FragmentTableFull = "fragment_table_full",
    /// Shorter than an IPv6 header, or than its payload length.
    Ipv6Truncated = "ipv6_truncated",
    /// An IPv6 ethertype whose version is not 6.
    Ipv6BadVersion = "ipv6_bad_version",
    /// An IPv6 extension header runs past the packet.
    Ipv6ExtTruncated = "ipv6_ext_truncated",
    /// More IPv6 extension headers, or bytes of them, than rvs walks (8 headers, 512 bytes).
    Ipv6ExtTooLong = "ipv6_ext_too_long",
    /// An IPv6 packet with no upper layer rvs can read (ESP, No Next Header).
    Ipv6NoUpperLayer = "ipv6_no_upper_layer",
    /// A Neighbor Discovery message that fails RFC 4861 §7.1's checks (hop limit 255, code,
    /// length, options, checksum).
    NdMalformed = "nd_malformed",
    /// TTL (or IPv6 hop limit) would reach zero on forwarding.
    TtlExceeded = "ttl_exceeded",
    /// TCP/UDP header shorter than its minimum.
    L4Truncated = "l4_truncated",
    /// TCP data offset below 5 or past the segment.
    TcpBadHeaderLen = "tcp_bad_header_len",
    /// UDP length field below 8 or past the datagram.
    UdpBadLength = "udp_bad_length",
    /// ICMP (or ICMPv6) shorter than its header or than the quoted header it needs.
    IcmpTruncated = "icmp_truncated",
    /// An ICMP error that quotes no known connection.
    IcmpUnmatched = "icmp_unmatched",
    /// A protocol other than TCP/UDP/ICMP (ICMPv6) to a VIP.
    UnsupportedProtocol = "unsupported_protocol",
    /// Not for a VIP, a connection or the director.
    NotForUs = "not_for_us",
    /// A TCP segment other than a SYN for a VIP, with no connection.
    NoConnection = "no_connection",
    /// An ACK to a SYN-proxied service whose cookie does not validate (forged, stale, or a
    /// blind guess): nothing is made of it.
    SynproxyBadCookie = "synproxy_bad_cookie",
    /// A proxied connection's segment while its real server has not answered the SYN (the
    /// client sends it again).
    SynproxyWaiting = "synproxy_waiting",
    /// A proxied connection's first data, held until its real server answers (sent then).
    SynproxyHeld = "synproxy_held",
    /// An identical pure ACK repeated past `ack_storm_thresh` on a proxied connection.
    SynproxyAckStorm = "synproxy_ack_storm",
    /// A valid cookie while the core already has its most connections waiting for a real
    /// server's SYN-ACK: the client sends its ACK again.
    SynproxyBusy = "synproxy_busy",
    /// The service has no real server that may take a new connection (all weight 0).
    NoDest = "no_dest",
    /// A packet of a connection whose real server was deleted (`expire_nodest_conn` 0 or 1).
    DestDeleted = "dest_deleted",
    /// A datagram to a `--pe sip` service without a SIP Call-ID: no dialog to persist by.
    SipNoCallId = "sip_no_call_id",
    /// A new FULLNAT connection found no free local port towards its real server on this
    /// core, on any of its service's local addresses.
    LaddrExhausted = "laddr_exhausted",
    /// A new FULLNAT connection's service has no local address of its family (all deleted).
    NoLocalAddr = "no_local_addr",
    /// A new connection from a client of a deny list (the director's or its service's).
    AccessDenied = "access_denied",
    /// A new connection from a client no allow list of its scope covers.
    AccessNotAllowed = "access_not_allowed",
    /// A new connection of a client prefix that holds its service's most connections.
    ClientLimit = "client_limit",
    /// A new connection of a client prefix past its service's new connections a second.
    ClientRate = "client_rate",
    /// A packet from a source of the global deny list under `blackhole` (before any table).
    Blackholed = "blackholed",
    /// A NAT64 packet with no counterpart in the other family (an ICMP type RFC 7915 does not
    /// translate, or an address that is not IPv4-mapped where one must be).
    Nat64Untranslatable = "nat64_untranslatable",
    /// The PROXY protocol header did not fit in front of the client's first data (no headroom).
    ProxyHeaderNoRoom = "proxy_header_no_room",
    /// The connection table is full and no embryonic entry could be evicted (a new connection
    /// refused).
    TableFull = "table_full",
    /// No route to the next hop (or DR to a real server that is not on a connected network).
    NoRoute = "no_route",
    /// Not enough headroom to encapsulate.
    NoHeadroom = "no_headroom",
    /// Too big for the egress MTU once encapsulated and the sender may not be told (IPv4 DF
    /// clear: rvs does not fragment; an ICMP error itself; IPv6 where the tunnel's MTU would be
    /// below 1280).
    TooBig = "too_big",
    /// TCP or UDP to a VIP on a port with no service: nothing is created. (IPVS hands such a
    /// packet to the local stack, where the VIP is an address; rvs's kernel owns no VIP, so it
    /// would only answer with a reset, or a flood would reach it.)
    NoService = "no_service",
    /// `sloppy_tcp`: a TCP segment other than a SYN with no connection, for a service whose
    /// scheduler is not a hash. Only a hash sends a flow to the real server every director
    /// would pick; another scheduler could hand it to one that never saw the connection.
    NotHashedPickup = "not_hashed_pickup",
    /// `[ha] mode = "ecmp"`: an ARP request for a VIP. The VIPs are routed to the directors,
    /// never on-link; every node answering would split a segment's traffic at random.
    ArpForRoutedVip = "arp_for_routed_vip",
    /// `[ha] mode = "ecmp"`: an IPv6 neighbour solicitation for a VIP (as `arp_for_routed_vip`).
    NdForRoutedVip = "nd_for_routed_vip",
}

/// Per-core packet counters. Plain integers: one core writes them, the control plane reads
/// copies it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Packets processed.
    pub rx: u64,
    /// Forwarded.
    pub forwarded: u64,
    /// Answered (ARP, ICMP echo, frag-needed).
    pub replied: u64,
    /// Handed to the kernel.
    pub to_kernel: u64,
    /// Held for neighbour resolution.
    pub pending: u64,
    /// Later fragments held until their first fragment (counted again when they go).
    pub fragments_held: u64,
    /// Later fragments forwarded along their first fragment's connection.
    pub fragments_followed: u64,
    /// Handed to the owning core.
    pub redirected: u64,
    /// Dropped, by reason.
    pub dropped: [u64; DropReason::COUNT],
    /// Connections created.
    pub new_conns: u64,
    /// Connections expired.
    pub expired_conns: u64,
    /// Persistent connections scheduled without a template because the template table was full.
    pub template_full: u64,
    /// Embryonic connections evicted to make room for a new one (the table was full).
    pub evicted: u64,
    /// Packets forwarded by a hash scheduler's pick without a connection entry.
    pub stateless_forwarded: u64,
    /// UDP datagrams of one-packet (`--ops`) services, each scheduled on its own.
    pub one_packet: u64,
    /// Replies of NAT real servers of one-packet services, translated without an entry.
    pub one_packet_replies: u64,
    /// ICMP errors of no connection scheduled to a real server (`schedule_icmp`).
    pub icmp_scheduled: u64,
    /// FULLNAT TCP segments that took the client's address to the real server as TOA.
    pub toa_added: u64,
    /// PROXY protocol headers put in front of a client's first data (again for a resent one).
    pub proxy_headers: u64,
    /// FULLNAT UDP datagrams that took the client's address to the real server as UOA.
    pub uoa_added: u64,
    /// Connections an outside host opened to a SNAT mapping (endpoint-independent filtering).
    pub snat_inbound: u64,
    /// SYNs over a per-client limit answered with a reset (each also counted as replied).
    pub client_resets: u64,
    /// SYN proxy: SYN-ACKs with a cookie sent.
    pub synproxy_cookies_sent: u64,
    /// SYN proxy: ACKs whose cookie validated.
    pub synproxy_cookies_valid: u64,
    /// SYN proxy: ACKs whose cookie did not (also dropped as `synproxy_bad_cookie`).
    pub synproxy_cookies_bad: u64,
    /// SYN proxy: SYNs sent again to a real server that had not answered.
    pub synproxy_syn_retries: u64,
    /// SYN proxy: connections ended with a reset to the client after the retries.
    pub synproxy_rs_timeouts: u64,
    /// SYN proxy: ACK storms detected (their packets dropped as `synproxy_ack_storm`).
    pub synproxy_ack_storms: u64,
    /// SYN proxy: validated ACKs no real server could take (dropped with the reason, as a SYN
    /// would be).
    pub synproxy_refused: u64,
    /// Port unreachable sent to NAT real servers for packets no connection expects
    /// (`nat_icmp_send`; each also counted as replied).
    pub nat_icmp_sent: u64,
    /// Changes of the table's pressure level.
    pub level_changes: u64,
    /// ICMP "fragmentation needed" and ICMPv6 Packet Too Big sent to clients whose packet would
    /// not fit a tunnel (each also counted as replied).
    pub too_big_sent: u64,
    /// Sync records queued for the backups (master role).
    pub sync_sent: u64,
    /// Sync records dropped because the outbox was full.
    pub sync_dropped: u64,
    /// Received sync records installed or refreshed (backup role).
    pub sync_installed: u64,
    /// Received sync records ignored: no such service here, the table was full, or an old
    /// connection's closing record that arrived after its replacement.
    pub sync_ignored: u64,
    /// Received sync records refused because they would move a live connection of a VIP served
    /// here to another real server.
    pub sync_conflicts: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            rx: 0,
            forwarded: 0,
            replied: 0,
            to_kernel: 0,
            pending: 0,
            fragments_held: 0,
            fragments_followed: 0,
            redirected: 0,
            dropped: [0; DropReason::COUNT],
            new_conns: 0,
            expired_conns: 0,
            template_full: 0,
            evicted: 0,
            stateless_forwarded: 0,
            one_packet: 0,
            one_packet_replies: 0,
            icmp_scheduled: 0,
            toa_added: 0,
            proxy_headers: 0,
            uoa_added: 0,
            snat_inbound: 0,
            client_resets: 0,
            synproxy_cookies_sent: 0,
            synproxy_cookies_valid: 0,
            synproxy_cookies_bad: 0,
            synproxy_syn_retries: 0,
            synproxy_rs_timeouts: 0,
            synproxy_ack_storms: 0,
            synproxy_refused: 0,
            nat_icmp_sent: 0,
            level_changes: 0,
            too_big_sent: 0,
            sync_sent: 0,
            sync_dropped: 0,
            sync_installed: 0,
            sync_ignored: 0,
            sync_conflicts: 0,
        }
    }
}

impl Counters {
    /// Counts a verdict.
    #[inline]
    pub fn count(&mut self, v: Verdict) {
        self.rx += 1;
        match v {
            Verdict::Forward(_) => self.forwarded += 1,
            Verdict::Reply => self.replied += 1,
            Verdict::ToKernel => self.to_kernel += 1,
            Verdict::Pending { .. } => self.pending += 1,
            Verdict::HoldFragment => self.fragments_held += 1,
            Verdict::Redirect(_) => self.redirected += 1,
            Verdict::Drop(r) => self.dropped[r as usize] += 1,
        }
    }

    /// Drops for one reason.
    pub fn drops(&self, r: DropReason) -> u64 {
        self.dropped[r as usize]
    }

    /// All drops.
    pub fn total_drops(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Adds another core's counters (aggregation on the control path).
    pub fn add(&mut self, o: &Counters) {
        self.rx += o.rx;
        self.forwarded += o.forwarded;
        self.replied += o.replied;
        self.to_kernel += o.to_kernel;
        self.pending += o.pending;
        self.fragments_held += o.fragments_held;
        self.fragments_followed += o.fragments_followed;
        self.redirected += o.redirected;
        for (a, b) in self.dropped.iter_mut().zip(o.dropped.iter()) {
            *a += b;
        }
        self.new_conns += o.new_conns;
        self.too_big_sent += o.too_big_sent;
        self.expired_conns += o.expired_conns;
        self.template_full += o.template_full;
        self.evicted += o.evicted;
        self.stateless_forwarded += o.stateless_forwarded;
        self.one_packet += o.one_packet;
        self.one_packet_replies += o.one_packet_replies;
        self.icmp_scheduled += o.icmp_scheduled;
        self.toa_added += o.toa_added;
        self.proxy_headers += o.proxy_headers;
        self.uoa_added += o.uoa_added;
        self.snat_inbound += o.snat_inbound;
        self.client_resets += o.client_resets;
        self.synproxy_cookies_sent += o.synproxy_cookies_sent;
        self.synproxy_cookies_valid += o.synproxy_cookies_valid;
        self.synproxy_cookies_bad += o.synproxy_cookies_bad;
        self.synproxy_syn_retries += o.synproxy_syn_retries;
        self.synproxy_rs_timeouts += o.synproxy_rs_timeouts;
        self.synproxy_ack_storms += o.synproxy_ack_storms;
        self.synproxy_refused += o.synproxy_refused;
        self.nat_icmp_sent += o.nat_icmp_sent;
        self.level_changes += o.level_changes;
        self.sync_sent += o.sync_sent;
        self.sync_dropped += o.sync_dropped;
        self.sync_installed += o.sync_installed;
        self.sync_ignored += o.sync_ignored;
        self.sync_conflicts += o.sync_conflicts;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        let mut names: Vec<&str> = DropReason::ALL.iter().map(|r| r.name()).collect();
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "ALL is in discriminant order");
        }
    }

    /// Every counter a worker keeps reaches the sum (this round's SNAT and reset counters were
    /// once left out of it: the lab's listing showed 0).
    #[test]
    fn the_sum_takes_every_counter() {
        let one = Counters { snat_inbound: 1, client_resets: 2, uoa_added: 3, ..Counters::default() };
        let mut sum = Counters::default();
        sum.add(&one);
        sum.add(&one);
        assert_eq!((sum.snat_inbound, sum.client_resets, sum.uoa_added), (2, 4, 6));
    }

    #[test]
    fn counting_and_aggregation() {
        let mut a = Counters::default();
        a.count(Verdict::Forward(1));
        a.count(Verdict::Drop(DropReason::Fragment));
        a.count(Verdict::Drop(DropReason::Fragment));
        a.count(Verdict::Reply);
        let mut b = Counters::default();
        b.count(Verdict::ToKernel);
        b.add(&a);
        assert_eq!((b.rx, b.forwarded, b.replied, b.to_kernel), (5, 1, 1, 1));
        assert_eq!(b.drops(DropReason::Fragment), 2);
        assert_eq!(b.total_drops(), 2);
    }
}
