//! Later IP fragments that came before their first ([`Verdict::HoldFragment`]): held, bounded,
//! for at most [`FRAGMENT_HOLD_MS`], and processed again each time the pipeline records a first
//! fragment ([`rvs_core::Pipeline::fragment_generation`]); past that, or when the hold is full,
//! dropped and counted (`fragments_expired`).

use super::*;
use rvs_core::pipeline::FRAGMENT_HOLD_MS;

/// Fragments one worker holds at once.
pub const HELD_FRAGMENTS: usize = 64;

/// The held fragments: (arrival port, frame, when held).
#[derive(Debug)]
pub struct FragmentHold<'p> {
    frames: Vec<(u16, Mbuf<'p>, u64)>,
    /// The pipeline's fragment generation when they were last tried.
    tried_at: u64,
}

impl FragmentHold<'_> {
    /// Room for [`HELD_FRAGMENTS`].
    pub fn new() -> Self {
        FragmentHold { frames: Vec::with_capacity(HELD_FRAGMENTS), tried_at: 0 }
    }
}

impl<'p, Q: QueuePair<'p>> Running<'_, 'p, Q> {
    /// Holds a later fragment (dropped when the hold is full).
    pub(super) fn hold_fragment(&mut self, port: u16, m: Mbuf<'p>, now: u64) {
        if self.frags.frames.len() < HELD_FRAGMENTS {
            self.frags.frames.push((port, m, now));
        } else {
            self.io.fragments_expired += 1;
        }
    }

    /// At a burst boundary: drops the fragments held too long; tries the others again if a
    /// first fragment was recorded since they were last tried.
    pub(super) fn service_fragments(&mut self, now: u64) {
        if self.frags.frames.is_empty() {
            return;
        }
        let generation = self.worker.pipeline.fragment_generation();
        let retry = generation != self.frags.tried_at;
        self.frags.tried_at = generation;
        let held = std::mem::take(&mut self.frags.frames);
        let mut keep = Vec::with_capacity(HELD_FRAGMENTS);
        for (port, m, since) in held {
            if now.saturating_sub(since) > FRAGMENT_HOLD_MS {
                self.io.fragments_expired += 1;
            } else if retry {
                let before = self.frags.frames.len();
                self.handle(port, m, now);
                // Held again: keep its first hold time.
                if let Some(last) = self.frags.frames.get_mut(before) {
                    last.2 = since;
                }
            } else {
                keep.push((port, m, since));
            }
        }
        keep.append(&mut self.frags.frames);
        self.frags.frames = keep;
    }

    /// Frees every held fragment (the worker stops).
    pub(super) fn drop_held_fragments(&mut self) {
        self.frags.frames.clear();
    }
}
