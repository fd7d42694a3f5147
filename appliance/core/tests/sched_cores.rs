//! Per-core scheduler replicas of one configuration: a weight change (a new snapshot) reaches
//! every replica when it applies the snapshot and never moves established connections; each core
//! balances on its own connection counts, and the cores' choices add up to a balanced whole.

mod common;

use common::*;
use rvs_core::service::{Forward, Protocol};
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{Frame, Pipeline, PipelineConfig, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const NOW: u64 = 1_000_000;

/// DR service VIP_DR:80, wlc over RS1 (dest 0) and RS2 (dest 1).
fn dr_snapshot(weights: (u32, u32)) -> Arc<rvs_core::Snapshot> {
    let svc = service(0, Protocol::Tcp, VIP_DR, "wlc", &[(RS1, weights.0), (RS2, weights.1)], Forward::DirectRoute, 0);
    Arc::new(snapshot_with(vec![svc]))
}

fn cores(n: usize, weights: (u32, u32)) -> Vec<Pipeline> {
    let snap = dr_snapshot(weights);
    (0..n)
        .map(|k| {
            let cfg = PipelineConfig { hash_seed: 0x1000 + k as u64, ..PipelineConfig::default() };
            Pipeline::new(cfg, Arc::clone(&snap), NOW)
        })
        .collect()
}

/// Opens an established connection from `port` on `p`; returns the real server's MAC byte.
fn open(p: &mut Pipeline, port: u16) -> u8 {
    let c = from_client(VIP_DR);
    let mut f = VecFrame::new(&c.tcp(port, 80, SYN, 1, b""));
    assert_eq!(p.process(NOW, 0, &mut f), Verdict::Forward(1));
    let rs = f.data()[5];
    let mut f = VecFrame::new(&c.tcp(port, 80, ACK, 2, b""));
    assert_eq!(p.process(NOW, 0, &mut f), Verdict::Forward(1));
    assert_eq!(f.data()[5], rs, "the connection's packets follow it");
    rs
}

fn counts(picks: &[u8]) -> (usize, usize) {
    (picks.iter().filter(|&&b| b == RS1_MAC.0[5]).count(), picks.iter().filter(|&&b| b == RS2_MAC.0[5]).count())
}

#[test]
fn each_core_balances_its_own_share_and_the_sum_is_balanced_even_with_skewed_cores() {
    let mut ps = cores(2, (1, 1));
    let mut picks = Vec::new();
    // Core 0 gets three times the connections of core 1 (RSS is not perfectly even).
    for port in 0..800u16 {
        let core = usize::from(port % 4 == 3);
        picks.push(open(&mut ps[core], 10_000 + port));
    }
    let (a, b) = counts(&picks);
    assert_eq!((a, b), (400, 400), "wlc on per-core counts: each core alternates, the sum is even");
    for p in &ps {
        let (l1, l2) = (p.loads()[0], p.loads()[1]);
        assert_eq!(l1.active.abs_diff(l2.active), 0, "per core: {l1:?} vs {l2:?}");
    }
}

#[test]
fn a_weight_change_reaches_every_replica_with_its_snapshot_and_moves_no_connection() {
    let mut ps = cores(2, (1, 1));
    let mut old = Vec::new();
    for port in 0..40u16 {
        let k = usize::from(port % 2);
        old.push((k, port, open(&mut ps[k], 20_000 + port)));
    }
    let heavier = dr_snapshot((3, 1)); // RS1 weight 1 -> 3
    assert_eq!(ps[0].weights()[0], 1, "not before the snapshot is applied");
    for p in ps.iter_mut() {
        p.apply(Arc::clone(&heavier));
        assert_eq!(p.weights()[0], 3, "every replica once it applies the snapshot");
    }
    // Established connections stay where they were.
    for &(k, port, rs) in &old {
        let mut f = VecFrame::new(&from_client(VIP_DR).tcp(20_000 + port, 80, ACK, 3, b"more"));
        assert_eq!(ps[k].process(NOW, 0, &mut f), Verdict::Forward(1));
        assert_eq!(f.data()[5], rs);
    }
    // New connections now follow 3:1 (wlc: overhead / weight).
    let mut picks = Vec::new();
    for port in 0..400u16 {
        let k = usize::from(port % 2);
        picks.push(open(&mut ps[k], 30_000 + port));
    }
    let (a, b) = counts(&picks);
    // 20 + a : 20 + b ends near 3:1 over all connections.
    let ratio = (20 + a) as f64 / (20 + b) as f64;
    assert!((2.7..3.3).contains(&ratio), "RS1:RS2 = {} : {} (ratio {ratio:.2})", 20 + a, 20 + b);
    // Quiesce RS2: no new connection goes there.
    let quiesced = dr_snapshot((3, 0));
    for p in ps.iter_mut() {
        p.apply(Arc::clone(&quiesced));
    }
    for port in 0..20u16 {
        assert_eq!(open(&mut ps[usize::from(port % 2)], 40_000 + port), RS1_MAC.0[5]);
    }
    let _ = Ipv4Addr::LOCALHOST;
}
