//! What a worker tells the control plane: a copy of its figures, refreshed every 200 ms and when
//! asked, so that statistics never read the workers' own memory.

use super::*;

/// Client prefixes each worker reports (those with the most connections).
pub const TOP_CLIENTS: usize = 10;

/// What one worker reports to the control plane (a copy, refreshed every few hundred ms and at
/// exit), so that stats never touch the workers' own memory.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    /// The pipeline's counters.
    pub counters: Counters,
    /// Loads by real-server id.
    pub loads: Vec<Load>,
    /// Traffic by real-server id.
    pub dest_stats: Vec<Stats>,
    /// Traffic by service id.
    pub svc_stats: Vec<Stats>,
    /// Connections held.
    pub conns: usize,
    /// The connection table's pressure level.
    pub level: rvs_core::pipeline::PressureLevel,
    /// Persistence templates by real-server id (ipvsadm's PersistConn).
    pub persist: Vec<u32>,
    /// Worker-level counters.
    pub io: IoCounters,
    /// The report request (`Shared::report_req`) this report answers.
    pub gen: u64,
    /// FULLNAT local addresses: (address, ports held, times exhausted).
    pub laddrs: Vec<(std::net::IpAddr, u32, u64)>,
    /// Connections the allow and deny lists refused: (service id, or `MAX_SERVICES` for the
    /// director's lists; [denied, not allowed]), the scopes that refused any.
    pub access_hits: Vec<(u16, [u64; 2])>,
    /// Under per-client limits: the client prefixes with the most connections here.
    pub top_clients: Vec<rvs_core::pipeline::ClientUse>,
}

/// Counters of the worker loop itself (beyond the pipeline's verdicts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IoCounters {
    /// Frames the PMD did not take on transmit (dropped).
    pub tx_dropped: u64,
    /// Frames for another core dropped because its ring was full.
    pub ring_full: u64,
    /// Frames received from other cores.
    pub ring_in: u64,
    /// Held frames dropped: the next hop did not answer ARP, or too many were waiting.
    pub neigh_dropped: u64,
    /// ARP requests sent.
    pub arp_requests: u64,
    /// Multi-segment frames that could not be made contiguous (dropped).
    pub unlinearizable: u64,
    /// Frames handed to the kernel path and dropped (no exception port configured).
    pub to_kernel_dropped: u64,
    /// Frames handed to the kernel through the TAP exception port.
    pub to_kernel: u64,
    /// Frames the kernel sent out through the TAP exception port.
    pub from_kernel: u64,
    /// Sync records for the backups dropped because the sync thread's ring was full.
    #[serde(default)]
    pub sync_out_full: u64,
    /// Later IP fragments dropped: held too long for their first, or the hold was full.
    #[serde(default)]
    pub fragments_expired: u64,
}

impl IoCounters {
    /// Adds another worker's counters (aggregation on the control path).
    pub fn add(&mut self, b: &IoCounters) {
        self.tx_dropped += b.tx_dropped;
        self.ring_full += b.ring_full;
        self.ring_in += b.ring_in;
        self.neigh_dropped += b.neigh_dropped;
        self.arp_requests += b.arp_requests;
        self.unlinearizable += b.unlinearizable;
        self.to_kernel_dropped += b.to_kernel_dropped;
        self.to_kernel += b.to_kernel;
        self.from_kernel += b.from_kernel;
        self.sync_out_full += b.sync_out_full;
        self.fragments_expired += b.fragments_expired;
    }
}

impl<'p, Q: QueuePair<'p>> Running<'_, 'p, Q> {
    pub(super) fn report(&mut self) {
        let shared = self.worker.shared;
        shared.heartbeats[self.worker.index].beat(shared.started.elapsed().as_millis() as u64);
        let p = &self.worker.pipeline;
        let asked = self.worker.shared.report_req.load(Ordering::Acquire);
        if let Ok(mut r) = self.worker.shared.reports[self.worker.index].try_lock() {
            // The top clients scan the per-client table: only for a listing that asked.
            if asked != self.reported {
                r.top_clients = p.top_clients(TOP_CLIENTS);
            }
            r.gen = asked;
            self.reported = asked;
            r.counters.clone_from(p.counters());
            refill(&mut r.loads, p.loads());
            refill(&mut r.dest_stats, p.dest_stats());
            refill(&mut r.svc_stats, p.service_stats());
            r.conns = p.connections().len() + p.connections6().len();
            r.level = p.pressure_level();
            r.persist.resize(rvs_core::service::MAX_DESTS, 0);
            r.persist.fill(0);
            for (_, t) in p.templates() {
                r.persist[usize::from(t.dest)] += 1;
            }
            r.io = self.io;
            r.laddrs.clear();
            r.laddrs.extend(p.local_addr_uses());
            r.access_hits.clear();
            let hits = p.access_hits().iter().enumerate().filter(|(_, h)| h[0] + h[1] > 0);
            r.access_hits.extend(hits.map(|(i, h)| (i as u16, *h)));
        }
    }
}

/// Copies `src` into `dst`, reusing its buffer (no allocation after the first report).
fn refill<T: Copy>(dst: &mut Vec<T>, src: &[T]) {
    dst.clear();
    dst.extend_from_slice(src);
}
