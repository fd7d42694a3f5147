//! A sequence lock: one writer publishes data that many readers copy without locks; a reader
//! that overlapped a write sees it and retries (or tries again later). The one implementation
//! behind the shared weight store and the neighbour table.
//!
//! The protected data are atomics of the caller's, read and written `Relaxed` (so a racing
//! read is a stale value, never undefined behaviour). The orderings are those of H.-J. Boehm,
//! "Can seqlocks get along with programming language memory models?" (MSPC 2012), §5:
//! - writer: `seq = odd` (Relaxed); **Release fence**; data stores; `seq = even` (Release).
//!   The fence is what makes a reader that saw any new datum also see the odd sequence.
//! - reader: `s = seq` (Acquire), retry if odd; data loads; **Acquire fence**; `seq == s`
//!   (Relaxed) or retry.
//!
//! Single writer: callers serialise writes (the daemon's control thread, or the state mutex).
//! Checked under `loom` (`tests/seqlock_loom.rs`, run with `--cfg loom` by tools/test.sh).

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// The sequence counter of a seqlock (the data live beside it, in atomics).
#[derive(Debug, Default)]
pub struct SeqLock {
    seq: AtomicU64,
}

impl SeqLock {
    /// A lock at sequence 0 (even: nothing being written).
    pub fn new() -> Self {
        SeqLock { seq: AtomicU64::new(0) }
    }

    /// Runs `write` (which stores the data, `Relaxed`) as one change readers see whole or not
    /// at all. Single writer.
    pub fn write<R>(&self, write: impl FnOnce() -> R) -> R {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let r = write();
        self.seq.store(s.wrapping_add(2), Ordering::Release);
        r
    }

    /// Starts a read: the sequence to validate against, or `None` while a write is under way.
    #[inline]
    pub fn begin(&self) -> Option<u64> {
        let s = self.seq.load(Ordering::Acquire);
        (s & 1 == 0).then_some(s)
    }

    /// True when no write overlapped the reads since [`SeqLock::begin`] returned `s`.
    #[inline]
    pub fn validate(&self, s: u64) -> bool {
        fence(Ordering::Acquire);
        self.seq.load(Ordering::Relaxed) == s
    }

    /// Reads once: `Some((sequence, value))` if `read` saw a whole generation, else `None`
    /// (a writer was busy: try again later). For readers that must never wait.
    #[inline]
    pub fn try_read<R>(&self, read: impl FnOnce() -> R) -> Option<(u64, R)> {
        let s = self.begin()?;
        let r = read();
        self.validate(s).then_some((s, r))
    }

    /// Reads until `read` sees a whole generation (spins while a write is under way; writes
    /// are a few stores long).
    #[inline]
    pub fn read<R>(&self, mut read: impl FnMut() -> R) -> R {
        loop {
            if let Some((_, r)) = self.try_read(&mut read) {
                return r;
            }
            std::hint::spin_loop();
        }
    }

    /// The current sequence (even when no write is under way); it moves by 2 per write.
    #[inline]
    pub fn sequence(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }
}
