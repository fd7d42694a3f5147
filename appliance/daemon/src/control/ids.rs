//! Object ids with quarantine. A service's or real server's id indexes per-core counters,
//! loads and persistence templates, so an id must not name a new object while connections of
//! the old one may still drain: a freed id rests [`ID_QUARANTINE_S`] before reuse (IPVS keeps a
//! deleted real server in its dest trash for the same reason).

use std::collections::VecDeque;

/// Seconds a freed service or real-server id rests before reuse.
pub const ID_QUARANTINE_S: u64 = 3600;

/// Ids below `limit`: fresh ones first, then freed ones once they have rested
/// [`ID_QUARANTINE_S`] (IPVS's dest trash in spirit: a deleted object's id stays out of use
/// while its connections may still drain).
#[derive(Debug, Clone)]
pub(crate) struct IdPool {
    limit: usize,
    pub(crate) never_used: usize,
    freed: VecDeque<(u16, u64)>,
}

impl IdPool {
    pub(crate) fn new(limit: usize, in_use: impl Iterator<Item = u16>) -> Self {
        IdPool { limit, never_used: in_use.map(|i| usize::from(i) + 1).max().unwrap_or(0), freed: VecDeque::new() }
    }

    /// A fresh id, or the longest-rested freed one, if it has rested enough; `None` when every
    /// id is in use or still resting.
    pub(crate) fn take(&mut self, now: u64) -> Option<u16> {
        if self.never_used < self.limit {
            self.never_used += 1;
            return Some((self.never_used - 1) as u16);
        }
        match self.freed.front() {
            Some(&(id, at)) if now.saturating_sub(at) >= ID_QUARANTINE_S => {
                self.freed.pop_front();
                Some(id)
            }
            _ => None,
        }
    }

    pub(crate) fn free(&mut self, id: u16, now: u64) {
        self.freed.retain(|f| f.0 != id);
        self.freed.push_back((id, now));
    }

    /// Takes `id` back out of quarantine (an object that returns gets its old id).
    pub(crate) fn reclaim(&mut self, id: u16) {
        self.freed.retain(|f| f.0 != id);
    }
}
