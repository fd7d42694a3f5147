//! Instructions per packet of `Pipeline::process` on established flows (64-byte frames), for
//! callgrind, whose counts repeat where timings on a shared VM do not:
//!
//! ```sh
//! valgrind --tool=callgrind target/release/examples/ipp dr 100000
//! valgrind --tool=callgrind target/release/examples/ipp dr 200000
//! ```
//! The difference of the two totals over the difference of the counts is the per-packet figure
//! without set-up (it includes copying each frame into the reused buffer, ~10 instructions).
//! `tools/bench.sh` does this for every mode. Modes: nat_in, nat_out, dr, tun, fnat_in, fnat_out
//! (or with `-`).
//! With `--burst` it runs what rvsd's worker runs per packet: the look-ahead over a burst of
//! 32, then the processing of each frame. With `--rx-checksum` every frame comes as from a NIC
//! that checked its IPv4 header (`RTE_MBUF_F_RX_IP_CKSUM_GOOD`).
//! With `--syn` every frame is the SYN of a new connection (modes dr, tun, nat_in, fnat_in; at
//! most [`SYN_POOL`] packets, all prebuilt whatever the count, so that the difference of two
//! runs holds no set-up), processed in bursts as the worker does, the burst's new reply keys
//! filed at its end; with `--cache-sim=yes` callgrind also counts the cache misses a new
//! connection costs on a table of 4 M entries.

#[path = "../tests/common/mod.rs"]
mod common;

use rvs_core::frame::DEFAULT_HEADROOM;
use rvs_core::pipeline::{Parsed, LOOKAHEAD};
use rvs_core::VecFrame;
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<usize>().ok())) else {
        eprintln!("usage: ipp MODE PACKETS   (MODE: nat_in nat_out dr tun)");
        std::process::exit(2);
    };
    let flag = |f: &str| args.iter().skip(3).any(|a| a == f);
    let nic_checked = flag("--rx-checksum");
    if flag("--syn") {
        syns(&mode.replace('-', "_"), n);
        return;
    }
    let (mut p, frames) = common::established(&mode.replace('-', "_"));
    if flag("--burst") {
        // As rvsd's worker loop: a burst of 32 (one port) looked ahead over, then processed.
        let mut burst: Vec<VecFrame> = (0..LOOKAHEAD).map(|_| VecFrame::new(&frames[0].1)).collect();
        let mut i = 0;
        while i < n {
            let port = frames[i % frames.len()].0;
            let k = (n - i).min(LOOKAHEAD);
            for (j, f) in burst.iter_mut().take(k).enumerate() {
                f.reset(&frames[(i + j) % frames.len()].1, DEFAULT_HEADROOM);
                f.ipv4_checksum_good = nic_checked;
            }
            let mut parsed = [Parsed::default(); LOOKAHEAD];
            p.lookahead(port, burst.iter().take(k), &mut parsed, |a| {
                black_box(a);
            });
            for (f, read) in burst.iter_mut().take(k).zip(parsed.iter()) {
                black_box(p.process_parsed(common::ESTABLISHED_NOW, port, f, read));
            }
            i += k;
        }
    } else {
        let mut f = VecFrame::new(&frames[0].1);
        for i in 0..n {
            let (port, bytes) = &frames[i % frames.len()];
            f.reset(bytes, DEFAULT_HEADROOM);
            f.ipv4_checksum_good = nic_checked;
            black_box(p.process(common::ESTABLISHED_NOW, *port, &mut f));
        }
    }
    assert_eq!(p.counters().total_drops(), 0, "{mode}: drops");
    println!("{mode}: {n} packets");
}

/// New connections prebuilt for `--syn`: within what the FULLNAT service's one local address
/// and two real servers can hold (about 2 x 64,512 ports).
const SYN_POOL: usize = 90_000;

/// `n` SYNs of new connections to `mode`'s service, in bursts of [`LOOKAHEAD`] as rvsd's
/// worker runs them (look-ahead, processing, reply-side filing at the burst's end).
fn syns(mode: &str, n: usize) {
    use rvs_core::pipeline::PipelineConfig;
    use rvs_core::wire::build::PacketBuilder;
    use rvs_core::wire::tcp::flags::SYN;
    assert!(n <= SYN_POOL, "--syn: at most {SYN_POOL} packets");
    let vip = match mode {
        "dr" => common::VIP_DR,
        "tun" => common::VIP_TUN,
        "nat_in" => common::VIP_NAT,
        "fnat_in" => common::VIP_FNAT,
        m => panic!("--syn: unknown mode {m:?}"),
    };
    let mut p = common::pipeline_with(PipelineConfig { conn_capacity: 1 << 22, ..PipelineConfig::default() });
    // 60,000 clients' ports per client address.
    let frames: Vec<Vec<u8>> = (0..SYN_POOL as u32)
        .map(|i| {
            let src = std::net::Ipv4Addr::from(u32::from(common::CLIENT) + i / 60_000);
            let port = 1024 + (i % 60_000) as u16;
            PacketBuilder::new(common::ROUTER_MAC, common::OUT_MAC, src, vip).tcp(port, 80, SYN, 1, &[0; 6])
        })
        .collect();
    let mut burst: Vec<VecFrame> = (0..LOOKAHEAD).map(|_| VecFrame::new(&frames[0])).collect();
    let mut i = 0;
    while i < n {
        let k = (n - i).min(LOOKAHEAD);
        for (j, f) in burst.iter_mut().take(k).enumerate() {
            f.reset(&frames[i + j], DEFAULT_HEADROOM);
        }
        let mut parsed = [Parsed::default(); LOOKAHEAD];
        p.lookahead(0, burst.iter().take(k), &mut parsed, |a| {
            black_box(a);
        });
        for (f, read) in burst.iter_mut().take(k).zip(parsed.iter()) {
            black_box(p.process_parsed(common::ESTABLISHED_NOW, 0, f, read));
        }
        p.file_deferred(|a| {
            black_box(a);
        });
        i += k;
    }
    assert_eq!(p.counters().total_drops(), 0, "{mode}: drops");
    println!("{mode}: {n} new connections");
}
