//! The fuzz harness over `Pipeline::process`, shared by the cargo-fuzz target
//! (`appliance/core/fuzz`) and the seed regression test, so CI runs the same code on stable.
//!
//! Input: a sequence of records `[ctl: u8][len: u16 BE][len bytes of frame]` (a short last
//! record takes what is left). `ctl` bit 0 is the port; bits 1..7 advance the clock by that
//! many seconds first (and poll the timers). One pipeline lives for the whole input, so later
//! frames meet the connections earlier ones made.
//!
//! The pipeline runs the dual-stack test network ([`super::v6`]): IPv4 and IPv6 services.
//!
//! Invariants checked on every frame: no panic; a frame transmitted (Forward/Reply) that is
//! IPv4 carries a valid IPv4 header checksum and fits its buffer, one that is IPv6 a header
//! whose payload length fits the frame; a Forward names a real port.

use rvs_core::wire::ethernet::{EtherType, EthernetFrame};
use rvs_core::wire::ipv4::Ipv4Packet;
use rvs_core::wire::ipv6::Ipv6Packet;
use rvs_core::{Frame, VecFrame, Verdict};

/// Encodes frames as a harness input.
pub fn encode(frames: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ctl, f) in frames {
        out.push(*ctl);
        out.extend_from_slice(&(f.len() as u16).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// The frames of a harness input: (port, bytes), in order.
pub fn decode(mut data: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while data.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([data[1], data[2]])).min(data.len() - 3);
        out.push((u16::from(data[0] & 1), data[3..3 + len].to_vec()));
        data = &data[3 + len..];
    }
    out
}

/// Runs one input through fresh pipelines of two sizes: the everyday one, and a tiny one (4
/// connections, 2 templates, expiry budget 1) where a full table, budget stops and put-back
/// timer lists are the common case. Panics if an invariant breaks.
pub fn run(data: &[u8]) {
    run_with(data, rvs_core::PipelineConfig { conn_capacity: 64, conn6_capacity: 64, ..Default::default() });
    run_with(
        data,
        rvs_core::PipelineConfig {
            conn_capacity: 4,
            conn6_capacity: 4,
            template_capacity: 2,
            expire_budget: 1,
            ..Default::default()
        },
    );
}

/// Load accounting matches the table: every connection counts once on its real server.
fn check_loads(p: &rvs_core::Pipeline, capacity: usize) {
    let (n4, n6) = (p.connections().len(), p.connections6().len());
    assert!(n4 <= capacity && n6 <= capacity, "{n4} + {n6} connections in tables of {capacity}");
    assert_eq!(p.connections().iter().count(), n4, "the table's length matches its live entries");
    assert_eq!(p.connections6().iter().count(), n6, "the IPv6 table's length matches its live entries");
    let n = n4 + n6;
    let counted: u64 = p.loads().iter().map(|l| u64::from(l.active) + u64::from(l.inactive)).sum();
    assert_eq!(counted, n as u64, "active + inactive over all real servers = connections held");
}

fn run_with(mut data: &[u8], cfg: rvs_core::PipelineConfig) {
    let capacity = cfg.conn_capacity;
    let mut p = rvs_core::Pipeline::new(cfg, std::sync::Arc::new(super::v6::snapshot6()), 1_000_000);
    let mut now = 1_000_000u64;
    let mut frame = VecFrame::with_headroom(&[], 128);
    while data.len() >= 3 {
        let ctl = data[0];
        let len = usize::from(u16::from_be_bytes([data[1], data[2]])).min(data.len() - 3);
        let bytes = &data[3..3 + len];
        data = &data[3 + len..];
        if ctl >> 1 != 0 {
            now += u64::from(ctl >> 1) * 1000;
            p.poll_timers(now);
            check_loads(&p, capacity);
        }
        frame.reset(bytes, 128);
        let v = p.process(now, u16::from(ctl & 1), &mut frame);
        match v {
            Verdict::Forward(port) => assert!(port < 2, "forward to a port that does not exist"),
            Verdict::Redirect(_) => panic!("one core: nothing to redirect"),
            Verdict::Pending { .. } | Verdict::Reply | Verdict::ToKernel | Verdict::Drop(_) => {}
        }
        if matches!(v, Verdict::Forward(_) | Verdict::Reply) {
            let d = frame.data();
            let eth = EthernetFrame::new_checked(d).expect("a transmitted frame has an Ethernet header");
            if eth.ethertype() == EtherType::IPV4 {
                let ip = Ipv4Packet::new_checked(eth.payload()).expect("a transmitted IPv4 packet is well formed");
                assert!(ip.verify_checksum(), "a transmitted IPv4 header checksum is wrong");
            }
            if eth.ethertype() == EtherType::IPV6 {
                Ipv6Packet::new_checked(eth.payload()).expect("a transmitted IPv6 packet fits its frame");
            }
        }
    }
    check_loads(&p, capacity);
    now += 1000 * 1000; // past every timeout but TCP's default (900 s) and persistence
    for _ in 0..capacity.min(8) {
        p.poll_timers(now); // each call expires at most the budget
    }
    check_loads(&p, capacity);
    let c = p.counters();
    assert_eq!(c.rx, c.forwarded + c.replied + c.to_kernel + c.pending + c.redirected + c.total_drops());
}
