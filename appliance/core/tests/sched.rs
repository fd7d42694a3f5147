//! Schedulers against IPVS's own rules: table-driven cases (ties, weight 0), property tests
//! comparing the O(1) tree picks with a literal transcription of IPVS's linear scans under
//! random load changes, lblc/lblcr overload and replication, and Maglev's disruption.

// The reference scans are literal transcriptions of IPVS's C loops, index for index.
#![allow(clippy::needless_range_loop)]

use proptest::prelude::*;
use rvs_core::sched::{new_scheduler, Flow, Load, Scheduler, View};
use rvs_core::service::{Dest, Forward, MAX_DESTS};
use std::net::Ipv4Addr;

fn dests(n: usize) -> Vec<Dest> {
    (0..n)
        .map(|i| Dest {
            id: i as u16,
            addr: Ipv4Addr::from(0xC613_0000 + i as u32).into(),
            port: 80,
            weight: 1,
            forward: Forward::Nat,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: rvs_core::encap::Tunnel::IPIP,
        })
        .collect()
}

fn flow_to(dst: Ipv4Addr) -> Flow {
    Flow::new(6, u32::from(Ipv4Addr::new(203, 0, 113, 9)), 4000, u32::from(dst), 80)
}

const FLOW: Flow = Flow { proto: 6, src: 0xCB00_7109, sport: 4000, dst: 0xC612_0064, dport: 80 };

/// IPVS's linear scans, transcribed (ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c).
fn ipvs_reference(name: &str, w: &[u32], l: &[Load]) -> Option<usize> {
    let n = w.len();
    let oh = |i: usize| l[i].overhead() as i128;
    let sed_oh = |i: usize| i128::from(l[i].active) + 1;
    match name {
        "lc" => {
            let mut least: Option<(usize, i128)> = None;
            for i in 0..n {
                if w[i] == 0 {
                    continue;
                }
                if least.is_none_or(|(_, loh)| oh(i) < loh) {
                    least = Some((i, oh(i)));
                }
            }
            least.map(|x| x.0)
        }
        "wlc" | "sed" => {
            let f = |i: usize| if name == "wlc" { oh(i) } else { sed_oh(i) };
            let first = (0..n).find(|&i| w[i] > 0)?;
            let (mut least, mut loh) = (first, f(first));
            for i in first + 1..n {
                if w[i] == 0 {
                    continue;
                }
                if loh * i128::from(w[i]) > f(i) * i128::from(w[least]) {
                    least = i;
                    loh = f(i);
                }
            }
            Some(least)
        }
        "nq" => {
            let mut least: Option<(usize, i128)> = None;
            for i in 0..n {
                if w[i] == 0 {
                    continue;
                }
                if l[i].active == 0 {
                    return Some(i);
                }
                if least.is_none_or(|(li, loh)| loh * i128::from(w[i]) > sed_oh(i) * i128::from(w[li])) {
                    least = Some((i, sed_oh(i)));
                }
            }
            least.map(|x| x.0)
        }
        _ => unreachable!(),
    }
}

struct Case {
    name: &'static str,
    weights: &'static [u32],
    loads: &'static [(u32, u32)],
    want: Option<usize>,
    why: &'static str,
}

#[test]
fn least_connection_family_chooses_as_ipvs_on_given_counts() {
    let cases = [
        Case {
            name: "lc",
            weights: &[1, 1, 1],
            loads: &[(1, 0), (0, 5), (0, 300)],
            want: Some(1),
            why: "overhead 256 vs 5 vs 300",
        },
        Case { name: "lc", weights: &[1, 1], loads: &[(0, 3), (0, 3)], want: Some(0), why: "tie: first" },
        Case { name: "lc", weights: &[0, 1], loads: &[(0, 0), (9, 9)], want: Some(1), why: "weight 0 never" },
        Case { name: "lc", weights: &[5, 1], loads: &[(1, 0), (0, 200)], want: Some(1), why: "lc ignores weight" },
        Case { name: "wlc", weights: &[1, 3], loads: &[(1, 0), (2, 0)], want: Some(1), why: "256/1 vs 512/3" },
        Case { name: "wlc", weights: &[2, 4], loads: &[(1, 0), (2, 0)], want: Some(0), why: "256/2 == 512/4: first" },
        Case {
            name: "wlc",
            weights: &[1, 1, 1],
            loads: &[(0, 2), (0, 1), (0, 1)],
            want: Some(1),
            why: "inactive counts",
        },
        Case { name: "wlc", weights: &[0, 0], loads: &[(0, 0), (0, 0)], want: None, why: "all quiesced" },
        Case {
            name: "sed",
            weights: &[1, 3],
            loads: &[(0, 50), (2, 0)],
            want: Some(0),
            why: "1/1 vs 3/3 tie, inactive ignored",
        },
        Case { name: "sed", weights: &[1, 4], loads: &[(0, 0), (2, 0)], want: Some(1), why: "1/1 vs 3/4" },
        Case {
            name: "nq",
            weights: &[1, 4, 1],
            loads: &[(3, 0), (1, 0), (0, 9)],
            want: Some(2),
            why: "first idle wins",
        },
        Case {
            name: "nq",
            weights: &[0, 1, 1],
            loads: &[(0, 0), (1, 0), (0, 0)],
            want: Some(2),
            why: "idle but quiesced skipped",
        },
        Case {
            name: "nq",
            weights: &[1, 4],
            loads: &[(1, 0), (2, 0)],
            want: Some(1),
            why: "none idle: sed 2/1 vs 3/4",
        },
    ];
    for c in &cases {
        let d = dests(c.weights.len());
        let mut w = vec![0u32; MAX_DESTS];
        w[..c.weights.len()].copy_from_slice(c.weights);
        let mut l = vec![Load::default(); MAX_DESTS];
        for (i, &(a, ina)) in c.loads.iter().enumerate() {
            l[i] = Load { active: a, inactive: ina };
        }
        let v = View { dests: &d, weights: &w, loads: &l };
        let mut s = new_scheduler(c.name).unwrap();
        s.rebuild(&v);
        assert_eq!(s.pick(&v, &FLOW, 0), c.want, "{}: {}", c.name, c.why);
        assert_eq!(ipvs_reference(c.name, c.weights, &l[..c.weights.len()]), c.want, "reference agrees: {}", c.why);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The tree-based picks equal IPVS's scans after every single load change.
    #[test]
    fn tree_picks_equal_ipvs_scans_under_load_changes(
        weights in proptest::collection::vec(0u32..6, 1..90),
        changes in proptest::collection::vec((any::<prop::sample::Index>(), 0u32..4, 0u32..6), 1..120),
    ) {
        trees_follow_ipvs(&weights, changes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The same at the ends of the ranges: weights up to ipvsadm's 65535 and counts up to
    /// u32::MAX (overheads near 2^40), where the tree's packed keys and 64-bit products must
    /// still order, and tie, exactly as IPVS's scan.
    #[test]
    fn tree_picks_equal_ipvs_scans_at_the_extremes(
        weights in proptest::collection::vec(prop_oneof![0u32..4, 65533u32..=65535, Just(32768)], 1..40),
        changes in proptest::collection::vec(
            (any::<prop::sample::Index>(), prop_oneof![0u32..3, (u32::MAX - 2)..=u32::MAX],
             prop_oneof![0u32..3, (u32::MAX - 2)..=u32::MAX]),
            1..80,
        ),
    ) {
        trees_follow_ipvs(&weights, changes)?;
    }
}

/// Applies each load change in turn to lc, wlc, sed and nq, and checks every pick against
/// IPVS's scan ([`ipvs_reference`]).
fn trees_follow_ipvs(
    weights: &[u32],
    changes: Vec<(prop::sample::Index, u32, u32)>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let n = weights.len();
    let d = dests(n);
    let mut w = vec![0u32; MAX_DESTS];
    w[..n].copy_from_slice(weights);
    let mut l = vec![Load::default(); MAX_DESTS];
    let mut scheds: Vec<Box<dyn Scheduler>> =
        ["lc", "wlc", "sed", "nq"].iter().map(|s| new_scheduler(s).unwrap()).collect();
    for s in scheds.iter_mut() {
        s.rebuild(&View { dests: &d, weights: &w, loads: &l });
    }
    for (at, active, inactive) in changes {
        let i = at.index(n);
        l[i] = Load { active, inactive };
        for s in scheds.iter_mut() {
            s.load_changed(&View { dests: &d, weights: &w, loads: &l }, i);
            let got = s.pick(&View { dests: &d, weights: &w, loads: &l }, &FLOW, 0);
            prop_assert_eq!(got, ipvs_reference(s.name(), weights, &l[..n]), "{}", s.name());
        }
    }
    Ok(())
}

fn view<'a>(d: &'a [Dest], w: &'a [u32], l: &'a [Load]) -> View<'a> {
    View { dests: d, weights: w, loads: l }
}

#[test]
fn lblc_keeps_a_destination_until_overloaded_while_another_is_at_half_load() {
    let d = dests(2);
    let mut w = vec![0u32; MAX_DESTS];
    w[0] = 2;
    w[1] = 2;
    let mut l = vec![Load::default(); MAX_DESTS];
    let mut s = new_scheduler("lblc").unwrap();
    s.rebuild(&view(&d, &w, &l));
    let dst = flow_to(Ipv4Addr::new(93, 184, 216, 34));
    assert_eq!(s.pick(&view(&d, &w, &l), &dst, 0), Some(0), "wlc on an empty cluster: first");
    // Server 0 gets busier than its weight, but nobody is at half load: it keeps the destination.
    l[0] = Load { active: 3, inactive: 0 };
    l[1] = Load { active: 1, inactive: 0 };
    for i in 0..2 {
        s.load_changed(&view(&d, &w, &l), i);
    }
    assert_eq!(s.pick(&view(&d, &w, &l), &dst, 10), Some(0), "active > weight, but 1*2 < 2 is false for server 1");
    // Server 1 drops to half load (0 * 2 < 2): server 0 is now overloaded; the entry moves.
    l[1] = Load { active: 0, inactive: 0 };
    s.load_changed(&view(&d, &w, &l), 1);
    assert_eq!(s.pick(&view(&d, &w, &l), &dst, 20), Some(1));
    // ... and stays there.
    l[0] = Load::default();
    s.load_changed(&view(&d, &w, &l), 0);
    assert_eq!(s.pick(&view(&d, &w, &l), &dst, 30), Some(1), "cached on server 1 now");
    // Quiescing the cached server re-schedules.
    w[1] = 0;
    s.rebuild(&view(&d, &w, &l));
    assert_eq!(s.pick(&view(&d, &w, &l), &dst, 40), Some(0));
}

#[test]
fn lblc_entries_expire_and_the_cache_is_bounded() {
    let d = dests(3);
    let mut w = vec![0u32; MAX_DESTS];
    w[..3].fill(1);
    let l = vec![Load::default(); MAX_DESTS];
    let mut s = rvs_core::sched::lblc::Lblc::new(100, 60);
    s.rebuild(&view(&d, &w, &l));
    for k in 0..500u32 {
        s.pick(&view(&d, &w, &l), &flow_to(Ipv4Addr::from(0x5DB8_0000 + k)), 0);
    }
    assert_eq!(s.cached(), 100, "never more than the capacity");
    for t in 0..=60 {
        s.expire(t, 64);
    }
    assert_eq!(s.cached(), 100, "not idle for more than 60 s yet");
    for t in 61..100 {
        s.expire(t, 64);
    }
    assert_eq!(s.cached(), 0, "idle entries expire on the simulated clock");
}

#[test]
fn lblcr_replicates_under_overload_and_sheds_after_expiration() {
    let d = dests(3);
    let mut w = vec![0u32; MAX_DESTS];
    w[..3].fill(2);
    let mut l = vec![Load::default(); MAX_DESTS];
    let mut s = rvs_core::sched::lblcr::Lblcr::new(64, 100);
    s.rebuild(&view(&d, &w, &l));
    let dst = Ipv4Addr::new(93, 184, 216, 34);
    assert_eq!(s.pick(&view(&d, &w, &l), &flow_to(dst), 0), Some(0));
    assert_eq!(s.set_of(dst), vec![0]);
    // Server 0 overloaded (3 > 2) while server 2 is at half load: the wlc choice of the whole
    // cluster (server 1: 0 active, first of the least) joins the set.
    l[0] = Load { active: 3, inactive: 0 };
    s.load_changed(&view(&d, &w, &l), 0);
    assert_eq!(s.pick(&view(&d, &w, &l), &flow_to(dst), 10), Some(1));
    assert_eq!(s.set_of(dst), vec![0, 1]);
    // Within the set the least loaded member serves while it is not overloaded.
    l[1] = Load { active: 1, inactive: 0 };
    s.load_changed(&view(&d, &w, &l), 1);
    assert_eq!(s.pick(&view(&d, &w, &l), &flow_to(dst), 20), Some(1));
    // The set has not changed for > 100 s: its most loaded member (0) is dropped.
    assert_eq!(s.pick(&view(&d, &w, &l), &flow_to(dst), 200), Some(1));
    assert_eq!(s.set_of(dst), vec![1]);
}

#[test]
fn maglev_disruption_when_one_of_100_reals_is_removed() {
    let all = dests(100);
    let mut w = vec![0u32; MAX_DESTS];
    w[..100].fill(1);
    let l = vec![Load::default(); MAX_DESTS];
    let mut before = rvs_core::sched::mh::Maglev::new(65537);
    before.rebuild(&view(&all, &w, &l));
    let t0: Vec<u16> = before.table().iter().map(|&i| all[usize::from(i)].id).collect();
    let mut fewer = all.clone();
    fewer.remove(37);
    let mut after = rvs_core::sched::mh::Maglev::new(65537);
    after.rebuild(&view(&fewer, &w, &l));
    let t1: Vec<u16> = after.table().iter().map(|&i| fewer[usize::from(i)].id).collect();
    let own = t0.iter().filter(|&&id| id == 37).count();
    let moved_other = t0.iter().zip(&t1).filter(|(a, b)| **a != 37 && a != b).count();
    let pct = 100.0 * moved_other as f64 / 65537.0;
    println!("mh: removing 1 of 100 reals: its own share {own} slots ({:.2}%); other slots that moved: {moved_other} ({pct:.2}%)", 100.0 * own as f64 / 65537.0);
    assert!(t1.iter().all(|&id| id != 37));
    assert!(pct < 2.5, "disruption beyond the removed real's share: {pct:.2}%");
}
