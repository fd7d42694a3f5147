//! Round robin (`rr`), as `ip_vs_rr.c`:
//!
//! ```text
//! pick: starting after the last server picked, take the next one (in list order, wrapping)
//!       whose weight is > 0; none -> no server.
//! ```

use super::{Flow, Load, Scheduler};
use crate::service::Dest;

/// Round-robin cursor.
#[derive(Debug, Default, Clone)]
pub struct RoundRobin {
    /// Index of the server picked last (None before the first pick).
    last: Option<usize>,
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn rebuild(&mut self, dests: &[Dest]) {
        if self.last.is_some_and(|l| l >= dests.len()) {
            self.last = None;
        }
    }

    fn pick(&mut self, dests: &[Dest], _loads: &[Load], _flow: &Flow) -> Option<usize> {
        let n = dests.len();
        let start = self.last.map_or(0, |l| l + 1);
        for k in 0..n {
            let i = (start + k) % n;
            if dests[i].weight > 0 {
                self.last = Some(i);
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Forward;
    use std::net::Ipv4Addr;

    fn dests(weights: &[u32]) -> Vec<Dest> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| Dest {
                id: i as u16,
                addr: Ipv4Addr::new(198, 19, 0, 10 + i as u8),
                port: 80,
                weight: w,
                forward: Forward::Nat,
            })
            .collect()
    }

    const FLOW: Flow = Flow {
        proto: 6,
        src: Ipv4Addr::new(198, 18, 0, 1),
        sport: 1000,
        dst: Ipv4Addr::new(198, 18, 0, 100),
        dport: 80,
    };

    #[test]
    fn cycles_in_order_skipping_quiesced() {
        let d = dests(&[1, 0, 5, 1]);
        let mut rr = RoundRobin::default();
        let loads = vec![Load::default(); 4];
        let picks: Vec<usize> = (0..6).map(|_| rr.pick(&d, &loads, &FLOW).unwrap()).collect();
        assert_eq!(picks, vec![0, 2, 3, 0, 2, 3]);
    }

    #[test]
    fn all_quiesced_or_empty_gives_none() {
        let mut rr = RoundRobin::default();
        assert_eq!(rr.pick(&dests(&[0, 0]), &[Load::default(); 2], &FLOW), None);
        assert_eq!(rr.pick(&[], &[], &FLOW), None);
    }
}
