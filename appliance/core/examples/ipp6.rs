//! [`ipp`](ipp.rs) over IPv6: instructions per packet of `Pipeline::process` on established
//! IPv6 flows (78-byte frames, IPv6's shortest TCP frame), for callgrind. A program of its own so
//! that the IPv4 figures' harness stays exactly as it was:
//!
//! ```sh
//! valgrind --tool=callgrind target/release/examples/ipp6 dr 100000
//! valgrind --tool=callgrind target/release/examples/ipp6 dr 200000
//! ```
//! Modes: nat_in, nat_out, dr, tun (or with `-`).

#[path = "../tests/common/mod.rs"]
mod common;

use rvs_core::frame::DEFAULT_HEADROOM;
use rvs_core::VecFrame;
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<usize>().ok())) else {
        eprintln!("usage: ipp6 MODE PACKETS   (MODE: nat_in nat_out dr tun)");
        std::process::exit(2);
    };
    let (mut p, frames) = common::v6::established6(&mode.replace('-', "_"));
    let mut f = VecFrame::new(&frames[0].1);
    for i in 0..n {
        let (port, bytes) = &frames[i % frames.len()];
        f.reset(bytes, DEFAULT_HEADROOM);
        black_box(p.process(common::ESTABLISHED_NOW, *port, &mut f));
    }
    assert_eq!(p.counters().total_drops(), 0, "{mode}: drops");
    println!("{mode} (IPv6): {n} packets");
}
