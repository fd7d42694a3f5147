//! A worker: one lcore's poll loop over its rx/tx queue pair on every port (RSS-sharded), its
//! own pipeline (connections, scheduler replicas, counters), bursts of 32 looked ahead over and
//! processed, and at each burst boundary the control plane's work in bounded pieces: a new
//! snapshot, timers, handed-over frames, ARP, reports and connection listings.
//!
//! The parts: [`backoff`] (idle sleeping), [`mailbox`] (what workers and the control thread
//! share), [`hold_queue`] (frames waiting for ARP), [`report`] (figures for the control plane);
//! this file is the loop.

mod backoff;
mod fragment_hold;
mod hold_queue;
mod mailbox;
mod report;

pub use backoff::IdleBackoff;
pub use hold_queue::{PendingQueue, ARP_RETRY_MS, ARP_TRIES, PENDING_FRAMES, PENDING_HOPS};
pub use mailbox::{Handoff, PortIdentity, Shared};
pub use report::{IoCounters, WorkerReport};

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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Most packets the SYN proxy's timers write in one poll (the rest wait for the next).
const GENERATED_MAX: usize = 64;

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

/// A worker while it runs: its configuration and the state of its loop.
struct Running<'a, 'p, Q: QueuePair<'p>> {
    worker: Worker<'a, 'p, Q>,
    tx: Vec<Burst<'p>>,
    /// Per port: frames for the kernel (TAP exception device).
    to_kernel: Vec<Burst<'p>>,
    pending: PendingQueue<'p>,
    frags: fragment_hold::FragmentHold<'p>,
    io: IoCounters,
    /// The last report request answered.
    reported: u64,
    /// Progress through the current connection listing.
    listing: crate::conn_list::WorkerListing,
    /// Packets the SYN proxy's timers wrote, with their verdicts (sent after the poll).
    generated: Vec<(Mbuf<'p>, Verdict)>,
}

impl<'a, 'p, Q: QueuePair<'p>> Worker<'a, 'p, Q> {
    /// Polls until `shared.stop`; returns 0. Frees everything it holds on the way out.
    pub fn run(self) -> i32 {
        let clock = Instant::now();
        let n_ports = self.queues.len();
        let mut l = Running {
            worker: self,
            tx: (0..n_ports).map(|_| Burst::new()).collect(),
            to_kernel: (0..n_ports).map(|_| Burst::new()).collect(),
            pending: PendingQueue::new(),
            frags: fragment_hold::FragmentHold::new(),
            io: IoCounters::default(),
            reported: 0,
            listing: Default::default(),
            generated: Vec::with_capacity(GENERATED_MAX),
        };
        let mut idle = IdleBackoff::new(!l.worker.busy_poll);
        let mut rx = Burst::new();
        let mut parsed = [Parsed::default(); LOOKAHEAD];
        let (mut last_timers, mut last_report) = (0u64, 0u64);
        let mut snap_gen = 0u64;
        let base_ms = rvs_core::pipeline::CLOCK_EPOCH_MS;
        while !l.worker.shared.stop.load(Ordering::Relaxed) {
            let shared = l.worker.shared;
            shared.heartbeats[l.worker.index].honour_pause(&shared.started, &shared.stop);
            let now = base_ms + clock.elapsed().as_millis() as u64;
            let mut got = 0;
            for p in 0..n_ports {
                let n = l.worker.queues[p].rx(&mut rx);
                got += n;
                l.worker.pipeline.lookahead(p as u16, rx.iter(), &mut parsed, crate::port::dpdk::prefetch);
                for (m, read) in rx.drain().zip(parsed.iter()) {
                    l.handle_parsed(p as u16, m, Some(read), now);
                }
                l.worker.pipeline.file_deferred(crate::port::dpdk::prefetch);
            }
            // The kernel's own traffic leaves through the port its TAP device stands for.
            for p in 0..n_ports {
                let Some(q) = l.worker.exceptions[p].as_mut() else { continue };
                let n = q.rx(&mut rx);
                got += n;
                l.io.from_kernel += n as u64;
                for m in rx.drain() {
                    l.tx(p as u16, m);
                }
            }
            for _ in 0..BURST_SIZE {
                let Some((p, m)) = l.worker.shared.inbound[l.worker.index].pop() else { break };
                got += 1;
                l.io.ring_in += 1;
                l.handle(p, m, now);
            }
            l.service_pending(now);
            l.service_fragments(now);
            while let Some((port, ip)) = l.worker.shared.arp_requests[l.worker.index].pop() {
                l.send_arp(port, ip);
            }
            for k in l.worker.pipeline.take_learned().iter() {
                let _ = l.worker.shared.learned.push(*k);
            }
            l.exchange_sync(now);
            l.flush_all();
            let g = l.worker.shared.snapshot_gen.load(Ordering::Acquire);
            if g != snap_gen {
                snap_gen = g;
                l.worker.pipeline.apply(l.worker.shared.snapshot.load_full());
            }
            if now - last_timers >= 10 {
                l.worker.pipeline.poll_timers(now);
                l.poll_synproxy(now);
                last_timers = now;
            }
            let (table, table6) = (l.worker.pipeline.connections(), l.worker.pipeline.connections6());
            l.worker.shared.listing.serve(l.worker.index, &mut l.listing, table, table6, (now / 1000) as u32);
            let asked = l.worker.shared.report_req.load(Ordering::Acquire);
            if now - last_report >= 200 || asked != l.reported {
                l.report();
                last_report = now;
            }
            idle.after_poll(got);
        }
        l.report();
        l.pending.clear();
        l.drop_held_fragments();
        0
    }
}

impl<'p, Q: QueuePair<'p>> Running<'_, 'p, Q> {
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
            Some(read) => self.worker.pipeline.process_parsed(now, port, &mut m, read),
            None => self.worker.pipeline.process(now, port, &mut m),
        };
        match v {
            Verdict::Forward(p) => self.tx(p, m),
            Verdict::Reply => self.tx(port, m),
            Verdict::Drop(_) => {}
            Verdict::ToKernel => self.kernel(port, m),
            Verdict::Pending { port: p, next_hop } => self.hold(p, next_hop, m, now),
            Verdict::HoldFragment => self.hold_fragment(port, m, now),
            Verdict::Redirect(core) => {
                if let Some(q) = self.worker.shared.inbound.get(usize::from(core)) {
                    if q.push((port, m)).is_err() {
                        self.io.ring_full += 1;
                    }
                }
            }
        }
    }

    /// The SYN proxy's due timers: the SYNs it sends again and the resets it gives up with.
    fn poll_synproxy(&mut self, now: u64) {
        let pool = self.worker.pool;
        let generated = &mut self.generated;
        // Frames up to the batch's room; the rest of the timers wait for the next poll.
        let room = std::cell::Cell::new(GENERATED_MAX);
        let alloc = || {
            let r = room.get().checked_sub(1)?;
            room.set(r);
            pool.alloc()
        };
        self.worker.pipeline.poll_synproxy(now, alloc, |m, v| generated.push((m, v)));
        let mut g = std::mem::take(&mut self.generated);
        for (m, v) in g.drain(..) {
            match v {
                Verdict::Forward(p) => self.tx(p, m),
                Verdict::Pending { port, next_hop } => self.hold(port, next_hop, m, now),
                _ => {}
            }
        }
        self.generated = g;
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
        self.worker.queues[p].tx(&mut self.tx[p]);
        if !self.tx[p].is_empty() {
            self.io.tx_dropped += self.tx[p].len() as u64;
            self.tx[p].clear();
        }
    }

    fn flush_all(&mut self) {
        for p in 0..self.tx.len() {
            self.flush(p);
            if let Some(q) = self.worker.exceptions[p].as_mut() {
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
        if self.worker.exceptions.get(p).is_none_or(|q| q.is_none()) {
            self.io.to_kernel_dropped += 1;
            return;
        }
        self.io.to_kernel += 1;
        if let Err(m) = self.to_kernel[p].push(m) {
            if let Some(q) = self.worker.exceptions[p].as_mut() {
                q.tx(&mut self.to_kernel[p]);
                self.io.tx_dropped += self.to_kernel[p].len() as u64;
                self.to_kernel[p].clear();
            }
            let _ = self.to_kernel[p].push(m);
        }
    }
}
