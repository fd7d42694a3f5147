//! Weighted failover (`fo`, `ip_vs_fo.c`): weight is a priority, not a share.
//!
//! ```text
//! pick: the server with the highest weight > 0 that is not overloaded;
//!       ties -> the first in list order.
//! ```
//! A linear scan, as IPVS: the weights it compares move without a rebuild (an `-x` threshold
//! sets a server's weight to 0 here, slow start ramps it), and the scan reads them as they are.

use super::{Flow, Scheduler, View};

/// Weighted failover. Keeps no state.
#[derive(Debug, Default, Clone)]
pub struct Failover;

impl Scheduler for Failover {
    fn name(&self) -> &'static str {
        "fo"
    }

    fn rebuild(&mut self, _view: &View<'_>) {}

    fn pick(&mut self, view: &View<'_>, _flow: &Flow, _now: u32) -> Option<usize> {
        let mut best: Option<(usize, u32)> = None;
        for i in 0..view.dests.len() {
            let w = view.weight(i);
            // Strictly greater: the first of equal weights keeps the traffic.
            if w > best.map_or(0, |b| b.1) {
                best = Some((i, w));
            }
        }
        best.map(|b| b.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::*;

    #[test]
    fn highest_weight_first_in_list_on_ties_and_never_weight_zero() {
        let (d, w, l) = setup(&[2, 5, 5, 1]);
        let v = View { dests: &d, weights: &w, loads: &l };
        assert_eq!(Failover.pick(&v, &flow(1), 0), Some(1));
        let (d, w, l) = setup(&[0, 0]);
        assert_eq!(Failover.pick(&View { dests: &d, weights: &w, loads: &l }, &flow(1), 0), None);
    }
}
