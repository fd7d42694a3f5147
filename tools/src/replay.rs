//! A replay port: a [`QueuePair`] that stands in for a NIC queue, so that rvsd's own worker
//! loop ([`rvsd::worker::Worker::run`]) can be measured in process on real DPDK mbufs.
//!
//! On `rx` it does what a NIC and its PMD do for the loop: takes mbufs from the pool and fills
//! them with frames (here: a header template, patched with the flow's client address and port,
//! with both checksums updated incrementally, RFC 1624). IPv6 templates carry the flow's client
//! in the last 32 bits of the address (a /96 of clients), which the transport checksum covers. On `tx` it frees what the loop sends,
//! as a PMD does once the NIC has sent it. The cycles spent in `rx`/`tx` are counted apart, so
//! a run reports the dataplane's own cost and the port's.
//!
//! Flows are visited in a fixed pseudo-random order (a stride coprime with the flow count), so
//! a large flow set spreads its lookups over the whole connection table, as real traffic does.

use hdrhistogram::Histogram;
use rvs_core::wire::checksum::{update16, update32};
use rvsd::port::dpdk::{rdtsc, Burst, Mempool, BURST_SIZE};
use rvsd::worker::QueuePair;
use std::sync::{Arc, Mutex};

/// Source ports used per client address.
pub const PORTS_PER_IP: u32 = 50_000;
/// First source port.
pub const FIRST_PORT: u16 = 1024;

/// A set of flows: flow `f` is client `ips[f / PORTS_PER_IP]`, port `FIRST_PORT + f % PORTS_PER_IP`.
#[derive(Debug, Clone)]
pub struct Flows {
    /// Client addresses (host order).
    pub ips: Vec<u32>,
    /// Flows in the set.
    pub len: u32,
}

impl Flows {
    /// `len` flows over the client addresses `candidates` yields that `keep` accepts.
    pub fn new(len: u32, candidates: impl Iterator<Item = u32>, keep: impl Fn(u32) -> bool) -> Self {
        let need = len.div_ceil(PORTS_PER_IP) as usize;
        let ips: Vec<u32> = candidates.filter(|&ip| keep(ip)).take(need.max(1)).collect();
        Flows { ips, len }
    }

    /// Client address and port of flow `f`.
    #[inline]
    pub fn flow(&self, f: u32) -> (u32, u16) {
        (self.ips[(f / PORTS_PER_IP) as usize], FIRST_PORT + (f % PORTS_PER_IP) as u16)
    }

    /// The flow index of a client address and port, if it is in the set.
    pub fn index_of(&self, ip: u32, port: u16) -> Option<u32> {
        let i = self.ips.iter().position(|&x| x == ip)? as u32;
        let p = u32::from(port.checked_sub(FIRST_PORT)?);
        let f = i * PORTS_PER_IP + p;
        (p < PORTS_PER_IP && f < self.len).then_some(f)
    }
}

/// A frame to replay, with where the flow's client address and port go.
#[derive(Debug, Clone)]
pub struct FrameTemplate {
    bytes: Vec<u8>,
    /// Frame length (bytes past the template's header are left as the buffer has them: only
    /// headers matter to a layer-4 balancer, and a NIC's DMA would fill them at no CPU cost).
    len: usize,
    ip_at: usize,
    port_at: usize,
    base_ip: [u8; 4],
    base_port: u16,
    ip_csum: u16,
    /// Where the L4 checksum is (None: a UDP datagram without one).
    l4_at: Option<usize>,
    l4_csum: u16,
    /// An IPv6 frame: no header checksum to patch.
    v6: bool,
}

/// Offsets in an untagged Ethernet + 20-byte IPv4 + TCP frame.
const IP_CSUM: usize = 24;
const SRC_IP: usize = 26;
const DST_IP: usize = 30;
const SRC_PORT: usize = 34;
const DST_PORT: usize = 36;
const TCP_CSUM: usize = 50;
const UDP_CSUM: usize = 40;
/// Bytes copied into each mbuf: Ethernet, IPv4 and TCP headers (and a 64-byte frame's all).
const HEADER: usize = 60;
/// The same offsets in an Ethernet + IPv6 (no extension header) + TCP frame: the low 32 bits of
/// each address.
const SRC_IP6_LOW: usize = 14 + 8 + 12;
const DST_IP6_LOW: usize = 14 + 24 + 12;
const SRC_PORT6: usize = 54;
const DST_PORT6: usize = 56;
const TCP_CSUM6: usize = 70;
const UDP_CSUM6: usize = 60;
const HEADER6: usize = 74;
/// The shortest IPv6 TCP frame (without FCS).
pub const MIN_FRAME6: usize = 74;

impl FrameTemplate {
    /// A template from a built TCP or UDP frame (no VLAN, no IP options) of `len` bytes on the
    /// wire (without FCS); the client is its source (`client_is_src`) or its destination
    /// (replies).
    pub fn new(frame: &[u8], len: usize, client_is_src: bool) -> Self {
        let be16 = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
        let v6 = be16(12) == 0x86dd;
        let (ip_at, port_at) = match (v6, client_is_src) {
            (false, true) => (SRC_IP, SRC_PORT),
            (false, false) => (DST_IP, DST_PORT),
            (true, true) => (SRC_IP6_LOW, SRC_PORT6),
            (true, false) => (DST_IP6_LOW, DST_PORT6),
        };
        let h = frame.len().min(if v6 { HEADER6 } else { HEADER });
        let l4_at = match (v6, frame[if v6 { 20 } else { 23 }]) {
            (false, 17) if be16(UDP_CSUM) == 0 => None,
            (false, 17) => Some(UDP_CSUM),
            (false, _) => Some(TCP_CSUM),
            (true, 17) => Some(UDP_CSUM6),
            (true, _) => Some(TCP_CSUM6),
        };
        FrameTemplate {
            bytes: frame[..h].to_vec(),
            len: len.max(h),
            ip_at,
            port_at,
            base_ip: [frame[ip_at], frame[ip_at + 1], frame[ip_at + 2], frame[ip_at + 3]],
            base_port: be16(port_at),
            ip_csum: if v6 { 0 } else { be16(IP_CSUM) },
            l4_at,
            l4_csum: l4_at.map_or(0, be16),
            v6,
        }
    }

    /// Writes this frame for client `ip:port` into `buf` (at least `self.len()` bytes).
    #[inline]
    pub fn fill(&self, buf: &mut [u8], ip: u32, port: u16) {
        let h = self.bytes.len();
        buf[..h].copy_from_slice(&self.bytes);
        let ipb = ip.to_be_bytes();
        buf[self.ip_at..self.ip_at + 4].copy_from_slice(&ipb);
        buf[self.port_at..self.port_at + 2].copy_from_slice(&port.to_be_bytes());
        if !self.v6 {
            let ipc = update32(self.ip_csum, self.base_ip, ipb);
            buf[IP_CSUM..IP_CSUM + 2].copy_from_slice(&ipc.to_be_bytes());
        }
        if let Some(at) = self.l4_at {
            let l4 = update16(update32(self.l4_csum, self.base_ip, ipb), self.base_port, port);
            buf[at..at + 2].copy_from_slice(&l4.to_be_bytes());
        }
    }

    /// Frame length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true (a template holds at least its headers).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What one port of one worker receives.
#[derive(Debug)]
pub struct Traffic {
    /// The established flows.
    pub flows: Arc<Flows>,
    /// Per flow: which template set (real server) its frames use; empty = set 0 for all.
    pub flow_set: Arc<Vec<u8>>,
    /// FrameTemplate sets (one per real server for replies, one for client frames); within a set,
    /// one template per frame size, cycled through in order (the size mix).
    pub sets: Vec<Vec<FrameTemplate>>,
    /// Per cent of frames that are SYNs of new flows (0..=100).
    pub syn_percent: u32,
    /// The SYN template (client side).
    pub syn: Option<FrameTemplate>,
    /// New flows, used in order for SYNs.
    pub new_flows: Arc<Flows>,
    /// Per flow: the end its frames carry instead of the flow's client (FULLNAT's replies go
    /// to a local address and port, not to the client); empty = the client's own.
    pub local_ends: Arc<Vec<(u32, u16)>>,
}

/// Slices of a measuring window: figures are kept per slice, so that a run can report its
/// median slice (and the spread) rather than one average a burst of host noise can skew.
pub const SLICES: usize = 5;

/// Figures of one slice of the measuring window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slice {
    /// Frames handed to the loop.
    pub rx: u64,
    /// Frames the loop sent.
    pub tx: u64,
    /// SYNs of new flows handed to the loop.
    pub syns: u64,
    /// TSC cycles spent in rx (allocation and filling) and tx (freeing).
    pub port_cycles: u64,
    /// TSC of the first and the last counted rx.
    pub first_tsc: u64,
    /// See `first_tsc`.
    pub last_tsc: u64,
}

/// Figures one replay queue gathered in its measuring window.
#[derive(Debug, Clone)]
pub struct QueueStats {
    /// Per slice of the window, in order.
    pub slices: [Slice; SLICES],
    /// Cycles per loop iteration (rx to rx), when this queue times the loop.
    pub loop_cycles: Option<Histogram<u64>>,
}

/// A replay port's queue pair for one worker.
#[derive(Debug)]
pub struct ReplayQueue<'p> {
    pool: &'p Mempool<'p>,
    traffic: Option<Traffic>,
    /// Position in the flow order, its stride, and the size cycle.
    cursor: u32,
    stride: u32,
    size: usize,
    syn_acc: u32,
    next_new: u32,
    measure_from: u64,
    slice_cycles: u64,
    prev_rx: u64,
    st: QueueStats,
    out: Arc<Mutex<Vec<QueueStats>>>,
}

/// A stride coprime with `n`, so that `f += stride mod n` visits every flow once per round.
fn stride_for(n: u32) -> u32 {
    let n = n.max(1);
    let mut s = (u64::from(n) * 618_034 / 1_000_000) as u32 | 1;
    while gcd(s, n) != 1 {
        s += 2;
    }
    s % n
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl<'p> ReplayQueue<'p> {
    /// A queue receiving `traffic` (None: a port that receives nothing). Counting starts at TSC
    /// `measure_from`, in [`SLICES`] slices of `slice_cycles` (the last takes any overrun);
    /// `times_loop` records the loop iteration time; on drop the figures are pushed to `out`.
    pub fn new(
        pool: &'p Mempool<'p>,
        traffic: Option<Traffic>,
        measure_from: u64,
        slice_cycles: u64,
        times_loop: bool,
        out: Arc<Mutex<Vec<QueueStats>>>,
    ) -> Self {
        let n = traffic.as_ref().map_or(1, |t| t.flows.len);
        ReplayQueue {
            pool,
            traffic,
            cursor: 0,
            stride: stride_for(n),
            size: 0,
            syn_acc: 0,
            next_new: 0,
            measure_from,
            slice_cycles: slice_cycles.max(1),
            prev_rx: 0,
            st: QueueStats {
                slices: [Slice::default(); SLICES],
                loop_cycles: times_loop.then(|| Histogram::new_with_bounds(1, 1 << 40, 3).expect("bounds")),
            },
            out,
        }
    }
}

impl ReplayQueue<'_> {
    /// The slice TSC `t` (at or after `measure_from`) falls in.
    #[inline]
    fn slice(&self, t: u64) -> usize {
        (((t - self.measure_from) / self.slice_cycles) as usize).min(SLICES - 1)
    }
}

impl<'p> QueuePair<'p> for ReplayQueue<'p> {
    #[inline]
    fn rx(&mut self, burst: &mut Burst<'p>) -> usize {
        let Some(t) = self.traffic.as_ref() else { return 0 };
        let t0 = rdtsc();
        let counting = t0 >= self.measure_from;
        let mut n = 0;
        let mut syns = 0;
        while n < BURST_SIZE {
            let Some(mut m) = self.pool.alloc() else { break };
            self.syn_acc += t.syn_percent;
            let (tmpl, ip, port) = if self.syn_acc >= 100 && self.next_new < t.new_flows.len {
                self.syn_acc -= 100;
                let (ip, port) = t.new_flows.flow(self.next_new);
                self.next_new += 1;
                syns += 1;
                (t.syn.as_ref().unwrap_or(&t.sets[0][0]), ip, port)
            } else {
                let f = self.cursor;
                self.cursor += self.stride;
                if self.cursor >= t.flows.len {
                    self.cursor -= t.flows.len;
                }
                let set = t.flow_set.get(f as usize).map_or(0, |&s| usize::from(s));
                let sizes = &t.sets[set];
                let tmpl = &sizes[self.size % sizes.len()];
                self.size = self.size.wrapping_add(1);
                let (ip, port) = match t.local_ends.get(f as usize) {
                    Some(&end) => end,
                    None => t.flows.flow(f),
                };
                (tmpl, ip, port)
            };
            let Some(buf) = m.append(tmpl.len()) else { break };
            tmpl.fill(buf, ip, port);
            if burst.push(m).is_err() {
                break;
            }
            n += 1;
        }
        let t1 = rdtsc();
        if counting {
            if self.prev_rx >= self.measure_from {
                if let Some(h) = self.st.loop_cycles.as_mut() {
                    h.saturating_record(t0 - self.prev_rx);
                }
            }
            let s = &mut self.st.slices[self.slice(t0)];
            if s.first_tsc == 0 {
                s.first_tsc = t0;
            }
            s.rx += n as u64;
            s.syns += syns;
            s.port_cycles += t1 - t0;
            s.last_tsc = t0;
        }
        self.prev_rx = t0;
        n
    }

    #[inline]
    fn tx(&mut self, burst: &mut Burst<'p>) -> usize {
        let t0 = rdtsc();
        let n = burst.len();
        burst.clear();
        if t0 >= self.measure_from {
            let k = self.slice(t0);
            let s = &mut self.st.slices[k];
            s.tx += n as u64;
            s.port_cycles += rdtsc() - t0;
        }
        n
    }
}

impl Drop for ReplayQueue<'_> {
    fn drop(&mut self) {
        if self.traffic.is_some() || self.st.slices.iter().any(|s| s.tx > 0) {
            if let Ok(mut v) = self.out.lock() {
                v.push(self.st.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stride_visits_every_flow_once_per_round() {
        for n in [1u32, 2, 3, 10, 1000, 50_000, 65_536] {
            let s = stride_for(n);
            let mut seen = vec![false; n as usize];
            let mut f = 0u32;
            for _ in 0..n {
                assert!(!seen[f as usize], "n={n}: flow {f} twice");
                seen[f as usize] = true;
                f = (f + s) % n;
            }
        }
    }

    #[test]
    fn flows_map_both_ways_and_templates_keep_checksums_right() {
        let fl = Flows::new(120_000, 100..200, |ip| ip % 2 == 0);
        assert_eq!(fl.ips, vec![100, 102, 104]);
        assert_eq!(fl.flow(50_001), (102, FIRST_PORT + 1));
        assert_eq!(fl.index_of(102, FIRST_PORT + 1), Some(50_001));
        assert_eq!(fl.index_of(104, FIRST_PORT + 30_000), None, "beyond len");

        use rvs_core::wire::build::PacketBuilder;
        use rvs_core::wire::tcp::flags::ACK;
        use rvs_core::wire::Mac;
        use std::net::Ipv4Addr;
        let b = PacketBuilder::new(Mac([2; 6]), Mac([4; 6]), Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 1, 1));
        let t = FrameTemplate::new(&b.tcp(1000, 80, ACK, 7, &[0; 6]), 60, true);
        let mut buf = vec![0u8; t.len()];
        t.fill(&mut buf, u32::from(Ipv4Addr::new(100, 64, 3, 9)), 4321);
        let want =
            PacketBuilder::new(Mac([2; 6]), Mac([4; 6]), Ipv4Addr::new(100, 64, 3, 9), Ipv4Addr::new(10, 0, 1, 1))
                .tcp(4321, 80, ACK, 7, &[0; 6]);
        assert_eq!(buf, want, "patched frame equals one built for that flow");
        for csum in [true, false] {
            let u = FrameTemplate::new(&b.udp(1000, 53, &[1; 18], csum), 60, true);
            let mut buf = vec![0u8; u.len()];
            u.fill(&mut buf, u32::from(Ipv4Addr::new(100, 64, 3, 9)), 4321);
            let want =
                PacketBuilder::new(Mac([2; 6]), Mac([4; 6]), Ipv4Addr::new(100, 64, 3, 9), Ipv4Addr::new(10, 0, 1, 1))
                    .udp(4321, 53, &[1; 18], csum);
            assert_eq!(buf, want, "UDP with checksum {csum}");
        }
    }
}
