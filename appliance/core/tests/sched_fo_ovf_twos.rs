//! fo, ovf and twos against literal transcriptions of `ip_vs_fo.c`, `ip_vs_ovf.c` and
//! `ip_vs_twos.c`: random weights (with many ties), overload marks and loads; twos with the
//! same two random draws. IPVS's scans see a separate overload flag; rvs folds an overloaded
//! server into weight 0 (`pipeline/overload.rs`), which is what the models check.

use proptest::prelude::*;
use rvs_core::sched::{new_scheduler, twos, Flow, Load, View};
use rvs_core::service::{Dest, Forward, MAX_DESTS};
use std::net::Ipv4Addr;

/// One `struct ip_vs_dest` as the scans read it.
#[derive(Debug, Clone, Copy)]
struct KDest {
    weight: i32,
    overloaded: bool,
    active: i32,
    inactive: i32,
}

fn overhead(d: &KDest) -> i64 {
    (i64::from(d.active) << 8) + i64::from(d.inactive)
}

/// `ip_vs_fo_schedule`.
fn kernel_fo(list: &[KDest]) -> Option<usize> {
    let (mut hweight, mut hw) = (None, 0);
    for (i, d) in list.iter().enumerate() {
        if !d.overloaded && d.weight > hw {
            hweight = Some(i);
            hw = d.weight;
        }
    }
    hweight
}

/// `ip_vs_ovf_schedule`.
fn kernel_ovf(list: &[KDest]) -> Option<usize> {
    let (mut h, mut hw) = (None, 0);
    for (i, d) in list.iter().enumerate() {
        let w = d.weight;
        if d.overloaded || d.active > w || w == 0 {
            continue;
        }
        if h.is_none() || w > hw {
            h = Some(i);
            hw = w;
        }
    }
    h
}

/// `ip_vs_twos_schedule` with its two `get_random_u32()` results.
fn kernel_twos(list: &[KDest], rand1: u32, rand2: u32) -> Option<usize> {
    let (mut choice1, mut choice2) = (None, None);
    let (mut weight1, mut weight2, mut overhead1, mut overhead2) = (-1i64, -1i64, 0i64, 0i64);
    let mut total_weight: i64 = 0;
    for (i, d) in list.iter().enumerate() {
        if !d.overloaded && d.weight > 0 {
            total_weight += i64::from(d.weight);
            choice1 = Some(i);
        }
    }
    choice1?;
    total_weight += 1;
    let mut rweight1 = i64::from(rand1) % total_weight;
    let mut rweight2 = i64::from(rand2) % total_weight;
    for (i, d) in list.iter().enumerate() {
        if d.overloaded || d.weight <= 0 {
            continue;
        }
        let weight = i64::from(d.weight);
        rweight1 -= weight;
        rweight2 -= weight;
        if rweight1 <= 0 && weight1 == -1 {
            choice1 = Some(i);
            weight1 = weight;
            overhead1 = overhead(d);
        }
        if rweight2 <= 0 && weight2 == -1 {
            choice2 = Some(i);
            weight2 = weight;
            overhead2 = overhead(d);
        }
        if weight1 != -1 && weight2 != -1 {
            break;
        }
    }
    if choice2.is_some() && weight2 * overhead1 > weight1 * overhead2 {
        choice1 = choice2;
    }
    choice1
}

/// rvs's view of the same servers: overloaded ones at weight 0.
fn rvs_view(list: &[KDest]) -> (Vec<Dest>, Vec<u32>, Vec<Load>) {
    let dests = (0..list.len())
        .map(|i| Dest {
            id: i as u16,
            addr: Ipv4Addr::from(0xC613_0000 + i as u32).into(),
            port: 80,
            weight: list[i].weight as u32,
            forward: Forward::Nat,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: rvs_core::encap::Tunnel::IPIP,
        })
        .collect();
    let mut w = vec![0; MAX_DESTS];
    let mut l = vec![Load::default(); MAX_DESTS];
    for (i, d) in list.iter().enumerate() {
        w[i] = if d.overloaded { 0 } else { d.weight as u32 };
        l[i] = Load { active: d.active as u32, inactive: d.inactive as u32 };
    }
    (dests, w, l)
}

fn kdests() -> impl Strategy<Value = Vec<KDest>> {
    prop::collection::vec(
        (0i32..5, prop::bool::weighted(0.2), 0i32..8, 0i32..4)
            .prop_map(|(weight, overloaded, active, inactive)| KDest { weight, overloaded, active, inactive }),
        0..12,
    )
}

const FLOW: Flow = Flow { proto: 6, src: 0xCB00_7109, sport: 4000, dst: 0xC612_0064, dport: 80 };

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fo_and_ovf_pick_as_the_kernel(list in kdests()) {
        let (d, w, l) = rvs_view(&list);
        let v = View { dests: &d, weights: &w, loads: &l };
        for (name, kernel) in [("fo", kernel_fo as fn(&[KDest]) -> Option<usize>), ("ovf", kernel_ovf)] {
            let mut s = new_scheduler(name).unwrap();
            s.rebuild(&v);
            prop_assert_eq!(s.pick(&v, &FLOW, 0), kernel(&list), "{} on {:?}", name, list);
        }
    }

    #[test]
    fn twos_picks_as_the_kernel_for_the_same_draws(list in kdests(), r1 in any::<u32>(), r2 in any::<u32>()) {
        let (d, w, l) = rvs_view(&list);
        let v = View { dests: &d, weights: &w, loads: &l };
        prop_assert_eq!(twos::choose(&v, r1, r2), kernel_twos(&list, r1, r2), "{:?} {} {}", list, r1, r2);
    }
}

/// twos balances: with connections that stay open, 10,000 picks over weights 1:1:2 end near
/// 1:1:2 (two random choices keep the spread far tighter than one).
#[test]
fn twos_keeps_held_connections_in_proportion_to_weight() {
    let list = [1, 1, 2].map(|weight| KDest { weight, overloaded: false, active: 0, inactive: 0 });
    let (d, w, mut l) = rvs_view(&list);
    let mut s = new_scheduler("twos").unwrap();
    s.seed(7);
    for _ in 0..10_000 {
        let i = s.pick(&View { dests: &d, weights: &w, loads: &l }, &FLOW, 0).unwrap();
        l[i].active += 1;
    }
    let got = [l[0].active, l[1].active, l[2].active];
    for (k, want) in [2_500, 2_500, 5_000].into_iter().enumerate() {
        assert!(got[k].abs_diff(want) <= 50, "held connections per server: {got:?}");
    }
}
