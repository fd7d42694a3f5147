//! The per-core pipeline: one call per packet, `process(now, port, frame) -> Verdict`.
//!
//! For each frame, in order:
//! 1. Ethernet: drop what is not for this port's MAC (promiscuous ports see more); ARP and
//!    IPv4 go on, anything else is dropped.
//! 2. ARP requests for the director's addresses and for every VIP are answered in place (for
//!    DR the VIP must be answered by the director only; real servers suppress it).
//! 3. IPv4 is validated (lengths, IHL, header checksum); fragments are dropped (rvs does not
//!    reassemble). Ethernet padding is trimmed.
//! 4. TCP/UDP: a packet of a known connection is forwarded by its real server's method
//!    (client side: NAT/TUN/DR; reply side: NAT only). A packet to a VIP that starts a
//!    connection (any UDP datagram, a TCP SYN) is scheduled, recorded and forwarded. A SYN on
//!    a TIME_WAIT connection reschedules it (IPVS's connection reuse).
//! 5. ICMP: echo requests to the director or a VIP are answered; errors that quote a packet of
//!    a connection follow that connection (translated for NAT).
//! 6. Anything else for the director goes to the kernel; the rest is dropped as not ours, or
//!    handed to the kernel where the snapshot says so.
//!
//! The pipeline owns all per-core state (connections, scheduler replicas, loads, persistence
//! templates, counters) and reads configuration from an immutable [`Snapshot`] swapped only
//! between bursts by [`Pipeline::apply`]; weights are part of it (one configuration channel:
//! a weight change is a new snapshot). After construction it does not allocate while
//! processing packets.
//!
//! Persistence (`-p SECONDS`, `-M NETMASK`) follows IPVS's templates: the first connection of a
//! client network to a persistent service creates a template (service, client network) -> real
//! server. While the template lives, new connections from that network go to its server, even
//! one quiesced since (IPVS's default `expire_quiescent_template = 0`); a server that is gone
//! invalidates it. A template lives while connections it placed are alive and then for the
//! persistence timeout after the last of them ends. Templates are per core: the daemon steers
//! all connections of a client network for a persistent service to one core.

use crate::conn::table::{F_INACTIVE, F_NO_OUTPUT, F_PERSIST, NIL};
use crate::conn::{next_tcp_state, Conn, ConnState, ConnTable, Direction};
use crate::frame::Frame;
use crate::neigh::{Learned, NeighbourTable};
use crate::sched::table::FixedMap;
use crate::sched::{new_scheduler, Flow, Load, Scheduler, View};
use crate::service::{prefix_mask, Forward, Service, MAX_DESTS, MAX_SERVICES};
use crate::snapshot::Snapshot;
use crate::verdict::{Counters, DropReason, Verdict};
use crate::wire::arp::{self, ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::icmp::{self, kind};
use crate::wire::ipv4::{protocol, Ipv4Packet};
use crate::wire::tcp::flags;
use crate::wire::{be16, get4, Mac, WireError};
use crate::xmit::nat::{rewrite, End};
use crate::xmit::{dec_ttl, route, tunnel};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The millisecond a worker's pipeline clock reads when the worker starts. Not 0: connection
/// expiry seconds then never sit at the wheel's origin, and a test that starts a pipeline at
/// this time sees what rvsd sees.
pub const CLOCK_EPOCH_MS: u64 = 1_000_000;

/// Sizing of a pipeline.
#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// Connections this core can hold.
    pub conn_capacity: usize,
    /// Seed of the connection hash (random per core in the daemon).
    pub hash_seed: u64,
    /// Most connections expired per [`Pipeline::poll_timers`] call, so a mass expiry never
    /// stalls a burst.
    pub expire_budget: usize,
    /// Persistence templates this core can hold.
    pub template_capacity: usize,
    /// This worker's index among `cores`.
    pub core: u16,
    /// Workers in the dataplane: with more than one, connections that need both directions
    /// (NAT) or persistence are steered to an owner core ([`Snapshot::owner`]).
    pub cores: u16,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            conn_capacity: 1 << 16,
            hash_seed: 0x5eed,
            expire_budget: 1024,
            template_capacity: 16384,
            core: 0,
            cores: 1,
        }
    }
}

/// ARP senders one burst may report before the rest are ignored (they come again).
pub const LEARN_MAX: usize = 64;

/// A persistence template: the real server a client network is pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistTemplate {
    /// Real server id.
    pub dest: u16,
    /// Connections placed by it that are still alive.
    pub n_control: u32,
    /// Second after which it may go, once `n_control` is 0.
    pub expires: u32,
}

#[inline]
fn template_key(svc: &Service, caddr: u32) -> u64 {
    u64::from(svc.id) << 32 | u64::from(caddr & prefix_mask(svc.persistence_prefix))
}

/// Traffic counters of a service or real server, as `ipvsadm -L --stats` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets client -> server.
    pub pkts_in: u64,
    /// Packets server -> client (NAT).
    pub pkts_out: u64,
    /// Bytes client -> server (IP length).
    pub bytes_in: u64,
    /// Bytes server -> client.
    pub bytes_out: u64,
}

impl Stats {
    /// Adds another core's figures.
    pub fn add(&mut self, o: &Stats) {
        self.conns += o.conns;
        self.pkts_in += o.pkts_in;
        self.pkts_out += o.pkts_out;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
    }
}

/// Per-core mutable state, apart from the snapshot (so both can be borrowed at once).
#[derive(Debug)]
struct PerCore {
    conns: ConnTable,
    counters: Counters,
    loads: Vec<Load>,
    dest_stats: Vec<Stats>,
    svc_stats: Vec<Stats>,
    scheds: Vec<Option<Box<dyn Scheduler>>>,
    templates: FixedMap<PersistTemplate>,
    /// Weights by real-server id, from the snapshot.
    weights: Vec<u32>,
    neigh: Arc<NeighbourTable>,
    learned: [Learned; LEARN_MAX],
    learned_len: usize,
    core_id: u16,
    cores: u16,
    ident: u16,
    expire_budget: usize,
}

/// One worker's dataplane.
#[derive(Debug)]
pub struct Pipeline {
    snap: Arc<Snapshot>,
    core: PerCore,
}

#[inline]
fn secs(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

impl Pipeline {
    /// A pipeline on `snap` with a neighbour table of its own (nothing learned), its clock
    /// starting at `now_ms`.
    pub fn new(cfg: PipelineConfig, snap: Arc<Snapshot>, now_ms: u64) -> Self {
        Self::with_neighbours(cfg, snap, Arc::default(), now_ms)
    }

    /// A pipeline on `snap` reading learned neighbours from the shared table `neighbours`.
    pub fn with_neighbours(
        cfg: PipelineConfig,
        snap: Arc<Snapshot>,
        neighbours: Arc<NeighbourTable>,
        now_ms: u64,
    ) -> Self {
        let mut core = PerCore {
            conns: ConnTable::new(cfg.conn_capacity, cfg.hash_seed, secs(now_ms)),
            counters: Counters::default(),
            loads: vec![Load::default(); MAX_DESTS],
            dest_stats: vec![Stats::default(); MAX_DESTS],
            svc_stats: vec![Stats::default(); MAX_SERVICES],
            scheds: (0..MAX_SERVICES).map(|_| None).collect(),
            templates: FixedMap::new(cfg.template_capacity, cfg.hash_seed ^ 0x7e3a),
            weights: vec![0; MAX_DESTS],
            neigh: neighbours,
            learned: [Learned { ip: Ipv4Addr::UNSPECIFIED, mac: Mac::ZERO, port: 0 }; LEARN_MAX],
            learned_len: 0,
            core_id: cfg.core,
            cores: cfg.cores.max(1),
            ident: (cfg.hash_seed as u16) | 1,
            expire_budget: cfg.expire_budget.max(1),
        };
        core.rebuild_schedulers(&snap, None);
        Pipeline { snap, core }
    }

    /// Switches to a new configuration (control path, between bursts). Connections keep their
    /// real server; schedulers of services whose scheduler name is unchanged are kept and
    /// rebuilt with the snapshot's weights; templates of services that are gone or changed
    /// persistence are dropped.
    pub fn apply(&mut self, snap: Arc<Snapshot>) {
        let old = std::mem::replace(&mut self.snap, snap);
        self.core.rebuild_schedulers(&self.snap, Some(&old));
    }

    /// The configuration in force.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    /// ARP senders seen since the last call (for the control plane to learn), then forgets them.
    pub fn take_learned(&mut self) -> &[Learned] {
        let n = std::mem::take(&mut self.core.learned_len);
        &self.core.learned[..n]
    }

    /// The weights this core schedules with, by real-server id.
    pub fn weights(&self) -> &[u32] {
        &self.core.weights
    }

    /// Processes one frame that arrived on `port` at `now_ms`; the frame is rewritten for the
    /// verdict (transmit it as it is now, or free it).
    #[inline]
    pub fn process<F: Frame>(&mut self, now_ms: u64, port: u16, frame: &mut F) -> Verdict {
        let v = self.core.handle(&self.snap, secs(now_ms), port, frame);
        self.core.counters.count(v);
        v
    }

    /// Looks ahead over a burst before it is processed, as VPP and DPVS do: asks `prefetch`
    /// to fetch the connection-index buckets of every packet, then reads the buckets and asks
    /// for the entries they lead to. On a table larger than the caches each packet costs a
    /// couple of dependent misses (bucket, then entry); this way the misses of a whole burst
    /// overlap instead of coming one packet at a time. `prefetch` is the platform's cache
    /// prefetch (the daemon's issues the CPU instruction; this crate has no `unsafe`), or a
    /// no-op. Frames it cannot parse are skipped; it changes nothing.
    pub fn lookahead<'f, F: Frame + 'f>(&self, frames: impl Iterator<Item = &'f F>, prefetch: impl Fn(*const u8)) {
        let table = &self.core.conns;
        let mut buckets: [&u32; LOOKAHEAD] = [&NIL; LOOKAHEAD];
        let mut n = 0;
        for f in frames.take(LOOKAHEAD) {
            if let Some((proto, src, sport, dst, dport)) = flow_tuple(f.data()) {
                // `process` looks a packet up client-side first, then (not found) reply-side: a
                // packet to a VIP is found client-side; any other, if at all, reply-side.
                let client = table.bucket_ref(true, proto, src, sport, dst, dport);
                prefetch(std::ptr::from_ref(client).cast());
                buckets[n] = if self.snap.is_vip(Ipv4Addr::from(dst)) {
                    client
                } else {
                    let reply = table.bucket_ref(false, proto, src, sport, dst, dport);
                    prefetch(std::ptr::from_ref(reply).cast());
                    reply
                };
                n += 1;
            }
        }
        for b in &buckets[..n] {
            if let Some(e) = table.entry_ref(**b) {
                prefetch(std::ptr::from_ref(e).cast());
            }
        }
    }

    /// Burst-boundary work: expires connections, templates and scheduler cache entries due by
    /// `now_ms` (each within the configured budget). Returns how many connections expired.
    pub fn poll_timers(&mut self, now_ms: u64) -> usize {
        let now = secs(now_ms);
        let snap = &self.snap;
        let PerCore { conns, loads, counters, expire_budget, scheds, weights, templates, .. } = &mut self.core;
        let n = conns.expire(now, *expire_budget, |c| {
            PerCore::release_load(snap, scheds, weights, loads, c);
            if c.flags & F_PERSIST != 0 {
                PerCore::unpin(snap, templates, c, now);
            }
        });
        counters.expired_conns += n as u64;
        let budget = *expire_budget;
        templates.sweep(budget, |t| t.n_control == 0 && t.expires <= now);
        for s in scheds.iter_mut().flatten() {
            s.expire(now, budget / 8 + 1);
        }
        n
    }

    /// Packet counters of this core.
    pub fn counters(&self) -> &Counters {
        &self.core.counters
    }

    /// Active/inactive connection counts per real server id on this core.
    pub fn loads(&self) -> &[Load] {
        &self.core.loads
    }

    /// Traffic per real server id on this core.
    pub fn dest_stats(&self) -> &[Stats] {
        &self.core.dest_stats
    }

    /// Traffic per service id on this core.
    pub fn service_stats(&self) -> &[Stats] {
        &self.core.svc_stats
    }

    /// This core's persistence templates: ((service id << 32) | client network, template).
    pub fn templates(&self) -> impl Iterator<Item = (u64, &PersistTemplate)> {
        self.core.templates.iter()
    }

    /// This core's connections (listings; control path).
    pub fn connections(&self) -> &ConnTable {
        &self.core.conns
    }
}

/// Packets one [`Pipeline::lookahead`] covers (a burst).
pub const LOOKAHEAD: usize = 32;

/// (protocol, source, source port, destination, destination port) of a TCP or UDP packet in an
/// Ethernet frame (one VLAN tag allowed), without validation beyond bounds: a look-ahead hint.
#[inline]
fn flow_tuple(d: &[u8]) -> Option<(u8, u32, u16, u32, u16)> {
    if d.len() < 14 + 20 + 4 {
        return None;
    }
    let (l3, et) = if be16(d, 12) == 0x8100 { (18, be16(d, 16)) } else { (14, be16(d, 12)) };
    let ihl = usize::from(d[l3] & 0x0f) * 4;
    let l4 = l3 + ihl;
    if et != 0x0800 || ihl < 20 || d.len() < l4 + 4 {
        return None;
    }
    let proto = d[l3 + 9];
    if proto != protocol::TCP && proto != protocol::UDP {
        return None;
    }
    let (src, dst) = (u32::from_be_bytes(get4(d, l3 + 12)), u32::from_be_bytes(get4(d, l3 + 16)));
    Some((proto, src, be16(d, l4), dst, be16(d, l4 + 2)))
}

/// Where the headers of an IPv4 packet are.
#[derive(Debug, Clone, Copy)]
struct Ip {
    l3: usize,
    l4: usize,
    /// End of the IP packet (l3 + total length).
    end: usize,
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

impl Ip {
    fn len(&self) -> u64 {
        (self.end - self.l3) as u64
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
    /// Rebuilds every service's scheduler replica from `snap` and the current weights (new
    /// instances where the scheduler changed); with `old`, also drops templates of services
    /// that are gone or whose persistence changed.
    fn rebuild_schedulers(&mut self, snap: &Snapshot, old: Option<&Snapshot>) {
        self.weights.fill(0);
        for d in snap.services().iter().flat_map(|s| &s.dests) {
            self.weights[usize::from(d.id)] = d.weight;
        }
        let mut keep = vec![false; MAX_SERVICES];
        for s in snap.services() {
            let slot = &mut self.scheds[usize::from(s.id)];
            if slot.as_ref().is_none_or(|x| x.name() != s.scheduler) {
                *slot = new_scheduler(&s.scheduler);
            }
            if let Some(x) = slot.as_mut() {
                x.rebuild(&View { dests: &s.dests, weights: &self.weights, loads: &self.loads });
            }
            keep[usize::from(s.id)] = true;
        }
        for (slot, k) in self.scheds.iter_mut().zip(keep) {
            if !k {
                *slot = None;
            }
        }
        if let Some(old) = old {
            let stale: Vec<u64> = self
                .templates
                .iter()
                .filter(|(k, _)| {
                    let id = (k >> 32) as u16;
                    match (snap.service_by_id(id), old.service_by_id(id)) {
                        (Some(n), Some(o)) => {
                            n.persistence == 0 || n.persistence_prefix != o.persistence_prefix || n.vip != o.vip
                        }
                        _ => true,
                    }
                })
                .map(|(k, _)| k)
                .collect();
            for k in stale {
                self.templates.remove(k);
            }
        }
    }

    /// Tells the scheduler of real server `dest`'s service that its load changed.
    fn notify(snap: &Snapshot, scheds: &mut [Option<Box<dyn Scheduler>>], weights: &[u32], loads: &[Load], dest: u16) {
        if let Some((svc, i)) = snap.dest_loc(dest) {
            if let Some(s) = scheds[usize::from(svc.id)].as_mut() {
                s.load_changed(&View { dests: &svc.dests, weights, loads }, i);
            }
        }
    }

    /// Takes an ending connection off its real server's counts.
    fn release_load(
        snap: &Snapshot,
        scheds: &mut [Option<Box<dyn Scheduler>>],
        weights: &[u32],
        loads: &mut [Load],
        c: &Conn,
    ) {
        let l = &mut loads[usize::from(c.dest)];
        if c.flags & F_INACTIVE != 0 {
            l.inactive = l.inactive.saturating_sub(1);
        } else {
            l.active = l.active.saturating_sub(1);
        }
        Self::notify(snap, scheds, weights, loads, c.dest);
    }

    /// A connection placed by a template ended: the template counts one fewer, and lives the
    /// persistence timeout after the last one.
    fn unpin(snap: &Snapshot, templates: &mut FixedMap<PersistTemplate>, c: &Conn, now: u32) {
        let Some(svc) = snap.service_by_id(c.svc) else { return };
        if let Some(t) = templates.get_mut(template_key(svc, c.caddr)) {
            t.n_control = t.n_control.saturating_sub(1);
            if t.n_control == 0 {
                t.expires = t.expires.max(now.saturating_add(svc.persistence));
            }
        }
    }

    /// The real server for a new connection: the persistence template's, or the scheduler's
    /// (creating a template for a persistent service). Returns the index in `svc.dests` and
    /// whether the connection is pinned by a template.
    fn choose(&mut self, svc: &Service, flow: &Flow, now: u32) -> Result<(usize, bool), DropReason> {
        let caddr = u32::from(flow.src);
        if svc.persistence > 0 {
            let key = template_key(svc, caddr);
            if let Some(t) = self.templates.get_mut(key) {
                let live = t.n_control > 0 || t.expires > now;
                let pos = svc.dests.iter().position(|d| d.id == t.dest);
                match (live, pos) {
                    (true, Some(i)) => {
                        t.n_control += 1;
                        t.expires = t.expires.max(now.saturating_add(svc.persistence));
                        return Ok((i, true));
                    }
                    _ => {
                        self.templates.remove(key);
                    }
                }
            }
        }
        let sched = self.scheds[usize::from(svc.id)].as_mut().ok_or(DropReason::NoDest)?;
        let view = View { dests: &svc.dests, weights: &self.weights, loads: &self.loads };
        let i = sched.pick(&view, flow, now).ok_or(DropReason::NoDest)?;
        let mut pinned = false;
        if svc.persistence > 0 {
            let t =
                PersistTemplate { dest: svc.dests[i].id, n_control: 1, expires: now.saturating_add(svc.persistence) };
            pinned = self.templates.insert(template_key(svc, caddr), t);
            if !pinned {
                self.counters.template_full += 1;
            }
        }
        Ok((i, pinned))
    }

    fn handle<F: Frame>(&mut self, snap: &Snapshot, now: u32, port: u16, frame: &mut F) -> Verdict {
        let Some(itf) = snap.interfaces().get(usize::from(port)) else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        let eth = EthernetFrame::new_unchecked(frame.data());
        if eth.check_len().is_err() {
            return Verdict::Drop(DropReason::EthernetTruncated);
        }
        let dmac = eth.dst();
        if !dmac.is_multicast() && dmac != itf.mac {
            return Verdict::Drop(DropReason::OtherMac);
        }
        let l2 = eth.header_len();
        match eth.ethertype() {
            EtherType::ARP => self.arp(snap, port, frame, l2),
            EtherType::IPV4 => self.ipv4(snap, now, port, frame, l2),
            _ => Verdict::Drop(DropReason::UnsupportedEthertype),
        }
    }

    fn arp<F: Frame>(&mut self, snap: &Snapshot, port: u16, frame: &mut F, l2: usize) -> Verdict {
        let Ok(repr) = ArpRepr::parse(&ArpPacket::new_unchecked(&frame.data()[l2..])) else {
            return Verdict::Drop(DropReason::ArpMalformed);
        };
        let itf = &snap.interfaces()[usize::from(port)];
        if itf.contains(repr.sender_ip) && !repr.sender_ip.is_unspecified() && self.learned_len < LEARN_MAX {
            self.learned[self.learned_len] = Learned { ip: repr.sender_ip, mac: repr.sender_mac, port };
            self.learned_len += 1;
        }
        let tip = repr.target_ip;
        if repr.operation != arp::OP_REQUEST || !(snap.is_vip(tip) || snap.local_port(tip).is_some()) {
            return Verdict::ToKernel;
        }
        let ours = snap.interfaces()[usize::from(port)].mac;
        let d = frame.data_mut();
        ArpRepr {
            operation: arp::OP_REPLY,
            sender_mac: ours,
            sender_ip: tip,
            target_mac: repr.sender_mac,
            target_ip: repr.sender_ip,
        }
        .emit(&mut d[l2..]);
        route::set_macs(d, ours, repr.sender_mac);
        Verdict::Reply
    }

    fn not_ours(snap: &Snapshot, dst: Ipv4Addr) -> Verdict {
        if snap.local_port(dst).is_some() || snap.kernel_exception() {
            Verdict::ToKernel
        } else {
            Verdict::Drop(DropReason::NotForUs)
        }
    }

    fn ipv4<F: Frame>(&mut self, snap: &Snapshot, now: u32, port: u16, frame: &mut F, l2: usize) -> Verdict {
        let ip = {
            let p = Ipv4Packet::new_unchecked(&frame.data()[l2..]);
            if let Err(e) = p.check_len() {
                return Verdict::Drop(ip_error(e));
            }
            if !p.verify_checksum() {
                return Verdict::Drop(DropReason::Ipv4BadChecksum);
            }
            if p.is_fragment() {
                return Verdict::Drop(DropReason::Fragment);
            }
            Ip {
                l3: l2,
                l4: l2 + p.header_len(),
                end: l2 + usize::from(p.total_len()),
                proto: p.protocol(),
                src: p.src(),
                dst: p.dst(),
            }
        };
        if frame.len() > ip.end {
            frame.truncate(ip.end); // Ethernet padding
        }
        match ip.proto {
            protocol::TCP | protocol::UDP => self.transport(snap, now, frame, &ip),
            protocol::ICMP => self.icmp(snap, port, frame, &ip),
            _ if snap.is_vip(ip.dst) => Verdict::Drop(DropReason::UnsupportedProtocol),
            _ => Self::not_ours(snap, ip.dst),
        }
    }

    fn transport<F: Frame>(&mut self, snap: &Snapshot, now: u32, frame: &mut F, ip: &Ip) -> Verdict {
        let d = frame.data();
        let seg = &d[ip.l4..ip.end];
        let tcp_flags = if ip.proto == protocol::TCP {
            if seg.len() < 20 {
                return Verdict::Drop(DropReason::L4Truncated);
            }
            let off = usize::from(seg[12] >> 4) * 4;
            if off < 20 || off > seg.len() {
                return Verdict::Drop(DropReason::TcpBadHeaderLen);
            }
            seg[13]
        } else {
            if seg.len() < 8 {
                return Verdict::Drop(DropReason::L4Truncated);
            }
            let ulen = usize::from(be16(seg, 4));
            if ulen < 8 || ulen > seg.len() {
                return Verdict::Drop(DropReason::UdpBadLength);
            }
            0
        };
        let sport = be16(seg, 0);
        let dport = be16(seg, 2);
        let (src, dst) = (u32::from(ip.src), u32::from(ip.dst));

        if let Some(idx) = self.conns.lookup_client(ip.proto, src, sport, dst, dport) {
            if ip.proto == protocol::TCP
                && tcp_flags & (flags::SYN | flags::ACK | flags::FIN | flags::RST) == flags::SYN
                && self.conns.get(idx).state == ConnState::TimeWait
            {
                if let Err(r) = self.reschedule(snap, idx, ip, sport, dport, now) {
                    return Verdict::Drop(r);
                }
            }
            return self.inbound(snap, now, frame, ip, idx, tcp_flags);
        }
        if let Some(idx) = self.conns.lookup_reply(ip.proto, src, sport, dst, dport) {
            return self.outbound(snap, now, frame, ip, idx, tcp_flags);
        }
        let svc = snap.service(ip.proto, ip.dst, dport);
        if self.cores > 1 {
            let client = match svc {
                Some(s) if snap.steered(s.id) => Some(ip.src),
                None if snap.is_nat_real(ip.proto, ip.src, sport) => Some(ip.dst),
                _ => None,
            };
            if let Some(o) = client.map(|c| snap.owner(c, self.cores)).filter(|&o| o != self.core_id) {
                return Verdict::Redirect(o);
            }
        }
        if let Some(svc) = svc {
            // IPVS's `tcp_conn_schedule`: a SYN without RST starts a connection (SYN|ACK too,
            // which IPVS allows for active FTP); anything else without an entry is dropped.
            if ip.proto == protocol::TCP && tcp_flags & (flags::SYN | flags::RST) != flags::SYN {
                return Verdict::Drop(DropReason::NoConnection);
            }
            let idx = match self.schedule(snap, svc, ip, sport, dport, now) {
                Ok(i) => i,
                Err(r) => return Verdict::Drop(r),
            };
            return self.inbound(snap, now, frame, ip, idx, tcp_flags);
        }
        Self::not_ours(snap, ip.dst)
    }

    /// Picks a real server for a new connection and records it.
    fn schedule(
        &mut self,
        snap: &Snapshot,
        svc: &Service,
        ip: &Ip,
        sport: u16,
        dport: u16,
        now: u32,
    ) -> Result<u32, DropReason> {
        let flow = Flow { proto: ip.proto, src: ip.src, sport, dst: ip.dst, dport };
        let (i, pinned) = self.choose(svc, &flow, now)?;
        let dest = &svc.dests[i];
        let rport = if dest.forward == Forward::Nat { dest.port } else { dport };
        let mut c = Conn::new(
            ip.proto,
            u32::from(ip.src),
            sport,
            u32::from(ip.dst),
            dport,
            u32::from(dest.addr),
            rport,
            dest.forward,
            svc.id,
            dest.id,
        );
        c.state = if ip.proto == protocol::UDP { ConnState::Udp } else { ConnState::None };
        c.expires = now + 2;
        if pinned {
            c.flags |= F_PERSIST;
        }
        let idx = match self.conns.insert(c) {
            Ok(idx) => idx,
            Err(_) => {
                if pinned {
                    Self::unpin(snap, &mut self.templates, &c, now);
                }
                return Err(DropReason::TableFull);
            }
        };
        self.add_load(snap, dest.id, svc.id);
        Ok(idx)
    }

    /// Counts a new connection on real server `dest` (inactive until established).
    fn add_load(&mut self, snap: &Snapshot, dest: u16, svc: u16) {
        self.loads[usize::from(dest)].inactive += 1;
        self.dest_stats[usize::from(dest)].conns += 1;
        self.svc_stats[usize::from(svc)].conns += 1;
        self.counters.new_conns += 1;
        Self::notify(snap, &mut self.scheds, &self.weights, &self.loads, dest);
    }

    /// A SYN on a TIME_WAIT connection: pick a real server afresh for the same client tuple.
    fn reschedule(
        &mut self,
        snap: &Snapshot,
        idx: u32,
        ip: &Ip,
        sport: u16,
        dport: u16,
        now: u32,
    ) -> Result<(), DropReason> {
        let old = *self.conns.get(idx);
        let Some(svc) = snap.service(ip.proto, ip.dst, dport) else {
            return Ok(()); // service gone: the old connection keeps its server
        };
        let flow = Flow { proto: ip.proto, src: ip.src, sport, dst: ip.dst, dport };
        let (i, pinned) = self.choose(svc, &flow, now)?;
        let dest = &svc.dests[i];
        Self::release_load(snap, &mut self.scheds, &self.weights, &mut self.loads, &old);
        if old.flags & F_PERSIST != 0 {
            Self::unpin(snap, &mut self.templates, &old, now);
        }
        let rport = if dest.forward == Forward::Nat { dest.port } else { dport };
        self.conns.rebind(idx, u32::from(dest.addr), rport, dest.forward, dest.id);
        let c = self.conns.get_mut(idx);
        c.svc = svc.id;
        if pinned {
            c.flags |= F_PERSIST;
        }
        self.add_load(snap, dest.id, svc.id);
        Ok(())
    }

    /// Moves a connection to `new` state, keeping active/inactive counts and its timer right.
    fn set_state(&mut self, snap: &Snapshot, idx: u32, new: ConnState, now: u32) {
        let c = self.conns.get_mut(idx);
        if c.state != new {
            c.state = new;
            let was_active = c.flags & F_INACTIVE == 0;
            let is_active = new == ConnState::Established;
            let l = &mut self.loads[usize::from(c.dest)];
            if was_active && !is_active {
                c.flags |= F_INACTIVE;
                l.active = l.active.saturating_sub(1);
                l.inactive += 1;
            } else if !was_active && is_active {
                c.flags &= !F_INACTIVE;
                l.inactive = l.inactive.saturating_sub(1);
                l.active += 1;
            }
            if was_active != is_active {
                let dest = c.dest;
                Self::notify(snap, &mut self.scheds, &self.weights, &self.loads, dest);
            }
        }
        let expires = now + new.timeout(&snap.timeouts());
        self.conns.set_expires(idx, expires);
    }

    /// Client -> server on connection `idx`.
    fn inbound<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip,
        idx: u32,
        tcp_flags: u8,
    ) -> Verdict {
        let c = *self.conns.get(idx);
        let new = if ip.proto == protocol::TCP {
            let dir = if c.flags & F_NO_OUTPUT != 0 { Direction::InputOnly } else { Direction::Input };
            next_tcp_state(c.state, dir, tcp_flags)
        } else {
            ConnState::Udp
        };
        self.set_state(snap, idx, new, now);
        self.account_in(idx, ip.len());
        self.send_to_real_server(snap, frame, ip, &c, false)
    }

    fn account_in(&mut self, idx: u32, bytes: u64) {
        let c = self.conns.get_mut(idx);
        c.pkts_in = c.pkts_in.wrapping_add(1);
        c.bytes_in += bytes;
        let (d, s) = (usize::from(c.dest), usize::from(c.svc));
        for st in [&mut self.dest_stats[d], &mut self.svc_stats[s]] {
            st.pkts_in += 1;
            st.bytes_in += bytes;
        }
    }

    fn account_out(&mut self, idx: u32, bytes: u64) {
        let c = self.conns.get_mut(idx);
        c.pkts_out = c.pkts_out.wrapping_add(1);
        c.bytes_out += bytes;
        let (d, s) = (usize::from(c.dest), usize::from(c.svc));
        for st in [&mut self.dest_stats[d], &mut self.svc_stats[s]] {
            st.pkts_out += 1;
            st.bytes_out += bytes;
        }
    }

    /// Sends a client-side packet (or an ICMP error about the flow, `icmp_error`) to the
    /// connection's real server by its forwarding method.
    fn send_to_real_server<F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip,
        c: &Conn,
        icmp_error: bool,
    ) -> Verdict {
        let rip = Ipv4Addr::from(c.daddr);
        // The snapshot's precomputed hop; a real server no longer in it (draining) is routed.
        let (rt, known) = match snap.real_server_route(c.dest, c.daddr) {
            Some(h) => (h.route, h.mac.or_else(|| self.neigh.lookup(h.route.next_hop))),
            None => {
                let Some(rt) = snap.route(rip) else { return Verdict::Drop(DropReason::NoRoute) };
                (rt, self.mac_for(snap, rt.next_hop))
            }
        };
        let mac = known.unwrap_or(Mac::ZERO);
        let egress = &snap.interfaces()[usize::from(rt.port)];
        match c.forward {
            Forward::Nat => {
                let d = frame.data_mut();
                if !dec_ttl(d, ip.l3) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                if icmp_error {
                    crate::xmit::icmp::translate_nat_error(
                        d,
                        ip.l3,
                        ip.l4,
                        ip.end,
                        End::Dst,
                        rip.octets(),
                        rip.octets(),
                        c.dport,
                    );
                } else {
                    rewrite(d, ip.l3, ip.l4, ip.proto, End::Dst, rip.octets(), c.dport, true);
                }
                route::set_macs(d, egress.mac, mac);
            }
            Forward::DirectRoute => {
                if rt.next_hop != rip {
                    return Verdict::Drop(DropReason::NoRoute); // DR needs the real server on-link
                }
                route::set_macs(frame.data_mut(), egress.mac, mac);
            }
            Forward::Tunnel => {
                let inner = ip.end - ip.l3;
                if inner + tunnel::OVERHEAD > usize::from(egress.mtu) {
                    let df = frame.data()[ip.l3 + 6] & 0x40 != 0;
                    let reply_len = ip.l3 + 28 + (ip.l4 - ip.l3) + 8;
                    if !df || icmp_error || frame.len() < reply_len {
                        return Verdict::Drop(DropReason::TooBig);
                    }
                    self.ident = self.ident.wrapping_add(1);
                    let in_mac = EthernetFrame::new_unchecked(frame.data()).dst();
                    let mtu = egress.mtu - tunnel::OVERHEAD as u16;
                    tunnel::frag_needed(frame, ip.l3, in_mac, mtu, self.ident);
                    return Verdict::Reply;
                }
                self.ident = self.ident.wrapping_add(1);
                if let Err(r) = tunnel::encapsulate(frame, ip.l3, egress.addr, rip, self.ident) {
                    return Verdict::Drop(r);
                }
                route::set_macs(frame.data_mut(), egress.mac, mac);
            }
        }
        Self::ready_or_pending(known, rt.port, rt.next_hop)
    }

    /// The MAC of an on-link next hop: a static entry of the configuration, else a learned one.
    #[inline]
    fn mac_for(&self, snap: &Snapshot, next_hop: Ipv4Addr) -> Option<Mac> {
        snap.neighbour(next_hop).or_else(|| self.neigh.lookup(next_hop))
    }

    /// Forward if the next hop's MAC was known (and written), else hold for resolution.
    #[inline]
    fn ready_or_pending(mac: Option<Mac>, port: u16, next_hop: Ipv4Addr) -> Verdict {
        match mac {
            Some(_) => Verdict::Forward(port),
            None => Verdict::Pending { port, next_hop },
        }
    }

    /// Server -> client on NAT connection `idx`.
    fn outbound<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip,
        idx: u32,
        tcp_flags: u8,
    ) -> Verdict {
        let c = {
            let c = self.conns.get_mut(idx);
            c.flags &= !F_NO_OUTPUT;
            *c
        };
        let new = if ip.proto == protocol::TCP {
            next_tcp_state(c.state, Direction::Output, tcp_flags)
        } else {
            ConnState::Udp
        };
        self.set_state(snap, idx, new, now);
        self.account_out(idx, ip.len());
        self.send_to_client(snap, frame, ip, &c, false)
    }

    /// Sends a NAT reply (or an ICMP error from the real-server side) to the client, with the
    /// VIP:vport as its source.
    fn send_to_client<F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip,
        c: &Conn,
        icmp_error: bool,
    ) -> Verdict {
        let cip = Ipv4Addr::from(c.caddr);
        let vip = Ipv4Addr::from(c.vaddr).octets();
        let Some((rt, gw_mac)) = snap.route_with_mac(cip) else { return Verdict::Drop(DropReason::NoRoute) };
        let known = gw_mac.or_else(|| self.mac_for(snap, rt.next_hop));
        let egress = &snap.interfaces()[usize::from(rt.port)];
        let d = frame.data_mut();
        if !dec_ttl(d, ip.l3) {
            return Verdict::Drop(DropReason::TtlExceeded);
        }
        if icmp_error {
            crate::xmit::icmp::translate_nat_error(d, ip.l3, ip.l4, ip.end, End::Src, vip, vip, c.vport);
        } else {
            rewrite(d, ip.l3, ip.l4, ip.proto, End::Src, vip, c.vport, true);
        }
        route::set_macs(d, egress.mac, known.unwrap_or(Mac::ZERO));
        Self::ready_or_pending(known, rt.port, rt.next_hop)
    }

    fn icmp<F: Frame>(&mut self, snap: &Snapshot, port: u16, frame: &mut F, ip: &Ip) -> Verdict {
        let msg = &frame.data()[ip.l4..ip.end];
        if msg.len() < icmp::HEADER_LEN {
            return Verdict::Drop(DropReason::IcmpTruncated);
        }
        let t = msg[0];
        let for_us = snap.is_vip(ip.dst) || snap.local_port(ip.dst).is_some();
        if t == kind::ECHO_REQUEST && for_us {
            let ours = snap.interfaces()[usize::from(port)].mac;
            crate::xmit::icmp::echo_reply(frame.data_mut(), ip.l3, ip.l4, ours);
            return Verdict::Reply;
        }
        if !icmp::is_error(t) {
            return Self::not_ours(snap, ip.dst);
        }
        // The quoted packet: its IP header and at least 8 bytes of transport header.
        let q = &msg[icmp::HEADER_LEN..];
        if q.len() < 20 || q[0] >> 4 != 4 {
            return Verdict::Drop(DropReason::IcmpTruncated);
        }
        let qhl = usize::from(q[0] & 0x0f) * 4;
        if qhl < 20 || q.len() < qhl + 8 {
            return Verdict::Drop(DropReason::IcmpTruncated);
        }
        let qproto = q[9];
        let frag_off = be16(q, 6) & 0x1fff;
        if !(qproto == protocol::TCP || qproto == protocol::UDP) || frag_off != 0 {
            return if snap.local_port(ip.dst).is_some() {
                Verdict::ToKernel
            } else {
                Verdict::Drop(DropReason::IcmpUnmatched)
            };
        }
        let (qsrc, qdst) = (u32::from_be_bytes(get4(q, 12)), u32::from_be_bytes(get4(q, 16)));
        let (qsport, qdport) = (be16(q, qhl), be16(q, qhl + 2));
        // About a packet that went to the client (VIP -> CIP): follow the connection inbound.
        if let Some(idx) = self.conns.lookup_client(qproto, qdst, qdport, qsrc, qsport) {
            let c = *self.conns.get(idx);
            self.account_in(idx, ip.len());
            return self.send_to_real_server(snap, frame, ip, &c, true);
        }
        // About a packet rvsd sent a NAT real server (CIP -> RIP:rport: its port unreachable, a
        // router's frag-needed): the quote read in reverse is a reply of the connection
        // (IPVS's `ip_vs_out_icmp`); it goes back to the client, translated.
        if let Some(idx) = self.conns.lookup_reply(qproto, qdst, qdport, qsrc, qsport) {
            let c = *self.conns.get(idx);
            self.account_out(idx, ip.len());
            return self.send_to_client(snap, frame, ip, &c, true);
        }
        // Either may belong to a connection another core owns (the owner is the client's).
        if self.cores > 1 {
            let (qs, qd) = (Ipv4Addr::from(qsrc), Ipv4Addr::from(qdst));
            let client = if snap.service(qproto, qs, qsport).is_some_and(|s| snap.steered(s.id)) {
                Some(qd) // quoted VIP:vport -> CIP
            } else if snap.is_nat_real(qproto, qd, qdport) {
                Some(qs) // quoted CIP -> RIP:rport
            } else {
                None
            };
            if let Some(o) = client.map(|c| snap.owner(c, self.cores)).filter(|&o| o != self.core_id) {
                return Verdict::Redirect(o);
            }
        }
        if snap.local_port(ip.dst).is_some() {
            Verdict::ToKernel
        } else {
            Verdict::Drop(DropReason::IcmpUnmatched)
        }
    }
}
