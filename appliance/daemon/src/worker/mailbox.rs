//! What the workers and the control thread share: rings between cores, the snapshot slot, report
//! and listing requests — each bounded, none a lock a worker waits on.

use super::*;

/// A frame handed to another core: the interface it arrived on, and the mbuf.
pub type Handoff<'p> = (u16, Mbuf<'p>);

/// What all workers and the control thread share.
#[derive(Debug)]
pub struct Shared<'p> {
    /// Set to stop every loop.
    pub stop: AtomicBool,
    /// Per worker: frames handed over by other workers.
    pub inbound: Vec<ArrayQueue<Handoff<'p>>>,
    /// Neighbours seen (ARP senders, NDP solicitors and targets), for the control thread to learn.
    pub learned: ArrayQueue<Learned>,
    /// Per worker: ARP requests or neighbour solicitations the control thread wants sent
    /// (port, address): refreshes.
    pub arp_requests: Vec<ArrayQueue<(u16, IpAddr)>>,
    /// Per worker: its latest report, padded so that no two workers' reports (each written by
    /// its worker every 200 ms) share a cache line.
    pub reports: Vec<crossbeam_utils::CachePadded<Mutex<WorkerReport>>>,
    /// The learned IPv4 neighbours.
    pub neighbours: Arc<NeighbourTable>,
    /// The learned IPv6 neighbours.
    pub neighbours6: Arc<NeighbourTable<u128>>,
    /// Neighbour entries evicted to make room, both families (written by the control thread).
    pub neigh_evicted: AtomicU64,
    /// The configuration in force: one immutable snapshot in one atomic slot, replaced by the
    /// control plane; a worker picks a new one up at a burst boundary when `snapshot_gen` moves
    /// (a lock-free load: it never waits for the control plane).
    pub snapshot: arc_swap::ArcSwap<rvs_core::Snapshot>,
    /// Bumped after each replacement of `snapshot`.
    pub snapshot_gen: AtomicU64,
    /// Bumped by the control plane to ask every worker for a fresh report now.
    pub report_req: AtomicU64,
    /// Connection listings (`-L -c`), copied out a chunk per burst boundary.
    pub listing: crate::conn_list::ConnListing,
    /// Per-real connection counts and overload marks (`-x/-y`), shared by the pipelines.
    pub thresholds: Arc<rvs_core::threshold::ThresholdGauge>,
    /// Per worker: connection records for the backups (master role), to the sync thread.
    pub sync_out: Vec<ArrayQueue<rvs_core::wire::ipvs_sync::SyncConn>>,
    /// Per worker: records received from a master (backup role), for the worker to install.
    pub sync_in: Vec<ArrayQueue<rvs_core::wire::ipvs_sync::SyncConn>>,
    /// What the sync daemon's thread did.
    pub sync_counters: crate::sync_daemon::SyncCounters,
    /// The clock heartbeats count from.
    pub started: Instant,
    /// Per worker: its heartbeat, for systemd's watchdog ([`crate::supervision`]).
    pub heartbeats: Vec<crate::supervision::Heartbeat>,
    /// The supervised control-plane threads' heartbeats
    /// ([`crate::supervision::SUPERVISED_THREADS`], in that order).
    pub threads: Vec<crate::supervision::ThreadBeat>,
}

/// Records a sync ring holds per worker (each way): a burst's worth many times over.
pub const SYNC_RING: usize = 8192;

impl Shared<'_> {
    /// Shared state for `workers` workers, each ring holding `ring` frames.
    pub fn new(
        workers: usize,
        ring: usize,
        neighbours: Arc<NeighbourTable>,
        snapshot: Arc<rvs_core::Snapshot>,
    ) -> Self {
        let started = Instant::now();
        Shared {
            stop: AtomicBool::new(false),
            inbound: (0..workers).map(|_| ArrayQueue::new(ring)).collect(),
            learned: ArrayQueue::new(1024),
            arp_requests: (0..workers).map(|_| ArrayQueue::new(256)).collect(),
            reports: (0..workers)
                .map(|_| crossbeam_utils::CachePadded::new(Mutex::new(WorkerReport::default())))
                .collect(),
            neighbours,
            neighbours6: Arc::default(),
            neigh_evicted: AtomicU64::new(0),
            snapshot: arc_swap::ArcSwap::new(snapshot),
            snapshot_gen: AtomicU64::new(0),
            report_req: AtomicU64::new(0),
            listing: crate::conn_list::ConnListing::new(workers),
            thresholds: Arc::new(rvs_core::threshold::ThresholdGauge::new(workers as u16)),
            sync_out: (0..workers).map(|_| ArrayQueue::new(SYNC_RING)).collect(),
            sync_in: (0..workers).map(|_| ArrayQueue::new(SYNC_RING)).collect(),
            sync_counters: Default::default(),
            started,
            heartbeats: (0..workers).map(|_| Default::default()).collect(),
            threads: crate::supervision::SUPERVISED_THREADS
                .iter()
                .map(|n| crate::supervision::ThreadBeat::new(n, started))
                .collect(),
        }
    }

    /// The heartbeat of supervised control-plane thread `name`.
    pub fn thread(&self, name: &str) -> &crate::supervision::ThreadBeat {
        self.threads.iter().find(|t| t.name() == name).expect("a supervised thread's name")
    }

    /// Installs a new configuration for the workers (control plane only).
    pub fn publish(&self, snap: rvs_core::Snapshot) {
        self.snapshot.store(Arc::new(snap));
        self.snapshot_gen.fetch_add(1, Ordering::Release);
    }
}

/// The director's own identity on one port (for ARP requests and neighbour solicitations).
#[derive(Debug, Clone, Copy)]
pub struct PortIdentity {
    /// Its MAC.
    pub mac: Mac,
    /// Its address.
    pub addr: Ipv4Addr,
    /// Its IPv6 address on a dual-stack port.
    pub addr6: Option<Ipv6Addr>,
}

/// Most received sync records a worker installs per burst boundary (the rest wait for the next).
const SYNC_INSTALL_PER_BURST: usize = 256;

impl<'p, Q: QueuePair<'p>> Running<'_, 'p, Q> {
    /// Burst boundary: this worker's records for the backups out to the sync thread, and
    /// records received from a master installed (a bounded number per call).
    pub(super) fn exchange_sync(&mut self, now: u64) {
        let w = self.worker.index;
        let shared = self.worker.shared;
        for r in self.worker.pipeline.drain_sync() {
            if shared.sync_out[w].push(r).is_err() {
                self.io.sync_out_full += 1;
            }
        }
        for _ in 0..SYNC_INSTALL_PER_BURST {
            let Some(r) = shared.sync_in[w].pop() else { break };
            self.worker.pipeline.install_synced(&r, now);
        }
    }
}
