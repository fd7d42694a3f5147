//! Scheduler costs: `pick` for each scheduler at 10, 100 and 1,000 real servers (weights
//! 1..=10, loads spread), alone and together with the load accounting every new connection
//! does (`load_changed`); and Maglev's table rebuild at 1,000 real servers (M = 65537).
//! Report: `tools/bench.sh`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rvs_core::sched::{new_scheduler, Flow, Load, View, NAMES};
use rvs_core::service::{Dest, Forward, MAX_DESTS};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

fn setup(n: usize) -> (Vec<Dest>, Vec<u32>, Vec<Load>) {
    let dests: Vec<Dest> = (0..n)
        .map(|i| Dest {
            id: i as u16,
            addr: Ipv4Addr::from(0xC613_0000 + i as u32).into(),
            port: 80,
            weight: 1 + (i as u32 * 7) % 10,
            forward: Forward::DirectRoute,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: rvs_core::encap::Tunnel::IPIP,
        })
        .collect();
    let mut w = vec![0u32; MAX_DESTS];
    let mut l = vec![Load::default(); MAX_DESTS];
    for (i, d) in dests.iter().enumerate() {
        w[i] = d.weight;
        l[i] = Load { active: (i as u32 * 13) % 50, inactive: (i as u32 * 31) % 200 };
    }
    (dests, w, l)
}

fn flow(k: u32) -> Flow {
    // Sources and destinations spread like many clients (and, for lblc/dh, many origins).
    let x = k.wrapping_mul(2_654_435_761);
    Flow {
        proto: 6,
        src: u128::from(0xCB00_0000 | (x >> 8)),
        sport: 1024 + (k as u16),
        dst: u128::from(0x5DB8_0000 | (x & 0xfff)),
        dport: 80,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sched_pick");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_millis(1200)).warm_up_time(Duration::from_millis(300)).sample_size(20);
    for &n in &[10usize, 100, 1000] {
        for name in NAMES {
            let (d, w, l) = setup(n);
            let mut s = new_scheduler(name).unwrap();
            s.rebuild(&View { dests: &d, weights: &w, loads: &l });
            let mut k = 0u32;
            g.bench_with_input(BenchmarkId::new(*name, n), &n, |b, _| {
                b.iter(|| {
                    k = k.wrapping_add(1);
                    black_box(s.pick(&View { dests: &d, weights: &w, loads: &l }, &flow(k), k >> 10))
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("sched_new_conn");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_millis(1200)).warm_up_time(Duration::from_millis(300)).sample_size(20);
    for &n in &[10usize, 100, 1000] {
        for name in NAMES {
            let (d, w, mut l) = setup(n);
            let mut s = new_scheduler(name).unwrap();
            s.rebuild(&View { dests: &d, weights: &w, loads: &l });
            let mut k = 0u32;
            g.bench_with_input(BenchmarkId::new(*name, n), &n, |b, _| {
                b.iter(|| {
                    k = k.wrapping_add(1);
                    if let Some(i) = s.pick(&View { dests: &d, weights: &w, loads: &l }, &flow(k), k >> 10) {
                        // The connection this pick made, and one that ended elsewhere.
                        l[i].inactive += 1;
                        s.load_changed(&View { dests: &d, weights: &w, loads: &l }, i);
                        let j = (k as usize * 7) % n;
                        l[j].inactive = l[j].inactive.saturating_sub(1);
                        s.load_changed(&View { dests: &d, weights: &w, loads: &l }, j);
                    }
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("mh_rebuild");
    g.measurement_time(Duration::from_secs(3)).sample_size(20);
    let (d, w, l) = setup(1000);
    let mut s = rvs_core::sched::mh::Maglev::new(65537);
    g.bench_function("1000_reals_65537_slots", |b| {
        b.iter(|| {
            use rvs_core::sched::Scheduler;
            s.rebuild(&View { dests: &d, weights: &w, loads: &l });
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
