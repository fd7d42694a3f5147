//! Weighted least connection (`wlc`, `ip_vs_wlc.c`), IPVS's default scheduler.
//!
//! ```text
//! pick: among servers with weight > 0, the least overhead / weight, compared as
//!       oh(a) * w(b) < oh(b) * w(a); ties -> the first in list order.
//! ```

use super::least::LeastTree;
use super::{Flow, Scheduler, View};

/// wlc's key: overhead / weight.
pub(crate) fn key(v: &View<'_>, i: usize) -> Option<(u64, u64)> {
    let w = v.weight(i);
    (w > 0).then(|| (v.load(i).overhead(), u64::from(w)))
}

/// Weighted least connection.
#[derive(Debug, Default, Clone)]
pub struct WeightedLeastConnection {
    tree: LeastTree,
}

impl Scheduler for WeightedLeastConnection {
    fn name(&self) -> &'static str {
        "wlc"
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
