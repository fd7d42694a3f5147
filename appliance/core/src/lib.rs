//! rvs-core: the pure dataplane of the rvs load balancer.
//!
//! Everything rvs decides about a packet lives here, without DPDK, I/O, a clock or `unsafe`:
//! time is passed in, buffers belong to the caller (anything implementing [`frame::Frame`]),
//! and nothing allocates on the per-packet path. The daemon drives it over DPDK mbufs; tests
//! drive it over [`frame::VecFrame`].
#![forbid(unsafe_code)]

pub mod access;
pub mod conn;
pub mod encap;
pub mod family;
pub mod frame;
pub mod fwmark;
pub mod knobs;
pub mod neigh;
pub mod neigh_cache;
pub mod pipeline;
pub mod prefix_set;
pub mod sched;
pub mod seqlock;
pub mod service;
pub mod snapshot;
pub mod snat;
pub mod syncookie;
pub mod synproxy;
pub mod threshold;
pub mod verdict;
pub mod wire;
pub mod xmit;

pub use frame::{Frame, VecFrame};
pub use pipeline::{Pipeline, PipelineConfig, Stats};
pub use snapshot::Snapshot;
pub use verdict::{Counters, DropReason, Verdict};
