//! Weighted least connection (`wlc`, `ip_vs_wlc.c`), IPVS's default scheduler.
//!
//! ```text
//! pick: among servers with weight > 0, the least overhead / weight, compared as
//!       oh(a) * w(b) < oh(b) * w(a); ties -> the first in list order.
//! ```

use super::least::{LeastKey, TreeScheduler};
use super::View;

/// The `wlc` key: overhead / weight.
#[derive(Debug, Clone, Copy)]
pub struct Wlc;

impl LeastKey for Wlc {
    const NAME: &'static str = "wlc";
    const WEIGHTED: bool = true;
    #[inline(always)]
    fn key(v: &View<'_>, i: usize) -> Option<(u64, u32)> {
        let w = v.weight(i);
        (w > 0).then(|| (v.load(i).overhead(), w))
    }
}

/// The `wlc` scheduler: the least [`Wlc`] key, kept in a tree.
pub fn new() -> TreeScheduler<Wlc> {
    TreeScheduler::new()
}
