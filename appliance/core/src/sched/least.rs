//! A tournament tree over a service's real servers that keeps the one with the least key at
//! the root, so lc/wlc/sed/nq pick in O(1) and update in O(log n) when one server's load
//! changes — IPVS scans the whole list on every pick.
//!
//! Keys are ratios `num / den` compared by cross-multiplication in u128 (never floats or
//! division). Ties go to the lower list index, which is exactly what IPVS's linear scan with a
//! strict comparison returns. A server whose key is `None` (weight 0) never wins.

use super::View;

const NONE: u32 = u32::MAX;

/// The key of server `i` in a view: `Some((num, den))` with `den > 0`, or `None` if excluded.
pub type KeyFn = fn(&View<'_>, usize) -> Option<(u64, u64)>;

/// Winner tree; node `k` holds the index of the best server below it.
#[derive(Debug, Clone, Default)]
pub struct LeastTree {
    leaves: usize,
    nodes: Vec<u32>,
}

/// True when server `a` beats server `b` under `key`.
#[inline]
fn beats(view: &View<'_>, key: KeyFn, a: u32, b: u32) -> bool {
    if a == NONE {
        return false;
    }
    if b == NONE {
        return key(view, a as usize).is_some();
    }
    match (key(view, a as usize), key(view, b as usize)) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some((an, ad)), Some((bn, bd))) => {
            let l = u128::from(an) * u128::from(bd);
            let r = u128::from(bn) * u128::from(ad);
            l < r || (l == r && a < b)
        }
    }
}

impl LeastTree {
    /// Builds the tree for all servers of `view` (control path).
    pub fn build(&mut self, view: &View<'_>, key: KeyFn) {
        let n = view.dests.len();
        self.leaves = n.next_power_of_two().max(1);
        self.nodes.clear();
        self.nodes.resize(2 * self.leaves, NONE);
        for i in 0..n {
            self.nodes[self.leaves + i] = i as u32;
        }
        for k in (1..self.leaves).rev() {
            self.nodes[k] = self.winner(view, key, k);
        }
    }

    #[inline]
    fn winner(&self, view: &View<'_>, key: KeyFn, k: usize) -> u32 {
        let (l, r) = (self.nodes[2 * k], self.nodes[2 * k + 1]);
        if beats(view, key, r, l) {
            r
        } else {
            l
        }
    }

    /// Server `i`'s key changed: replays its matches up to the root.
    #[inline]
    pub fn update(&mut self, view: &View<'_>, key: KeyFn, i: usize) {
        if i >= view.dests.len() || self.nodes.len() < 2 * self.leaves || self.leaves == 0 {
            return;
        }
        let mut k = (self.leaves + i) / 2;
        while k >= 1 {
            self.nodes[k] = self.winner(view, key, k);
            k /= 2;
        }
    }

    /// The server with the least key, if any server is eligible.
    #[inline]
    pub fn min(&self, view: &View<'_>, key: KeyFn) -> Option<usize> {
        let w = *self.nodes.get(1).or_else(|| self.nodes.get(self.leaves))?;
        if w == NONE || key(view, w as usize).is_none() {
            return None;
        }
        Some(w as usize)
    }
}
