//! Least connection (`lc`, `ip_vs_lc.c`).
//!
//! ```text
//! pick: among servers with weight > 0, the least overhead = active * 256 + inactive;
//!       ties -> the first in list order.
//! ```
//! Kept in a [`LeastTree`]: O(1) pick, O(log n) per load change.

use super::least::LeastTree;
use super::{Flow, Scheduler, View};

/// lc's key: overhead, unweighted.
fn key(v: &View<'_>, i: usize) -> Option<(u64, u64)> {
    (v.weight(i) > 0).then(|| (v.load(i).overhead(), 1))
}

/// Least connection.
#[derive(Debug, Default, Clone)]
pub struct LeastConnection {
    tree: LeastTree,
}

impl Scheduler for LeastConnection {
    fn name(&self) -> &'static str {
        "lc"
    }
    fn rebuild(&mut self, view: &View<'_>) {
        self.tree.build(view, key);
    }
    fn pick(&mut self, view: &View<'_>, _flow: &Flow, _now: u32) -> Option<usize> {
        self.tree.min(view, key)
    }
    fn load_changed(&mut self, view: &View<'_>, i: usize) {
        self.tree.update(view, key, i);
    }
}
