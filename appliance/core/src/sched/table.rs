//! A fixed-capacity open-addressing map from a u64 key to a small value, for the per-core
//! tables schedulers keep (lblc/lblcr destination caches, persistence templates). Allocated
//! once; insertion into a full map fails instead of growing; deletion uses backward shifting,
//! so there are no tombstones and lookups stay short at the 50% maximum load.

/// A slot: key and value (`None` = empty).
#[derive(Debug, Clone)]
struct Slot<V> {
    key: u64,
    val: Option<V>,
}

/// The map.
#[derive(Debug, Clone)]
pub struct FixedMap<V> {
    slots: Vec<Slot<V>>,
    mask: usize,
    len: usize,
    cap: usize,
    seed: u64,
    /// Where the incremental sweep continues.
    cursor: usize,
}

#[inline]
fn mix(k: u64, seed: u64) -> u64 {
    let mut h = (k ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 32;
    h.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ (h >> 29)
}

impl<V: Clone> FixedMap<V> {
    /// A map holding up to `capacity` entries (the table has twice as many slots).
    pub fn new(capacity: usize, seed: u64) -> Self {
        let cap = capacity.max(1);
        let size = (cap * 2).next_power_of_two();
        FixedMap { slots: vec![Slot { key: 0, val: None }; size], mask: size - 1, len: 0, cap, seed, cursor: 0 }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most entries it can hold.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    #[inline]
    fn find(&self, key: u64) -> Result<usize, usize> {
        let mut i = mix(key, self.seed) as usize & self.mask;
        loop {
            match &self.slots[i].val {
                None => return Err(i),
                Some(_) if self.slots[i].key == key => return Ok(i),
                Some(_) => i = (i + 1) & self.mask,
            }
        }
    }

    /// The value for `key`.
    #[inline]
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        match self.find(key) {
            Ok(i) => self.slots[i].val.as_mut(),
            Err(_) => None,
        }
    }

    /// The value for `key`.
    #[inline]
    pub fn get(&self, key: u64) -> Option<&V> {
        self.find(key).ok().and_then(|i| self.slots[i].val.as_ref())
    }

    /// Inserts or replaces; `false` when the key is new and the map is full.
    #[inline]
    pub fn insert(&mut self, key: u64, val: V) -> bool {
        match self.find(key) {
            Ok(i) => {
                self.slots[i].val = Some(val);
                true
            }
            Err(_) if self.len >= self.cap => false,
            Err(i) => {
                self.slots[i] = Slot { key, val: Some(val) };
                self.len += 1;
                true
            }
        }
    }

    /// Inserts; when the map is full, first sweeps up to `budget` slots for entries `stale`
    /// says may go. `false` if it is still full (the value is then simply not stored).
    pub fn insert_evicting(&mut self, key: u64, val: V, budget: usize, stale: impl FnMut(&V) -> bool) -> bool {
        if self.insert(key, val.clone()) {
            return true;
        }
        self.sweep(budget, stale);
        self.insert(key, val)
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: u64) -> Option<V> {
        let i = self.find(key).ok()?;
        Some(self.remove_at(i))
    }

    fn remove_at(&mut self, mut i: usize) -> V {
        let v = self.slots[i].val.take().expect("occupied");
        self.len -= 1;
        // Backward-shift the cluster after i so probes never stop early.
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            if self.slots[j].val.is_none() {
                break;
            }
            let home = mix(self.slots[j].key, self.seed) as usize & self.mask;
            // Move j to i if its home is not cyclically within (i, j].
            let between = if i <= j { home > i && home <= j } else { home > i || home <= j };
            if !between {
                self.slots[i] = Slot { key: self.slots[j].key, val: self.slots[j].val.take() };
                i = j;
            }
        }
        v
    }

    /// Visits up to `budget` slots from where the last sweep stopped and removes the entries
    /// for which `expired` says so; returns how many it removed. A full cycle covers the table.
    pub fn sweep(&mut self, budget: usize, mut expired: impl FnMut(&V) -> bool) -> usize {
        let mut removed = 0;
        for _ in 0..budget.min(self.slots.len()) {
            let i = self.cursor;
            let hit = self.slots[i].val.as_ref().is_some_and(&mut expired);
            if hit {
                self.remove_at(i);
                removed += 1;
                // A shifted entry may now sit at i: look at i again next time.
            } else {
                self.cursor = (self.cursor + 1) & self.mask;
            }
        }
        removed
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        for s in &mut self.slots {
            s.val = None;
        }
        self.len = 0;
    }

    /// Every entry (control path).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.slots.iter().filter_map(|s| s.val.as_ref().map(|v| (s.key, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_capacity() {
        let mut m = FixedMap::new(100, 1);
        for k in 0..100u64 {
            assert!(m.insert(k * 7919, k));
        }
        assert!(!m.insert(1, 1), "full");
        assert!(m.insert(7919, 55), "replace works when full");
        assert_eq!(m.get(7919), Some(&55));
        for k in (0..100u64).step_by(2) {
            assert_eq!(m.remove(k * 7919), Some(if k == 1 { 55 } else { k }));
        }
        assert_eq!(m.len(), 50);
        for k in 0..100u64 {
            assert_eq!(m.get(k * 7919).is_some(), k % 2 == 1, "key {k} after removals");
        }
    }

    #[test]
    fn sweep_removes_only_what_it_is_told_and_covers_the_table() {
        let mut m = FixedMap::new(64, 9);
        for k in 0..64u64 {
            m.insert(k, k);
        }
        let mut removed = 0;
        for _ in 0..10 {
            removed += m.sweep(32, |v| v % 3 == 0);
        }
        assert_eq!(removed, 22);
        assert!(m.iter().all(|(_, v)| v % 3 != 0));
        assert_eq!(m.len(), 42);
    }
}
