//! Schedulers: which real server gets a new connection (`ipvsadm -s`).
//!
//! Each scheduler splits a control-path [`Scheduler::rebuild`] (real servers or weights
//! changed) from a hot-path [`Scheduler::pick`] (one new connection). A worker owns one
//! instance per service, so cursors and tables are per core and need no locks. Weight 0 means
//! quiesced: never picked for a new connection.

pub mod rr;

use crate::service::Dest;
use std::net::Ipv4Addr;

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
    pub fn overhead(&self) -> u64 {
        u64::from(self.active) * 256 + u64::from(self.inactive)
    }
}

/// The first packet of a new connection, as the hashing schedulers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// IP protocol.
    pub proto: u8,
    /// Client address.
    pub src: Ipv4Addr,
    /// Client port.
    pub sport: u16,
    /// Virtual address.
    pub dst: Ipv4Addr,
    /// Virtual port.
    pub dport: u16,
}

/// A scheduling algorithm instance for one service on one core.
pub trait Scheduler: Send + std::fmt::Debug {
    /// The name `ipvsadm -s` uses.
    fn name(&self) -> &'static str;
    /// Control path: the service's real servers or weights changed.
    fn rebuild(&mut self, dests: &[Dest]);
    /// Hot path: the index (into `dests`) of the real server for a new connection, or `None`
    /// when no real server may take one. `loads` is indexed by [`Dest::id`].
    fn pick(&mut self, dests: &[Dest], loads: &[Load], flow: &Flow) -> Option<usize>;
}

/// Scheduler names rvs implements.
pub const NAMES: &[&str] = &["rr"];

/// A new scheduler by its `ipvsadm -s` name.
pub fn new_scheduler(name: &str) -> Option<Box<dyn Scheduler>> {
    match name {
        "rr" => Some(Box::new(rr::RoundRobin::default())),
        _ => None,
    }
}
