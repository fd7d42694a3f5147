//! Pieces of the worker poll loop shared by rvsd and the port tools.

use std::time::Duration;

/// Back-off for an idle poll loop, so a lab or VM host with few cores is not starved: spin a
/// little after the last packet, then pause, then sleep for growing intervals up to
/// `MAX_SLEEP`. Any received packet returns to busy polling at once. Disabled on bare metal,
/// where a worker owns its core and sleeping only adds latency.
#[derive(Debug)]
pub struct IdleBackoff {
    enabled: bool,
    empty_polls: u32,
}

impl IdleBackoff {
    /// Empty polls before the loop starts sleeping.
    pub const SPIN_POLLS: u32 = 256;
    /// Longest single sleep.
    pub const MAX_SLEEP: Duration = Duration::from_micros(200);

    /// A back-off; `enabled = false` never sleeps.
    pub fn new(enabled: bool) -> Self {
        IdleBackoff { enabled, empty_polls: 0 }
    }

    /// The sleep due after a poll that received `packets` packets (None: poll again now).
    pub fn sleep_for(&mut self, packets: usize) -> Option<Duration> {
        if packets > 0 || !self.enabled {
            self.empty_polls = 0;
            return None;
        }
        self.empty_polls = self.empty_polls.saturating_add(1);
        let over = self.empty_polls.checked_sub(Self::SPIN_POLLS + 1)?;
        // 1, 2, 4 ... µs, capped.
        let us = 1u64 << over.min(16);
        Some(Duration::from_micros(us).min(Self::MAX_SLEEP))
    }

    /// Call after each poll; sleeps when the loop has been idle long enough.
    pub fn after_poll(&mut self, packets: usize) {
        if let Some(d) = self.sleep_for(packets) {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_then_sleeps_growing_then_resets_on_traffic() {
        let mut b = IdleBackoff::new(true);
        for _ in 0..IdleBackoff::SPIN_POLLS {
            assert_eq!(b.sleep_for(0), None);
        }
        assert_eq!(b.sleep_for(0), Some(Duration::from_micros(1)));
        assert_eq!(b.sleep_for(0), Some(Duration::from_micros(2)));
        assert_eq!(b.sleep_for(0), Some(Duration::from_micros(4)));
        for _ in 0..40 {
            b.sleep_for(0);
        }
        assert_eq!(b.sleep_for(0), Some(IdleBackoff::MAX_SLEEP));
        assert_eq!(b.sleep_for(3), None);
        assert_eq!(b.sleep_for(0), None, "traffic restarts the spin phase");
    }

    #[test]
    fn disabled_never_sleeps() {
        let mut b = IdleBackoff::new(false);
        for _ in 0..10_000 {
            assert_eq!(b.sleep_for(0), None);
        }
    }
}

use crate::port::dpdk::{Burst, Mbuf, Mempool, Queue, BURST_SIZE};
use crossbeam_queue::ArrayQueue;
use rvs_core::neigh::{Learned, NeighbourTable};
use rvs_core::pipeline::{Parsed, Stats, LOOKAHEAD};
use rvs_core::sched::Load;
use rvs_core::wire::arp::{ArpRepr, OP_REQUEST, PACKET_LEN as ARP_LEN};
use rvs_core::wire::ethernet::{EtherType, EthernetRepr, HEADER_LEN as ETH_LEN};
use rvs_core::wire::Mac;
use rvs_core::xmit::route::set_dst_mac;
use rvs_core::{Counters, Frame, Pipeline, Verdict};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A frame handed to another core: the interface it arrived on, and the mbuf.
pub type Handoff<'p> = (u16, Mbuf<'p>);

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
    /// Worker-level counters.
    pub io: IoCounters,
    /// The report request (`Shared::report_req`) this report answers.
    pub gen: u64,
}

/// Counters of the worker loop itself (beyond the pipeline's verdicts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
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
    }
}

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

/// Most next hops one worker resolves at once, and frames held per next hop.
pub const PENDING_HOPS: usize = 32;
/// Frames held per unresolved next hop (Linux's `unres_qlen` is 101 packets by default; a
/// handshake needs a few).
pub const PENDING_FRAMES: usize = 8;
/// Milliseconds between ARP requests for one unresolved next hop, and how many are sent.
pub const ARP_RETRY_MS: u64 = 1000;
/// ARP requests per next hop before its held frames are dropped.
pub const ARP_TRIES: u32 = 3;

#[derive(Debug)]
struct PendingHop<'p> {
    next_hop: Ipv4Addr,
    port: u16,
    frames: Vec<Mbuf<'p>>,
    last_arp_ms: u64,
    tries: u32,
}

/// Frames waiting for their next hop's MAC (bounded, allocated once).
#[derive(Debug)]
pub struct PendingQueue<'p> {
    hops: Vec<PendingHop<'p>>,
}

impl<'p> PendingQueue<'p> {
    /// Room for [`PENDING_HOPS`] next hops of [`PENDING_FRAMES`] frames each.
    pub fn new() -> Self {
        PendingQueue {
            hops: (0..PENDING_HOPS)
                .map(|_| PendingHop {
                    next_hop: Ipv4Addr::UNSPECIFIED,
                    port: 0,
                    frames: Vec::with_capacity(PENDING_FRAMES),
                    last_arp_ms: 0,
                    tries: 0,
                })
                .collect(),
        }
    }
}

impl Default for PendingQueue<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// A worker's rx/tx queue pair on one port. rvsd's is a DPDK [`Queue`]; `rvs-bench` drives the
/// same loop through a replay port. The loop is generic over it, so each use is monomorphised
/// and the DPDK one costs nothing extra.
pub trait QueuePair<'p> {
    /// Receives into the free slots of `burst`; returns how many packets arrived.
    fn rx(&mut self, burst: &mut Burst<'p>) -> usize;
    /// Sends what `burst` holds; returns how many were taken. Unsent ones stay in the burst.
    fn tx(&mut self, burst: &mut Burst<'p>) -> usize;
}

impl<'p> QueuePair<'p> for Queue<'_, 'p> {
    #[inline]
    fn rx(&mut self, burst: &mut Burst<'p>) -> usize {
        Queue::rx(self, burst)
    }

    #[inline]
    fn tx(&mut self, burst: &mut Burst<'p>) -> usize {
        Queue::tx(self, burst)
    }
}

/// One worker: its queues on every port, its pipeline and its share of the shared state.
pub struct Worker<'a, 'p, Q: QueuePair<'p> = Queue<'a, 'p>> {
    /// Index among the workers.
    pub index: usize,
    /// One queue pair per port (index = interface).
    pub queues: Vec<Q>,
    /// Per port: this worker's queue pair on the port's TAP exception device, if it has one.
    pub exceptions: Vec<Option<Q>>,
    /// The dataplane.
    pub pipeline: Pipeline,
    /// Buffers for ARP requests.
    pub pool: &'p Mempool<'p>,
    /// Shared state.
    pub shared: &'a Shared<'p>,
    /// The director's identity per port.
    pub ports: Vec<PortIdentity>,
    /// Never sleep when idle.
    pub busy_poll: bool,
}

impl<'p, Q: QueuePair<'p>> std::fmt::Debug for Worker<'_, 'p, Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("index", &self.index).finish()
    }
}

struct Loop<'a, 'p, Q: QueuePair<'p>> {
    w: Worker<'a, 'p, Q>,
    tx: Vec<Burst<'p>>,
    /// Per port: frames for the kernel (TAP exception device).
    to_kernel: Vec<Burst<'p>>,
    pending: PendingQueue<'p>,
    io: IoCounters,
    /// The last report request answered.
    reported: u64,
    /// Progress through the current connection listing.
    listing: crate::conn_list::WorkerListing,
}

impl<'a, 'p, Q: QueuePair<'p>> Worker<'a, 'p, Q> {
    /// Polls until `shared.stop`; returns 0. Frees everything it holds on the way out.
    pub fn run(self) -> i32 {
        let clock = Instant::now();
        let n_ports = self.queues.len();
        let mut l = Loop {
            w: self,
            tx: (0..n_ports).map(|_| Burst::new()).collect(),
            to_kernel: (0..n_ports).map(|_| Burst::new()).collect(),
            pending: PendingQueue::new(),
            io: IoCounters::default(),
            reported: 0,
            listing: Default::default(),
        };
        let mut idle = IdleBackoff::new(!l.w.busy_poll);
        let mut rx = Burst::new();
        let mut parsed = [Parsed::default(); LOOKAHEAD];
        let (mut last_timers, mut last_report) = (0u64, 0u64);
        let mut snap_gen = 0u64;
        let base_ms = rvs_core::pipeline::CLOCK_EPOCH_MS;
        while !l.w.shared.stop.load(Ordering::Relaxed) {
            let now = base_ms + clock.elapsed().as_millis() as u64;
            let mut got = 0;
            for p in 0..n_ports {
                let n = l.w.queues[p].rx(&mut rx);
                got += n;
                l.w.pipeline.lookahead(p as u16, rx.iter(), &mut parsed, crate::port::dpdk::prefetch);
                for (m, read) in rx.drain().zip(parsed.iter()) {
                    l.handle_parsed(p as u16, m, Some(read), now);
                }
            }
            // The kernel's own traffic leaves through the port its TAP device stands for.
            for p in 0..n_ports {
                let Some(q) = l.w.exceptions[p].as_mut() else { continue };
                let n = q.rx(&mut rx);
                got += n;
                l.io.from_kernel += n as u64;
                for m in rx.drain() {
                    l.tx(p as u16, m);
                }
            }
            for _ in 0..BURST_SIZE {
                let Some((p, m)) = l.w.shared.inbound[l.w.index].pop() else { break };
                got += 1;
                l.io.ring_in += 1;
                l.handle(p, m, now);
            }
            l.service_pending(now);
            while let Some((port, ip)) = l.w.shared.arp_requests[l.w.index].pop() {
                l.send_arp(port, ip);
            }
            for k in l.w.pipeline.take_learned().iter() {
                let _ = l.w.shared.learned.push(*k);
            }
            l.flush_all();
            let g = l.w.shared.snapshot_gen.load(Ordering::Acquire);
            if g != snap_gen {
                snap_gen = g;
                l.w.pipeline.apply(l.w.shared.snapshot.load_full());
            }
            if now - last_timers >= 10 {
                l.w.pipeline.poll_timers(now);
                last_timers = now;
            }
            let table = l.w.pipeline.connections();
            l.w.shared.listing.serve(l.w.index, &mut l.listing, table, (now / 1000) as u32);
            let asked = l.w.shared.report_req.load(Ordering::Acquire);
            if now - last_report >= 200 || asked != l.reported {
                l.report();
                last_report = now;
            }
            idle.after_poll(got);
        }
        l.report();
        for h in &mut l.pending.hops {
            h.frames.clear();
        }
        0
    }
}

impl<'p, Q: QueuePair<'p>> Loop<'_, 'p, Q> {
    #[inline]
    fn handle(&mut self, port: u16, m: Mbuf<'p>, now: u64) {
        self.handle_parsed(port, m, None, now);
    }

    /// Handles a frame the burst's look-ahead read (`read`), or reads it now (a default one).
    #[inline]
    fn handle_parsed(&mut self, port: u16, mut m: Mbuf<'p>, read: Option<&Parsed>, now: u64) {
        if m.segments() > 1 && !m.linearize() {
            self.io.unlinearizable += 1;
            return;
        }
        let v = match read {
            Some(read) => self.w.pipeline.process_parsed(now, port, &mut m, read),
            None => self.w.pipeline.process(now, port, &mut m),
        };
        match v {
            Verdict::Forward(p) => self.tx(p, m),
            Verdict::Reply => self.tx(port, m),
            Verdict::Drop(_) => {}
            Verdict::ToKernel => self.kernel(port, m),
            Verdict::Pending { port: p, next_hop } => self.hold(p, next_hop, m, now),
            Verdict::Redirect(core) => {
                if let Some(q) = self.w.shared.inbound.get(usize::from(core)) {
                    if q.push((port, m)).is_err() {
                        self.io.ring_full += 1;
                    }
                }
            }
        }
    }

    #[inline]
    fn tx(&mut self, port: u16, m: Mbuf<'p>) {
        let p = usize::from(port);
        let Some(buf) = self.tx.get_mut(p) else { return };
        if let Err(m) = buf.push(m) {
            self.flush(p);
            let _ = self.tx[p].push(m);
        }
    }

    fn flush(&mut self, p: usize) {
        if self.tx[p].is_empty() {
            return;
        }
        self.w.queues[p].tx(&mut self.tx[p]);
        if !self.tx[p].is_empty() {
            self.io.tx_dropped += self.tx[p].len() as u64;
            self.tx[p].clear();
        }
    }

    fn flush_all(&mut self) {
        for p in 0..self.tx.len() {
            self.flush(p);
            if let Some(q) = self.w.exceptions[p].as_mut() {
                if !self.to_kernel[p].is_empty() {
                    q.tx(&mut self.to_kernel[p]);
                    self.io.tx_dropped += self.to_kernel[p].len() as u64;
                    self.to_kernel[p].clear();
                }
            }
        }
    }

    /// Hands a frame that arrived on `port` to the kernel, if the port has an exception device.
    fn kernel(&mut self, port: u16, m: Mbuf<'p>) {
        let p = usize::from(port);
        if self.w.exceptions.get(p).is_none_or(|q| q.is_none()) {
            self.io.to_kernel_dropped += 1;
            return;
        }
        self.io.to_kernel += 1;
        if let Err(m) = self.to_kernel[p].push(m) {
            if let Some(q) = self.w.exceptions[p].as_mut() {
                q.tx(&mut self.to_kernel[p]);
                self.io.tx_dropped += self.to_kernel[p].len() as u64;
                self.to_kernel[p].clear();
            }
            let _ = self.to_kernel[p].push(m);
        }
    }

    /// Holds a frame until `next_hop` resolves; asks for it at once if it is new.
    fn hold(&mut self, port: u16, next_hop: Ipv4Addr, m: Mbuf<'p>, now: u64) {
        if let Some(h) = self.pending.hops.iter_mut().find(|h| h.next_hop == next_hop) {
            if h.frames.len() < PENDING_FRAMES {
                h.frames.push(m);
            } else {
                self.io.neigh_dropped += 1;
            }
            return;
        }
        let Some(h) = self.pending.hops.iter_mut().find(|h| h.next_hop.is_unspecified()) else {
            self.io.neigh_dropped += 1;
            return;
        };
        h.next_hop = next_hop;
        h.port = port;
        h.frames.push(m);
        h.last_arp_ms = now;
        h.tries = 1;
        self.send_arp(port, next_hop);
    }

    /// Sends held frames whose next hop resolved; re-asks or gives up on the others.
    fn service_pending(&mut self, now: u64) {
        for i in 0..self.pending.hops.len() {
            let nh = self.pending.hops[i].next_hop;
            if nh.is_unspecified() {
                continue;
            }
            if let Some(mac) = self.w.shared.neighbours.lookup(nh) {
                let port = self.pending.hops[i].port;
                // Swap the frames out (keeping the Vec's capacity) to send them in order.
                let mut frames = std::mem::take(&mut self.pending.hops[i].frames);
                for mut m in frames.drain(..) {
                    set_dst_mac(m.data_mut(), mac);
                    self.tx(port, m);
                }
                self.pending.hops[i].frames = frames;
                self.pending.hops[i].next_hop = Ipv4Addr::UNSPECIFIED;
                continue;
            }
            let h = &mut self.pending.hops[i];
            if now - h.last_arp_ms >= ARP_RETRY_MS {
                if h.tries >= ARP_TRIES {
                    self.io.neigh_dropped += h.frames.len() as u64;
                    h.frames.clear();
                    h.next_hop = Ipv4Addr::UNSPECIFIED;
                } else {
                    h.tries += 1;
                    h.last_arp_ms = now;
                    let port = h.port;
                    self.send_arp(port, nh);
                }
            }
        }
    }

    /// Broadcasts an ARP request for `target` out of `port`, from the director's address there.
    fn send_arp(&mut self, port: u16, target: Ipv4Addr) {
        let Some(me) = self.w.ports.get(usize::from(port)).copied() else { return };
        let Some(mut m) = self.w.pool.alloc() else { return };
        let Some(buf) = m.append(ETH_LEN + ARP_LEN) else { return };
        EthernetRepr { src: me.mac, dst: Mac::BROADCAST, vlan: None, ethertype: EtherType::ARP }.emit(buf);
        ArpRepr {
            operation: OP_REQUEST,
            sender_mac: me.mac,
            sender_ip: me.addr,
            target_mac: Mac::ZERO,
            target_ip: target,
        }
        .emit(&mut buf[ETH_LEN..]);
        self.io.arp_requests += 1;
        self.tx(port, m);
    }

    fn report(&mut self) {
        let p = &self.w.pipeline;
        let asked = self.w.shared.report_req.load(Ordering::Acquire);
        if let Ok(mut r) = self.w.shared.reports[self.w.index].try_lock() {
            r.gen = asked;
            self.reported = asked;
            r.counters.clone_from(p.counters());
            r.loads.clone_from_slice_or_extend(p.loads());
            r.dest_stats.clone_from_slice_or_extend(p.dest_stats());
            r.svc_stats.clone_from_slice_or_extend(p.service_stats());
            r.conns = p.connections().len();
            r.io = self.io;
        }
    }
}

/// Copies into an existing Vec without reallocating after the first time.
trait CloneInto<T: Clone> {
    fn clone_from_slice_or_extend(&mut self, src: &[T]);
}

impl<T: Clone> CloneInto<T> for Vec<T> {
    fn clone_from_slice_or_extend(&mut self, src: &[T]) {
        if self.len() == src.len() {
            self.clone_from_slice(src);
        } else {
            self.clear();
            self.extend_from_slice(src);
        }
    }
}
