//! The IPVS sync codec under random input: garbage never panics and never yields a record that
//! was not sent; damage never costs the records before it; whatever the writer builds, the
//! reader gives back (flags masked, SYNC set).

use proptest::prelude::*;
use rvs_core::wire::ipvs_sync::{
    conn_flags, parse, ProxyShift, SyncConn, SyncWriter, HEADER_LEN, V4_RECORD_LEN, V6_RECORD_LEN,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Records of either family (IPv4's 36 bytes, IPv6's 72).
fn sync_conn() -> impl Strategy<Value = SyncConn> {
    let addrs = prop_oneof![
        any::<[u32; 3]>().prop_map(|a| a.map(|x| IpAddr::V4(Ipv4Addr::from(x)))),
        any::<[u128; 3]>().prop_map(|a| a.map(|x| IpAddr::V6(Ipv6Addr::from(x)))),
    ];
    let seq = proptest::option::of(any::<[u32; 3]>());
    let seq_out = proptest::option::of(any::<[u32; 3]>());
    let shift = proptest::option::of(any::<(u32, [u8; 4])>())
        .prop_map(|s| s.map(|(ts_delta, windows)| ProxyShift { ts_delta, windows }));
    (
        prop_oneof![Just(6u8), Just(17u8)],
        any::<u32>(),
        0u16..11,
        any::<[u16; 3]>(),
        any::<u32>(),
        addrs,
        (seq, seq_out, shift),
    )
        .prop_map(|(protocol, flags, state, ports, timeout, addrs, (seq_in, seq_out, proxy_shift))| SyncConn {
            protocol,
            flags: flags & conn_flags::BACKUP_MASK & !conn_flags::SEQ_MASK
                | if seq_in.is_some() { conn_flags::IN_SEQ } else { 0 }
                | if seq_out.is_some() { conn_flags::OUT_SEQ } else { 0 },
            state: if protocol == 17 { 0 } else { state },
            cport: ports[0],
            vport: ports[1],
            dport: ports[2],
            fwmark: 0,
            timeout,
            caddr: addrs[0],
            vaddr: addrs[1],
            daddr: addrs[2],
            local: None,
            seq_in,
            seq_out,
            proxy_shift,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_panics_and_a_rejected_message_gives_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..600), syncid in any::<u8>()) {
        let _ = parse(&bytes, syncid);
    }

    #[test]
    fn damaged_messages_never_panic(conns in proptest::collection::vec(sync_conn(), 1..14), at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let mut w = SyncWriter::new(5, 1472);
        for c in &conns {
            prop_assert!(w.push(c));
        }
        let mut m = w.take().unwrap();
        let i = at % m.len();
        m[i] = byte;
        let _ = parse(&m, 5);
        let _ = parse(&m[..cut % (m.len() + 1)], 5);
        // Whatever a damaged message yields is at most what its header counts: version 1's
        // count, or version 0's when the damage left another layout (read as version 0).
        if let Ok(r) = parse(&m, 5) {
            let v1 = m[0] == 0 && m[5] == 1 && m[6] == 0 && m[7] == 0;
            let count = usize::from(if v1 { m[4] } else { m[0] });
            prop_assert!(r.conns.len() + (r.skipped + r.malformed) as usize <= count);
            // Every record wholly before a damaged byte comes back as sent: a bad record never
            // takes an earlier one down with it.
            if i >= HEADER_LEN {
                let (mut end, mut before) = (HEADER_LEN, 0);
                for c in &conns {
                    end = end.div_ceil(4) * 4; // records start 4-aligned
                    end += if c.vaddr.is_ipv6() { V6_RECORD_LEN } else { V4_RECORD_LEN };
                    end += if c.seq_in.is_some() || c.seq_out.is_some() { 2 + 24 } else { 0 }; // the SEQ option
                    end += if c.proxy_shift.is_some() { 2 + 8 } else { 0 };
                    if end > i {
                        break;
                    }
                    before += 1;
                }
                prop_assert!(r.conns.len() >= before, "{} of {} records before the damage", r.conns.len(), before);
                for (got, sent) in r.conns.iter().zip(&conns).take(before) {
                    prop_assert_eq!(*got, SyncConn { flags: sent.flags | conn_flags::SYNC, ..*sent });
                }
            }
        }
    }

    #[test]
    fn what_the_writer_builds_the_reader_gives_back(conns in proptest::collection::vec(sync_conn(), 1..100)) {
        let mut w = SyncWriter::new(9, 1472);
        let mut got = Vec::new();
        for c in &conns {
            if !w.push(c) {
                let m = w.take().unwrap();
                prop_assert!(m.len() <= 1472 && m.len() >= HEADER_LEN);
                got.extend(parse(&m, 9).unwrap().conns);
                prop_assert!(w.push(c));
            }
        }
        got.extend(parse(&w.take().unwrap(), 9).unwrap().conns);
        let want: Vec<SyncConn> = conns.iter().map(|c| SyncConn { flags: c.flags | conn_flags::SYNC, ..*c }).collect();
        prop_assert_eq!(got, want);
    }
}
