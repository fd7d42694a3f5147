//! What the packet path does differently per address family. The flow code
//! ([`super::flow`], [`super::egress`], [`super::persistence`], [`super::overload`]) is written
//! once, generic over an [`IpPath`], and instantiated for IPv4 (`u32`) and IPv6 (`u128`): each
//! family gets its own connection table and neighbour table and its own header rewrites, and
//! the IPv4 instance compiles to what it was before IPv6 existed.

use super::*;
use crate::encap::{Tunnel, TunnelKind};
use crate::neigh::NeighKey;
use crate::snapshot::Family;
use crate::xmit::encap_header::gue_source_port;
use crate::xmit::{icmp as xicmp, icmpv6 as xicmpv6, nat::rewrite6, tunnel6};

/// One address family's part of the packet path.
pub(super) trait IpPath: Family + NeighKey {
    /// This family's connection table.
    fn conns(t: &ConnTables) -> &ConnTable<Self>;
    /// The same, writable.
    fn conns_mut(t: &mut ConnTables) -> &mut ConnTable<Self>;
    /// The learned MAC of an on-link next hop.
    fn learned_mac(core: &PerCore, a: Self::Addr) -> Option<Mac>;
    /// Decrements the TTL or hop limit of the packet at `l3`; false when it may not be forwarded.
    fn dec_hop(d: &mut [u8], l3: usize) -> bool;
    /// Rewrites one end's address and port (NAT), checksums patched.
    #[allow(clippy::too_many_arguments)]
    fn nat_rewrite(d: &mut [u8], l3: usize, l4: usize, proto: u8, end: End, addr: Self, port: u16);
    /// Rewrites both ends (FULLNAT): the destination to `dst`, the source to `src`.
    #[inline(always)]
    fn nat_rewrite_both(d: &mut [u8], l3: usize, l4: usize, proto: u8, dst: (Self, u16), src: (Self, u16)) {
        Self::nat_rewrite(d, l3, l4, proto, End::Dst, dst.0, dst.1);
        Self::nat_rewrite(d, l3, l4, proto, End::Src, src.0, src.1);
    }
    /// Translates an ICMP error of a NAT connection; false when the quote cannot be read.
    #[allow(clippy::too_many_arguments)]
    fn nat_error(d: &mut [u8], l3: usize, l4: usize, icmp_end: usize, end: End, addr: Self, port: u16) -> bool;
    /// This family's address of an interface, if it has one.
    fn iface_addr(itf: &Interface) -> Option<Self>;
    /// The packet does not fit its egress: the sender is told the `mtu` to use, from `from`
    /// (None: the address it sent to) — IPv4's "fragmentation needed" when DF is set, IPv6's
    /// Packet Too Big (never below the minimum MTU, never about an ICMP error) — and the frame
    /// becomes that error (`Reply`); otherwise it is dropped (rvs does not fragment).
    fn too_big<F: Frame>(
        core: &mut PerCore,
        frame: &mut F,
        ip: &Ip<Self>,
        mtu: u16,
        from: Option<Self>,
        icmp_error: bool,
    ) -> Verdict;
    /// Turns the frame into ICMP(v6) port unreachable back to its sender, from `from` (IPVS's
    /// `nat_icmp_send`).
    fn port_unreachable<F: Frame>(core: &mut PerCore, frame: &mut F, ip: &Ip<Self>, from: Self) -> Verdict;
    /// Encapsulates for a TUN real server `rip` out of `egress` as `t` asks, or says what to do
    /// instead: an error to the sender (the frame rewritten into it: `Reply`), or a drop.
    fn tunnel<F: Frame>(
        core: &mut PerCore,
        frame: &mut F,
        ip: &Ip<Self>,
        egress: &Interface,
        rip: Self,
        t: Tunnel,
        icmp_error: bool,
    ) -> Result<(), Verdict>;
    /// The packet as IPv4's, if it is one: what only IPv4 has (SNAT, a NAT64 connection's
    /// IPv4 end) is looked for through it, out of line.
    fn as_v4(ip: &Ip<Self>) -> Option<&Ip<u32>>;
    /// Sends a client packet (or an ICMP error about the flow) of a NAT64 connection, whose
    /// real server is IPv4 (mapped), out translated ([`super::nat64`]). IPv6 only: an IPv4
    /// connection's real server is never mapped.
    fn nat64_out<F: Frame>(
        core: &mut PerCore,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<Self>,
        c: &Conn<Self>,
        icmp_error: bool,
    ) -> Verdict;
    /// Queues the connection for the backups when the sync master role runs.
    #[inline(always)]
    fn sync_after_input(core: &mut PerCore, snap: &Snapshot, idx: u32, now: u32) {
        if let Some(policy) = snap.sync_master() {
            core.sync_after_input::<Self>(snap, policy, idx, now);
        }
    }
}

impl IpPath for u32 {
    #[inline(always)]
    fn as_v4(ip: &Ip<u32>) -> Option<&Ip<u32>> {
        Some(ip)
    }
    #[inline(always)]
    fn nat64_out<F: Frame>(_: &mut PerCore, _: &Snapshot, _: &mut F, _: &Ip<u32>, _: &Conn<u32>, _: bool) -> Verdict {
        Verdict::Drop(DropReason::Nat64Untranslatable) // never called: `is_mapped_v4` is false
    }
    #[inline(always)]
    fn iface_addr(itf: &Interface) -> Option<u32> {
        Some(u32::from(itf.addr))
    }
    #[cold]
    fn too_big<F: Frame>(
        core: &mut PerCore,
        frame: &mut F,
        ip: &Ip<u32>,
        mtu: u16,
        from: Option<u32>,
        icmp_error: bool,
    ) -> Verdict {
        let df = Ipv4Packet::new_unchecked(&frame.data()[ip.l3()..]).dont_frag();
        let reply_len = ip.l3() + 28 + (ip.l4() - ip.l3()) + 8;
        if !df || icmp_error || frame.len() < reply_len {
            return Verdict::Drop(DropReason::TooBig);
        }
        core.ident = core.ident.wrapping_add(1);
        let in_mac = EthernetFrame::new_unchecked(frame.data()).dst();
        xicmp::frag_needed(frame, ip.l3(), in_mac, mtu, from.map(Ipv4Addr::from), core.ident);
        core.counters.too_big_sent += 1;
        Verdict::Reply
    }
    #[inline(always)]
    fn conns(t: &ConnTables) -> &ConnTable<u32> {
        &t.v4
    }
    #[inline(always)]
    fn conns_mut(t: &mut ConnTables) -> &mut ConnTable<u32> {
        &mut t.v4
    }
    #[inline(always)]
    fn learned_mac(core: &PerCore, a: Ipv4Addr) -> Option<Mac> {
        core.neigh.lookup(a)
    }
    #[inline(always)]
    fn dec_hop(d: &mut [u8], l3: usize) -> bool {
        dec_ttl(d, l3)
    }
    #[inline(always)]
    fn nat_rewrite(d: &mut [u8], l3: usize, l4: usize, proto: u8, end: End, addr: u32, port: u16) {
        rewrite(d, l3, l4, proto, end, addr.to_be_bytes(), port, true);
    }
    #[inline(always)]
    fn nat_rewrite_both(d: &mut [u8], l3: usize, l4: usize, proto: u8, dst: (u32, u16), src: (u32, u16)) {
        crate::xmit::nat::rewrite_both(d, l3, l4, proto, (dst.0.to_be_bytes(), dst.1), (src.0.to_be_bytes(), src.1));
    }
    #[inline]
    fn nat_error(d: &mut [u8], l3: usize, l4: usize, icmp_end: usize, end: End, addr: u32, port: u16) -> bool {
        let a = addr.to_be_bytes();
        crate::xmit::icmp::translate_nat_error(d, l3, l4, icmp_end, end, a, a, port);
        true
    }
    #[cold]
    fn port_unreachable<F: Frame>(core: &mut PerCore, frame: &mut F, ip: &Ip<u32>, from: u32) -> Verdict {
        core.ident = core.ident.wrapping_add(1);
        let in_mac = EthernetFrame::new_unchecked(frame.data()).dst();
        match xicmp::port_unreachable(frame, ip.l3(), in_mac, Ipv4Addr::from(from), core.ident) {
            Ok(()) => Verdict::Reply,
            Err(r) => Verdict::Drop(r),
        }
    }
    #[inline]
    fn tunnel<F: Frame>(
        core: &mut PerCore,
        frame: &mut F,
        ip: &Ip<u32>,
        egress: &Interface,
        rip: u32,
        t: Tunnel,
        icmp_error: bool,
    ) -> Result<(), Verdict> {
        let inner = ip.end() - ip.l3();
        let overhead = tunnel::OVERHEAD + t.header_len();
        if inner + overhead > usize::from(egress.mtu) {
            let mtu = egress.mtu.saturating_sub(overhead as u16);
            return Err(Self::too_big(core, frame, ip, mtu, None, icmp_error));
        }
        core.ident = core.ident.wrapping_add(1);
        let sport = if t.kind == TunnelKind::Gue { gue_source_port(ip.c_hash()) } else { 0 };
        tunnel::encapsulate(frame, ip.l3(), egress.addr, Ipv4Addr::from(rip), core.ident, t, sport)
            .map_err(Verdict::Drop)
    }
}

impl IpPath for u128 {
    #[inline(always)]
    fn as_v4(_: &Ip<u128>) -> Option<&Ip<u32>> {
        None
    }
    #[inline(never)]
    fn nat64_out<F: Frame>(
        core: &mut PerCore,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<u128>,
        c: &Conn<u128>,
        icmp_error: bool,
    ) -> Verdict {
        core.nat64_out(snap, frame, ip, c, icmp_error)
    }
    #[inline(always)]
    fn iface_addr(itf: &Interface) -> Option<u128> {
        itf.addr6.map(|(a, _)| u128::from(a))
    }
    #[cold]
    fn too_big<F: Frame>(
        core: &mut PerCore,
        frame: &mut F,
        ip: &Ip<u128>,
        mtu: u16,
        from: Option<u128>,
        icmp_error: bool,
    ) -> Verdict {
        // RFC 4443 §2.4 (e): never an error about an error. No Packet Too Big below the minimum
        // MTU (RFC 8200 §5: every link carries 1280): a path that cannot carry 1280 bytes has
        // no MTU to advertise (the packet, larger than it, is dropped).
        if icmp_error || mtu < crate::wire::ipv6::MIN_MTU {
            return Verdict::Drop(DropReason::TooBig);
        }
        let in_mac = EthernetFrame::new_unchecked(frame.data()).dst();
        match xicmpv6::packet_too_big(frame, ip.l3(), in_mac, mtu, from.map(Ipv6Addr::from)) {
            Ok(()) => {
                core.counters.too_big_sent += 1;
                Verdict::Reply
            }
            Err(r) => Verdict::Drop(r),
        }
    }
    #[inline(always)]
    fn conns(t: &ConnTables) -> &ConnTable<u128> {
        &t.v6
    }
    #[inline(always)]
    fn conns_mut(t: &mut ConnTables) -> &mut ConnTable<u128> {
        &mut t.v6
    }
    #[inline(always)]
    fn learned_mac(core: &PerCore, a: Ipv6Addr) -> Option<Mac> {
        core.neigh6.lookup(a)
    }
    #[inline(always)]
    fn dec_hop(d: &mut [u8], l3: usize) -> bool {
        crate::xmit::dec_hop_limit(d, l3)
    }
    #[inline(always)]
    fn nat_rewrite(d: &mut [u8], l3: usize, l4: usize, proto: u8, end: End, addr: u128, port: u16) {
        rewrite6(d, l3, l4, proto, end, addr.to_be_bytes(), port, true);
    }
    #[inline]
    fn nat_error(d: &mut [u8], l3: usize, l4: usize, icmp_end: usize, end: End, addr: u128, port: u16) -> bool {
        let a = addr.to_be_bytes();
        xicmpv6::translate_nat_error(d, l3, l4, icmp_end, end, a, a, port)
    }
    #[cold]
    fn port_unreachable<F: Frame>(_core: &mut PerCore, frame: &mut F, ip: &Ip<u128>, from: u128) -> Verdict {
        let in_mac = EthernetFrame::new_unchecked(frame.data()).dst();
        match xicmpv6::port_unreachable(frame, ip.l3(), in_mac, Ipv6Addr::from(from)) {
            Ok(()) => Verdict::Reply,
            Err(r) => Verdict::Drop(r),
        }
    }
    #[inline]
    fn tunnel<F: Frame>(
        core: &mut PerCore,
        frame: &mut F,
        ip: &Ip<u128>,
        egress: &Interface,
        rip: u128,
        t: Tunnel,
        icmp_error: bool,
    ) -> Result<(), Verdict> {
        let Some((dip, _)) = egress.addr6 else { return Err(Verdict::Drop(DropReason::NoRoute)) };
        let inner = ip.end() - ip.l3();
        if inner + tunnel6::OVERHEAD + t.header_len() > usize::from(egress.mtu) {
            let mtu = tunnel6::inner_mtu(egress.mtu, t).unwrap_or(0);
            return Err(Self::too_big(core, frame, ip, mtu, None, icmp_error));
        }
        let sport = if t.kind == TunnelKind::Gue { gue_source_port(ip.c_hash()) } else { 0 };
        tunnel6::encapsulate(frame, ip.l3(), dip, Ipv6Addr::from(rip), t, sport).map_err(Verdict::Drop)
    }
}
