//! VRRP ownership in the dataplane: a VIP this director does not hold (keepalived is BACKUP) is
//! not answered by ARP, gets no new connection and is not claimed; taking it (MASTER) serves it
//! at once, and connections made before a loss keep flowing.

mod common;

use common::*;
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{DropReason, Pipeline, PipelineConfig, VecFrame, Verdict};
use std::sync::Arc;

const T0: u64 = 1_000_000;

fn send(p: &mut Pipeline, frame: Vec<u8>) -> Verdict {
    p.process(T0, 0, &mut VecFrame::new(&frame))
}

#[test]
fn only_held_vips_are_answered_and_get_new_connections() {
    let held = |vips: &[std::net::Ipv4Addr]| {
        let v: Vec<std::net::IpAddr> = vips.iter().map(|&a| a.into()).collect();
        Arc::new(snapshot().with_held_vips(Some(&v)))
    };
    let mut p = Pipeline::new(PipelineConfig::default(), held(&[]), T0);
    let arp = PacketBuilder::new(ROUTER_MAC, rvs_core::wire::Mac::BROADCAST, ROUTER, ROUTER).arp_request(VIP_DR);
    let dr = from_client(VIP_DR);
    assert_ne!(send(&mut p, arp.clone()), Verdict::Reply, "BACKUP: no ARP answer for the VIP");
    assert_eq!(send(&mut p, dr.tcp(1, 80, SYN, 1, b"")), Verdict::Drop(DropReason::NotForUs), "and no connection");
    assert!(p.connections().is_empty());
    // MASTER: keepalived put the VIP on the exception interface.
    p.apply(held(&[VIP_DR]));
    assert_eq!(send(&mut p, arp.clone()), Verdict::Reply);
    assert_eq!(send(&mut p, dr.tcp(1, 80, SYN, 1, b"")), Verdict::Forward(1));
    assert_eq!(
        send(&mut p, from_client(VIP_NAT).tcp(2, 80, SYN, 1, b"")),
        Verdict::Drop(DropReason::NotForUs),
        "another VIP is still not held"
    );
    // Losing it again: the connection made keeps flowing, a new one is not made.
    p.apply(held(&[]));
    assert_eq!(send(&mut p, dr.tcp(1, 80, ACK, 2, b"x")), Verdict::Forward(1));
    assert_eq!(send(&mut p, dr.tcp(3, 80, SYN, 1, b"")), Verdict::Drop(DropReason::NotForUs));
    // Standalone (None) serves every VIP.
    p.apply(Arc::new(snapshot().with_held_vips(None)));
    assert_eq!(send(&mut p, arp), Verdict::Reply);
}
