//! Weighted round robin (`wrr`, `ip_vs_wrr.c`): IPVS's interleaving by the gcd of the weights.
//!
//! ```text
//! rebuild: di = gcd of the positive weights, mw = max weight - (di - 1); first time cw = mw;
//!          on a change the cursor goes back to the list head and cw is clamped as IPVS does
//!          (cw = mw if cw > mw or cw == 0, else rounded down to a multiple of di, plus 1)
//! pick:    mw == 0 -> no server; from the server after the cursor to the end of the list,
//!          take the first with weight >= cw; at the end, cw -= di (if cw <= 0, cw = mw) and
//!          go on from the head; give up after a lap in which cw went round to mw twice.
//! ```
//! Weights 4, 3, 2 give the period A A B A B C A B C.

use super::{Flow, Scheduler, View};

/// wrr cursor: current index (None = before the first server) and current weight.
#[derive(Debug, Default, Clone)]
pub struct WeightedRoundRobin {
    cl: Option<usize>,
    cw: i64,
    mw: i64,
    di: i64,
    /// Weights at the last rebuild (None before the first): a rebuild with nothing changed
    /// leaves the sequence alone.
    built: Option<Vec<u32>>,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Scheduler for WeightedRoundRobin {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn rebuild(&mut self, view: &View<'_>) {
        let now: Vec<u32> = (0..view.dests.len()).map(|i| view.weight(i)).collect();
        if self.built.as_ref() == Some(&now) {
            return;
        }
        let first = self.built.is_none();
        self.di = now.iter().filter(|&&w| w > 0).fold(0, |g, &w| gcd(i64::from(w), g)).max(1);
        self.mw = now.iter().copied().max().map_or(0, i64::from) - (self.di - 1);
        self.cl = None;
        if first || self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
        self.built = Some(now);
    }

    fn pick(&mut self, view: &View<'_>, _flow: &Flow, _now: u32) -> Option<usize> {
        let n = view.dests.len();
        if n == 0 || self.mw <= 0 {
            return None;
        }
        let mut resets = 0;
        loop {
            let next = match self.cl {
                None => 0,
                Some(c) if c + 1 < n => c + 1,
                Some(_) => {
                    // Past the end: next round at a lower weight threshold.
                    self.cw -= self.di;
                    if self.cw <= 0 {
                        self.cw = self.mw;
                        resets += 1;
                        if resets > 2 {
                            self.cl = None;
                            return None;
                        }
                    }
                    0
                }
            };
            self.cl = Some(next);
            let w = view.weight(next);
            if w > 0 && i64::from(w) >= self.cw {
                return Some(next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::*;

    fn seq(weights: &[u32], n: usize) -> String {
        let (d, w, l) = setup(weights);
        let v = View { dests: &d, weights: &w, loads: &l };
        let mut s = WeightedRoundRobin::default();
        s.rebuild(&v);
        (0..n).map(|_| (b'A' + s.pick(&v, &flow(1), 0).unwrap() as u8) as char).collect()
    }

    #[test]
    fn period_of_4_3_2_is_aababcabc() {
        assert_eq!(seq(&[4, 3, 2], 18), "AABABCABCAABABCABC");
    }

    #[test]
    fn equal_weights_are_plain_round_robin_and_zero_is_skipped() {
        assert_eq!(seq(&[5, 5, 5], 6), "ABCABC");
        assert_eq!(seq(&[2, 0, 1], 6), "AACAAC");
        let (d, w, l) = setup(&[0, 0]);
        let v = View { dests: &d, weights: &w, loads: &l };
        let mut s = WeightedRoundRobin::default();
        s.rebuild(&v);
        assert_eq!(s.pick(&v, &flow(1), 0), None);
    }

    #[test]
    fn weights_with_a_common_divisor_interleave_the_same_way() {
        assert_eq!(seq(&[8, 6, 4], 9), "AABABCABC");
        assert_eq!(seq(&[4, 2], 6), "AABAAB");
    }

    #[test]
    fn a_weight_change_restarts_from_the_list_head_and_no_change_disturbs_nothing() {
        let (d, mut w, l) = setup(&[1, 1, 1]);
        let mut s = WeightedRoundRobin::default();
        s.rebuild(&View { dests: &d, weights: &w, loads: &l });
        let v = View { dests: &d, weights: &w, loads: &l };
        assert_eq!(s.pick(&v, &flow(1), 0), Some(0));
        s.rebuild(&v);
        assert_eq!(s.pick(&v, &flow(1), 0), Some(1), "an unchanged rebuild keeps the cursor");
        w[2] = 3;
        let v = View { dests: &d, weights: &w, loads: &l };
        s.rebuild(&v);
        let picks: Vec<usize> = (0..5).map(|_| s.pick(&v, &flow(1), 0).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 2, 2], "cw stays 1 after the change: one lap at >= 1, then mw = 3");
    }

    #[test]
    fn shares_follow_weights_over_long_runs() {
        let s = seq(&[7, 3, 1], 11 * 1000);
        assert_eq!(s.matches('A').count(), 7000);
        assert_eq!(s.matches('B').count(), 3000);
        assert_eq!(s.matches('C').count(), 1000);
    }
}
