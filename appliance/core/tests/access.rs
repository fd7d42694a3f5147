//! Allow and deny lists on fixtures: a new connection from a listed client is refused and
//! counted by the list that refused it; the director's lists come before a service's; an
//! established connection is never looked up (a list added later leaves it flowing), unless
//! `blackhole` drops every packet of the director's deny list, ping included.

mod common;

use common::*;
use rvs_core::access::{parse_prefix, Access, AccessList};
use rvs_core::service::MAX_SERVICES;
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::icmp::IcmpRepr;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{DropReason, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const NOW: u64 = 1_000_000;

fn list(prefixes: &[&str]) -> Option<Arc<AccessList>> {
    let p: Vec<_> = prefixes.iter().map(|s| parse_prefix(s).unwrap()).collect();
    Some(Arc::new(AccessList::new(&p)))
}

fn snap(global: Access, service0: Access, blackhole: bool) -> Snapshot {
    let mut services = services();
    services[0].access = service0;
    Snapshot::new(interfaces(), services, neighbours(), Default::default()).unwrap().with_access(global, blackhole)
}

fn syn_from(p: &mut Pipeline, src: Ipv4Addr, port: u16) -> Verdict {
    let f = PacketBuilder::new(ROUTER_MAC, OUT_MAC, src, VIP_NAT).tcp(port, 80, SYN, 1, b"");
    p.process(NOW, 0, &mut VecFrame::new(&f))
}

#[test]
fn lists_refuse_new_connections_and_count_by_list() {
    let global = Access { allow: None, deny: list(&["203.0.113.0/28"]), ..Default::default() };
    let svc = Access {
        allow: list(&["203.0.113.0/24", "198.51.100.0/24"]),
        deny: list(&["198.51.100.9"]),
        ..Default::default()
    };
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap(global, svc, false)), NOW);
    assert_eq!(syn_from(&mut p, Ipv4Addr::new(203, 0, 113, 5), 1), Verdict::Drop(DropReason::AccessDenied));
    assert_eq!(syn_from(&mut p, Ipv4Addr::new(198, 51, 100, 9), 1), Verdict::Drop(DropReason::AccessDenied));
    assert_eq!(syn_from(&mut p, Ipv4Addr::new(192, 0, 2, 1), 1), Verdict::Drop(DropReason::AccessNotAllowed));
    assert_eq!(syn_from(&mut p, Ipv4Addr::new(203, 0, 113, 77), 1), Verdict::Forward(1), "allowed");
    let hits = p.access_hits();
    assert_eq!(hits[MAX_SERVICES], [1, 0], "the director's deny list");
    assert_eq!(hits[0], [1, 1], "the service's: one denied, one not allowed");
    // Another service has no lists of its own: only the director's apply.
    let f = PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(192, 0, 2, 1), VIP_DR).tcp(1, 80, SYN, 1, b"");
    assert!(matches!(p.process(NOW, 0, &mut VecFrame::new(&f)), Verdict::Forward(_)));
}

#[test]
fn established_connections_are_never_looked_up_unless_blackholed() {
    let client = Ipv4Addr::new(203, 0, 113, 5);
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snapshot()), NOW);
    assert_eq!(syn_from(&mut p, client, 40000), Verdict::Forward(1));
    let ack = PacketBuilder::new(ROUTER_MAC, OUT_MAC, client, VIP_NAT).tcp(40000, 80, ACK, 2, b"x");
    let deny = Access { allow: None, deny: list(&["203.0.113.0/24"]), ..Default::default() };
    p.apply(Arc::new(snap(deny.clone(), Access::default(), false)));
    assert_eq!(p.process(NOW, 0, &mut VecFrame::new(&ack)), Verdict::Forward(1), "its connection flows on");
    assert_eq!(syn_from(&mut p, client, 40001), Verdict::Drop(DropReason::AccessDenied), "a new one is refused");
    // Blackhole: every packet of a listed source, first; ping too. Others are untouched.
    p.apply(Arc::new(snap(deny, Access::default(), true)));
    assert_eq!(p.process(NOW, 0, &mut VecFrame::new(&ack)), Verdict::Drop(DropReason::Blackholed));
    let echo = IcmpRepr { msg_type: 8, code: 0, rest: [0, 1, 0, 1] };
    let ping = PacketBuilder::new(ROUTER_MAC, OUT_MAC, client, VIP_NAT).icmp(echo, b"hi");
    assert_eq!(p.process(NOW, 0, &mut VecFrame::new(&ping)), Verdict::Drop(DropReason::Blackholed));
    let other = PacketBuilder::new(ROUTER_MAC, OUT_MAC, Ipv4Addr::new(192, 0, 2, 1), VIP_NAT).icmp(echo, b"hi");
    assert_eq!(p.process(NOW, 0, &mut VecFrame::new(&other)), Verdict::Reply);
}

#[test]
fn a_client_prefix_holds_at_most_its_limit_and_others_are_unaffected() {
    use rvs_core::access::ClientLimit;
    use rvs_core::wire::tcp::flags::RST;
    use rvs_core::Frame;
    let limit = |max_conns, rate, reset| Access {
        limit: ClientLimit { max_conns, rate, prefix4: 24, prefix6: 64, reset },
        ..Default::default()
    };
    let mut p =
        Pipeline::new(PipelineConfig::default(), Arc::new(snap(Access::default(), limit(2, 0, true), false)), NOW);
    let a1 = Ipv4Addr::new(203, 0, 113, 5);
    let a2 = Ipv4Addr::new(203, 0, 113, 6); // the same /24
    assert_eq!(syn_from(&mut p, a1, 1000), Verdict::Forward(1));
    assert_eq!(syn_from(&mut p, a2, 1001), Verdict::Forward(1));
    // The third of the /24: a reset back to the client, from the VIP, acknowledging its SYN.
    let syn = PacketBuilder::new(ROUTER_MAC, OUT_MAC, a1, VIP_NAT).tcp(1002, 80, SYN, 77, b"");
    let mut f = VecFrame::new(&syn);
    assert_eq!(p.process(NOW, 0, &mut f), Verdict::Reply);
    let mut want = PacketBuilder { ttl: 64, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, a1) }.tcp(
        80,
        1002,
        RST | ACK,
        0,
        b"",
    );
    want[42..46].copy_from_slice(&78u32.to_be_bytes()); // ack = its SYN's sequence + 1
    want[48..50].copy_from_slice(&[0, 0]); // window 0, as Linux's resets
    rvs_core::xmit::toa::fill_tcp_checksum(&mut want, 14, 34, false);
    assert_eq!(&f.data()[..34], &want[..34], "Ethernet and IP headers");
    assert_eq!(&f.data()[34..], &want[34..], "TCP: ports swapped, RST|ACK, checksum right");
    assert_eq!(p.counters().client_resets, 1);
    // Another client prefix is unaffected; a freed connection frees a place.
    assert_eq!(syn_from(&mut p, Ipv4Addr::new(198, 51, 100, 1), 1), Verdict::Forward(1));
    p.poll_timers(NOW + 3_600_000);
    assert_eq!(syn_from(&mut p, a1, 1003), Verdict::Forward(1), "its connections expired");

    // A rate: two new connections a second, dropped past it; the next second opens again.
    let mut p =
        Pipeline::new(PipelineConfig::default(), Arc::new(snap(Access::default(), limit(0, 2, false), false)), NOW);
    assert_eq!(syn_from(&mut p, a1, 1), Verdict::Forward(1));
    assert_eq!(syn_from(&mut p, a1, 2), Verdict::Forward(1));
    assert_eq!(syn_from(&mut p, a1, 3), Verdict::Drop(DropReason::ClientRate));
    let f = PacketBuilder::new(ROUTER_MAC, OUT_MAC, a1, VIP_NAT).tcp(4, 80, SYN, 1, b"");
    assert_eq!(p.process(NOW + 1000, 0, &mut VecFrame::new(&f)), Verdict::Forward(1), "a new second");
}
