//! Rate estimation as IPVS does it (`ip_vs_est.c`): every 2 seconds the counters are sampled and
//! each rate follows `avg += (sample - avg) / 4`, in fixed point (x1024) with integer maths.
//! The figures are per second: connections, packets and bytes, in and out.

use crate::stats::{Rates, Report};
use rvs_core::pipeline::Stats;
use std::collections::BTreeMap;

/// Seconds between samples.
pub const PERIOD_S: u64 = 2;

#[derive(Debug, Clone, Copy, Default)]
struct Est {
    last: Stats,
    /// Rates x1024.
    avg: [u64; 5],
}

impl Est {
    fn sample(&mut self, now: Stats) {
        let d = [
            now.conns.saturating_sub(self.last.conns),
            now.pkts_in.saturating_sub(self.last.pkts_in),
            now.pkts_out.saturating_sub(self.last.pkts_out),
            now.bytes_in.saturating_sub(self.last.bytes_in),
            now.bytes_out.saturating_sub(self.last.bytes_out),
        ];
        for (a, delta) in self.avg.iter_mut().zip(d) {
            // sample x1024 per second = delta * 1024 / PERIOD_S
            let s = (delta << 10) / PERIOD_S;
            *a = if s >= *a { *a + ((s - *a) >> 2) } else { *a - ((*a - s) >> 2) };
        }
        self.last = now;
    }

    fn rates(&self) -> Rates {
        let r = |x: u64| (x + 512) >> 10;
        Rates {
            cps: r(self.avg[0]),
            inpps: r(self.avg[1]),
            outpps: r(self.avg[2]),
            inbps: r(self.avg[3]),
            outbps: r(self.avg[4]),
        }
    }
}

/// Estimators per service and per real server, keyed by their listing identity.
#[derive(Debug, Clone, Default)]
pub struct Estimator {
    svc: BTreeMap<String, Est>,
    real: BTreeMap<String, Est>,
}

fn stats_of(conns: u64, pkts_in: u64, pkts_out: u64, bytes_in: u64, bytes_out: u64) -> Stats {
    Stats { conns, pkts_in, pkts_out, bytes_in, bytes_out }
}

fn svc_key(s: &crate::stats::ServiceReport) -> String {
    s.display_name()
}

impl Estimator {
    /// Takes a sample from a report built without a baseline (raw, monotonic counters).
    pub fn sample(&mut self, raw: &Report) {
        let mut seen_s = Vec::new();
        let mut seen_r = Vec::new();
        for s in &raw.services {
            let k = svc_key(s);
            // A new service's estimator starts from zero, as IPVS's does at creation.
            self.svc.entry(k.clone()).or_default().sample(stats_of(
                s.conns,
                s.pkts_in,
                s.pkts_out,
                s.bytes_in,
                s.bytes_out,
            ));
            for r in &s.reals {
                let rk = format!("{k} {}", crate::stats::endpoint(&r.address, r.port));
                let now = stats_of(r.conns, r.pkts_in, r.pkts_out, r.bytes_in, r.bytes_out);
                self.real.entry(rk.clone()).or_default().sample(now);
                seen_r.push(rk);
            }
            seen_s.push(k);
        }
        self.svc.retain(|k, _| seen_s.contains(k));
        self.real.retain(|k, _| seen_r.contains(k));
    }

    /// Fills the rates of a report.
    pub fn fill(&self, r: &mut Report) {
        for s in &mut r.services {
            let k = svc_key(s);
            s.rates = self.svc.get(&k).map(Est::rates).unwrap_or_default();
            for real in &mut s.reals {
                real.rates = self
                    .real
                    .get(&format!("{k} {}", crate::stats::endpoint(&real.address, real.port)))
                    .map(Est::rates)
                    .unwrap_or_default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_rate_converges_and_a_stop_decays() {
        let mut e = Est::default();
        let mut total = Stats::default();
        for _ in 0..80 {
            total.conns += 200; // 100 connections per second over each 2 s period
            total.bytes_in += 2_000_000;
            e.sample(total);
        }
        assert_eq!(e.rates().cps, 100);
        // The x1024 fixed point with >> 2 settles within a few units of the true rate, as IPVS's.
        assert!(e.rates().inbps.abs_diff(1_000_000) <= 100, "{}", e.rates().inbps);
        for _ in 0..80 {
            e.sample(total);
        }
        assert_eq!(e.rates().cps, 0, "decays to zero once traffic stops");
    }
}
