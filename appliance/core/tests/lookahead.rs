//! `Pipeline::lookahead`: asks for the buckets and the entry of each parsable packet of a burst,
//! skips what it cannot parse (never panics), and changes nothing.

mod common;

use common::*;
use rvs_core::VecFrame;
use std::cell::Cell;

#[test]
fn asks_for_bucket_and_entry_of_each_established_packet_and_changes_nothing() {
    for mode in ["dr", "tun", "nat_in", "nat_out"] {
        let (mut p, frames) = established(mode);
        let burst: Vec<VecFrame> = frames.iter().take(32).map(|(_, b)| VecFrame::new(b)).collect();
        let calls = Cell::new(0usize);
        let before = p.counters().clone();
        p.lookahead(burst.iter(), |a| {
            assert!(!a.is_null());
            calls.set(calls.get() + 1);
        });
        // Client-side bucket and entry; a reply also has its reply-side bucket fetched.
        let want = if mode == "nat_out" { 96 } else { 64 };
        assert_eq!(calls.get(), want, "{mode}: buckets and entry per packet");
        assert_eq!(p.counters(), &before, "{mode}: lookahead counts nothing");
        // Processing after a look-ahead forwards exactly as without one.
        for ((port, _), mut f) in frames.iter().zip(burst) {
            assert!(matches!(p.process(ESTABLISHED_NOW, *port, &mut f), rvs_core::Verdict::Forward(_)));
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
    p.lookahead(junk.iter(), |_| calls.set(calls.get() + 1));
    assert_eq!(calls.get(), 0);
    // More than a burst: only the first 32 are looked at.
    let many: Vec<VecFrame> = frames.iter().map(|(_, b)| VecFrame::new(b)).collect();
    p.lookahead(many.iter(), |_| calls.set(calls.get() + 1));
    assert_eq!(calls.get(), 64);
}
