//! `Pipeline::lookahead` then `Pipeline::process` (as rvsd's worker loop does) on bursts of 32 frames of established flows, per forwarding method:
//! NAT client->server, NAT server->client, DR, TUN. 1024 flows per method, round-robin through
//! the burst, so lookups hit different buckets. Frames are reset from templates outside the
//! timed region (criterion's batched setup). Report: `tools/bench.sh`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rvs_core::pipeline::{Parsed, LOOKAHEAD};
use rvs_core::VecFrame;
use std::hint::black_box;
use std::time::Duration;

const BURST: usize = 32;
const NOW: u64 = ESTABLISHED_NOW;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("process_burst32");
    g.throughput(Throughput::Elements(BURST as u64));
    g.measurement_time(Duration::from_secs(3)).sample_size(40).warm_up_time(Duration::from_secs(1));
    for mode in ["nat_in", "nat_out", "dr", "tun"] {
        let (mut p, frames) = established(mode);
        let mut next = 0usize;
        g.bench_function(mode, |b| {
            b.iter_batched_ref(
                || {
                    let burst: Vec<(u16, VecFrame)> = (0..BURST)
                        .map(|k| {
                            let (port, bytes) = &frames[(next + k) % frames.len()];
                            (*port, VecFrame::new(bytes))
                        })
                        .collect();
                    next = (next + BURST) % frames.len();
                    burst
                },
                |burst| {
                    let mut parsed = [Parsed::default(); LOOKAHEAD];
                    p.lookahead(burst[0].0, burst.iter().map(|(_, f)| f), &mut parsed, |_| {});
                    for ((port, f), read) in burst.iter_mut().zip(parsed.iter()) {
                        black_box(p.process_parsed(NOW, *port, f, read));
                    }
                },
                BatchSize::SmallInput,
            )
        });
        assert_eq!(p.counters().total_drops(), 0, "{mode}: the bench measured drops");
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
