//! Least connection (`lc`, `ip_vs_lc.c`).
//!
//! ```text
//! pick: among servers with weight > 0, the least overhead = active * 256 + inactive;
//!       ties -> the first in list order.
//! ```
//! Kept in a [`LeastTree`]: O(1) pick, O(log n) per load change.

use super::least::{LeastKey, TreeScheduler};
use super::View;

/// The `lc` key: overhead, unweighted.
#[derive(Debug, Clone, Copy)]
pub struct Lc;

impl LeastKey for Lc {
    const NAME: &'static str = "lc";
    const WEIGHTED: bool = false;
    #[inline(always)]
    fn key(v: &View<'_>, i: usize) -> Option<(u64, u32)> {
        (v.weight(i) > 0).then(|| (v.load(i).overhead(), 1))
    }
}

/// The `lc` scheduler: the least [`Lc`] key, kept in a tree.
pub fn new() -> TreeScheduler<Lc> {
    TreeScheduler::new()
}
