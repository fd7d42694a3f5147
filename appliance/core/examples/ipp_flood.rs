//! Instructions per packet of `Pipeline::process` under a SYN flood, for callgrind (as
//! `ipp`, whose established-only figures these compare with):
//!
//! ```sh
//! valgrind --tool=callgrind target/release/examples/ipp_flood nat_in 100000
//! valgrind --tool=callgrind target/release/examples/ipp_flood nat_in 200000
//! ```
//! One packet in ten is a SYN from a new client, on a table that is full: it holds the
//! established flows and 1,024 entries more. The DR service is scheduled by `mh`, so its new
//! flows go stateless; NAT's evict the oldest embryonic entry. The figure is per packet of the
//! mix; with `ipp`'s figure for the same mode, the share of a core's instructions left for
//! established packets is `0.9 * ipp / ipp_flood`. Modes: dr, nat_in (or with `-`).

#[path = "../tests/common/mod.rs"]
mod common;

use rvs_core::frame::DEFAULT_HEADROOM;
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::tcp::flags::SYN;
use rvs_core::{DropReason, VecFrame};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<usize>().ok())) else {
        eprintln!("usage: ipp_flood MODE PACKETS   (MODE: dr nat_in)");
        std::process::exit(2);
    };
    let mode = mode.replace('-', "_");
    let (mut p, frames) = common::established_in(&mode, usize::from(common::ESTABLISHED_FLOWS) + 1024);
    let mut svcs = common::services();
    svcs[2].scheduler = "mh".into(); // the DR service: a hash, so it may go stateless
    p.apply(Arc::new(common::snapshot_with(svcs)));
    let vip = if mode == "dr" { common::VIP_DR } else { common::VIP_NAT };
    // 4,096 clients in turn: each SYN finds its flow gone (evicted, or never kept).
    let syns: Vec<Vec<u8>> = (0..4096u32)
        .map(|k| {
            PacketBuilder::new(common::ROUTER_MAC, common::OUT_MAC, Ipv4Addr::from(0x6440_0000 + k), vip)
                .tcp(1024, 80, SYN, 1, &[0; 6])
        })
        .collect();
    let mut f = VecFrame::new(&frames[0].1);
    for i in 0..n {
        let (port, bytes) = if i % 10 == 9 {
            (0, &syns[(i / 10) % syns.len()])
        } else {
            let (port, bytes) = &frames[i % frames.len()];
            (*port, bytes)
        };
        f.reset(bytes, DEFAULT_HEADROOM);
        black_box(p.process(common::ESTABLISHED_NOW, port, &mut f));
    }
    let c = p.counters();
    assert_eq!(c.total_drops() - c.drops(DropReason::TableFull), 0, "{mode}: drops {c:?}");
    println!("flood-{mode}: {n} packets, evicted {}, stateless {}", c.evicted, c.stateless_forwarded);
}
