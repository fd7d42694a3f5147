//! rvs-bench: rvsd's worker loop measured in process, on real DPDK mbufs.
//!
//! Each worker is rvsd's own [`Worker::run`] on its own EAL lcore, with a replay port
//! ([`rvs_tools::replay`]) in place of the NIC: its rx takes mbufs from a DPDK mempool and fills
//! them with frames of the configured flows (as a PMD refills its ring), its tx frees what the
//! loop sends. Before a run the connections of every flow are established through the same
//! pipeline. Per run it prints, per core: Mpps, ns and TSC cycles per packet (and how much of
//! that is the replay port's own mbuf work), new connections per second, percentiles of the loop
//! iteration time (hdrhistogram), and the connection table's memory per connection.
//!
//! EAL runs without hugepages (`--no-huge`); workers busy-poll as on bare metal.

use anyhow::{bail, ensure, Context, Result};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use rvs_core::conn::Conn;
use rvs_core::pipeline::{PipelineConfig, CLOCK_EPOCH_MS};
use rvs_core::service::{Dest, Forward, Interface, Protocol, Service, Timeouts};
use rvs_core::wire::build::{PacketBuilder, PacketBuilder6};
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::wire::Mac;
use rvs_core::{Pipeline, Snapshot, VecFrame, Verdict};
use rvs_tools::replay::{Flows, FrameTemplate, QueueStats, ReplayQueue, Slice, Traffic, SLICES};
use rvsd::port::dpdk::{rdtsc, tsc_hz, Eal, Mempool};
use rvsd::worker::{PortIdentity, Shared, Worker};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Large tables (connections, indexes) on transparent huge pages.
mod report;
mod run;
mod scenario;

use report::section;
use run::{run, Figures};
use scenario::*;

#[global_allocator]
static ALLOC: rvsd::hugepage_alloc::HugePageAlloc = rvsd::hugepage_alloc::HugePageAlloc;

#[derive(Parser, Debug, Clone)]
#[command(
    about = "rvsd's worker loop on real DPDK mbufs, in process: Mpps, ns and cycles per packet, new connections/s, loop latency"
)]
pub(crate) struct Args {
    /// Forwarding modes to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "dr,tun,nat-in,nat-out,nat")]
    pub(crate) modes: Vec<Mode>,
    /// Frame sizes on the wire: a byte count (64..=1518) or `imix` (64:594:1518 as 7:4:1).
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub(crate) sizes: Vec<String>,
    /// Established flows (connections) in total, spread over the workers.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    pub(crate) flows: Vec<u32>,
    /// Worker cores.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub(crate) cores: Vec<usize>,
    /// Per cent of client frames that are SYNs of new connections.
    #[arg(long, default_value_t = 0)]
    pub(crate) syn_percent: u32,
    /// Scheduler of the services (ipvsadm's names).
    #[arg(long, default_value = "wlc")]
    pub(crate) scheduler: String,
    /// Real servers per service.
    #[arg(long, default_value_t = 10)]
    pub(crate) reals: u16,
    /// Seconds measured per run (after a quarter of a second of warm-up).
    #[arg(long, default_value_t = 2.0)]
    pub(crate) seconds: f64,
    /// Write the results as section SECTION of this markdown file.
    #[arg(long)]
    pub(crate) write: Option<PathBuf>,
    /// Section name (between `<!-- BEGIN name -->` and `<!-- END name -->`).
    #[arg(long, default_value = "rvs_bench")]
    pub(crate) section: String,
    /// Append each run's figures as a JSON line to this file (for plots).
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// While measuring, list every worker's connections again and again from the control
    /// thread, as `rvsadm -L -c` does (the loop's latency then shows what listings cost it).
    #[arg(long)]
    pub(crate) listing: bool,
    /// A SYN flood: each worker's table holds its established flows and 1,024 more, so the
    /// --syn-percent SYNs (new flows, from ever new clients) fill it at once and keep it full;
    /// each mode also runs without SYNs (in turn with the flood, three times each), and the
    /// section compares the established packets' median rates.
    #[arg(long)]
    pub(crate) flood: bool,
    /// A director deny list of this many IPv4 prefixes (single addresses that do not merge,
    /// none a bench client's), looked up for every new connection: its cost.
    #[arg(long, default_value = "0")]
    pub(crate) deny_prefixes: u32,
    /// With --deny-prefixes: the list is a blackhole (every packet's source looked up first).
    #[arg(long, requires = "deny_prefixes")]
    pub(crate) blackhole: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.syn_percent <= 100, "--syn-percent: {} is over 100", args.syn_percent);
    ensure!((1..=255).contains(&args.reals), "--reals: 1..=255");
    for s in &args.sizes {
        sizes(s)?;
    }
    // Before EAL init, which pins this thread to one CPU.
    let machine = rvs_tools::machine();
    let max_cores = args.cores.iter().copied().max().unwrap_or(1);
    // Over the CPUs this process may use (its affinity mask, not 0..N): main lcore 0 (sleeps) on
    // the first; worker i on the (i + 1)-th, wrapping: one worker gets a CPU of its own, and
    // with every CPU in use the workers share one with the sleeping main thread.
    let cpus = rvs_tools::usable_cpus();
    let map: Vec<String> = std::iter::once(format!("0@{}", cpus[0]))
        .chain((0..max_cores).map(|i| format!("{}@{}", i + 1, cpus[(i + 1) % cpus.len()])))
        .collect();
    let eal = rvs_tools::eal_in_process("rvs-bench", 512, &map.join(",")).context("EAL init")?;
    let lcores = eal.worker_lcores();
    let pool = Mempool::new(&eal, "bench_pool", 16383, 256, 2048 + 128).context("mbuf pool")?;
    let hz = tsc_hz();
    println!(
        "rvs-bench: TSC {:.2} GHz, {}; rvsd's worker loop on a replay port, real mbufs, scheduler {}, {} reals per service",
        hz as f64 / 1e9,
        machine,
        args.scheduler,
        args.reals
    );
    let mut rows = Vec::new();
    for &cores in &args.cores {
        for &flows in &args.flows {
            for size in &args.sizes {
                for &mode in &args.modes {
                    let spec = RunSpec { mode, size: size.clone(), flows, cores };
                    // A flood is compared with the same run without it, three times in turn (the
                    // section takes medians: a shared VM's speed drifts between runs).
                    let baseline = Args { syn_percent: 0, ..args.clone() };
                    let variants = if args.flood { [&baseline, &args].repeat(FLOOD_PAIRS) } else { vec![&args] };
                    for a in variants {
                        let f = run(a, &eal, &pool, &lcores, &spec)
                            .with_context(|| format!("{} {} B, {flows} flows, {cores} cores", mode.name(), size))?;
                        println!(
                        "{:<8} {:>5} {:>9} flows {} core(s): {:>6.2} Mpps ({:.2}/core, {:.2} Gb/s)  {:>5.1} ns/packet ({:.1} dataplane + {:.1} port)  {:>4.0} cycles  {:.2} M new conn/s  loop p50 {} p99 {} p99.9 {} ns  {} B/conn entry, {:.1} B/conn table  drops {}",
                        f.mode, f.size, f.flows, f.cores, f.mpps, f.mpps_per_core, f.gbps, f.ns, f.dataplane_ns,
                        f.port_ns, f.cycles, f.new_conns_per_s / 1e6, f.loop_p50_ns, f.loop_p99_ns, f.loop_p999_ns,
                        f.conn_entry_bytes, f.table_bytes_per_conn, f.drops
                    );
                        if args.flood {
                            println!(
                                "         SYN {}%: established {:.2} Mpps; evicted {}, stateless {}, refused {}",
                                f.syn_percent, f.established_mpps, f.evicted, f.stateless_forwarded, f.refused
                            );
                        }
                        if let Some(path) = &args.json {
                            use std::io::Write as _;
                            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
                            writeln!(file, "{}", serde_json::to_string(&f)?)?;
                        }
                        rows.push(f);
                    }
                }
            }
        }
    }
    if let Some(path) = &args.write {
        let mut doc = std::fs::read_to_string(path).unwrap_or_default();
        rvs_tools::replace_section(&mut doc, &args.section, &section(&args, &machine, &rows));
        std::fs::write(path, doc).with_context(|| format!("write {}", path.display()))?;
        println!("updated {} ({})", path.display(), args.section);
    }
    Ok(())
}
