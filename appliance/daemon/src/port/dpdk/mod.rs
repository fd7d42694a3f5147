//! A safe layer over DPDK: EAL, mbuf pools, ports and their queues.
//!
//! Ownership follows DPDK's own rules, expressed as lifetimes so the compiler checks them:
//! an [`Eal`] outlives every [`Mempool`] made from it, a pool outlives every [`Port`] whose
//! receive queues draw from it and every [`Mbuf`] taken from it, and each [`Queue`] (one rx and
//! one tx queue of one port) is used by one thread at a time. This module and `dpdk-sys` are
//! the only places in rvs with `unsafe`; every block says why it is sound.
#![allow(unsafe_code)]

mod burst;
mod eal;
mod mbuf;
mod mempool;
mod port;

pub use burst::{Burst, BURST_SIZE};
pub use eal::Eal;
pub use mbuf::Mbuf;
pub use mempool::Mempool;
pub use port::{LinkStatus, Port, PortConfig, PortStats, Queue};

use std::ffi::CStr;

/// An error from a DPDK call: which call, and DPDK's error code and text.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {text} (code {code})")]
pub struct DpdkError {
    /// The operation that failed.
    pub op: String,
    /// DPDK's error code (a positive errno value).
    pub code: i32,
    /// `rte_strerror`'s text for it.
    pub text: String,
}

impl DpdkError {
    /// An error for `op` with DPDK's code `code` (the sign is ignored; DPDK mixes both).
    pub(crate) fn new(op: impl Into<String>, code: i32) -> Self {
        let code = code.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
        // string for any code; it is copied out at once.
        let text = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(code)) }.to_string_lossy().into_owned();
        DpdkError { op: op.into(), code, text }
    }

    /// An error for `op` from `rte_errno` (for calls that report failure by a null pointer).
    pub(crate) fn from_errno(op: impl Into<String>) -> Self {
        // SAFETY: reading the calling thread's rte_errno has no preconditions.
        let code = unsafe { dpdk_sys::rvs_errno() };
        Self::new(op, code)
    }

    /// An error detected on the Rust side (bad argument), with an errno-style code.
    pub(crate) fn invalid(op: impl Into<String>, text: impl Into<String>) -> Self {
        DpdkError { op: op.into(), code: libc::EINVAL, text: text.into() }
    }
}

/// Reads the TSC (cycles since reset); used for timing in benches and idle back-off.
#[inline]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: RDTSC only reads the time-stamp counter (inline: no call into the shim).
    return unsafe { core::arch::x86_64::_rdtsc() };
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: rte_rdtsc only reads the time-stamp counter.
    return unsafe { dpdk_sys::rvs_rdtsc() };
}

/// Asks the CPU to bring the cache line at `p` into all cache levels (DPDK's `rte_prefetch0`),
/// for [`rvs_core::Pipeline::lookahead`]. Never faults, whatever `p` is.
#[inline]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it reads nothing architecturally and never faults, even for
    // an invalid address; SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// TSC ticks per second as EAL measured it (valid after [`Eal::init`]).
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a value EAL computed at init; returns 0 before init, never faults.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}
