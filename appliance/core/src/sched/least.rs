//! A tournament tree over a service's real servers that keeps the one with the least key at
//! the root, so lc/wlc/sed/nq pick in O(1) and update in O(log n) when one server's load
//! changes — IPVS scans the whole list on every pick.
//!
//! Keys are ratios `num / den` compared by cross-multiplication in 64 bits (never floats or
//! division); lc and nq, whose `den` is 1, compare packed nodes directly. Ties go to the
//! lower list index, which is exactly what IPVS's linear scan with a strict comparison
//! returns. A server whose key is `None` (weight 0) never wins.
//!
//! An update replays every match from the leaf to the root, each a compare and two
//! conditional moves with the winner kept in registers. Stopping at the first unchanged
//! match, or selecting by branch, costs a misprediction at a random level, which at 1,000
//! servers was dearer than the matches it saved (lc/1000 150 -> 90 ns a new connection).

use super::View;
use crate::service::MAX_DESTS;

/// A scheduler's key, as a type so that the tree's replay is compiled for it (no indirect call
/// per update).
pub trait LeastKey {
    /// The scheduler's name (`ipvsadm -s`).
    const NAME: &'static str;
    /// False when `den` is always 1 (lc, nq): a match is then one compare of packed nodes.
    const WEIGHTED: bool;
    /// The key of server `i` in a view: `Some((num, den))` with `den > 0`, or `None` if
    /// excluded. `den` is a weight (a u32) or 1.
    fn key(view: &View<'_>, i: usize) -> Option<(u64, u32)>;
}

/// A node: the winning server below it and that server's key `num / den`, packed in one u128
/// (`num << 48 | den << 16 | idx`, the server's list index last). `num` is below 2^48 (an
/// overhead is below 2^41) and `den` below 2^16 (ipvsadm's weights), so a cross product fits
/// in 64 bits; with `den` 1 the packed order is (`num`, index) itself.
/// 16 bytes: a 1,024-leaf tree is 32 KiB, an L1 data cache.
type Node = u128;

const IDX_BITS: u32 = 16;
const _: () = assert!(MAX_DESTS <= 1 << IDX_BITS);
const DEN_SHIFT: u32 = IDX_BITS;
const NUM_SHIFT: u32 = DEN_SHIFT + 32;
/// `num` of a node with no eligible server: above every eligible key's (an overhead is below
/// 2^41), and as `num / 1` above every eligible ratio.
const NUM_NONE: u64 = (1 << 48) - 1;
const EMPTY: Node = (NUM_NONE as u128) << NUM_SHIFT | 1 << DEN_SHIFT | ((1 << IDX_BITS) - 1);

#[inline(always)]
fn num(n: Node) -> u64 {
    (n >> NUM_SHIFT) as u64
}

#[inline(always)]
fn den(n: Node) -> u64 {
    u64::from((n >> DEN_SHIFT) as u32)
}

/// The better of two nodes: the smaller ratio, on a tie the lower index.
#[inline(always)]
fn better<Key: LeastKey>(a: Node, b: Node) -> Node {
    let a_first = if Key::WEIGHTED {
        // Below 2^48 times below 2^16: the products fit in 64 bits.
        let (l, r) = (num(a) * den(b), num(b) * den(a));
        (l < r) | ((l == r) & ((a as u16) < (b as u16)))
    } else {
        a < b // den is 1: (num, index) in order
    };
    // The outcome is a coin toss: a branch on it would mispredict every other level, so the
    // select is two conditional moves. (On a u128, or by a hand-made mask, LLVM turns it
    // back into a branch: wlc/1000 138 against 122 ns.)
    let half = |x: Node| ((x >> 64) as u64, x as u64);
    let ((ah, al), (bh, bl)) = (half(a), half(b));
    let h = std::hint::select_unpredictable(a_first, ah, bh);
    let l = std::hint::select_unpredictable(a_first, al, bl);
    u128::from(h) << 64 | u128::from(l)
}

/// Winner tree; node `k` holds the best server below it.
#[derive(Debug, Clone, Default)]
pub struct LeastTree {
    leaves: usize,
    nodes: Vec<Node>,
}

#[inline]
fn leaf<Key: LeastKey>(view: &View<'_>, i: usize) -> Node {
    match Key::key(view, i) {
        Some((num, den)) if den > 0 && num < NUM_NONE => {
            // rvsd refuses weights above ipvsadm's 65535; one beyond it counts as 65535.
            let den = den.min(u32::from(u16::MAX));
            u128::from(num) << NUM_SHIFT | u128::from(den) << DEN_SHIFT | i as u128
        }
        _ => EMPTY,
    }
}

impl LeastTree {
    /// Builds the tree for all servers of `view` (control path).
    pub fn build<Key: LeastKey>(&mut self, view: &View<'_>) {
        let n = view.dests.len();
        self.leaves = n.next_power_of_two().max(1);
        self.nodes.clear();
        self.nodes.resize(2 * self.leaves, EMPTY);
        for i in 0..n {
            self.nodes[self.leaves + i] = leaf::<Key>(view, i);
        }
        for k in (1..self.leaves).rev() {
            self.nodes[k] = better::<Key>(self.nodes[2 * k], self.nodes[2 * k + 1]);
        }
    }

    /// Server `i`'s load changed: recomputes its leaf and, if its key moved, replays its
    /// matches to the root. Every match is replayed: stopping at the first unchanged one
    /// would save stores but cost a branch that mispredicts at a random level.
    #[inline]
    pub fn update<Key: LeastKey>(&mut self, view: &View<'_>, i: usize) {
        if i >= view.dests.len() || self.nodes.len() != 2 * self.leaves {
            return;
        }
        let mut k = self.leaves + i;
        let mut cur = leaf::<Key>(view, i);
        if self.nodes[k] == cur {
            return; // sed, nq: an inactive count does not move the key
        }
        self.nodes[k] = cur;
        // The winner so far stays in registers; only its sibling is read at each level (a load
        // that does not wait for the previous level's store). Ties go to the lower index
        // whichever side a node is on, so the pair needs no ordering.
        while k > 1 {
            cur = better::<Key>(self.nodes[k ^ 1], cur);
            k /= 2;
            self.nodes[k] = cur;
        }
    }

    /// The server with the least key, if any server is eligible.
    #[inline]
    pub fn min(&self) -> Option<usize> {
        // With one leaf, node 1 is that leaf; otherwise it is the final's winner.
        let root = *self.nodes.get(1)?;
        (num(root) != NUM_NONE).then_some((root & ((1 << IDX_BITS) - 1)) as usize)
    }
}

/// A scheduler that is nothing but a least-key tree: lc, wlc and sed differ only in their key.
#[derive(Debug, Clone)]
pub struct TreeScheduler<Key> {
    tree: LeastTree,
    key: std::marker::PhantomData<fn() -> Key>,
}

impl<Key: LeastKey> TreeScheduler<Key> {
    /// A scheduler picking the least `Key`.
    pub fn new() -> Self {
        TreeScheduler { tree: LeastTree::default(), key: std::marker::PhantomData }
    }
}

impl<Key: LeastKey> Default for TreeScheduler<Key> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Key: LeastKey + std::fmt::Debug> super::Scheduler for TreeScheduler<Key> {
    fn name(&self) -> &'static str {
        Key::NAME
    }
    fn rebuild(&mut self, view: &View<'_>) {
        self.tree.build::<Key>(view);
    }
    fn pick(&mut self, _view: &View<'_>, _flow: &super::Flow, _now: u32) -> Option<usize> {
        self.tree.min()
    }
    fn load_changed(&mut self, view: &View<'_>, i: usize) {
        self.tree.update::<Key>(view, i);
    }
}
