//! Round robin (`rr`, `ip_vs_rr.c`).
//!
//! ```text
//! pick: from the server after the one picked last, in list order (wrapping), take the first
//!       whose weight > 0; none -> no server.
//! ```

use super::{Flow, Scheduler, View};

/// Round-robin cursor.
#[derive(Debug, Default, Clone)]
pub struct RoundRobin {
    last: Option<usize>,
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn rebuild(&mut self, view: &View<'_>) {
        if self.last.is_some_and(|l| l >= view.dests.len()) {
            self.last = None;
        }
    }

    fn pick(&mut self, view: &View<'_>, _flow: &Flow, _now: u32) -> Option<usize> {
        let n = view.dests.len();
        let start = self.last.map_or(0, |l| l + 1);
        for k in 0..n {
            let i = (start + k) % n;
            if view.weight(i) > 0 {
                self.last = Some(i);
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::*;

    #[test]
    fn cycles_in_list_order_skipping_quiesced() {
        let (d, w, l) = setup(&[1, 0, 5, 1]);
        let v = View { dests: &d, weights: &w, loads: &l };
        let mut s = RoundRobin::default();
        s.rebuild(&v);
        let picks: Vec<usize> = (0..6).map(|_| s.pick(&v, &flow(1), 0).unwrap()).collect();
        assert_eq!(picks, vec![0, 2, 3, 0, 2, 3]);
    }

    #[test]
    fn all_quiesced_or_empty_gives_none() {
        let (d, w, l) = setup(&[0, 0]);
        assert_eq!(RoundRobin::default().pick(&View { dests: &d, weights: &w, loads: &l }, &flow(1), 0), None);
        assert_eq!(RoundRobin::default().pick(&View { dests: &[], weights: &w, loads: &l }, &flow(1), 0), None);
    }
}
