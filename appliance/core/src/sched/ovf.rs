//! Weighted overflow (`ovf`, `ip_vs_ovf.c`): every connection to the highest-weight server
//! until its active connections exceed its weight, then to the next highest.
//!
//! ```text
//! pick: among servers with weight > 0, not overloaded and active <= weight,
//!       the highest weight; ties -> the first in list order.
//! ```
//! Only active (ESTABLISHED) connections count, so, as IPVS warns, UDP never overflows. A
//! linear scan, as IPVS, over the loads as they are at the pick.

use super::{Flow, Scheduler, View};

/// Weighted overflow. Keeps no state.
#[derive(Debug, Default, Clone)]
pub struct Overflow;

impl Scheduler for Overflow {
    fn name(&self) -> &'static str {
        "ovf"
    }

    fn rebuild(&mut self, _view: &View<'_>) {}

    fn pick(&mut self, view: &View<'_>, _flow: &Flow, _now: u32) -> Option<usize> {
        let mut best: Option<(usize, u32)> = None;
        for i in 0..view.dests.len() {
            let w = view.weight(i);
            if w == 0 || view.load(i).active > w {
                continue;
            }
            if best.is_none_or(|b| w > b.1) {
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
    fn stays_on_the_heaviest_until_its_active_count_exceeds_its_weight() {
        let (d, w, mut l) = setup(&[1, 3, 2]);
        l[1].active = 3; // equal to its weight: still taken
        assert_eq!(Overflow.pick(&View { dests: &d, weights: &w, loads: &l }, &flow(1), 0), Some(1));
        l[1].active = 4;
        assert_eq!(Overflow.pick(&View { dests: &d, weights: &w, loads: &l }, &flow(1), 0), Some(2));
        l[2].active = 3;
        l[0].active = 2;
        assert_eq!(Overflow.pick(&View { dests: &d, weights: &w, loads: &l }, &flow(1), 0), None, "all full");
    }
}
