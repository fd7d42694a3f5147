//! Idle back-off for a poll loop.

use std::time::Duration;

/// Back-off for an idle poll loop, so a lab or VM host with few cores is not starved: spin a
/// little after the last packet, then pause, then sleep for growing intervals up to
/// `MAX_SLEEP`. Any received packet returns to busy polling at once. Disabled on bare metal,
/// where a worker owns its core and sleeping only adds latency.
#[derive(Debug)]
pub struct IdleBackoff {
    enabled: bool,
    empty_polls: u32,
}

impl IdleBackoff {
    /// Empty polls before the loop starts sleeping.
    pub const SPIN_POLLS: u32 = 256;
    /// Longest single sleep.
    pub const MAX_SLEEP: Duration = Duration::from_micros(200);

    /// A back-off; `enabled = false` never sleeps.
    pub fn new(enabled: bool) -> Self {
        IdleBackoff { enabled, empty_polls: 0 }
    }

    /// The sleep due after a poll that received `packets` packets (None: poll again now).
    pub fn sleep_for(&mut self, packets: usize) -> Option<Duration> {
        if packets > 0 || !self.enabled {
            self.empty_polls = 0;
            return None;
        }
        self.empty_polls = self.empty_polls.saturating_add(1);
        let over = self.empty_polls.checked_sub(Self::SPIN_POLLS + 1)?;
        // 1, 2, 4 ... µs, capped.
        let us = 1u64 << over.min(16);
        Some(Duration::from_micros(us).min(Self::MAX_SLEEP))
    }

    /// Call after each poll; sleeps when the loop has been idle long enough.
    pub fn after_poll(&mut self, packets: usize) {
        if let Some(d) = self.sleep_for(packets) {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_then_sleeps_growing_then_resets_on_traffic() {
        let mut b = IdleBackoff::new(true);
        for _ in 0..IdleBackoff::SPIN_POLLS {
            assert_eq!(b.sleep_for(0), None);
        }
        assert_eq!(b.sleep_for(0), Some(Duration::from_micros(1)));
        assert_eq!(b.sleep_for(0), Some(Duration::from_micros(2)));
        assert_eq!(b.sleep_for(0), Some(Duration::from_micros(4)));
        for _ in 0..40 {
            b.sleep_for(0);
        }
        assert_eq!(b.sleep_for(0), Some(IdleBackoff::MAX_SLEEP));
        assert_eq!(b.sleep_for(3), None);
        assert_eq!(b.sleep_for(0), None, "traffic restarts the spin phase");
    }

    #[test]
    fn disabled_never_sleeps() {
        let mut b = IdleBackoff::new(false);
        for _ in 0..10_000 {
            assert_eq!(b.sleep_for(0), None);
        }
    }
}
