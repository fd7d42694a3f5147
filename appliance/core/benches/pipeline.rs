//! `Pipeline::process` on bursts of 32 frames of established flows, per forwarding method:
//! NAT client->server, NAT server->client, DR, TUN. 1024 flows per method, round-robin through
//! the burst, so lookups hit different buckets. Frames are reset from templates outside the
//! timed region (criterion's batched setup). Report: `tools/bench.sh`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{Pipeline, PipelineConfig, VecFrame, Verdict};
use std::hint::black_box;
use std::time::Duration;

const BURST: usize = 32;
const FLOWS: u16 = 1024;
const NOW: u64 = 1_000_000;

fn setup(mode: &str) -> (Pipeline, Vec<(u16, Vec<u8>)>) {
    let mut p = pipeline_with(PipelineConfig { conn_capacity: 1 << 16, ..PipelineConfig::default() });
    let mut frames = Vec::new();
    for i in 0..FLOWS {
        let port = 10_000 + i;
        let (vip, tmpl) = match mode {
            "nat_in" | "nat_out" => (VIP_NAT, from_client(VIP_NAT)),
            "dr" => (VIP_DR, from_client(VIP_DR)),
            _ => (VIP_TUN, from_client(VIP_TUN)),
        };
        let _ = vip;
        let mut f = VecFrame::new(&tmpl.tcp(port, 80, SYN, 1, b""));
        assert!(matches!(p.process(NOW, 0, &mut f), Verdict::Forward(_)));
        // rr over RS1/RS2: even flows on RS1, odd on RS2.
        let (mac, rs) = if i % 2 == 0 { (RS1_MAC, RS1) } else { (RS2_MAC, RS2) };
        if mode.starts_with("nat") {
            let mut r = VecFrame::new(&from_real(mac, rs).tcp(8080, port, SYN | ACK, 1, b""));
            assert_eq!(p.process(NOW, 1, &mut r), Verdict::Forward(0));
        }
        // 64-byte frames (with FCS): 14 + 20 + 20 + 6 bytes of payload.
        if mode == "nat_out" {
            frames.push((1, from_real(mac, rs).tcp(8080, port, ACK, 2, &[0; 6])));
        } else {
            frames.push((0, tmpl.tcp(port, 80, ACK, 2, &[0; 6])));
        }
    }
    (p, frames)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("process_burst32");
    g.throughput(Throughput::Elements(BURST as u64));
    g.measurement_time(Duration::from_secs(3)).sample_size(40).warm_up_time(Duration::from_secs(1));
    for mode in ["nat_in", "nat_out", "dr", "tun"] {
        let (mut p, frames) = setup(mode);
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
                    for (port, f) in burst.iter_mut() {
                        black_box(p.process(NOW, *port, f));
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
