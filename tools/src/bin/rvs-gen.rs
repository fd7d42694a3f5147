//! rvs-gen: the project's DPDK traffic generator for the lab (and any DPDK port).
//!
//! Sends frames of N flows (one client address, source ports walking) to a virtual service as
//! fast as the port takes them, for a set time, from one lcore: 64-byte (or larger) UDP
//! datagrams, or TCP SYNs. Frames are written into mbufs from a DPDK mempool by the same
//! templates `rvs-bench` replays (`rvs_tools::replay`). What the port receives meanwhile is
//! counted and freed. In the lab it runs in the client's namespace on `net_af_packet` (or
//! `net_af_xdp`) over the client's veth; the kernel's interface keeps its address, so it still
//! answers ARP for the client. Prints one JSON line of figures at the end.

use anyhow::{ensure, Context, Result};
use clap::{Parser, ValueEnum};
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::tcp::flags::SYN;
use rvs_core::wire::Mac;
use rvs_tools::replay::{Flows, FrameTemplate};
use rvsd::port::dpdk::{Burst, Mempool, Port, PortConfig, BURST_SIZE};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// UDP datagrams (each flow's first makes a connection, the rest use it).
    Udp,
    /// TCP SYNs (every frame asks for a new connection while flows are fresh).
    Syn,
}

#[derive(Parser, Debug)]
#[command(about = "DPDK traffic generator: frames of N flows to a virtual service, as fast as the port takes them")]
struct Args {
    /// DPDK device (vdev string), e.g. net_af_packet0,iface=eth0 or net_af_xdp0,iface=eth0.
    #[arg(long)]
    device: String,
    /// Source (client) address.
    #[arg(long)]
    src: Ipv4Addr,
    /// Destination: the VIP.
    #[arg(long)]
    dst: Ipv4Addr,
    /// Destination port.
    #[arg(long, default_value_t = 53)]
    dport: u16,
    /// Next hop's MAC (the balancer's port).
    #[arg(long, value_parser = parse_mac)]
    dst_mac: Mac,
    /// What to send.
    #[arg(long, value_enum, default_value = "udp")]
    kind: Kind,
    /// Flows (source ports from 1024), at most 50,000.
    #[arg(long, default_value_t = 1000)]
    flows: u32,
    /// Frame size on the wire (with FCS).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds to send.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// CPU for the generator's lcore.
    #[arg(long, default_value_t = 0)]
    cpu: usize,
}

fn parse_mac(s: &str) -> Result<Mac, String> {
    s.parse().map_err(|_| format!("{s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"))
}

#[derive(Debug, serde::Serialize)]
struct Report {
    seconds: f64,
    offered: u64,
    sent: u64,
    not_taken: u64,
    received: u64,
    pps: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!((1..=rvs_tools::replay::PORTS_PER_IP).contains(&args.flows), "--flows: 1..=50000");
    ensure!((64..=1518).contains(&args.size), "--size: 64..=1518");
    let eal = rvs_tools::eal_in_process("rvs-gen", 256, &format!("0@{}", args.cpu)).context("EAL init")?;
    let pool = Mempool::new(&eal, "gen_pool", 8191, 256, 2048 + 128).context("mbuf pool")?;
    let id = Port::attach(&eal, &args.device).with_context(|| format!("attach {}", args.device))?;
    let port = Port::start(&eal, id, &PortConfig::default(), &pool).context("port start")?;
    let mut queues = port.take_queues().context("queues")?;
    let q = queues.first_mut().context("no queue")?;

    let b = PacketBuilder::new(Mac(port.mac()), args.dst_mac, args.src, args.dst);
    let frame = match args.kind {
        // 14 + 20 + 8 + payload, 4 more on the wire.
        Kind::Udp => b.udp(1024, args.dport, &vec![0; args.size - 4 - 42], true),
        Kind::Syn => b.tcp(1024, args.dport, SYN, 1, &vec![0; args.size - 4 - 54]),
    };
    let tmpl = FrameTemplate::new(&frame, args.size - 4, true);
    let flows = Flows { ips: vec![u32::from(args.src)], len: args.flows };

    let (mut offered, mut sent, mut received, mut f) = (0u64, 0u64, 0u64, 0u32);
    let mut tx = Burst::new();
    let mut rx = Burst::new();
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(args.seconds);
    let mut loops = 0u64;
    while loops & 63 != 0 || Instant::now() < end {
        loops += 1;
        while !tx.is_full() {
            let Some(mut m) = pool.alloc() else { break };
            let Some(buf) = m.append(tmpl.len()) else { break };
            let (ip, p) = flows.flow(f);
            tmpl.fill(buf, ip, p);
            f = if f + 1 == flows.len { 0 } else { f + 1 };
            if tx.push(m).is_err() {
                break;
            }
        }
        let n = tx.len() as u64;
        offered += n;
        let took = q.tx(&mut tx) as u64;
        sent += took;
        tx.clear(); // what the PMD did not take is dropped, as a generator at full rate does
        let got = q.rx(&mut rx);
        received += got as u64;
        rx.clear();
        if n < BURST_SIZE as u64 && took == 0 {
            std::thread::yield_now(); // pool exhausted: the PMD still holds every buffer
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let stats = port.stats();
    let r = Report {
        seconds: secs,
        offered,
        sent,
        not_taken: offered - sent,
        received,
        pps: stats.opackets.max(sent) as f64 / secs,
    };
    println!("rvs-gen: {}", serde_json::to_string(&r)?);
    drop(queues);
    drop(port);
    Ok(())
}
