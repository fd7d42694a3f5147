//! Schedulers: which real server gets a new connection (`ipvsadm -s`), with IPVS's semantics
//! (`net/netfilter/ipvs/ip_vs_*.c`), one file each.
//!
//! Each scheduler splits a control-path [`Scheduler::rebuild`] (real servers or weights
//! changed) from a hot-path [`Scheduler::pick`] (one new connection). A worker owns one
//! instance per service — a per-core replica — so cursors and tables need no locks. Weights
//! come with the configuration snapshot; weight 0 means quiesced: never picked for a
//! new connection. All arithmetic is integer; ratios are compared by cross-multiplication.
//!
//! Loads across cores: each core counts the connections *it* created (IPVS's activeconns and
//! inactconns, per core) and lc/wlc/sed/nq/lblc/lblcr balance on those. RSS spreads clients
//! evenly and independently over cores, so each core's counts are a fair sample of the whole
//! and the per-core choices add up to a balanced whole; publishing aggregates instead would put
//! cross-core cache traffic on the connection path for little gain (see `tests/sched_cores.rs`).

pub mod dh;
pub mod flags;
pub mod fo;
pub mod lblc;
pub mod lblcr;
pub mod lc;
pub mod least;
pub mod mh;
pub mod nq;
pub mod ovf;
pub mod rr;
pub mod sed;
pub mod sh;
pub mod table;
pub mod twos;
pub mod wlc;
pub mod wrr;

use crate::family::AddrKey;
use crate::service::Dest;

/// A real server's load as this core counts it (IPVS's `activeconns` / `inactconns`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// ESTABLISHED TCP connections.
    pub active: u32,
    /// All other connections (handshake, closing, UDP).
    pub inactive: u32,
}

impl Load {
    /// IPVS's overhead figure: `active * 256 + inactive`.
    #[inline]
    pub fn overhead(&self) -> u64 {
        u64::from(self.active) * 256 + u64::from(self.inactive)
    }
}

/// What a scheduler sees of its service: the real servers in list order, and the weights and
/// loads of all real servers by id.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The service's real servers, in list order.
    pub dests: &'a [Dest],
    /// Weights by real-server id (from the weight store).
    pub weights: &'a [u32],
    /// Loads by real-server id (this core's counts).
    pub loads: &'a [Load],
}

impl View<'_> {
    /// Weight of the `i`-th server.
    #[inline]
    pub fn weight(&self, i: usize) -> u32 {
        self.weights[usize::from(self.dests[i].id)]
    }

    /// Load of the `i`-th server.
    #[inline]
    pub fn load(&self, i: usize) -> Load {
        self.loads[usize::from(self.dests[i].id)]
    }
}

/// The first packet of a new connection, as schedulers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// IP protocol.
    pub proto: u8,
    /// Client address (an IPv4 address in the low 32 bits).
    pub src: u128,
    /// Client port.
    pub sport: u16,
    /// Destination (virtual) address.
    pub dst: u128,
    /// Destination (virtual) port.
    pub dport: u16,
}

impl Flow {
    /// The flow of a packet of either family (`u32` or `u128` addresses).
    #[inline(always)]
    pub fn new<K: AddrKey>(proto: u8, src: K, sport: u16, dst: K, dport: u16) -> Self {
        Flow { proto, src: src.into(), sport, dst: dst.into(), dport }
    }

    /// IPVS's 32-bit fold of the client address (`ip_vs_sh_hashkey`): an IPv4 address itself,
    /// an IPv6 address's four words XORed.
    #[inline(always)]
    pub fn src_fold(&self) -> u32 {
        self.src.fold32()
    }

    /// The same for the destination address (dh, lblc, lblcr).
    #[inline(always)]
    pub fn dst_fold(&self) -> u32 {
        self.dst.fold32()
    }

    /// The destination address in 64 bits (lblc's and lblcr's table key): an IPv4 address
    /// itself, an IPv6 address's halves XORed (the destination is a VIP, which the operator
    /// chose, so halves that cancel out are not an attack surface).
    #[inline(always)]
    pub fn dst_key(&self) -> u64 {
        (self.dst >> 64) as u64 ^ self.dst as u64
    }
}

/// A scheduling algorithm instance for one service on one core.
pub trait Scheduler: Send + std::fmt::Debug {
    /// The name `ipvsadm -s` uses.
    fn name(&self) -> &'static str;
    /// Control path: the service's real servers or weights changed.
    fn rebuild(&mut self, view: &View<'_>);
    /// Hot path: the index (into `view.dests`) of the server for a new connection at second
    /// `now`, or `None` when no server may take one.
    fn pick(&mut self, view: &View<'_>, flow: &Flow, now: u32) -> Option<usize>;
    /// The load of server `i` changed (connection made, established, closed or expired).
    fn load_changed(&mut self, _view: &View<'_>, _i: usize) {}
    /// Control path: the service's scheduler flags (`ipvsadm -b`, [`flags`]) before a rebuild.
    fn set_flags(&mut self, _flags: u32) {}
    /// Ages internal tables (lblc/lblcr): at most `budget` slots per call.
    fn expire(&mut self, _now: u32, _budget: usize) {}
    /// Control path, once after creation: a seed for a scheduler that draws random numbers
    /// (twos), different per core and service.
    fn seed(&mut self, _seed: u64) {}
}

/// Scheduler names rvs implements, as `ipvsadm -s` spells them.
pub const NAMES: &[&str] =
    &["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"];

/// True for a scheduler that keeps connection counts in a structure of its own, so that it
/// must hear of every change ([`Scheduler::load_changed`]); rr, wrr and the hashes ignore
/// counts, fo, ovf and twos read them at the pick, and the pipeline skips telling them (a new
/// connection then costs less).
pub fn follows_loads(name: &str) -> bool {
    !matches!(name, "rr" | "wrr" | "dh" | "sh" | "mh" | "fo" | "ovf" | "twos")
}

/// True for the hash schedulers (dh, sh, mh): the real server follows from the packet and the
/// servers alone, so every core and every director picks the same one for a flow, whatever
/// it saw before.
pub fn is_hash(name: &str) -> bool {
    matches!(name, "dh" | "sh" | "mh")
}

/// Seed for the hashing schedulers' tables: the same on every core and every director, so
/// all replicas map a client to the same server (Maglev's point).
pub const HASH_SEED: u64 = 0x7276_735f_6d68_0001;

/// A new scheduler by its `ipvsadm -s` name.
pub fn new_scheduler(name: &str) -> Option<Box<dyn Scheduler>> {
    Some(match name {
        "rr" => Box::new(rr::RoundRobin::default()),
        "wrr" => Box::new(wrr::WeightedRoundRobin::default()),
        "lc" => Box::new(lc::new()),
        "wlc" => Box::new(wlc::new()),
        "sed" => Box::new(sed::new()),
        "nq" => Box::new(nq::NeverQueue::default()),
        "lblc" => Box::new(lblc::Lblc::new(lblc::DEFAULT_CAPACITY, lblc::DEFAULT_EXPIRATION)),
        "lblcr" => Box::new(lblcr::Lblcr::new(lblcr::DEFAULT_CAPACITY, lblcr::DEFAULT_EXPIRATION)),
        "dh" => Box::new(dh::DestinationHash::default()),
        "sh" => Box::new(sh::SourceHash::default()),
        "mh" => Box::new(mh::Maglev::new(mh::DEFAULT_TABLE_SIZE)),
        "fo" => Box::new(fo::Failover),
        "ovf" => Box::new(ovf::Overflow),
        "twos" => Box::new(twos::TwosChoice::default()),
        _ => return None,
    })
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::service::{Forward, MAX_DESTS};

    /// Servers 0..n with the given weights (ids = indices) and zero loads.
    pub fn setup(weights: &[u32]) -> (Vec<Dest>, Vec<u32>, Vec<Load>) {
        let dests = weights
            .iter()
            .enumerate()
            .map(|(i, _)| Dest {
                id: i as u16,
                addr: std::net::Ipv4Addr::from(0xC613_0000 + i as u32).into(),
                port: 80,
                weight: weights[i],
                forward: Forward::Nat,
                u_threshold: 0,
                l_threshold: 0,
                tunnel: crate::encap::Tunnel::IPIP,
            })
            .collect();
        let mut w = vec![0; MAX_DESTS];
        w[..weights.len()].copy_from_slice(weights);
        (dests, w, vec![Load::default(); MAX_DESTS])
    }

    pub fn flow(src: u32) -> Flow {
        Flow::new(6, src, 1024, 0xC612_0064u32, 80)
    }
}
