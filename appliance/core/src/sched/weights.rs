//! The shared weight store: one array of weights, indexed by real-server id, that the control
//! plane writes and every worker reads without locks.
//!
//! A [`SeqLock`] guards the array: the control plane writes a change as one generation; a
//! worker, at a burst boundary, sees a new generation, copies the weights, and keeps the copy
//! only if no write overlapped it (else it tries again at the next burst), then rebuilds its
//! scheduler replicas. Weights change only which server *new* connections go to; established
//! connections keep theirs.

use crate::seqlock::SeqLock;
use crate::service::MAX_DESTS;
use crate::snapshot::Snapshot;
use std::sync::atomic::{AtomicU32, Ordering};

/// Weights by real-server id.
#[derive(Debug)]
pub struct WeightStore {
    lock: SeqLock,
    weights: Vec<AtomicU32>,
}

impl Default for WeightStore {
    fn default() -> Self {
        WeightStore { lock: SeqLock::new(), weights: (0..MAX_DESTS).map(|_| AtomicU32::new(0)).collect() }
    }
}

impl WeightStore {
    /// An all-zero store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets weights (`(id, weight)` pairs) as one change. Single writer: the control plane.
    pub fn set(&self, changes: impl IntoIterator<Item = (u16, u32)>) {
        self.lock.write(|| {
            for (id, w) in changes {
                if let Some(slot) = self.weights.get(usize::from(id)) {
                    slot.store(w, Ordering::Relaxed);
                }
            }
        });
    }

    /// Writes the configured weight of every real server in `snap`.
    pub fn publish(&self, snap: &Snapshot) {
        self.set(snap.services().iter().flat_map(|s| s.dests.iter().map(|d| (d.id, d.weight))));
    }

    /// The current weight of real server `id`.
    pub fn get(&self, id: u16) -> u32 {
        self.weights.get(usize::from(id)).map_or(0, |w| w.load(Ordering::Relaxed))
    }

    /// Copies all weights into `out` if the store holds a complete generation other than
    /// `seen`; returns the generation copied, or `None` (nothing new, or a write in progress:
    /// try again at the next burst).
    pub fn copy_if_newer(&self, seen: u64, out: &mut [u32]) -> Option<u64> {
        if self.lock.sequence() == seen {
            return None;
        }
        self.lock
            .try_read(|| {
                for (o, w) in out.iter_mut().zip(self.weights.iter()) {
                    *o = w.load(Ordering::Relaxed);
                }
            })
            .map(|(g, ())| g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_whole_generations_only() {
        let s = WeightStore::new();
        let mut out = vec![0u32; MAX_DESTS];
        assert_eq!(s.copy_if_newer(0, &mut out), None, "nothing written yet");
        s.set([(1, 5), (2, 7)]);
        let g = s.copy_if_newer(0, &mut out).unwrap();
        assert_eq!((out[1], out[2]), (5, 7));
        assert_eq!(s.copy_if_newer(g, &mut out), None, "nothing new");
        s.set([(2, 0)]);
        assert!(s.copy_if_newer(g, &mut out).is_some());
        assert_eq!(out[2], 0);
    }

    #[test]
    fn concurrent_writer_and_reader_never_see_a_torn_pair() {
        use std::sync::Arc;
        let s = Arc::new(WeightStore::new());
        let w = Arc::clone(&s);
        let writer = std::thread::spawn(move || {
            for i in 1..20_000u32 {
                w.set([(0, i), (1, i)]);
            }
        });
        let mut out = vec![0u32; MAX_DESTS];
        let mut seen = 0;
        let mut reads = 0;
        while !writer.is_finished() || reads == 0 {
            if let Some(g) = s.copy_if_newer(seen, &mut out) {
                assert_eq!(out[0], out[1], "a generation is all or nothing");
                seen = g;
                reads += 1;
            }
        }
        writer.join().unwrap();
    }
}
