//! The SYN proxy on fixtures, both families' NAT path and FULLNAT: a SYN is answered with a
//! cookie and leaves nothing; a forged ACK makes nothing; a valid one becomes the SYN to the
//! real server with the client's options; the server's SYN-ACK becomes the client's ACK with
//! its held data; later segments are shifted both ways (sequence, acknowledgment, SACK,
//! timestamps) with right checksums; a silent server gets its SYN again, then the client a
//! reset; an ACK storm is cut.

mod common;

use common::*;
use rvs_core::wire::tcp::flags::{ACK, PSH, RST, SYN};
use rvs_core::wire::tcp::TcpPacket;
use rvs_core::wire::tcp_options::{self, TcpOptions};
use rvs_core::wire::Mac;
use rvs_core::xmit::segment::{write_segment, Segment};
use rvs_core::{DropReason, Frame, Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const NOW: u64 = 1_000_000;
const CPORT: u16 = 40000;

fn proxied_pipeline() -> Pipeline {
    let mut services = services();
    services[0].synproxy = true; // NAT tcp VIP_NAT:80
    services[5].synproxy = true; // FULLNAT
    let snap = Snapshot::new(interfaces(), services, neighbours(), Default::default()).unwrap();
    Pipeline::new(PipelineConfig { conn_capacity: 1024, ..PipelineConfig::default() }, Arc::new(snap), NOW)
}

/// A TCP segment between MACs `macs`, with `opts` and `data`.
#[allow(clippy::too_many_arguments)]
fn seg(
    macs: (Mac, Mac),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    opts: &[u8],
    data: &[u8],
) -> VecFrame {
    let addrs = (u128::from(u32::from(src)), u128::from(u32::from(dst)));
    seg_of(macs, false, addrs, ports, (seq, ack, flags), opts, data)
}

/// [`seg`] for either family (addresses as 128 bits, IPv4's in the low 32).
fn seg_of(
    macs: (Mac, Mac),
    v6: bool,
    (src, dst): (u128, u128),
    ports: (u16, u16),
    (seq, ack, flags): (u32, u32, u8),
    opts: &[u8],
    data: &[u8],
) -> VecFrame {
    let mut f = VecFrame::new(&[0u8; 14]);
    f.data_mut()[0..6].copy_from_slice(&macs.1 .0);
    f.data_mut()[6..12].copy_from_slice(&macs.0 .0);
    let s = Segment {
        v6,
        src,
        dst,
        sport: ports.0,
        dport: ports.1,
        seq,
        ack,
        flags,
        window: 502,
        ttl: 64,
        options: opts,
        payload: data,
    };
    write_segment(&mut f, 14, &s).unwrap();
    f
}

fn client(vip: Ipv4Addr, seq: u32, ack: u32, flags: u8, opts: &[u8], data: &[u8]) -> VecFrame {
    seg((ROUTER_MAC, OUT_MAC), CLIENT, vip, (CPORT, 80), seq, ack, flags, opts, data)
}

fn ts_opt(val: u32, ecr: u32) -> Vec<u8> {
    let mut o = vec![1, 1, 8, 10];
    o.extend_from_slice(&val.to_be_bytes());
    o.extend_from_slice(&ecr.to_be_bytes());
    o
}

/// Linux's SYN options: MSS 1460, SACK permitted, TS, window scale 7.
fn linux_syn_opts(tsval: u32) -> Vec<u8> {
    let mut o = vec![2, 4, 5, 180, 4, 2, 8, 10];
    o.extend_from_slice(&tsval.to_be_bytes());
    o.extend_from_slice(&[0, 0, 0, 0, 1, 3, 3, 7]);
    o
}

struct Tcp {
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    ports: (u16, u16),
    opts: TcpOptions,
    data: Vec<u8>,
}

/// The IPv4 TCP segment of `f`, its checksums verified.
fn read(f: &VecFrame) -> Tcp {
    let d = f.data();
    let mut again = d.to_vec();
    rvs_core::xmit::toa::fill_tcp_checksum(&mut again, 14, 34, false);
    assert_eq!(again, d, "TCP checksum right");
    assert_eq!(rvs_core::wire::checksum::fold(rvs_core::wire::checksum::sum(&d[14..34])), 0xffff, "IP checksum right");
    let t = TcpPacket::new_checked(&d[34..]).unwrap();
    Tcp {
        seq: t.seq(),
        ack: t.ack(),
        flags: t.flags(),
        window: t.window(),
        ports: (t.src_port(), t.dst_port()),
        opts: tcp_options::parse(&d[34..]),
        data: d[34 + t.header_len()..].to_vec(),
    }
}

fn ip_dst(f: &VecFrame) -> Ipv4Addr {
    let d = f.data();
    Ipv4Addr::new(d[30], d[31], d[32], d[33])
}

/// A client's handshake through the proxy: returns (cookie ISN, our TSval).
fn handshake(p: &mut Pipeline, vip: Ipv4Addr, isn: u32) -> (u32, u32) {
    let mut syn = client(vip, isn, 0, SYN, &linux_syn_opts(1000), b"");
    assert_eq!(p.process(NOW, 0, &mut syn), Verdict::Reply, "the SYN is answered");
    let sa = read(&syn);
    assert_eq!((sa.flags, sa.ack, sa.ports), (SYN | ACK, isn + 1, (80, CPORT)));
    assert_eq!(&syn.data()[0..12], &[ROUTER_MAC.0, OUT_MAC.0].concat()[..], "back to the router");
    assert_eq!(sa.opts.mss, Some(1452));
    assert_eq!(sa.opts.wscale, Some(7));
    assert!(sa.opts.sack_perm);
    let (tsval, tsecr) = sa.opts.timestamp.unwrap();
    assert_eq!(tsecr, 1000, "the client's TSval echoed");
    (sa.seq, tsval)
}

#[test]
fn a_proxied_connection_runs_through_the_real_server_with_every_number_shifted() {
    let mut p = proxied_pipeline();
    let isn = 5000;
    let (cookie, our_ts) = handshake(&mut p, VIP_NAT, isn);
    assert_eq!(p.connections().len(), 0, "a SYN leaves nothing");
    assert_eq!(p.counters().synproxy_cookies_sent, 1);

    // A blind ACK with a wrong cookie makes nothing.
    let mut bad = client(VIP_NAT, isn + 1, cookie.wrapping_add(7), ACK, &ts_opt(1001, our_ts), b"");
    assert_eq!(p.process(NOW, 0, &mut bad), Verdict::Drop(DropReason::SynproxyBadCookie));
    assert_eq!((p.connections().len(), p.counters().synproxy_cookies_bad), (0, 1));

    // The client's ACK with its request: the SYN to the real server, with the client's options.
    let mut ack = client(VIP_NAT, isn + 1, cookie + 1, ACK | PSH, &ts_opt(1001, our_ts), b"GET / HTTP/1.0\r\n\r\n");
    let v = p.process(NOW, 0, &mut ack);
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(p.connections().len(), 1);
    let s = read(&ack);
    assert_eq!(ip_dst(&ack), RS1);
    assert_eq!((s.flags, s.seq, s.ports), (SYN, isn, (CPORT, 8080)));
    assert_eq!(
        (s.opts.mss, s.opts.wscale, s.opts.sack_perm, s.opts.timestamp),
        (Some(1460), Some(7), true, Some((1001, 0)))
    );
    assert!(s.data.is_empty());

    // Meanwhile the client's pure ACK waits.
    let mut dup = client(VIP_NAT, isn + 1, cookie + 1, ACK, &ts_opt(1002, our_ts), b"");
    assert_eq!(p.process(NOW, 0, &mut dup), Verdict::Drop(DropReason::SynproxyWaiting));

    // The server's SYN-ACK (window scale 9, its own ISN and clock) becomes the client's ACK
    // with the held request.
    let srv_isn = 9_000_000;
    let srv_opts = [vec![2, 4, 5, 180, 4, 2], ts_opt(777_000, 1001)[2..].to_vec(), vec![1, 3, 3, 9]].concat();
    let mut sa = seg((RS1_MAC, IN_MAC), RS1, CLIENT, (8080, CPORT), srv_isn, isn + 1, SYN | ACK, &srv_opts, b"");
    assert_eq!(p.process(NOW, 1, &mut sa), Verdict::Forward(1));
    let a = read(&sa);
    assert_eq!(ip_dst(&sa), RS1);
    assert_eq!((a.flags, a.seq, a.ack, a.ports), (ACK | PSH, isn + 1, srv_isn + 1, (CPORT, 8080)));
    assert_eq!(a.data, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(a.opts.timestamp, Some((1001, 777_000)), "the server's TSval echoed");
    assert_eq!(a.window, 502 << 7 >> 7, "the client's window, read at the scale both sides share");

    // The server's answer reaches the client in the client's sequence space and clock, with
    // its window read at the scale the client was told (9 -> 7).
    let mut resp = seg(
        (RS1_MAC, IN_MAC),
        RS1,
        CLIENT,
        (8080, CPORT),
        srv_isn + 1,
        isn + 19,
        ACK,
        &ts_opt(777_010, 1001),
        b"HTTP/1.0 200 OK\r\n",
    );
    assert_eq!(p.process(NOW, 1, &mut resp), Verdict::Forward(0));
    let r = read(&resp);
    assert_eq!((r.seq, r.ack, r.ports), (cookie + 1, isn + 19, (80, CPORT)));
    assert_eq!(r.opts.timestamp, Some((our_ts + 10, 1001)));
    assert_eq!(r.window, 502 * 4);
    assert_eq!(r.data, b"HTTP/1.0 200 OK\r\n");

    // The client's acknowledgment and SACK edges go back to the server's numbers.
    let mut sack = ts_opt(1003, our_ts + 10);
    sack.extend_from_slice(&[1, 1, 5, 10]);
    sack.extend_from_slice(&(cookie + 100).to_be_bytes());
    sack.extend_from_slice(&(cookie + 200).to_be_bytes());
    let mut cack = client(VIP_NAT, isn + 19, cookie + 18, ACK, &sack, b"");
    assert_eq!(p.process(NOW, 0, &mut cack), Verdict::Forward(1));
    let c = read(&cack);
    assert_eq!((c.seq, c.ack), (isn + 19, srv_isn + 18));
    assert_eq!(c.opts.timestamp, Some((1003, 777_010)));
    let d = cack.data();
    let edge = |at: usize| u32::from_be_bytes(d[at..at + 4].try_into().unwrap());
    assert_eq!((edge(34 + 36), edge(34 + 40)), (srv_isn + 100, srv_isn + 200));
    assert_eq!(p.counters().synproxy_cookies_valid, 1);
}

#[test]
fn a_silent_server_gets_its_syn_again_then_the_client_a_reset() {
    let mut p = proxied_pipeline();
    let (cookie, our_ts) = handshake(&mut p, VIP_NAT, 100);
    let mut ack = client(VIP_NAT, 101, cookie + 1, ACK, &ts_opt(1001, our_ts), b"");
    assert_eq!(p.process(NOW, 0, &mut ack), Verdict::Forward(1));
    let mut sent = Vec::new();
    for k in 1..=4u64 {
        let n = p.poll_synproxy(NOW + k * 1000, || Some(VecFrame::new(&[])), |f, v| sent.push((f, v)));
        assert_eq!(n, 1, "one timer a second");
    }
    assert_eq!(sent.len(), 4);
    for (f, v) in &sent[..3] {
        assert_eq!(*v, Verdict::Forward(1));
        let s = read(f);
        assert_eq!((s.flags, s.seq, ip_dst(f)), (SYN, 100, RS1), "the SYN again");
    }
    let (f, v) = &sent[3];
    assert_eq!(*v, Verdict::Forward(0));
    let r = read(f);
    assert_eq!((r.flags, r.seq, r.ports, ip_dst(f)), (RST, cookie + 1, (80, CPORT), CLIENT), "the client told");
    assert_eq!(p.connections().len(), 0);
    let c = p.counters();
    assert_eq!((c.synproxy_syn_retries, c.synproxy_rs_timeouts), (3, 1));
    assert_eq!(p.poll_synproxy(NOW + 10_000, || Some(VecFrame::new(&[])), |_, _| panic!("nothing left")), 0);
}

#[test]
fn fullnat_proxies_and_an_ack_storm_is_cut() {
    let mut p = proxied_pipeline();
    let (cookie, our_ts) = handshake(&mut p, VIP_FNAT, 7);
    let mut ack = client(VIP_FNAT, 8, cookie + 1, ACK, &ts_opt(1001, our_ts), b"");
    assert_eq!(p.process(NOW, 0, &mut ack), Verdict::Forward(1));
    let s = read(&ack);
    let d = ack.data();
    assert_eq!(Ipv4Addr::new(d[26], d[27], d[28], d[29]), LIP, "from the local address");
    let lport = s.ports.0;
    let mut sa = seg((RS1_MAC, IN_MAC), RS1, LIP, (8080, lport), 1, 8, SYN | ACK, &[2, 4, 5, 180], b"");
    assert_eq!(p.process(NOW, 1, &mut sa), Verdict::Forward(1));
    let a = read(&sa);
    assert_eq!((a.flags, a.seq, a.ack, a.opts.timestamp), (ACK, 8, 2, None), "no timestamps: the server offered none");
    // A server's data reaches the client shifted.
    let mut resp = seg((RS1_MAC, IN_MAC), RS1, LIP, (8080, lport), 2, 8, ACK, &[], b"hello");
    assert_eq!(p.process(NOW, 1, &mut resp), Verdict::Forward(0));
    assert_eq!((read(&resp).seq, ip_dst(&resp)), (cookie + 1, CLIENT));
    // The same pure ACK over and over: the tenth repeat on is dropped.
    let mut verdicts = Vec::new();
    for _ in 0..12 {
        let mut a = client(VIP_FNAT, 8, cookie + 6, ACK, &[], b"");
        verdicts.push(p.process(NOW, 0, &mut a));
    }
    assert!(verdicts[..10].iter().all(|v| *v == Verdict::Forward(1)), "{verdicts:?}");
    assert!(verdicts[10..].iter().all(|v| *v == Verdict::Drop(DropReason::SynproxyAckStorm)), "{verdicts:?}");
    assert_eq!(p.counters().synproxy_ack_storms, 1);
}

#[test]
fn a_synproxy_needs_replies_through_rvsd() {
    let mut services = services();
    services[2].synproxy = true; // DR
    let e = Snapshot::new(interfaces(), services, neighbours(), Default::default()).unwrap_err().to_string();
    assert!(e.contains("synproxy") && e.contains("DR"), "{e}");
}

#[test]
fn a_proxied_connection_survives_a_failover_with_its_shifts() {
    use rvs_core::conn::SyncPolicy;
    use rvs_core::pipeline::Installed;
    use rvs_core::wire::ipvs_sync::{conn_flags, parse, SyncWriter};
    let mut services = services();
    services[0].synproxy = true;
    let base = Snapshot::new(interfaces(), services, neighbours(), Default::default()).unwrap();
    let cfg = PipelineConfig { conn_capacity: 1024, ..PipelineConfig::default() };
    let mut master = Pipeline::new(cfg, Arc::new(base.clone().with_sync_master(Some(SyncPolicy::default()))), NOW);
    let (cookie, our_ts) = handshake(&mut master, VIP_NAT, 300);
    let mut ack = client(VIP_NAT, 301, cookie + 1, ACK, &ts_opt(1001, our_ts), b"");
    assert_eq!(master.process(NOW, 0, &mut ack), Verdict::Forward(1));
    let srv_opts = [vec![2, 4, 5, 180], ts_opt(50_000, 1001), vec![1, 3, 3, 9]].concat();
    let mut sa = seg((RS1_MAC, IN_MAC), RS1, CLIENT, (8080, CPORT), 70_000, 301, SYN | ACK, &srv_opts, b"");
    assert_eq!(master.process(NOW, 1, &mut sa), Verdict::Forward(1));
    // The handoff's record carries the server direction's shift (IPVS's out_seq) and the
    // timestamp and window shifts.
    let rec = master.drain_sync().next_back().expect("a record");
    let d = cookie.wrapping_sub(70_000);
    assert_eq!(rec.seq_out, Some([70_000, d, d]));
    assert_ne!(rec.flags & conn_flags::OUT_SEQ, 0);
    assert_eq!(rec.seq_in, None, "no PROXY protocol here");
    let shift = rec.proxy_shift.expect("the shifts");
    assert_eq!(shift.ts_delta, our_ts.wrapping_sub(50_000));
    assert_eq!(shift.windows, [0xff, 0xff, 9, 7], "the server's windows read at scale 9, told at 7");
    let mut w = SyncWriter::new(1, 1472);
    assert!(w.push(&rec));
    let got = parse(&w.take().unwrap(), 1).unwrap().conns[0];
    assert_eq!((got.seq_out, got.proxy_shift), (rec.seq_out, rec.proxy_shift), "over the wire");
    let mut backup = Pipeline::new(cfg, Arc::new(base), NOW);
    assert_eq!(backup.install_synced(&got, NOW), Installed::Created);
    // After a failover the backup shifts the server's data and the client's ACK as the master did.
    let mut resp = seg((RS1_MAC, IN_MAC), RS1, CLIENT, (8080, CPORT), 70_001, 301, ACK, &ts_opt(50_020, 1001), b"data");
    assert_eq!(backup.process(NOW, 1, &mut resp), Verdict::Forward(0));
    let r = read(&resp);
    assert_eq!((r.seq, r.opts.timestamp, r.window), (cookie + 1, Some((our_ts + 20, 1001)), 502 * 4));
    let mut cack = client(VIP_NAT, 301, cookie + 5, ACK, &ts_opt(1002, our_ts + 20), b"");
    assert_eq!(backup.process(NOW, 0, &mut cack), Verdict::Forward(1));
    let c = read(&cack);
    assert_eq!((c.ack, c.opts.timestamp), (70_005, Some((1002, 50_020))));
}

#[test]
fn a_repeated_server_syn_ack_gets_the_ack_again_and_a_refused_ack_is_dropped() {
    let mut services = services();
    services[0].synproxy = true;
    services[4].synproxy = true; // VIP_NAT:81, its one real server at weight 0
    let snap = Snapshot::new(interfaces(), services, neighbours(), Default::default()).unwrap();
    let mut p = Pipeline::new(PipelineConfig { conn_capacity: 1024, ..PipelineConfig::default() }, Arc::new(snap), NOW);
    let (cookie, our_ts) = handshake(&mut p, VIP_NAT, 10);
    let mut ack = client(VIP_NAT, 11, cookie + 1, ACK, &ts_opt(1001, our_ts), b"");
    assert_eq!(p.process(NOW, 0, &mut ack), Verdict::Forward(1));
    let sa = || seg((RS1_MAC, IN_MAC), RS1, CLIENT, (8080, CPORT), 4000, 11, SYN | ACK, &[2, 4, 5, 180], b"");
    assert_eq!(p.process(NOW, 1, &mut sa()), Verdict::Forward(1), "the handoff's ACK");
    // Our ACK was lost: the server's SYN-ACK again is answered to the server, never the client.
    let mut again = sa();
    assert_eq!(p.process(NOW, 1, &mut again), Verdict::Forward(1));
    let a = read(&again);
    assert_eq!((ip_dst(&again), a.flags, a.seq, a.ack), (RS1, ACK, 11, 4001));

    // A validated ACK that no real server can take is dropped as a SYN would be: the client
    // sends it again (and it validates again) while the condition passes.
    let mut syn = seg((ROUTER_MAC, OUT_MAC), CLIENT, VIP_NAT, (CPORT, 81), 70, 0, SYN, &[2, 4, 5, 180], b"");
    assert_eq!(p.process(NOW, 0, &mut syn), Verdict::Reply);
    let k = read(&syn).seq;
    for _ in 0..2 {
        let mut ack = seg((ROUTER_MAC, OUT_MAC), CLIENT, VIP_NAT, (CPORT, 81), 71, k + 1, ACK, &[], b"");
        assert_eq!(p.process(NOW, 0, &mut ack), Verdict::Drop(DropReason::NoDest));
    }
    assert_eq!(p.counters().synproxy_refused, 2);
    assert_eq!(p.connections().len(), 1, "only the first client's connection");
}

#[test]
fn without_timestamps_a_syn_ack_offers_the_mss_alone() {
    let mut services = services();
    services[0].synproxy = true;
    let policy = rvs_core::synproxy::SynProxyPolicy { timestamps: false, ..Default::default() };
    let snap = Snapshot::new(interfaces(), services, neighbours(), Default::default()).unwrap().with_synproxy(policy);
    let mut p = Pipeline::new(PipelineConfig::default(), Arc::new(snap), NOW);
    let mut syn = client(VIP_NAT, 1, 0, SYN, &linux_syn_opts(1000), b"");
    assert_eq!(p.process(NOW, 0, &mut syn), Verdict::Reply);
    let o = read(&syn).opts;
    assert_eq!((o.mss, o.wscale, o.sack_perm, o.timestamp), (Some(1452), None, false, None));
}

#[test]
fn ipv6_proxies_as_ipv4_does() {
    use common::v6::*;
    use std::net::Ipv6Addr;
    let mut services = services6();
    services[6].synproxy = true; // tcp [VIP6_NAT]:80, NAT
    let snap = snapshot6_with(services, 1500);
    let cfg = PipelineConfig { conn_capacity: 64, conn6_capacity: 64, ..PipelineConfig::default() };
    let mut p = Pipeline::new(cfg, Arc::new(snap), NOW);
    let seg6 = |macs: (Mac, Mac), src: Ipv6Addr, dst: Ipv6Addr, ports, seq, ack, flags, opts: &[u8], data: &[u8]| {
        seg_of(macs, true, (u128::from(src), u128::from(dst)), ports, (seq, ack, flags), opts, data)
    };
    let read6 = |f: &VecFrame| {
        let d = f.data();
        let mut again = d.to_vec();
        rvs_core::xmit::toa::fill_tcp_checksum(&mut again, 14, 54, true);
        assert_eq!(again, d, "TCP checksum right");
        let t = TcpPacket::new_checked(&d[54..]).unwrap();
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&d[38..54]).unwrap());
        (t.seq(), t.ack(), t.flags(), tcp_options::parse(&d[54..]), dst, d[54 + t.header_len()..].to_vec())
    };
    let mss1440 = [&[2u8, 4, 5, 160, 4, 2][..], &ts_opt(1000, 0)[2..], &[1, 3, 3, 7]].concat();
    let mut syn = seg6((ROUTER_MAC, OUT_MAC), CLIENT6, VIP6_NAT, (CPORT, 80), 900, 0, SYN, &mss1440, b"");
    assert_eq!(p.process(NOW, 0, &mut syn), Verdict::Reply);
    let (cookie, ack, fl, o, dst, _) = read6(&syn);
    assert_eq!((ack, fl, dst, o.mss, o.wscale), (901, SYN | ACK, CLIENT6, Some(1452), Some(7)));
    let our_ts = o.timestamp.unwrap().0;
    let mut a =
        seg6((ROUTER_MAC, OUT_MAC), CLIENT6, VIP6_NAT, (CPORT, 80), 901, cookie + 1, ACK, &ts_opt(1001, our_ts), b"hi");
    assert_eq!(p.process(NOW, 0, &mut a), Verdict::Forward(1));
    let (seq, _, fl, o, dst, _) = read6(&a);
    assert_eq!((seq, fl, dst, o.mss, o.timestamp), (900, SYN, RS6_1, Some(1440), Some((1001, 0))), "IPv6's MSS table");
    let mut sa = seg6((RS1_MAC, IN_MAC), RS6_1, CLIENT6, (8080, CPORT), 3000, 901, SYN | ACK, &[2, 4, 5, 160], b"");
    assert_eq!(p.process(NOW, 1, &mut sa), Verdict::Forward(1));
    let (seq, ack, _, _, dst, data) = read6(&sa);
    assert_eq!((seq, ack, dst, data), (901, 3001, RS6_1, b"hi".to_vec()), "the held data");
    let mut r = seg6((RS1_MAC, IN_MAC), RS6_1, CLIENT6, (8080, CPORT), 3001, 903, ACK, &[], b"ok");
    assert_eq!(p.process(NOW, 1, &mut r), Verdict::Forward(0));
    let (seq, ack, _, _, dst, _) = read6(&r);
    assert_eq!((seq, ack, dst), (cookie + 1, 903, CLIENT6));
}
