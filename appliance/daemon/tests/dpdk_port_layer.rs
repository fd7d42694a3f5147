//! The DPDK port layer against the real system DPDK: EAL with no hugepages, a mempool, mbufs
//! as Frames, and ports on virtual devices (net_null, net_ring need no NIC and no root).
//!
//! EAL initialises once per process, so this file is one test walking the whole lifecycle.

use rvs_core::frame::Frame;
use rvsd::port::dpdk::{Burst, Eal, Mempool, Port, PortConfig, BURST_SIZE};

fn eal_args() -> Vec<String> {
    let prefix = format!("rvs-test-{}", std::process::id());
    [
        "--no-huge",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "-m",
        "128",
        "-l",
        "0",
        "--log-level",
        "lib.eal:error",
        "--file-prefix",
        &prefix,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn eal_mempool_mbuf_and_ports() {
    let eal = Eal::init(&eal_args()).expect("EAL init with --no-huge --no-pci --no-shconf");
    assert_eq!(eal.lcore_count(), 1);
    assert_eq!(eal.main_lcore(), 0);
    assert!(eal.worker_lcores().is_empty());
    let again = Eal::init(&eal_args()).unwrap_err();
    assert!(again.to_string().contains("already initialised"), "{again}");

    mempool_and_mbufs(&eal);
    null_port_rx_tx(&eal);
    ring_port_multi_queue(&eal);
    bad_devices_are_refused(&eal);
}

fn mempool_and_mbufs(eal: &Eal) {
    let pool = Mempool::new(eal, "t_pool", 511, 0, 2048 + 128).expect("pool");
    assert_eq!(pool.in_use(), 0);
    let mut held: Vec<_> = (0..100).map(|_| pool.alloc().expect("mbuf")).collect();
    assert_eq!(pool.in_use(), 100);

    let m = &mut held[0];
    assert!(m.is_empty());
    assert_eq!(m.headroom(), 128, "RTE_PKTMBUF_HEADROOM");
    m.append(64).expect("tailroom").copy_from_slice(&[0xab; 64]);
    assert_eq!(m.len(), 64);
    assert_eq!(m.segments(), 1);
    // Prepend within the headroom leaves the payload in place behind the new bytes.
    let d = m.prepend(20).expect("prepend 20");
    d[..20].fill(0x45);
    assert_eq!(m.len(), 84);
    assert_eq!(&m.data()[..20], &[0x45; 20]);
    assert_eq!(&m.data()[20..], &[0xab; 64]);
    assert_eq!(m.headroom(), 108);
    assert!(m.prepend(109).is_none(), "beyond the headroom");
    assert_eq!(m.len(), 84, "a failed prepend changes nothing");
    assert!(m.adj(20));
    assert!(m.trim(4));
    assert_eq!(m.data(), &[0xab; 60][..]);
    assert!(!m.trim(61));
    assert!(!m.adj(61));
    m.data_mut()[0] = 1;
    assert_eq!(m.data()[0], 1);

    held.clear();
    assert_eq!(pool.in_use(), 0, "dropping an Mbuf frees it");
    // Exhaustion is a None, not a crash; everything comes back.
    let all: Vec<_> = std::iter::from_fn(|| pool.alloc()).take(10_000).collect();
    assert_eq!(all.len(), 511);
    assert!(pool.alloc().is_none());
    drop(all);
    assert_eq!(pool.available(), 511);
}

fn null_port_rx_tx(eal: &Eal) {
    let pool = Mempool::new(eal, "t_null_pool", 4095, 0, 2048 + 128).expect("pool");
    let id = Port::attach(eal, "net_null0,size=64").expect("attach net_null0");
    assert_eq!(Port::attach(eal, "net_null0").unwrap(), id, "attaching again finds the same port");
    let port = Port::start(eal, id, &PortConfig::default(), &pool).expect("start");
    assert_eq!(port.driver(), "net_null");
    assert!(port.link().up);
    assert_ne!(port.mac(), [0; 6]);
    assert!(!port.rss(), "one queue: no RSS");

    let mut queues = port.take_queues().expect("queues");
    assert!(port.take_queues().is_none(), "queues are handed out once");
    assert_eq!(queues.len(), 1);
    let q = &mut queues[0];
    let mut burst = Burst::new();
    let n = q.rx(&mut burst);
    assert_eq!(n, BURST_SIZE, "net_null always has a full burst");
    assert!(burst.is_full());
    assert_eq!(q.rx(&mut burst), 0, "no room left");
    for m in burst.iter_mut() {
        assert_eq!(m.len(), 64);
    }
    assert_eq!(pool.in_use() as usize, BURST_SIZE);
    let sent = q.tx(&mut burst);
    assert_eq!(sent, BURST_SIZE);
    assert!(burst.is_empty());
    assert_eq!(pool.in_use(), 0, "net_null frees what it sends");
    let s = port.stats();
    assert_eq!(s.ipackets, BURST_SIZE as u64);
    assert_eq!(s.opackets, BURST_SIZE as u64);

    // A burst dropped with packets in it frees them.
    q.rx(&mut burst);
    assert_eq!(pool.in_use() as usize, BURST_SIZE);
    drop(burst);
    assert_eq!(pool.in_use(), 0);
}

fn ring_port_multi_queue(eal: &Eal) {
    let pool = Mempool::new(eal, "t_ring_pool", 1023, 0, 2048 + 128).expect("pool");
    let id = Port::attach(eal, "net_ring0").expect("attach net_ring0");
    let cfg = PortConfig { queues: 2, rx_desc: 128, tx_desc: 128, ..PortConfig::default() };
    let port = Port::start(eal, id, &cfg, &pool).expect("start with 2 queue pairs");
    assert_eq!(port.queue_count(), 2);
    let mut queues = port.take_queues().unwrap();
    assert_eq!(queues.len(), 2);
    assert_eq!((queues[0].index(), queues[1].index()), (0, 1));

    // net_ring loops tx queue N back to rx queue N: a frame sent comes back intact.
    let mut burst = Burst::new();
    for i in 0..5u8 {
        let mut m = pool.alloc().unwrap();
        m.append(60).unwrap().fill(i);
        burst.push(m).unwrap();
    }
    assert_eq!(queues[1].tx(&mut burst), 5);
    assert_eq!(queues[0].rx(&mut burst), 0, "nothing on the other queue");
    assert_eq!(queues[1].rx(&mut burst), 5);
    let got: Vec<u8> = burst.iter_mut().map(|m| m.data()[0]).collect();
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
    burst.clear();
    drop(queues);
    drop(port);
    assert_eq!(pool.in_use(), 0, "stopping the port returned every buffer");
}

fn bad_devices_are_refused(eal: &Eal) {
    let err = Port::attach(eal, "net_nonexistent0").unwrap_err();
    assert!(err.to_string().contains("rte_dev_probe(net_nonexistent0)"), "{err}");
    let pool = Mempool::new(eal, "t_bad_pool", 255, 0, 2048 + 128).expect("pool");
    let id = Port::attach(eal, "net_null1").unwrap();
    let cfg = PortConfig { queues: 0, ..PortConfig::default() };
    let err = Port::start(eal, id, &cfg, &pool).unwrap_err();
    assert!(err.to_string().contains("0 queue pairs asked"), "{err}");
    let err = Mempool::new(eal, "t_bad_pool", 255, 0, 2048).unwrap_err();
    assert!(err.to_string().contains("t_bad_pool"), "a duplicate pool name is refused: {err}");
}
