//! IP fragments, by shallow (virtual) reassembly as VPP's `ip4-sv-reass` and the effect of
//! Linux's nf_defrag give IPVS: nothing is reassembled, but every fragment of a datagram
//! follows the connection its first fragment — the only one with the ports — chose.
//!
//! - The **first fragment** (offset 0) must hold the whole transport header (RFC 1858 §3.1; for
//!   IPv6 the whole header chain, RFC 8200 §4.5 and RFC 7112), else it is dropped as
//!   `fragment_tiny`. It goes through the ordinary path (scheduled, NAT-rewritten with the
//!   datagram's transport checksum patched, which covers every fragment), and its datagram
//!   (source, destination, protocol, identification) is recorded with the flow's ports for
//!   [`FRAGMENT_TIMEOUT_S`] in a bounded per-core table.
//! - A **later fragment** of a recorded datagram goes along that connection: NAT rewrites its
//!   addresses only (it has no transport header), DR and TUN send it as they send the flow.
//!   One that overlaps the first fragment's transport data (RFC 1858 §4's overlapping attack,
//!   RFC 5722) is dropped with every later fragment of its datagram (`fragment_overlap`); for
//!   TCP an offset of 8 bytes is refused outright (RFC 1858 §4: FO = 1).
//! - A later fragment that arrives **before its first** is held by the caller
//!   ([`Verdict::HoldFragment`]), at most [`FRAGMENT_HOLD_MS`], and processed again once a
//!   first fragment was seen ([`super::Pipeline::fragment_generation`]).
//!
//! With several workers, fragments reach a core by their addresses alone (RSS hashes no ports
//! of a fragment), so a datagram's fragments meet on one core; a first fragment of a steered
//! service (NAT, persistence) goes to the owner core like its flow, and a later fragment with no
//! record here follows it there.

use super::*;
use crate::sched::table::FixedMap;

/// Seconds a datagram's record lives after its first fragment (its fragments travel together;
/// Linux keeps an incomplete datagram 30 s, VPP's shallow reassembly 100 ms).
pub const FRAGMENT_TIMEOUT_S: u32 = 2;
/// Milliseconds a caller holds a later fragment waiting for its first.
pub const FRAGMENT_HOLD_MS: u64 = 1000;
/// Datagrams a core follows at once (both families).
pub const FRAGMENT_TABLE: usize = 1024;

/// A fragment's place in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FragInfo {
    /// Offset in bytes.
    pub(super) offset: u16,
    /// More fragments follow.
    pub(super) more: bool,
    /// Identification (IPv4's 16 bits, IPv6's 32).
    pub(super) id: u32,
}

impl FragInfo {
    /// Read from the IPv4 header at `l3` of `d` (checked when it was parsed).
    pub(super) fn of_v4(d: &[u8], l3: usize) -> Self {
        let p = crate::wire::ipv4::Ipv4Packet::new_unchecked(&d[l3..]);
        FragInfo { offset: p.frag_offset(), more: p.more_frags(), id: u32::from(p.ident()) }
    }

    /// Read from the Fragment header of the IPv6 packet at `l3..end` of `d`.
    pub(super) fn of_v6(d: &[u8], l3: usize, end: usize) -> Option<Self> {
        let p = crate::wire::ipv6::Ipv6Packet::new_unchecked(&d[l3..end]);
        let (_, f) = crate::wire::ipv6::walk_fragment(&d[l3..end], p.next_header()).ok()?;
        f.map(|f| FragInfo { offset: f.offset, more: f.more, id: f.id })
    }
}

/// A datagram whose first fragment was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FragRecord {
    src: u128,
    dst: u128,
    id: u32,
    proto: u8,
    v6: bool,
    /// Its flow's ports, as its first fragment carried them.
    sport: u16,
    dport: u16,
    /// Client -> server (or a NAT reply).
    reply: bool,
    /// Where the first fragment's transport data ended (bytes of the datagram's payload).
    first_end: u16,
    /// A fragment overlapped the first: the rest of the datagram is dropped.
    bad: bool,
    expires: u32,
}

/// The datagrams a core follows.
pub(super) type FragTable = FixedMap<FragRecord>;

/// A new fragment table.
pub(super) fn new_table(seed: u64) -> FragTable {
    FixedMap::new(FRAGMENT_TABLE, seed)
}

fn key<K: AddrKey>(src: K, dst: K, proto: u8, id: u32) -> u64 {
    let (s, d): (u128, u128) = (src.into(), dst.into());
    let fold = |a: u128| (a as u64) ^ ((a >> 64) as u64).rotate_left(29);
    fold(s) ^ fold(d).rotate_left(17) ^ (u64::from(id) << 8 | u64::from(proto)) ^ (u64::from(K::BITS) << 56)
}

impl PerCore {
    /// A TCP, UDP or SCTP fragment.
    #[inline(never)]
    pub(super) fn fragment<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
        f: FragInfo,
    ) -> Verdict {
        let k = key(ip.src, ip.dst, ip.proto, f.id);
        if f.offset == 0 {
            return self.first_fragment(snap, now, frame, ip, f, k);
        }
        if ip.proto == protocol::TCP && f.offset == 8 {
            return Verdict::Drop(DropReason::FragmentOverlap); // RFC 1858 §4: FO = 1
        }
        let (s, d): (u128, u128) = (ip.src.into(), ip.dst.into());
        let found = self.frags.get_mut(k).filter(|r| {
            r.src == s
                && r.dst == d
                && r.id == f.id
                && r.proto == ip.proto
                && r.v6 == (K::BITS == 128)
                && r.expires > now
        });
        let Some(r) = found else { return self.unknown_fragment(snap, ip) };
        if r.bad || f.offset < r.first_end {
            r.bad = true;
            return Verdict::Drop(DropReason::FragmentOverlap);
        }
        let (sport, dport, reply) = (r.sport, r.dport, r.reply);
        let t = K::conns(&self.tables);
        let idx = if reply {
            t.lookup_reply(ip.proto, ip.src, sport, ip.dst, dport)
        } else {
            t.lookup_client(ip.proto, ip.src, sport, ip.dst, dport)
        };
        let Some(idx) = idx else { return Verdict::Drop(DropReason::NoConnection) };
        let c = *K::conns(&self.tables).get(idx);
        let dir = if reply { Direction::Output } else { Direction::Input };
        self.account_icmp_error::<K>(idx, dir, ip.len()); // its service's and server's traffic
        self.counters.fragments_followed += 1;
        // No transport header: NAT changes the addresses only (ADDR_ONLY), and the ports the
        // flow's, for the tunnel's entropy.
        let mut part = *ip;
        (part.proto, part.sport, part.dport) = (ADDR_ONLY, sport, dport);
        if reply {
            self.send_to_client(snap, frame, &part, &c, false)
        } else {
            self.send_to_real_server(snap, frame, &part, &c, false)
        }
    }

    /// A first fragment: the ordinary path; its datagram recorded when it went on.
    fn first_fragment<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
        f: FragInfo,
        k: u64,
    ) -> Verdict {
        let v = self.transport(snap, now, frame, ip);
        if !matches!(v, Verdict::Forward(_) | Verdict::Pending { .. }) || !f.more {
            return v; // refused, redirected, or the only fragment
        }
        let t = K::conns(&self.tables);
        let reply = t.lookup_client(ip.proto, ip.src, ip.sport, ip.dst, ip.dport).is_none()
            && t.lookup_reply(ip.proto, ip.src, ip.sport, ip.dst, ip.dport).is_some();
        let r = FragRecord {
            src: ip.src.into(),
            dst: ip.dst.into(),
            id: f.id,
            proto: ip.proto,
            v6: K::BITS == 128,
            sport: ip.sport,
            dport: ip.dport,
            reply,
            first_end: (ip.end() - ip.l4()) as u16,
            bad: false,
            expires: now + FRAGMENT_TIMEOUT_S,
        };
        if !self.frags.insert_evicting(k, r, 8, |o| o.expires <= now) {
            self.counters.dropped[DropReason::FragmentTableFull as usize] += 1;
        }
        self.frag_gen = self.frag_gen.wrapping_add(1);
        v
    }

    /// A later fragment of no datagram recorded here: to the core that owns its flow if that
    /// is another (its first fragment went there), else held until its first comes.
    #[cold]
    fn unknown_fragment<K: IpPath>(&mut self, snap: &Snapshot, ip: &Ip<K>) -> Verdict {
        if self.cores > 1 {
            // To a VIP: its client is the source; else a NAT reply's client is the destination.
            let client = if snap.family::<K>().is_vip(ip.dst) { ip.src } else { ip.dst };
            let o = snap.owner_of(client, self.cores);
            if o != self.core_id {
                return Verdict::Redirect(o);
            }
        }
        Verdict::HoldFragment
    }
}

use crate::xmit::nat::ADDR_ONLY;
