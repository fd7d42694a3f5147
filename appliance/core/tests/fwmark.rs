//! Firewall-mark services (`ipvsadm -f`) on fixtures: classifier rules send new connections to
//! several ports (and VIPs) to one service; persistence holds a client's connections to all of
//! them on one real server; a NAT real server without a port keeps the packet's port; a mark
//! wins over an address service, as in IPVS; established connections never consult the rules;
//! sync records carry the mark and a template is IPVS's `<IPPROTO_IP, caddr, 0, fwmark, 0>`.

mod common;

use common::*;
use rvs_core::conn::SyncPolicy;
use rvs_core::fwmark::MarkRule;
use rvs_core::pipeline::Installed;
use rvs_core::service::{ConfigError, Dest, Forward, Protocol, Service, Timeouts};
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::ipvs_sync::conn_flags;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::{Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

const NOW: u64 = 1_000_000;
const VIP2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);

/// fwmark 1 (rr, `persistence` s) over RS1 and RS2 (NAT, port 0: the packet's port), and the
/// address service tcp VIP_NAT:80 (rr) over RS_DR.
fn services(persistence: u32) -> Vec<Service> {
    let mut fw = service(0, Protocol::Tcp, Ipv4Addr::UNSPECIFIED, "rr", &[], Forward::Nat, 0);
    fw.port = 0;
    fw.fwmark = 1;
    fw.persistence = persistence;
    fw.dests = vec![Dest::new(0, RS1, 0, 1, Forward::Nat), Dest::new(1, RS2, 0, 1, Forward::Nat)];
    let addr = service(1, Protocol::Tcp, VIP_NAT, "rr", &[(RS_DR, 1)], Forward::DirectRoute, 2);
    vec![fw, addr]
}

/// Marks tcp VIP_NAT:80 and :443 and all of VIP2 (any protocol) with 1, and VIP_NAT:8080
/// with 9 (no service).
fn rules() -> Vec<MarkRule> {
    let ip = |a: Ipv4Addr| IpAddr::V4(a);
    vec![
        MarkRule::new(1, Some(Protocol::Tcp), ip(VIP_NAT), 32, (80, 80)),
        MarkRule::new(1, Some(Protocol::Tcp), ip(VIP_NAT), 32, (443, 443)),
        MarkRule::new(9, None, ip(VIP_NAT), 32, (8080, 8080)),
        MarkRule::new(1, None, ip(VIP2), 32, (1, 65535)),
    ]
}

fn snap(persistence: u32, rules: &[MarkRule]) -> Snapshot {
    Snapshot::new(interfaces(), services(persistence), neighbours(), Timeouts::default())
        .unwrap()
        .with_mark_rules(rules)
        .unwrap()
}

fn send(p: &mut Pipeline, port: u16, frame: Vec<u8>) -> (Verdict, Vec<u8>) {
    let mut f = VecFrame::new(&frame);
    let v = p.process(NOW, port, &mut f);
    (v, f.data().to_vec())
}

fn to_rs(mac: rvs_core::wire::Mac, rs: Ipv4Addr) -> PacketBuilder {
    PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, mac, CLIENT, rs) }
}

fn client(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, n)
}

/// The real server a SYN from `c`:`sport` to `vip`:`dport` reached (None: not forwarded there).
fn server_of(p: &mut Pipeline, c: Ipv4Addr, vip: Ipv4Addr, sport: u16, dport: u16) -> Option<Ipv4Addr> {
    let b = PacketBuilder::new(ROUTER_MAC, OUT_MAC, c, vip);
    let (v, out) = send(p, 0, b.tcp(sport, dport, SYN, 1, b""));
    if v != Verdict::Forward(1) {
        return None;
    }
    [(RS1_MAC, RS1), (RS2_MAC, RS2)].into_iter().find_map(|(mac, rs)| {
        let want = PacketBuilder { ttl: 63, ..PacketBuilder::new(IN_MAC, mac, c, rs) };
        (out == want.tcp(sport, dport, SYN, 1, b"")).then_some(rs)
    })
}

#[test]
fn a_marks_ports_share_one_service_and_keep_their_port() {
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap(0, &rules())), NOW);
    // rr over the mark's service, whatever the port: 80, 443, 80, then VIP2's 22.
    assert_eq!(server_of(&mut p, CLIENT, VIP_NAT, 5000, 80), Some(RS1), "port 80 kept (real port 0)");
    assert_eq!(server_of(&mut p, CLIENT, VIP_NAT, 5001, 443), Some(RS2), "port 443 kept");
    assert_eq!(server_of(&mut p, CLIENT, VIP_NAT, 5002, 80), Some(RS1));
    assert_eq!(server_of(&mut p, CLIENT, VIP2, 5003, 22), Some(RS2), "a whole VIP by one rule");
    assert_eq!(p.service_stats()[0].conns, 4, "all counted on the mark's service");
    assert_eq!(p.service_stats()[1].conns, 0, "the address service for VIP_NAT:80 lost to the mark");

    // The reply of a NAT connection to port 443 goes back from VIP_NAT:443.
    let (v, out) = send(&mut p, 1, from_real(RS2_MAC, RS2).tcp(443, 5001, SYN | ACK, 9, b""));
    assert_eq!(v, Verdict::Forward(0));
    let want = PacketBuilder { ttl: 63, ..PacketBuilder::new(OUT_MAC, ROUTER_MAC, VIP_NAT, CLIENT) };
    assert_eq!(out, want.tcp(443, 5001, SYN | ACK, 9, b""));

    // A mark without a service, and a port no rule marks: no service.
    let (v, _) = send(&mut p, 0, from_client(VIP_NAT).tcp(5004, 8080, SYN, 1, b""));
    assert!(matches!(v, Verdict::Drop(_)), "mark 9 has no service: {v:?}");
    let (v, _) = send(&mut p, 0, from_client(VIP_NAT).udp(5005, 80, b"x", true));
    assert!(matches!(v, Verdict::Drop(_)), "the rule for 80 is TCP only: {v:?}");
}

#[test]
fn persistence_holds_a_client_on_one_server_across_the_marks_ports() {
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap(300, &rules())), NOW);
    let mut seen = std::collections::BTreeSet::new();
    for n in 1..=8u8 {
        let c = client(n);
        let first = server_of(&mut p, c, VIP_NAT, 6000, 80).expect("forwarded to a real server");
        seen.insert(first);
        for (k, (vip, port)) in [(VIP_NAT, 443), (VIP2, 22), (VIP_NAT, 80), (VIP_NAT, 443)].into_iter().enumerate() {
            let got = server_of(&mut p, c, vip, 6001 + k as u16, port);
            assert_eq!(got, Some(first), "client {c}: {vip}:{port} sticks to its server");
        }
    }
    assert_eq!(seen.len(), 2, "clients still spread over both servers: {seen:?}");
    assert_eq!(p.templates().count(), 8, "one template per client for all the mark's ports");
}

#[test]
fn established_connections_never_consult_the_rules() {
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap(0, &rules())), NOW);
    assert_eq!(server_of(&mut p, CLIENT, VIP_NAT, 5000, 443), Some(RS1));
    // The rules go: the connection keeps flowing; a new one to 443 finds no service.
    p.apply(Arc::new(snap(0, &[])));
    let (v, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(5000, 443, ACK, 2, b"GET"));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(out, to_rs(RS1_MAC, RS1).tcp(5000, 443, ACK, 2, b"GET"));
    let (v, _) = send(&mut p, 0, from_client(VIP_NAT).tcp(5001, 443, SYN, 1, b""));
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    // Port 80 is the address service's again (DR).
    let (v, out) = send(&mut p, 0, from_client(VIP_NAT).tcp(5002, 80, SYN, 1, b""));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(&out[0..6], &RS_DR_MAC.0[..]);
}

#[test]
fn a_rules_single_address_is_answered_for_and_a_wider_prefix_is_not() {
    let wide = MarkRule::new(1, None, IpAddr::V4(Ipv4Addr::new(198, 18, 0, 128)), 25, (1, 65535));
    let s = snap(0, &[rules()[3], wide]);
    assert!(s.is_vip(VIP2), "a /32 rule's address is a VIP of its mark's service");
    assert!(!s.is_vip(Ipv4Addr::new(198, 18, 0, 200)), "a /25 is routed here, not answered for");
    let s = snap(0, &[MarkRule::new(9, None, IpAddr::V4(VIP2), 32, (1, 65535))]);
    assert!(!s.is_vip(VIP2), "mark 9 has no service: nothing to answer for");
    // The wide prefix is still served when routed here.
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap(0, &[wide])), NOW);
    assert!(server_of(&mut p, CLIENT, Ipv4Addr::new(198, 18, 0, 200), 5000, 8443).is_some());
}

#[test]
fn bad_rules_and_services_are_refused() {
    let base = || Snapshot::new(interfaces(), services(0), neighbours(), Timeouts::default()).unwrap();
    let host_bits = MarkRule::new(1, None, IpAddr::V4(VIP_NAT), 24, (1, 65535));
    assert!(matches!(base().with_mark_rules(&[host_bits]), Err(ConfigError::BadMarkRule { .. })));
    let zero = MarkRule::new(0, None, IpAddr::V4(VIP_NAT), 32, (1, 65535));
    assert!(matches!(base().with_mark_rules(&[zero]), Err(ConfigError::BadMarkRule { .. })));
    let mut twice = services(0);
    let mut again = twice[0].clone();
    again.id = 5;
    again.dests.clear();
    twice.push(again);
    let e = Snapshot::new(interfaces(), twice, neighbours(), Timeouts::default()).unwrap_err();
    assert_eq!(e, ConfigError::DuplicateService("fwmark 1".into()));
    let mut ops = services(0);
    ops[0].ops = true;
    let e = Snapshot::new(interfaces(), ops, neighbours(), Timeouts::default()).unwrap_err();
    assert!(matches!(e, ConfigError::OpsFwmarkNat(_)), "{e}");
    // The same mark in the other family is another service.
    let mut v6 = services(0);
    let mut other = v6[0].clone();
    other.id = 5;
    other.vip = std::net::Ipv6Addr::UNSPECIFIED.into();
    other.dests.clear();
    v6.push(other);
    assert!(Snapshot::new(interfaces(), v6, neighbours(), Timeouts::default()).is_ok());
}

#[test]
fn sync_records_carry_the_mark_and_a_backup_installs_them_by_it() {
    let master_snap = snap(300, &rules()).with_sync_master(Some(SyncPolicy::default()));
    let mut master = Pipeline::new(PipelineConfig::default(), Arc::new(master_snap), NOW);
    let rs = server_of(&mut master, CLIENT, VIP_NAT, 5000, 443).unwrap();
    let mac = if rs == RS1 { RS1_MAC } else { RS2_MAC };
    send(&mut master, 1, from_real(mac, rs).tcp(443, 5000, SYN | ACK, 9, b""));
    send(&mut master, 0, from_client(VIP_NAT).tcp(5000, 443, ACK, 2, b""));
    let (v, _) = send(&mut master, 0, from_client(VIP_NAT).tcp(5000, 443, ACK, 2, b"GET"));
    assert_eq!(v, Verdict::Forward(1), "the third client packet is synced");
    let records: Vec<_> = master.drain_sync().collect();
    let conn = records.iter().find(|r| r.flags & conn_flags::TEMPLATE == 0).expect("the connection's record");
    assert_eq!((conn.fwmark, conn.protocol, conn.vport, conn.dport), (1, 6, 443, 443));
    let t = records.iter().find(|r| r.flags & conn_flags::TEMPLATE != 0).expect("the template's record");
    assert_eq!(t.protocol, 0, "IPPROTO_IP");
    assert_eq!(t.vaddr, IpAddr::V4(Ipv4Addr::new(0, 0, 0, 1)), "the mark as its VIP");
    assert_eq!((t.vport, t.cport, t.dport, t.fwmark), (0, 0, 0, 1), "ports 0; the real server's port is 0");
    assert_eq!(t.daddr, IpAddr::V4(rs));

    // A backup without the rules (they only pick services for new packets) installs both.
    let backup_snap = Snapshot::new(interfaces(), services(300), neighbours(), Timeouts::default()).unwrap();
    let mut backup = Pipeline::new(PipelineConfig::default(), Arc::new(backup_snap), NOW);
    assert_eq!(backup.install_synced(conn, NOW), Installed::Created);
    assert_eq!(backup.install_synced(t, NOW), Installed::Created);
    let c = backup.connections().iter().next().expect("installed").1;
    assert_eq!((c.svc, c.dport), (0, 443));
    assert_eq!(backup.templates().next().map(|(_, t)| t.svc), Some(0));
}
