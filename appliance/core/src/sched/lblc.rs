//! Locality-based least connection (`lblc`, `ip_vs_lblc.c`), for cache clusters: keeps each
//! destination IP on one server while that server copes.
//!
//! ```text
//! pick: entry = cache[dst_ip]
//!       if entry and its server has weight > 0 and is not overloaded: use it (lastuse = now)
//!       else: server = wlc choice over the whole service (none -> no server);
//!             cache[dst_ip] = server; use it
//! overloaded(s): active(s) > weight(s) and some server t has active(t) * 2 < weight(t)
//! expire: entries unused for `expiration` seconds (IPVS: 24 h) are removed; a full cache
//!         first drops entries idle for 6 minutes, and if still full the choice is simply not
//!         cached (IPVS does the same when it cannot allocate).
//! ```
//! The cache is a fixed-capacity map; "some server is at half load" is a counter kept up to
//! date on load changes, so pick stays O(1).

use super::least::LeastTree;
use super::table::FixedMap;
use super::{Flow, Scheduler, View};
use crate::service::MAX_DESTS;

/// Cache entries per service per core.
pub const DEFAULT_CAPACITY: usize = 4096;
/// Seconds an unused entry lives (IPVS's `lblc_expiration`).
pub const DEFAULT_EXPIRATION: u32 = 24 * 60 * 60;
/// Idle seconds after which entries go when the cache is full (IPVS's `ENTRY_TIMEOUT`).
pub const FULL_ENTRY_TIMEOUT: u32 = 6 * 60;

const NONE: u16 = u16::MAX;

#[derive(Debug, Clone, Copy)]
struct Entry {
    dest_id: u16,
    lastuse: u32,
}

/// Tracks "is server i under half load" and how many are.
#[derive(Debug, Clone, Default)]
pub(crate) struct HalfLoad {
    flags: Vec<bool>,
    count: usize,
}

impl HalfLoad {
    pub(crate) fn rebuild(&mut self, view: &View<'_>) {
        self.flags = (0..view.dests.len()).map(|i| Self::half(view, i)).collect();
        self.count = self.flags.iter().filter(|&&f| f).count();
    }

    fn half(view: &View<'_>, i: usize) -> bool {
        u64::from(view.load(i).active) * 2 < u64::from(view.weight(i))
    }

    pub(crate) fn update(&mut self, view: &View<'_>, i: usize) {
        let Some(f) = self.flags.get_mut(i) else { return };
        let now = Self::half(view, i);
        if now != *f {
            *f = now;
            if now {
                self.count += 1;
            } else {
                self.count -= 1;
            }
        }
    }

    /// IPVS's `is_overloaded`.
    pub(crate) fn overloaded(&self, view: &View<'_>, i: usize) -> bool {
        u64::from(view.load(i).active) > u64::from(view.weight(i)) && self.count > 0
    }
}

/// Maps real-server ids to their index in the service.
#[derive(Debug, Clone)]
pub(crate) struct IdIndex(Vec<u16>);

impl IdIndex {
    pub(crate) fn new() -> Self {
        IdIndex(vec![NONE; MAX_DESTS])
    }
    pub(crate) fn rebuild(&mut self, view: &View<'_>) {
        self.0.fill(NONE);
        for (i, d) in view.dests.iter().enumerate() {
            self.0[usize::from(d.id)] = i as u16;
        }
    }
    pub(crate) fn get(&self, id: u16) -> Option<usize> {
        self.0.get(usize::from(id)).copied().filter(|&i| i != NONE).map(usize::from)
    }
}

/// What lblc and lblcr both keep beside their caches: the wlc choice over the whole service,
/// the "some server is at half load" count, and real-server id -> list index.
#[derive(Debug, Clone)]
pub(crate) struct Locality {
    wlc: LeastTree,
    pub(crate) half: HalfLoad,
    pub(crate) index: IdIndex,
}

impl Locality {
    pub(crate) fn new() -> Self {
        Locality { wlc: LeastTree::default(), half: HalfLoad::default(), index: IdIndex::new() }
    }

    pub(crate) fn rebuild(&mut self, view: &View<'_>) {
        self.wlc.build::<super::wlc::Wlc>(view);
        self.half.rebuild(view);
        self.index.rebuild(view);
    }

    pub(crate) fn load_changed(&mut self, view: &View<'_>, i: usize) {
        self.wlc.update::<super::wlc::Wlc>(view, i);
        self.half.update(view, i);
    }

    /// The wlc choice over the whole service.
    pub(crate) fn wlc(&self) -> Option<usize> {
        self.wlc.min()
    }
}

/// lblc state.
#[derive(Debug, Clone)]
pub struct Lblc {
    cache: FixedMap<Entry>,
    expiration: u32,
    loc: Locality,
}

impl Lblc {
    /// A scheduler caching up to `capacity` destinations for `expiration` idle seconds.
    pub fn new(capacity: usize, expiration: u32) -> Self {
        Lblc { cache: FixedMap::new(capacity, super::HASH_SEED), expiration, loc: Locality::new() }
    }

    /// Cached destinations.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}

impl Scheduler for Lblc {
    fn name(&self) -> &'static str {
        "lblc"
    }

    fn rebuild(&mut self, view: &View<'_>) {
        self.loc.rebuild(view);
    }

    fn pick(&mut self, view: &View<'_>, flow: &Flow, now: u32) -> Option<usize> {
        let key = flow.dst_key();
        if let Some(e) = self.cache.get_mut(key) {
            e.lastuse = now;
            if let Some(i) = self.loc.index.get(e.dest_id) {
                if view.weight(i) > 0 && !self.loc.half.overloaded(view, i) {
                    return Some(i);
                }
            }
        }
        let i = self.loc.wlc()?;
        let entry = Entry { dest_id: view.dests[i].id, lastuse: now };
        let exp = now.saturating_sub(FULL_ENTRY_TIMEOUT);
        let _ = self.cache.insert_evicting(key, entry, 256, |e| e.lastuse < exp); // full: not cached
        Some(i)
    }

    fn load_changed(&mut self, view: &View<'_>, i: usize) {
        self.loc.load_changed(view, i);
    }

    fn expire(&mut self, now: u32, budget: usize) {
        let exp = self.expiration;
        self.cache.sweep(budget, |e| now.saturating_sub(e.lastuse) > exp);
    }
}
