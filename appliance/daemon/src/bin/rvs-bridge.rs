//! rvs-bridge: an L2 bridge between two DPDK ports, frame for frame, over rvsd's port layer.
//!
//! It proves the port layer end to end (EAL, pool, ports, bursts, idle back-off, clean stop)
//! before any load-balancing logic is involved, and serves as a diagnostic on a new NIC: if
//! ping crosses rvs-bridge, the ports work. Stops on SIGINT/SIGTERM (or after `--duration`)
//! and prints its counters.

use anyhow::{bail, Context, Result};
use clap::Parser;
use rvsd::port::dpdk::{Burst, Eal, Mempool, Port, PortConfig};
use rvsd::worker::IdleBackoff;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "L2 bridge between two DPDK ports (rvs port-layer diagnostic)")]
struct Args {
    /// DPDK device string of a port, given twice: e.g. net_af_packet0,iface=veth-a
    #[arg(long = "port", required = true, num_args = 1)]
    ports: Vec<String>,
    /// Extra EAL argument (repeatable); defaults suit a lab without hugepages.
    #[arg(long = "eal-arg", allow_hyphen_values = true)]
    eal_args: Vec<String>,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long)]
    duration: Option<u64>,
    /// Never sleep when idle (bare metal: a dedicated core).
    #[arg(long)]
    busy_poll: bool,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.ports.len() != 2 {
        bail!("--port: give exactly two ports, got {}", args.ports.len());
    }

    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;

    let mut eal_args: Vec<String> = if args.eal_args.is_empty() {
        let prefix = format!("rvs-bridge-{}", std::process::id());
        [
            "--no-huge",
            "--no-pci",
            "--no-shconf",
            "-m",
            "256",
            "-l",
            "0",
            "--log-level",
            "lib.eal:error",
            "--no-telemetry",
            "--file-prefix",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([prefix])
        .collect()
    } else {
        args.eal_args.clone()
    };
    eal_args.retain(|a| !a.is_empty());
    let eal = Eal::init(&eal_args).context("EAL init")?;
    bridge(&eal, &args, &stop)?;
    drop(eal);
    println!("rvs-bridge: stopped cleanly");
    Ok(())
}

/// Runs the bridge until `stop` or the deadline; every DPDK object it makes is released, in
/// order, when it returns.
fn bridge(eal: &Eal, args: &Args, stop: &AtomicBool) -> Result<()> {
    let pool = Mempool::new(eal, "bridge_pool", 8191, 256, 2048 + 128).context("mbuf pool")?;
    let cfg = PortConfig::default();
    let mut ports = Vec::new();
    for dev in &args.ports {
        let id = Port::attach(eal, dev).with_context(|| format!("attach {dev}"))?;
        let port = Port::start(eal, id, &cfg, &pool).with_context(|| format!("start {dev}"))?;
        let mac = port.mac();
        tracing::info!(port = id, driver = port.driver(), mac = %fmt_mac(&mac), link = ?port.link(), "port up");
        ports.push(port);
    }
    let mut q0 = ports[0].take_queues().expect("fresh port").remove(0);
    let mut q1 = ports[1].take_queues().expect("fresh port").remove(0);
    println!("rvs-bridge: forwarding between {} and {}", args.ports[0], args.ports[1]);

    let deadline = args.duration.map(|s| Instant::now() + Duration::from_secs(s));
    let mut burst = Burst::new();
    let mut forwarded = [0u64; 2];
    let mut tx_dropped = [0u64; 2];
    let mut idle = IdleBackoff::new(!args.busy_poll);
    let mut polls: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut got = 0;
        for dir in 0..2 {
            let (rx, tx) = if dir == 0 { (&mut q0, &mut q1) } else { (&mut q1, &mut q0) };
            let n = rx.rx(&mut burst);
            if n == 0 {
                continue;
            }
            got += n;
            let sent = tx.tx(&mut burst);
            forwarded[dir] += sent as u64;
            tx_dropped[dir] += burst.len() as u64;
            burst.clear();
        }
        idle.after_poll(got);
        polls = polls.wrapping_add(1);
        if polls & 1023 == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }

    for (i, p) in ports.iter().enumerate() {
        let s = p.stats();
        println!(
            "rvs-bridge: port{i} rx_packets={} tx_packets={} rx_missed={} forwarded_to_peer={} tx_dropped={}",
            s.ipackets, s.opackets, s.imissed, forwarded[i], tx_dropped[i]
        );
    }
    Ok(())
}

fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}
