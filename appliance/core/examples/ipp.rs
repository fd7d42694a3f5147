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
    let (mut p, frames) = common::established(&mode.replace('-', "_"));
    let flag = |f: &str| args.iter().skip(3).any(|a| a == f);
    let nic_checked = flag("--rx-checksum");
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
