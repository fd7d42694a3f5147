//! Shortest expected delay (`sed`, `ip_vs_sed.c`).
//!
//! ```text
//! pick: among servers with weight > 0, the least (active + 1) / weight (inactive
//!       connections do not count); ties -> the first in list order.
//! ```

use super::least::LeastTree;
use super::{Flow, Scheduler, View};

/// sed's key: (active + 1) / weight.
pub(crate) fn key(v: &View<'_>, i: usize) -> Option<(u64, u64)> {
    let w = v.weight(i);
    (w > 0).then(|| (u64::from(v.load(i).active) + 1, u64::from(w)))
}

/// Shortest expected delay.
#[derive(Debug, Default, Clone)]
pub struct ShortestExpectedDelay {
    tree: LeastTree,
}

impl Scheduler for ShortestExpectedDelay {
    fn name(&self) -> &'static str {
        "sed"
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
