//! Proof that `Pipeline::process` and `poll_timers` allocate nothing once set up: a counting
//! global allocator watches a region in which every path runs many times — new NAT/DR/TUN
//! connections, replies, ICMP echo and error translation, ARP, frag-needed, malformed frames,
//! drops, and mass expiry. One test only: the allocator is process-wide.

mod common;

use common::*;
use rvs_core::wire::build::{ip_part, PacketBuilder};
use rvs_core::wire::icmp::{kind, IcmpRepr};
use rvs_core::wire::tcp::flags::{ACK, FIN, SYN};
use rvs_core::{Frame, PipelineConfig, VecFrame};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn traffic(round: u16) -> Vec<(u16, Vec<u8>)> {
    let c = from_client(VIP_NAT);
    let base = 1000 + round * 8;
    let mut v = vec![
        (0, c.tcp(base, 80, SYN, 1, b"")),
        // rr alternates RS1/RS2 per round: the reply of the other one is a not-ours drop.
        (1, from_real(RS1_MAC, RS1).tcp(8080, base, SYN | ACK, 1, b"")),
        (1, from_real(RS2_MAC, RS2).tcp(8080, base, SYN | ACK, 1, b"")),
        (0, c.tcp(base, 80, ACK, 2, b"GET /")),
        (1, from_real(RS1_MAC, RS1).tcp(8080, base, ACK, 2, b"200 OK")),
        (1, from_real(RS2_MAC, RS2).tcp(8080, base, ACK, 2, b"200 OK")),
        (0, c.tcp(base, 80, FIN | ACK, 3, b"")),
        (0, c.udp(base, 53, b"query", true)),
        (0, from_client(VIP_DR).tcp(base, 80, SYN, 1, b"")),
        (0, from_client(VIP_TUN).tcp(base, 80, SYN, 1, b"")),
        (0, from_client(VIP_TUN).tcp(base, 80, ACK, 2, &[7; 1460])), // frag-needed
        (0, c.icmp(IcmpRepr { msg_type: kind::ECHO_REQUEST, code: 0, rest: [0, 1, 0, 1] }, b"ping")),
        (0, PacketBuilder::new(ROUTER_MAC, OUT_MAC, ROUTER, ROUTER).arp_request(VIP_DR)),
        (0, c.tcp(base, 80, ACK, 1, b"")[..30].to_vec()),
        (0, c.tcp(base + 1, 80, ACK, 1, b"")),
        (0, c.tcp(base, 81, SYN, 1, b"")),
    ];
    let sent = PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT).tcp(80, base, SYN | ACK, 1, b"");
    v.push((
        0,
        PacketBuilder::new(ROUTER_MAC, OUT_MAC, ROUTER, VIP_NAT)
            .icmp(IcmpRepr::frag_needed(1400), &ip_part(&sent)[..28]),
    ));
    v
}

#[test]
fn lookahead_process_and_poll_timers_never_allocate() {
    let mut p = pipeline_with(PipelineConfig { conn_capacity: 4096, ..PipelineConfig::default() });
    let rounds: Vec<Vec<(u16, Vec<u8>)>> = (0..200).map(traffic).collect();
    let mut frame = VecFrame::with_headroom(&[0u8; 2048], 128);

    // Warm-up: one round of every path.
    let mut now = 1_000_000u64;
    for (port, bytes) in &rounds[0] {
        frame.reset(bytes, 128);
        p.process(now, *port, &mut frame);
    }
    p.poll_timers(now);

    // The instrument works: an allocation inside a region is seen.
    let probe = Region::new(GLOBAL);
    let v: Vec<u8> = Vec::with_capacity(16);
    assert_eq!(probe.change().allocations, 1);
    drop(v);

    let region = Region::new(GLOBAL);
    let mut forwarded = 0u64;
    for round in &rounds[1..] {
        now += 100;
        for (port, bytes) in round {
            frame.reset(bytes, 128);
            let mut parsed = [rvs_core::pipeline::Parsed::default(); rvs_core::pipeline::LOOKAHEAD];
            p.lookahead(*port, std::iter::once(&frame), &mut parsed, |a| {
                std::hint::black_box(a);
            });
            if matches!(p.process_parsed(now, *port, &mut frame, &parsed[0]), rvs_core::Verdict::Forward(_)) {
                forwarded += 1;
            }
            assert!(frame.len() <= 2048 + 128);
        }
        p.poll_timers(now);
    }
    // Let everything expire (mass expiry, budgeted over many calls).
    for _ in 0..2000 {
        now += 1000;
        p.poll_timers(now);
    }
    let change = region.change();
    assert_eq!(change.allocations, 0, "process/poll_timers allocated: {change:?}");
    assert_eq!(change.reallocations, 0, "process/poll_timers reallocated: {change:?}");
    assert_eq!(forwarded, 199 * 9, "the region really forwarded every round's traffic");
    assert_eq!(p.counters().new_conns, 200 * 4, "NAT, UDP, DR and TUN connections each round");
    assert!(p.connections().is_empty(), "and expired it all");
}
