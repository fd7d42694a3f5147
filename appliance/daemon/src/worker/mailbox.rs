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
    /// ARP senders seen, for the control thread to learn.
    pub learned: ArrayQueue<Learned>,
    /// Per worker: ARP requests the control thread wants sent (port, address): refreshes.
    pub arp_requests: Vec<ArrayQueue<(u16, Ipv4Addr)>>,
    /// Per worker: its latest report.
    pub reports: Vec<Mutex<WorkerReport>>,
    /// The learned neighbours.
    pub neighbours: Arc<NeighbourTable>,
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
}

impl Shared<'_> {
    /// Shared state for `workers` workers, each ring holding `ring` frames.
    pub fn new(
        workers: usize,
        ring: usize,
        neighbours: Arc<NeighbourTable>,
        snapshot: Arc<rvs_core::Snapshot>,
    ) -> Self {
        Shared {
            stop: AtomicBool::new(false),
            inbound: (0..workers).map(|_| ArrayQueue::new(ring)).collect(),
            learned: ArrayQueue::new(1024),
            arp_requests: (0..workers).map(|_| ArrayQueue::new(256)).collect(),
            reports: (0..workers).map(|_| Mutex::new(WorkerReport::default())).collect(),
            neighbours,
            snapshot: arc_swap::ArcSwap::new(snapshot),
            snapshot_gen: AtomicU64::new(0),
            report_req: AtomicU64::new(0),
            listing: crate::conn_list::ConnListing::new(workers),
            thresholds: Arc::new(rvs_core::threshold::ThresholdGauge::new(workers as u16)),
        }
    }

    /// Installs a new configuration for the workers (control plane only).
    pub fn publish(&self, snap: rvs_core::Snapshot) {
        self.snapshot.store(Arc::new(snap));
        self.snapshot_gen.fetch_add(1, Ordering::Release);
    }
}

/// The director's own identity on one port (for ARP requests).
#[derive(Debug, Clone, Copy)]
pub struct PortIdentity {
    /// Its MAC.
    pub mac: Mac,
    /// Its address.
    pub addr: Ipv4Addr,
}
