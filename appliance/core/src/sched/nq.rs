//! Never queue (`nq`, `ip_vs_nq.c`).
//!
//! ```text
//! pick: the first server in list order with weight > 0 and no active connection, if any;
//!       otherwise as sed: the least (active + 1) / weight, ties -> the first in list order.
//! ```
//! Two trees: one whose least key is "idle, lowest index", one for sed.

use super::least::{LeastKey, LeastTree};
use super::sed::Sed;
use super::{Flow, Scheduler, View};

/// 0 for an idle eligible server, 1 for a busy one: the tree's minimum is the first idle one.
struct Idle;

impl LeastKey for Idle {
    const NAME: &'static str = "nq";
    const WEIGHTED: bool = false;
    #[inline(always)]
    fn key(v: &View<'_>, i: usize) -> Option<(u64, u32)> {
        (v.weight(i) > 0).then(|| (u64::from(v.load(i).active > 0), 1))
    }
}

/// Never queue.
#[derive(Debug, Default, Clone)]
pub struct NeverQueue {
    idle: LeastTree,
    sed: LeastTree,
}

impl Scheduler for NeverQueue {
    fn name(&self) -> &'static str {
        "nq"
    }
    fn rebuild(&mut self, view: &View<'_>) {
        self.idle.build::<Idle>(view);
        self.sed.build::<Sed>(view);
    }
    fn pick(&mut self, view: &View<'_>, _flow: &Flow, _now: u32) -> Option<usize> {
        match self.idle.min() {
            Some(i) if view.load(i).active == 0 => Some(i),
            _ => self.sed.min(),
        }
    }
    fn load_changed(&mut self, view: &View<'_>, i: usize) {
        self.idle.update::<Idle>(view, i);
        self.sed.update::<Sed>(view, i);
    }
}
