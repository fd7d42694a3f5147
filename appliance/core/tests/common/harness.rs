//! The fuzz harness over `Pipeline::process` and connection sync, shared by the cargo-fuzz
//! target (`appliance/core/fuzz`) and the seed regression test, so CI runs the same code on
//! stable.
//!
//! Input: a sequence of records `[ctl: u8][len: u16 BE][len bytes]` (a short last record takes
//! what is left). `ctl` bit 0 is the port; bits 1..6 advance the clock by that many seconds first
//! (and poll the timers); bit 7 says the bytes are not a frame but an IPVS sync datagram, which
//! the backup pipeline parses and installs. The pipelines live for the whole input, so later
//! frames meet the connections earlier ones made.
//!
//! The pipelines run the dual-stack test network ([`super::v6`]): IPv4 and IPv6 services, and
//! this round's modes beside them ([`harness_snapshot`]: NAT64 with the PROXY protocol, SNAT
//! with endpoint-independent mapping and filtering, a deny list, a SYN-proxied service whose
//! timers are polled whenever the clock moves). Every
//! frame goes to an everyday pipeline (64 connections, the sync master role: after each frame
//! its records travel as sync datagrams to the backup), a tiny one (4 connections, 2
//! templates, expiry budget 1: a full table, budget stops and put-back timer lists are the
//! common case), and a backup (64 connections, a VRRP backup serving no VIP, so that what it
//! forwards is what sync installed, and a record may replace an entry).
//!
//! Invariants checked on every frame: no panic; a frame transmitted (Forward/Reply) that is
//! IPv4 carries a valid IPv4 header checksum and fits its buffer, one that is IPv6 a header
//! whose payload length fits the frame; a Forward names a real port; and on every pipeline,
//! after each step and at the end, load accounting matches the table.

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

/// The pipelines an input runs through, on one clock.
struct Pipes {
    master: rvs_core::Pipeline,
    tiny: rvs_core::Pipeline,
    backup: rvs_core::Pipeline,
}

/// Runs one input (see the module doc). Panics if an invariant breaks.
pub fn run(data: &[u8]) {
    use rvs_core::conn::SyncPolicy;
    use rvs_core::PipelineConfig;
    use std::sync::Arc;
    let everyday = PipelineConfig { conn_capacity: 64, conn6_capacity: 64, ..Default::default() };
    let tiny = PipelineConfig {
        conn_capacity: 4,
        conn6_capacity: 4,
        template_capacity: 2,
        expire_budget: 1,
        ..Default::default()
    };
    let snap = harness_snapshot;
    let mut p = Pipes {
        master: rvs_core::Pipeline::new(everyday, Arc::new(snap().with_sync_master(Some(SyncPolicy::default()))), NOW),
        tiny: rvs_core::Pipeline::new(tiny, Arc::new(snap()), NOW),
        backup: rvs_core::Pipeline::new(everyday, Arc::new(snap().with_held_vips(Some(&[]))), NOW),
    };
    let mut now = NOW;
    let mut data = data;
    let mut frame = VecFrame::with_headroom(&[], 128);
    while data.len() >= 3 {
        let ctl = data[0];
        let len = usize::from(u16::from_be_bytes([data[1], data[2]])).min(data.len() - 3);
        let bytes = &data[3..3 + len];
        data = &data[3 + len..];
        let advance = u64::from((ctl >> 1) & 0x3f);
        if advance != 0 {
            now += advance * 1000;
            for (q, cap) in [(&mut p.master, 64), (&mut p.tiny, 4), (&mut p.backup, 64)] {
                q.poll_timers(now);
                check_loads(q, cap);
                q.poll_synproxy(now, || Some(VecFrame::with_headroom(&[], 128)), |f, v| check_verdict(v, &f));
                check_loads(q, cap);
            }
        }
        if ctl & 0x80 != 0 {
            install_datagram(&mut p.backup, bytes, now);
            continue;
        }
        for (q, cap) in [(&mut p.master, 64), (&mut p.tiny, 4), (&mut p.backup, 64)] {
            frame.reset(bytes, 128);
            let v = q.process(now, u16::from(ctl & 1), &mut frame);
            check_verdict(v, &frame);
            check_loads(q, cap);
        }
        // What the master queued reaches the backup as the kernel's sync datagrams would.
        let mut w = rvs_core::wire::ipvs_sync::SyncWriter::new(0, rvs_core::wire::ipvs_sync::DEFAULT_MAXLEN);
        let records: Vec<_> = p.master.drain_sync().collect();
        for r in &records {
            if !w.push(r) {
                let msg = w.take().expect("a full datagram");
                install_datagram(&mut p.backup, &msg, now);
                assert!(w.push(r), "an empty datagram takes any record");
            }
        }
        if let Some(msg) = w.take() {
            install_datagram(&mut p.backup, &msg, now);
        }
    }
    now += 1000 * 1000; // past every timeout but TCP's default (900 s) and persistence
    for (q, cap) in [(&mut p.master, 64), (&mut p.tiny, 4), (&mut p.backup, 64)] {
        check_loads(q, cap);
        for _ in 0..cap.min(8) {
            q.poll_timers(now); // each call expires at most the budget
        }
        check_loads(q, cap);
        let c = q.counters();
        // A held later fragment is counted as held (and again when it goes).
        let decided = c.forwarded + c.replied + c.to_kernel + c.pending + c.redirected + c.fragments_held;
        assert_eq!(c.rx, decided + c.total_drops());
    }
}

/// The NAT64 services' IPv4 local address.
pub const LIP64: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 19, 0, 210);
/// The SNAT pool's address.
pub const POOL: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 50);
/// A source the director's deny list holds.
pub const DENIED: std::net::Ipv4Addr = std::net::Ipv4Addr::new(203, 0, 113, 99);

/// The dual-stack test network and: tcp [VIP6_NAT]:64 and udp [VIP6_NAT]:5364 to RS1 over
/// NAT64 (the TCP one with the PROXY protocol v2), local address [`LIP64`]; SNAT of
/// 198.19.0.0/24 from [`POOL`] (endpoint-independent mapping and filtering); the director
/// denies [`DENIED`]; tcp VIP_NAT:[`SYNPROXY_PORT`] to RS1:80 behind the SYN proxy.
pub fn harness_snapshot() -> rvs_core::Snapshot {
    use rvs_core::service::{Dest, Forward, Protocol};
    use std::sync::Arc;
    let mut services = super::v6::services6();
    let mut tcp = super::service(20, Protocol::Tcp, super::VIP_NAT, "rr", &[], Forward::FullNat, 20);
    tcp.vip = super::v6::VIP6_NAT.into();
    tcp.port = 64;
    tcp.persistence_prefix = 128;
    tcp.dests = vec![Dest::new(20, super::RS1, 8080, 1, Forward::FullNat)];
    tcp.laddrs = vec![LIP64.into()];
    tcp.proxy_protocol = rvs_core::wire::proxy_protocol::ProxyProtocol::V2;
    let mut udp = tcp.clone();
    (udp.id, udp.protocol, udp.port, udp.proxy_protocol) = (21, Protocol::Udp, 5364, Default::default());
    udp.dests = vec![Dest::new(21, super::RS1, 5353, 1, Forward::FullNat)];
    let mut proxied = super::service(22, Protocol::Tcp, super::VIP_NAT, "rr", &[(super::RS1, 1)], Forward::Nat, 22);
    proxied.port = SYNPROXY_PORT;
    proxied.synproxy = true;
    services.extend([tcp, udp, proxied]);
    let snat = rvs_core::snat::SnatRule {
        id: 0,
        source: std::net::Ipv4Addr::new(198, 19, 0, 0),
        prefix_len: 24,
        protocol: None,
        out_port: Some(0),
        pool: vec![POOL],
        ports: Default::default(),
        mapping: rvs_core::snat::SnatMapping::EndpointIndependent,
        filtering: rvs_core::snat::SnatFiltering::EndpointIndependent,
    };
    let deny = Some(Arc::new(rvs_core::access::AccessList::new(&[(DENIED.into(), 32)])));
    super::v6::snapshot6_with(services, 1500)
        .with_snat(vec![snat])
        .expect("a valid SNAT rule")
        .with_access(rvs_core::access::Access { allow: None, deny, ..Default::default() }, false)
}

/// The SYN-proxied NAT service's port (on `VIP_NAT`, to RS1:80).
pub const SYNPROXY_PORT: u16 = 82;

/// The clock (ms) the pipelines start at.
const NOW: u64 = 1_000_000;

/// A sync datagram received by the backup: parsed (syncid 0 takes any group) and each record
/// installed; the table's accounting must hold whatever the records say.
fn install_datagram(backup: &mut rvs_core::Pipeline, msg: &[u8], now: u64) {
    if let Ok(got) = rvs_core::wire::ipvs_sync::parse(msg, 0) {
        for r in &got.conns {
            backup.install_synced(r, now);
        }
    }
    check_loads(backup, 64);
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

/// What a pipeline transmitted is well formed.
fn check_verdict(v: Verdict, frame: &VecFrame) {
    match v {
        Verdict::Forward(port) => assert!(port < 2, "forward to a port that does not exist"),
        Verdict::Redirect(_) => panic!("one core: nothing to redirect"),
        Verdict::Pending { .. } | Verdict::HoldFragment | Verdict::Reply | Verdict::ToKernel | Verdict::Drop(_) => {}
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
