//! A tournament tree over a service's real servers that keeps the one with the least key at
//! the root, so lc/wlc/sed/nq pick in O(1) and update in O(log n) when one server's load
//! changes — IPVS scans the whole list on every pick.
//!
//! Keys are ratios `num / den` compared by cross-multiplication in u128 (never floats or
//! division). Ties go to the lower list index, which is exactly what IPVS's linear scan with a
//! strict comparison returns. A server whose key is `None` (weight 0) never wins.

use super::View;

/// A scheduler's key, as a type so that the tree's replay is compiled for it (no indirect call
/// per update).
pub trait LeastKey {
    /// The scheduler's name (`ipvsadm -s`).
    const NAME: &'static str;
    /// The key of server `i` in a view: `Some((num, den))` with `den > 0`, or `None` if
    /// excluded. `den` is a weight (a u32) or 1.
    fn key(view: &View<'_>, i: usize) -> Option<(u64, u32)>;
}

/// A node: the winning server below it and that server's key, cached so that replaying a
/// match reads two adjacent nodes instead of re-deriving keys from loads and weights.
/// `den == 0` marks "no eligible server"; such a node carries `num == 1`, which makes the
/// plain cross-multiplication rank it after every eligible one (see [`beats`]).
/// 16 bytes: a 1,024-leaf tree is 32 KiB, an L1 data cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(16))]
struct Node {
    num: u64,
    den: u32,
    idx: u32,
}

const EMPTY: Node = Node { num: 1, den: 0, idx: u32::MAX };

/// Winner tree; node `k` holds the best server below it.
#[derive(Debug, Clone, Default)]
pub struct LeastTree {
    leaves: usize,
    nodes: Vec<Node>,
}

/// True when node `a` beats node `b`: smaller ratio, or equal ratio and lower index. An
/// ineligible node (1/0) never beats an eligible one: its product against it is `den > 0`
/// against 0. No branch depends on the keys (a tree replay's outcomes are unpredictable).
#[inline]
fn beats(a: &Node, b: &Node) -> bool {
    if (a.num | b.num) >> 32 == 0 {
        // The usual case: both products fit in 64 bits. `&` and `|`, not `&&` and `||`: no
        // short-circuit branch.
        let (l, r) = (a.num * u64::from(b.den), b.num * u64::from(a.den));
        return (l < r) | ((l == r) & (a.idx < b.idx));
    }
    let (l, r) = (u128::from(a.num) * u128::from(b.den), u128::from(b.num) * u128::from(a.den));
    (l < r) | ((l == r) & (a.idx < b.idx))
}

#[inline]
fn leaf<Key: LeastKey>(view: &View<'_>, i: usize) -> Node {
    match Key::key(view, i) {
        Some((num, den)) if den > 0 => Node { num, den, idx: i as u32 },
        _ => Node { idx: i as u32, ..EMPTY },
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
            self.nodes[k] = self.winner(k);
        }
    }

    /// The winner of match `k`, chosen by index arithmetic rather than a branch.
    #[inline]
    fn winner(&self, k: usize) -> Node {
        let (l, r) = (&self.nodes[2 * k], &self.nodes[2 * k + 1]);
        self.nodes[2 * k + usize::from(beats(r, l))]
    }

    /// Server `i`'s key changed: recomputes its leaf and replays its matches towards the root,
    /// stopping at the first match whose result did not change (nothing above it can).
    #[inline]
    pub fn update<Key: LeastKey>(&mut self, view: &View<'_>, i: usize) {
        if i >= view.dests.len() || self.nodes.len() != 2 * self.leaves {
            return;
        }
        let mut k = self.leaves + i;
        let mut cur = leaf::<Key>(view, i);
        self.nodes[k] = cur;
        // The winner so far stays in registers; only its sibling is read at each level (a load
        // that does not wait for the previous level's store). Ties go to the lower index
        // whichever side a node is on, so the pair needs no ordering.
        while k > 1 {
            let sib = self.nodes[k ^ 1];
            let w = if beats(&sib, &cur) { sib } else { cur };
            k /= 2;
            if w == self.nodes[k] {
                break;
            }
            self.nodes[k] = w;
            cur = w;
        }
    }

    /// The server with the least key, if any server is eligible.
    #[inline]
    pub fn min(&self) -> Option<usize> {
        // With one leaf, node 1 is that leaf; otherwise it is the final's winner.
        let root = self.nodes.get(1)?;
        (root.den != 0).then_some(root.idx as usize)
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
