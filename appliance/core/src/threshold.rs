//! Per-real-server connection thresholds (`ipvsadm -x UPPER -y LOWER`) across cores.
//!
//! IPVS (`ip_vs_bind_dest` / `ip_vs_unbind_dest` in `ip_vs_conn.c`) marks a real server
//! *overloaded* when its connections (active + inactive) reach the upper threshold, and clears
//! the mark when they fall below the lower one, or below 3/4 of the upper when the lower is 0.
//! Every scheduler skips an overloaded server, as it skips weight 0; persistence templates still
//! send their clients to it (IPVS checks templates for availability, not overload).
//!
//! rvs counts connections per core. Each core publishes its own count of a thresholded server
//! into its row of this gauge (a plain store: one writer per row, so no cache line is fought
//! over by read-modify-writes) whenever that count changes, then adds up the rows and moves the
//! shared flag. Other cores pick the flag up at their next burst boundary. Cores are only
//! touched here for servers that have a threshold.

use crate::service::MAX_DESTS;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Sixteen counts on one cache line of their own.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Line([AtomicU32; 16]);

/// One core's published connection counts, by real-server id. The counts live in `Line`s, so
/// no two cores' rows share a cache line (an aligned `Vec` header alone would not keep their
/// heap buffers apart).
#[derive(Debug)]
struct Row(Vec<Line>);

impl Row {
    fn new() -> Self {
        Row((0..MAX_DESTS.div_ceil(16)).map(|_| Line::default()).collect())
    }

    #[inline]
    fn count(&self, dest: u16) -> &AtomicU32 {
        let d = usize::from(dest);
        &self.0[d / 16].0[d % 16]
    }
}

/// The connection counts of every core and the overload flags, shared by all workers.
#[derive(Debug)]
pub struct ThresholdGauge {
    rows: Vec<Row>,
    overloaded: Vec<AtomicBool>,
}

impl ThresholdGauge {
    /// A gauge for `cores` workers.
    pub fn new(cores: u16) -> Self {
        ThresholdGauge {
            rows: (0..cores.max(1)).map(|_| Row::new()).collect(),
            overloaded: (0..MAX_DESTS).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Core `core` now holds `count` connections of real server `dest`.
    #[inline]
    pub fn publish(&self, core: u16, dest: u16, count: u32) {
        if let Some(row) = self.rows.get(usize::from(core)) {
            row.count(dest).store(count, Ordering::Relaxed);
        }
    }

    /// Connections of real server `dest` over all cores.
    #[inline]
    pub fn total(&self, dest: u16) -> u64 {
        self.rows.iter().map(|r| u64::from(r.count(dest).load(Ordering::Relaxed))).sum()
    }

    /// True while real server `dest` is overloaded.
    #[inline]
    pub fn is_overloaded(&self, dest: u16) -> bool {
        self.overloaded[usize::from(dest)].load(Ordering::Relaxed)
    }

    /// Clears the mark of a real server that no longer has a threshold.
    pub fn clear(&self, dest: u16) {
        self.overloaded[usize::from(dest)].store(false, Ordering::Relaxed);
    }

    /// IPVS's rule, applied after a count of `dest` changed: marks it at `upper` connections,
    /// clears the mark below `lower` (3/4 of `upper` when `lower` is 0). Returns the mark.
    pub fn evaluate(&self, dest: u16, upper: u32, lower: u32) -> bool {
        let total = self.total(dest);
        let flag = &self.overloaded[usize::from(dest)];
        let was = flag.load(Ordering::Relaxed);
        let now = if upper == 0 {
            false
        } else if !was {
            total >= u64::from(upper)
        } else if lower != 0 {
            total >= u64::from(lower)
        } else {
            total * 4 >= u64::from(upper) * 3
        };
        if now != was {
            flag.store(now, Ordering::Relaxed);
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_cores_rows_share_a_cache_line() {
        let g = ThresholdGauge::new(4);
        let lines: Vec<(usize, usize)> = g
            .rows
            .iter()
            .map(|r| (r.0.as_ptr() as usize, r.0.as_ptr() as usize + r.0.len() * std::mem::size_of::<Line>()))
            .collect();
        for (k, &(start, end)) in lines.iter().enumerate() {
            assert_eq!(start % 64, 0, "row {k} starts a cache line");
            for &(s2, e2) in &lines[k + 1..] {
                assert!(end <= s2 || e2 <= start, "rows overlap");
            }
        }
        assert_eq!(
            std::ptr::from_ref(g.rows[1].count(17)) as usize / 64,
            std::ptr::from_ref(g.rows[1].count(16)) as usize / 64
        );
        assert_ne!(
            std::ptr::from_ref(g.rows[1].count(16)) as usize / 64,
            std::ptr::from_ref(g.rows[1].count(15)) as usize / 64
        );
    }

    #[test]
    fn marks_at_the_upper_and_clears_below_the_lower_summed_over_cores() {
        let g = ThresholdGauge::new(2);
        g.publish(0, 7, 3);
        g.publish(1, 7, 1);
        assert!(!g.evaluate(7, 5, 2), "4 of 5");
        g.publish(1, 7, 2);
        assert!(g.evaluate(7, 5, 2), "5 of 5: overloaded");
        g.publish(0, 7, 0);
        assert!(g.evaluate(7, 5, 2), "2 is not below the lower 2");
        g.publish(1, 7, 1);
        assert!(!g.evaluate(7, 5, 2), "1 < 2: cleared");
        assert!(!g.is_overloaded(7));
    }

    #[test]
    fn without_a_lower_threshold_three_quarters_of_the_upper() {
        let g = ThresholdGauge::new(1);
        g.publish(0, 1, 8);
        assert!(g.evaluate(1, 8, 0));
        g.publish(0, 1, 6);
        assert!(g.evaluate(1, 8, 0), "6 * 4 = 24 is not below 8 * 3");
        g.publish(0, 1, 5);
        assert!(!g.evaluate(1, 8, 0), "5 * 4 < 24");
        assert!(!g.evaluate(1, 0, 0), "no upper threshold: never overloaded");
    }
}
