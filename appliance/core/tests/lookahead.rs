//! `Pipeline::lookahead`: reads each packet of a burst once, asks for the buckets and the entry
//! of each TCP/UDP packet, skips what it cannot use (never panics), and changes nothing; what
//! it read is carried into processing, which then gives the verdicts a fresh read gives.

mod common;

use common::*;
use rvs_core::pipeline::{Parsed, LOOKAHEAD};
use rvs_core::{Frame, VecFrame};
use std::cell::Cell;

#[test]
fn asks_for_bucket_and_entry_of_each_established_packet_and_changes_nothing() {
    for mode in ["dr", "tun", "nat_in", "nat_out"] {
        let (mut p, frames) = established(mode);
        let burst: Vec<VecFrame> = frames.iter().take(32).map(|(_, b)| VecFrame::new(b)).collect();
        let calls = Cell::new(0usize);
        let before = p.counters().clone();
        let mut parsed = [Parsed::default(); LOOKAHEAD];
        let n = p.lookahead(frames[0].0, burst.iter(), &mut parsed, |a| {
            assert!(!a.is_null());
            calls.set(calls.get() + 1);
        });
        assert_eq!(n, 32);
        // Client-side bucket and entry; a reply also has its reply-side bucket fetched.
        let want = if mode == "nat_out" { 96 } else { 64 };
        assert_eq!(calls.get(), want, "{mode}: buckets and entry per packet");
        assert_eq!(p.counters(), &before, "{mode}: lookahead counts nothing");
        // Processing after a look-ahead forwards exactly as without one.
        for (((port, _), mut f), read) in frames.iter().zip(burst).zip(parsed.iter()) {
            assert!(matches!(p.process_parsed(ESTABLISHED_NOW, *port, &mut f, read), rvs_core::Verdict::Forward(_)));
        }
    }
}

#[test]
fn skips_what_it_cannot_parse() {
    let (p, frames) = established("dr");
    let good = &frames[0].1;
    let mut junk = vec![VecFrame::new(&[]), VecFrame::new(&good[..30]), VecFrame::new(&good[..37])];
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x41; // IHL 1: shorter than a header
    junk.push(VecFrame::new(&bad_ihl));
    let mut arp = good.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    junk.push(VecFrame::new(&arp));
    let mut icmp = good.clone();
    icmp[23] = 1;
    junk.push(VecFrame::new(&icmp));
    let calls = Cell::new(0usize);
    let mut parsed = [Parsed::default(); LOOKAHEAD];
    assert_eq!(p.lookahead(0, junk.iter(), &mut parsed, |_| calls.set(calls.get() + 1)), junk.len());
    assert_eq!(calls.get(), 0);
    // More than a burst: only the first 32 are looked at.
    let many: Vec<VecFrame> = frames.iter().map(|(_, b)| VecFrame::new(b)).collect();
    assert_eq!(p.lookahead(0, many.iter(), &mut parsed, |_| calls.set(calls.get() + 1)), 32);
    assert_eq!(calls.get(), 64);
}

/// What the look-ahead read gives the same verdict, counters and output as reading afresh,
/// for every kind of frame the fixtures know (good, malformed, ARP, ICMP, other ports); and a
/// `Parsed` of another frame is not trusted (its length differs: it reads the frame again).
#[test]
fn processing_what_the_lookahead_read_equals_processing_afresh() {
    let inputs: Vec<(u16, Vec<u8>)> = seeds().into_iter().flat_map(|(_, enc)| harness::decode(&enc)).collect();
    assert!(inputs.len() > 10);
    let (mut a, mut b) = (pipeline(), pipeline());
    for (port, bytes) in &inputs {
        let (mut fa, mut fb) = (VecFrame::new(bytes), VecFrame::new(bytes));
        let mut parsed = [Parsed::default(); LOOKAHEAD];
        a.lookahead(*port, std::iter::once(&fa), &mut parsed, |_| {});
        let va = a.process_parsed(ESTABLISHED_NOW, *port, &mut fa, &parsed[0]);
        let vb = b.process(ESTABLISHED_NOW, *port, &mut fb);
        assert_eq!(va, vb);
        assert_eq!(fa.data(), fb.data());
    }
    assert_eq!(a.counters(), b.counters());
    // A Parsed of a shorter frame: read again, not trusted.
    let (port, long) = &inputs.iter().max_by_key(|(_, f)| f.len()).unwrap();
    let short = &inputs.iter().min_by_key(|(_, f)| f.len()).unwrap().1;
    let mut parsed = [Parsed::default(); LOOKAHEAD];
    a.lookahead(*port, std::iter::once(&VecFrame::new(short)), &mut parsed, |_| {});
    let mut f = VecFrame::new(long);
    let want = b.process(ESTABLISHED_NOW, *port, &mut VecFrame::new(long));
    assert_eq!(a.process_parsed(ESTABLISHED_NOW, *port, &mut f, &parsed[0]), want);
}
