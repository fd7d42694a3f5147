//! Shortest expected delay (`sed`, `ip_vs_sed.c`).
//!
//! ```text
//! pick: among servers with weight > 0, the least (active + 1) / weight (inactive
//!       connections do not count); ties -> the first in list order.
//! ```

use super::least::{LeastKey, TreeScheduler};
use super::View;

/// The `sed` key: (active + 1) / weight.
#[derive(Debug, Clone, Copy)]
pub struct Sed;

impl LeastKey for Sed {
    const NAME: &'static str = "sed";
    const WEIGHTED: bool = true;
    #[inline(always)]
    fn key(v: &View<'_>, i: usize) -> Option<(u64, u32)> {
        let w = v.weight(i);
        (w > 0).then(|| (u64::from(v.load(i).active) + 1, w))
    }
}

/// The `sed` scheduler: the least [`Sed`] key, kept in a tree.
pub fn new() -> TreeScheduler<Sed> {
    TreeScheduler::new()
}
