//! Locality-based least connection with replication (`lblcr`, `ip_vs_lblcr.c`): each
//! destination IP maps to a *set* of servers.
//!
//! ```text
//! pick: entry = cache[dst_ip]
//!       if entry:
//!         lastuse = now
//!         s = least loaded member (wlc order) with weight > 0
//!         if the set has > 1 member and it has not changed for `expiration` seconds:
//!             drop its most loaded member (lastmod = now)
//!         if s and s is not overloaded: use s
//!         s = wlc choice over the whole service (none -> no server); add s to the set
//!         (lastmod = now); use s
//!       else: s = wlc choice; cache[dst_ip] = {s}; use s
//! overloaded and expiry: as lblc. Sets hold at most 16 servers (IPVS's are unbounded lists);
//! a 17th is used without being added.
//! ```

use super::lblc::{Locality, FULL_ENTRY_TIMEOUT};
use super::table::FixedMap;
use super::{Flow, Scheduler, View};

/// Cache entries per service per core.
pub const DEFAULT_CAPACITY: usize = 4096;
/// Seconds after which an unchanged set sheds its most loaded member, and an unused entry
/// expires (IPVS's `lblcr_expiration`, 24 h).
pub const DEFAULT_EXPIRATION: u32 = 24 * 60 * 60;
/// Most servers in one set.
pub const SET_MAX: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Entry {
    set: [u16; SET_MAX],
    len: u8,
    lastuse: u32,
    lastmod: u32,
}

impl Entry {
    fn members(&self) -> &[u16] {
        &self.set[..usize::from(self.len)]
    }
}

/// lblcr state.
#[derive(Debug, Clone)]
pub struct Lblcr {
    cache: FixedMap<Entry>,
    expiration: u32,
    loc: Locality,
}

/// `a` is less loaded than `b` under wlc's order (`oh(a) * w(b) < oh(b) * w(a)`).
fn less(view: &View<'_>, a: usize, b: usize) -> bool {
    u128::from(view.load(a).overhead()) * u128::from(view.weight(b))
        < u128::from(view.load(b).overhead()) * u128::from(view.weight(a))
}

impl Lblcr {
    /// A scheduler caching up to `capacity` destinations; sets shrink and entries expire after
    /// `expiration` seconds.
    pub fn new(capacity: usize, expiration: u32) -> Self {
        Lblcr { cache: FixedMap::new(capacity, super::HASH_SEED), expiration, loc: Locality::new() }
    }

    /// The server ids in the set for destination `dst` (tests, listings).
    pub fn set_of(&self, dst: std::net::Ipv4Addr) -> Vec<u16> {
        self.cache.get(u64::from(u32::from(dst))).map(|e| e.members().to_vec()).unwrap_or_default()
    }

    /// IPVS's `ip_vs_dest_set_min`: first member with weight > 0, then any strictly less loaded.
    fn set_min(&self, view: &View<'_>, e: &Entry) -> Option<usize> {
        let mut best: Option<usize> = None;
        for &id in e.members() {
            let Some(i) = self.loc.index.get(id) else { continue };
            if view.weight(i) == 0 {
                continue;
            }
            if best.is_none_or(|b| less(view, i, b)) {
                best = Some(i);
            }
        }
        best
    }

    /// IPVS's `ip_vs_dest_set_max`: the most loaded member with weight > 0.
    fn set_max(&self, view: &View<'_>, e: &Entry) -> Option<u16> {
        let mut most: Option<(usize, u16)> = None;
        for &id in e.members() {
            let Some(i) = self.loc.index.get(id) else { continue };
            if view.weight(i) == 0 {
                continue;
            }
            if most.is_none_or(|(m, _)| less(view, m, i)) {
                most = Some((i, id));
            }
        }
        most.map(|(_, id)| id)
    }
}

impl Scheduler for Lblcr {
    fn name(&self) -> &'static str {
        "lblcr"
    }

    fn rebuild(&mut self, view: &View<'_>) {
        self.loc.rebuild(view);
    }

    fn pick(&mut self, view: &View<'_>, flow: &Flow, now: u32) -> Option<usize> {
        let key = flow.dst_key();
        if let Some(mut e) = self.cache.get(key).copied() {
            e.lastuse = now;
            let min = self.set_min(view, &e);
            if e.len > 1 && now.saturating_sub(e.lastmod) > self.expiration {
                if let Some(m) = self.set_max(view, &e) {
                    let pos = e.members().iter().position(|&x| x == m).unwrap_or(0);
                    e.set.copy_within(pos + 1..usize::from(e.len), pos);
                    e.len -= 1;
                    e.lastmod = now;
                }
            }
            let chosen = match min {
                Some(i) if !self.loc.half.overloaded(view, i) => Some(i),
                _ => {
                    let i = self.loc.wlc();
                    if let Some(i) = i {
                        let id = view.dests[i].id;
                        if !e.members().contains(&id) && usize::from(e.len) < SET_MAX {
                            e.set[usize::from(e.len)] = id;
                            e.len += 1;
                            e.lastmod = now;
                        }
                    }
                    i
                }
            };
            self.cache.insert(key, e);
            return chosen;
        }
        let i = self.loc.wlc()?;
        let mut set = [0u16; SET_MAX];
        set[0] = view.dests[i].id;
        let entry = Entry { set, len: 1, lastuse: now, lastmod: now };
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
