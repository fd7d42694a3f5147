//! The per-core pipeline: one call per packet, `process(now, port, frame) -> Verdict`.
//!
//! For each frame, in order:
//! 1. Ethernet: drop what is not for this port's MAC (promiscuous ports see more); ARP, IPv4
//!    and IPv6 go on, anything else is dropped.
//! 2. ARP requests and IPv6 neighbour solicitations for the director's addresses and for every
//!    VIP are answered in place (for DR the VIP must be answered by the director only; real
//!    servers suppress it).
//! 3. IPv4 is validated (lengths, IHL, header checksum), IPv6's extension headers are walked;
//!    fragments are dropped (rvs does not reassemble). Ethernet padding is trimmed.
//! 4. TCP/UDP: a packet of a known connection is forwarded by its real server's method
//!    (client side: NAT/TUN/DR; reply side: NAT only). A packet to a VIP that starts a
//!    connection (any UDP datagram, a TCP SYN) is scheduled, recorded and forwarded. A SYN on
//!    a TIME_WAIT connection reschedules it (IPVS's connection reuse).
//! 5. ICMP and ICMPv6: echo requests to the director or a VIP are answered; errors that quote
//!    a packet of a connection follow that connection (translated for NAT).
//! 6. Anything else for the director goes to the kernel; the rest is dropped as not ours, or
//!    handed to the kernel where the snapshot says so.
//!
//! The pipeline owns all per-core state (connections, scheduler replicas, loads, persistence
//! templates, counters) and reads configuration from an immutable [`Snapshot`] swapped only
//! between bursts by [`Pipeline::apply`]; weights are part of it (one configuration channel:
//! a weight change is a new snapshot). After construction it does not allocate while
//! processing packets.
//!
//! Both address families run the same flow code ([`family`]): each has its own connection
//! table and neighbour table; services, real servers and routes of a family index in the
//! snapshot's part for it.
//!
//! One concept per file: [`ingress`] (Ethernet, ARP, IPv4 or IPv6, validation), [`l2`] (ARP,
//! next hops), [`ndp`] (IPv6 neighbour discovery), [`family`] (what differs per family),
//! [`flow`] (a connection's life and TCP states), [`balancer`] (scheduler replicas and
//! loads), [`persistence`] (templates), [`egress`] (forwarding methods, replies), [`icmp_errors`] (echo and errors), [`icmpv6`] (the same for IPv6),
//! [`lookahead`] (prefetching a burst).

use crate::conn::entry::{F_INACTIVE, F_NO_OUTPUT, F_PERSIST, F_PROVED, F_REPLIED, F_SEQ_ADJ, F_SYNCED};
use crate::conn::{next_tcp_state, Conn, ConnState, ConnTable, Direction};
use crate::family::AddrKey;
use crate::frame::Frame;
use crate::neigh::{Learned, NeighbourTable};
use crate::sched::table::FixedMap;
use crate::sched::{new_scheduler, Flow, Load, Scheduler, View};
use crate::service::{Forward, Interface, LocalPorts, Service, MAX_DESTS, MAX_SERVICES, UNBOUND_DEST};
use crate::snapshot::{Family, Snapshot};
use crate::verdict::{Counters, DropReason, Verdict};
use crate::wire::arp::{self, ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::icmp::{self as icmp_wire, kind};
use crate::wire::ipv4::{protocol, Ipv4Packet};
use crate::wire::tcp::flags;
use crate::wire::{Mac, WireError};
use crate::xmit::nat::{rewrite, End};
use crate::xmit::{dec_ttl, route, tunnel};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

mod balancer;
mod client_limits;
mod egress;
mod family;
mod flow;
mod fragments;
mod icmp_errors;
mod icmpv6;
mod ingress;
mod l2;
mod lookahead;
mod nat64;
mod ndp;
mod one_packet;
mod overload;
mod persistence;
mod proxy_header;
mod snat;
mod sync;
mod synproxy;

pub use client_limits::{ClientUse, CLIENT_TABLE};
use family::IpPath;
pub use fragments::{FRAGMENT_HOLD_MS, FRAGMENT_TABLE, FRAGMENT_TIMEOUT_S};
use ingress::Ip;
pub use ingress::Parsed;
pub use l2::LEARN_MAX;
pub use lookahead::LOOKAHEAD;
use overload::Thresholds;
pub use overload::{PressureLevel, EVICT_SCAN};
pub use persistence::PersistTemplate;
pub use sync::{conn_record, record_owner, Installed, SYNC_OUTBOX};
pub use synproxy::{SYNPROXY_BUFFERS, SYNPROXY_WAITING};

/// The millisecond a worker's pipeline clock reads when the worker starts. Not 0: connection
/// expiry seconds then never sit at the wheel's origin, and a test that starts a pipeline at
/// this time sees what rvsd sees.
pub const CLOCK_EPOCH_MS: u64 = 1_000_000;

/// Sizing of a pipeline.
#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// IPv4 connections this core can hold.
    pub conn_capacity: usize,
    /// IPv6 connections this core can hold (a table of its own: an entry is two lines).
    pub conn6_capacity: usize,
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
    /// The SYN proxy's cookie secret (random in the daemon, the same on every worker).
    pub cookie_secret: crate::syncookie::CookieSecret,
    /// Where FULLNAT's and SNAT's searches for a free local port start in each address's share
    /// (random per start in the daemon, RFC 6056 §3.3, so a director just started does not
    /// reuse the ports its peer used just before; [`crate::conn::local_addrs`]); 0: at the
    /// share's first port.
    pub local_port_seed: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            conn_capacity: 1 << 16,
            conn6_capacity: 1 << 14,
            hash_seed: 0x5eed,
            expire_budget: 1024,
            template_capacity: 16384,
            core: 0,
            cores: 1,
            cookie_secret: crate::syncookie::CookieSecret::new([0x5eed, 0xc00c, 0x1e5, 0xa11]),
            local_port_seed: 0,
        }
    }
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

/// A core's connection tables, one per address family (a field of its own, so that a generic
/// [`IpPath::conns_mut`] borrows only the tables).
#[derive(Debug)]
struct ConnTables {
    v4: ConnTable,
    v6: ConnTable<u128>,
}

/// Per-core mutable state, apart from the snapshot (so both can be borrowed at once).
#[derive(Debug)]
struct PerCore {
    tables: ConnTables,
    counters: Counters,
    loads: Vec<Load>,
    dest_stats: Vec<Stats>,
    svc_stats: Vec<Stats>,
    scheds: Vec<Option<Box<dyn Scheduler>>>,
    templates: FixedMap<PersistTemplate>,
    /// Weights by real-server id, from the snapshot.
    weights: Vec<u32>,
    neigh: Arc<NeighbourTable>,
    neigh6: Arc<NeighbourTable<u128>>,
    learned: [Learned; LEARN_MAX],
    learned_len: usize,
    core_id: u16,
    cores: u16,
    ident: u16,
    /// Seeds the random schedulers' generators (twos), from the connection hash's seed.
    sched_seed: u64,
    /// The snapshot's `expire_quiescent_template` knob, for the persistence lookup.
    expire_quiescent_template: bool,
    expire_budget: usize,
    /// Per-real thresholds: the shared gauge and what this core applied of it.
    thr: Thresholds,
    /// How full the connection table is, as the defences see it.
    level: PressureLevel,
    /// Below this many connections a core at the normal level stays there (from the snapshot's
    /// `pressure_percent`).
    calm_below: usize,
    /// The same for the IPv6 table.
    calm_below6: usize,
    /// The second `rate_count` counts new connections in.
    rate_sec: u32,
    rate_count: u32,
    /// Sync records queued for the backups since the last burst boundary.
    sync_out: Vec<crate::wire::ipvs_sync::SyncConn>,
    /// By connection index: when it was last sent to the backups (IPVS's `sync_endtime`),
    /// kept only while a sync refresh period is configured (allocated on the control path).
    sync_marks: [Vec<u32>; 2],
    /// Datagrams whose first fragment went by ([`fragments`]).
    frags: fragments::FragTable,
    /// Moves each time a first fragment is recorded: held later fragments may go now.
    frag_gen: u64,
    /// Where this core's next FULLNAT connection starts its turn through its service's local
    /// addresses.
    laddr_turn: u32,
    /// By connection index, per family: the client direction's sequence adjustment of the
    /// connections with `F_SEQ_ADJ` (the PROXY protocol), allocated on the control path
    /// ([`proxy_header`]).
    seq_adj: [Vec<crate::conn::seq_adjust::SeqAdjust>; 2],
    /// SNAT's endpoint-independent mappings, made when a rule first needs them ([`snat`]).
    snat_maps: Option<Box<snat::SnatMaps>>,
    /// Connections the allow and deny lists refused, by service id (the director's lists:
    /// `MAX_SERVICES`): [denied, not allowed].
    access_hits: Vec<[u64; 2]>,
    /// Per-client limits' counts, made when a service first has a limit ([`client_limits`]).
    client_counts: Option<Box<FixedMap<client_limits::ClientCount>>>,
    /// The SYN proxy's connections, held data and retries, made when a service first asks
    /// for it ([`synproxy`]).
    synproxy: Option<Box<synproxy::SynProxyState>>,
    cookie_secret: crate::syncookie::CookieSecret,
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
            tables: ConnTables {
                v4: ConnTable::new(cfg.conn_capacity, cfg.hash_seed, secs(now_ms))
                    .with_local_port_seed(cfg.local_port_seed),
                v6: ConnTable::new(cfg.conn6_capacity, cfg.hash_seed.rotate_left(17) ^ 0x6, secs(now_ms))
                    .with_local_port_seed(cfg.local_port_seed.rotate_left(23)),
            },
            counters: Counters::default(),
            loads: vec![Load::default(); MAX_DESTS],
            dest_stats: vec![Stats::default(); MAX_DESTS],
            svc_stats: vec![Stats::default(); MAX_SERVICES],
            scheds: (0..MAX_SERVICES).map(|_| None).collect(),
            templates: FixedMap::new(cfg.template_capacity, cfg.hash_seed ^ 0x7e3a),
            weights: vec![0; MAX_DESTS],
            neigh: neighbours,
            neigh6: Arc::default(),
            learned: [Learned { ip: Ipv4Addr::UNSPECIFIED.into(), mac: Mac::ZERO, port: 0, answer: false }; LEARN_MAX],
            learned_len: 0,
            core_id: cfg.core,
            cores: cfg.cores.max(1),
            ident: (cfg.hash_seed as u16) | 1,
            sched_seed: cfg.hash_seed.rotate_left(29) ^ u64::from(cfg.core),
            expire_quiescent_template: false,
            expire_budget: cfg.expire_budget.max(1),
            thr: Thresholds::new(cfg.cores.max(1), cfg.core),
            level: PressureLevel::Normal,
            calm_below: 0,
            calm_below6: 0,
            rate_sec: 0,
            rate_count: 0,
            sync_out: Vec::with_capacity(SYNC_OUTBOX),
            sync_marks: [Vec::new(), Vec::new()],
            frags: fragments::new_table(cfg.hash_seed ^ 0xf7a6),
            frag_gen: 0,
            laddr_turn: 0,
            seq_adj: [Vec::new(), Vec::new()],
            snat_maps: None,
            access_hits: vec![[0; 2]; MAX_SERVICES + 1],
            client_counts: None,
            synproxy: None,
            cookie_secret: cfg.cookie_secret,
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
        let (v4, v6) = (self.snap.family::<u32>(), self.snap.family::<u128>());
        self.core.tables.v4.compact_local_addrs(|a| v4.laddrs().binary_search(&a).is_ok());
        // NAT64's IPv4 local addresses are held in IPv6's table, mapped.
        self.core.tables.v6.compact_local_addrs(|a| match crate::family::unmapped(a) {
            Some(a4) => v4.laddrs().binary_search(&a4).is_ok(),
            None => v6.laddrs().binary_search(&a).is_ok(),
        });
    }

    /// FULLNAT's local addresses of both families as this core uses them: ports held, and how
    /// often one ran out.
    pub fn local_addr_uses(&self) -> impl Iterator<Item = (std::net::IpAddr, u32, u64)> + '_ {
        let v4 =
            self.core.tables.v4.local_addrs().iter().map(|r| (Ipv4Addr::from(r.addr).into(), r.in_use, r.exhausted));
        let v6 = self.core.tables.v6.local_addrs().iter().map(|r| {
            let a = match crate::family::unmapped(r.addr) {
                Some(a4) => Ipv4Addr::from(a4).into(), // NAT64's
                None => Ipv6Addr::from(r.addr).into(),
            };
            (a, r.in_use, r.exhausted)
        });
        v4.chain(v6)
    }

    /// Connections the allow and deny lists refused on this core, by service id (the
    /// director's own lists' at `MAX_SERVICES`): [denied, not allowed].
    pub fn access_hits(&self) -> &[[u64; 2]] {
        &self.core.access_hits
    }

    /// The `n` client prefixes with the most connections on this core, under per-client limits.
    pub fn top_clients(&self, n: usize) -> Vec<ClientUse> {
        client_limits::top_clients(&self.core.client_counts, n)
    }

    /// SNAT's endpoint-independent mappings this core holds.
    pub fn snat_mappings(&self) -> usize {
        self.core.snat_maps.as_ref().map_or(0, |m| m.len())
    }

    /// Reads learned IPv6 neighbours from the shared table `neighbours` (control path; a new
    /// pipeline has a table of its own).
    pub fn share_neighbours6(&mut self, neighbours: Arc<NeighbourTable<u128>>) {
        self.core.neigh6 = neighbours;
    }

    /// Shares the per-real threshold counts with the other workers (all pipelines of one
    /// dataplane get the same gauge, made for their number of cores). Control path.
    pub fn share_thresholds(&mut self, gauge: Arc<crate::threshold::ThresholdGauge>) {
        self.core.thr.gauge = gauge;
        let snap = Arc::clone(&self.snap);
        self.core.rebuild_schedulers(&snap, None);
    }

    /// The sync records queued since the last call (master role), oldest first; the caller
    /// sends them to the backups.
    pub fn drain_sync(&mut self) -> std::vec::Drain<'_, crate::wire::ipvs_sync::SyncConn> {
        self.core.sync_out.drain(..)
    }

    /// Installs a sync record received from a master (backup role) at `now_ms`; the caller
    /// gives each record to the core that owns its flow.
    pub fn install_synced(&mut self, r: &crate::wire::ipvs_sync::SyncConn, now_ms: u64) -> Installed {
        let v = self.core.install(&self.snap, r, secs(now_ms));
        match v {
            Installed::Created | Installed::Refreshed => self.core.counters.sync_installed += 1,
            Installed::NoService | Installed::Full | Installed::Stale => self.core.counters.sync_ignored += 1,
            Installed::Conflict => self.core.counters.sync_conflicts += 1,
        }
        v
    }

    /// How full this core's connection table is, as the overload defences see it.
    pub fn pressure_level(&self) -> PressureLevel {
        self.core.level
    }

    /// The configuration in force.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    /// Moves each time a first fragment is recorded: the caller then processes the later
    /// fragments it holds ([`Verdict::HoldFragment`]) again.
    pub fn fragment_generation(&self) -> u64 {
        self.core.frag_gen
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
        let v = self.core.dispatch(&self.snap, secs(now_ms), port, frame, None);
        self.core.counters.count(v);
        v
    }

    /// End-of-burst work: files the burst's new NAT and FULLNAT connections in the reply-side index, their
    /// buckets handed to `prefetch` (the CPU's prefetch, or a no-op) first
    /// ([`crate::conn::reply_defer`]). Only a matter of speed: until then they are found by a
    /// scan of the queue, which is filed whenever it fills.
    #[inline]
    pub fn file_deferred(&mut self, prefetch: impl Fn(*const u8)) {
        let t = &mut self.core.tables;
        if t.v4.deferred_len() != 0 {
            t.v4.file_deferred(&prefetch);
        }
        if t.v6.deferred_len() != 0 {
            t.v6.file_deferred(&prefetch);
        }
    }

    /// [`Pipeline::process`] for a frame the look-ahead has read: its headers are not read
    /// again. `parsed` must be the one [`Pipeline::lookahead`] gave for this frame (one of
    /// another length, or a default one, makes it read the frame).
    #[inline]
    pub fn process_parsed<F: Frame>(&mut self, now_ms: u64, port: u16, frame: &mut F, parsed: &Parsed) -> Verdict {
        let v = self.core.dispatch(&self.snap, secs(now_ms), port, frame, Some(parsed));
        self.core.counters.count(v);
        v
    }

    /// Burst-boundary work: expires connections, templates and scheduler cache entries due by
    /// `now_ms` (each within the configured budget). Returns how many connections expired.
    pub fn poll_timers(&mut self, now_ms: u64) -> usize {
        let now = secs(now_ms);
        let snap = &self.snap;
        let PerCore {
            tables: ConnTables { v4: conns, v6: conns6 },
            loads,
            counters,
            expire_budget,
            scheds,
            weights,
            templates,
            thr,
            snat_maps,
            client_counts,
            ..
        } = &mut self.core;
        let mut n = conns.expire(now, *expire_budget, |c| {
            PerCore::release_load(snap, scheds, weights, loads, thr, c);
            client_limits::client_release(client_counts, snap, c, now);
            if let Some(m) = snat_maps.as_mut().filter(|_| snat::is_snat(c)) {
                m.release(c);
            }
            if c.flags & F_PERSIST != 0 {
                PerCore::unpin(snap, templates, c, now);
            }
        });
        n += conns6.expire(now, expire_budget.saturating_sub(n).max(1), |c| {
            PerCore::release_load(snap, scheds, weights, loads, thr, c);
            client_limits::client_release(client_counts, snap, c, now);
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
        self.core.update_level(snap, false);
        self.core.follow_overload_marks(snap);
        n
    }

    /// The SYN proxy's timers at `now_ms` (burst boundary): a real server that has not
    /// answered a proxied connection's SYN gets it again (a second apart, up to the policy's
    /// retries), then the client gets a reset. `new_frame` gives an empty frame to write a
    /// packet into; `out` takes it with its verdict (forward, or pending a neighbour).
    /// Returns how many timers came due.
    pub fn poll_synproxy<F: Frame>(
        &mut self,
        now_ms: u64,
        mut new_frame: impl FnMut() -> Option<F>,
        mut out: impl FnMut(F, Verdict),
    ) -> usize {
        if self.core.synproxy.is_none() {
            return 0;
        }
        let snap = Arc::clone(&self.snap);
        self.core.synproxy_poll(&snap, secs(now_ms), &mut new_frame, &mut out)
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

    /// This core's IPv4 connections (listings; control path).
    pub fn connections(&self) -> &ConnTable {
        &self.core.tables.v4
    }

    /// This core's IPv6 connections (listings; control path).
    pub fn connections6(&self) -> &ConnTable<u128> {
        &self.core.tables.v6
    }
}
