//! Weighted random twos choice (`twos`, `ip_vs_twos.c`, Mitzenmacher's power of two choices).
//!
//! ```text
//! total = sum of the weights > 0 of servers not overloaded (none -> no server)
//! r1, r2 = two random numbers in [0, total]
//! choice_k = the first eligible server at which r_k minus the running sum of weights
//!            reaches <= 0                      (so r = 0 and r = 1 both pick the first)
//! pick: choice2 when weight2 * overhead1 > weight1 * overhead2, otherwise choice1
//! ```
//! The overhead is `active * 256 + inactive` as for wlc. Each core's replica draws from its
//! own generator (xorshift64*, seeded per core and service), so no two cores share a sequence.

use super::{Flow, Scheduler, View};

/// Weighted random twos choice, with its random generator.
#[derive(Debug, Clone)]
pub struct TwosChoice {
    state: u64,
}

impl Default for TwosChoice {
    fn default() -> Self {
        TwosChoice { state: 0x9e37_79b9_7f4a_7c15 }
    }
}

impl TwosChoice {
    /// The next random 32 bits (xorshift64*; the state is never 0).
    #[inline]
    fn next_u32(&mut self) -> u32 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

/// The twos choice for the random draws `raw1` and `raw2` (each taken modulo total + 1, as
/// IPVS does with `get_random_u32() % total_weight`).
pub fn choose(view: &View<'_>, raw1: u32, raw2: u32) -> Option<usize> {
    let n = view.dests.len();
    let total: u64 = (0..n).map(|i| u64::from(view.weight(i))).sum();
    if total == 0 {
        return None;
    }
    let (mut r1, mut r2) = (i64::from(raw1) % (total as i64 + 1), i64::from(raw2) % (total as i64 + 1));
    let (mut c1, mut c2) = (None, None);
    for i in 0..n {
        let w = view.weight(i);
        if w == 0 {
            continue;
        }
        r1 -= i64::from(w);
        r2 -= i64::from(w);
        if r1 <= 0 && c1.is_none() {
            c1 = Some(i);
        }
        if r2 <= 0 && c2.is_none() {
            c2 = Some(i);
        }
        if c1.is_some() && c2.is_some() {
            break;
        }
    }
    let (c1, c2) = (c1?, c2?);
    let cost = |a: usize, b: usize| u128::from(view.weight(a)) * u128::from(view.load(b).overhead());
    Some(if cost(c2, c1) > cost(c1, c2) { c2 } else { c1 })
}

impl Scheduler for TwosChoice {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn rebuild(&mut self, _view: &View<'_>) {}

    fn seed(&mut self, seed: u64) {
        self.state = seed | 1;
    }

    fn pick(&mut self, view: &View<'_>, _flow: &Flow, _now: u32) -> Option<usize> {
        let (r1, r2) = (self.next_u32(), self.next_u32());
        choose(view, r1, r2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::*;

    #[test]
    fn the_less_loaded_of_the_two_draws_per_weight() {
        let (d, w, mut l) = setup(&[1, 1, 2]);
        l[0].active = 2;
        let v = View { dests: &d, weights: &w, loads: &l };
        // total 4, draws 0..=4: 0 and 1 -> server 0, 2 -> 1, 3 and 4 -> 2.
        assert_eq!(choose(&v, 0, 0), Some(0), "one server drawn twice");
        assert_eq!(choose(&v, 1, 2), Some(1), "server 1 idle beats loaded server 0");
        assert_eq!(choose(&v, 4, 0), Some(2));
        assert_eq!(choose(&v, 5, 10), Some(0), "draws wrap modulo total + 1");
        assert_eq!(choose(&v, 5, 7), Some(1), "0 -> server 0, 2 -> server 1, the idle one");
    }

    #[test]
    fn draws_spread_in_proportion_to_weight_when_idle() {
        let (d, w, l) = setup(&[1, 3]);
        let v = View { dests: &d, weights: &w, loads: &l };
        let mut s = TwosChoice::default();
        s.seed(42);
        let mut n = [0u32; 2];
        for _ in 0..10_000 {
            n[s.pick(&v, &flow(1), 0).unwrap()] += 1;
        }
        // Idle servers tie, so the first draw decides: P(0) = 2/5 (0 and 1 of 0..=4).
        assert!((3_700..4_300).contains(&n[0]), "{n:?}");
    }
}
