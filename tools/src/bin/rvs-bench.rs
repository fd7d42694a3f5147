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
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::wire::Mac;
use rvs_core::{Pipeline, Snapshot, VecFrame, Verdict};
use rvs_tools::replay::{Flows, FrameTemplate, QueueStats, ReplayQueue, Slice, Traffic, SLICES};
use rvsd::port::dpdk::{rdtsc, tsc_hz, Eal, Mempool};
use rvsd::worker::{PortIdentity, Shared, Worker};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Large tables (connections, indexes) on transparent huge pages.
#[global_allocator]
static ALLOC: rvsd::hugepage_alloc::HugePageAlloc = rvsd::hugepage_alloc::HugePageAlloc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Direct routing, client to server.
    Dr,
    /// IP-in-IP tunnelling, client to server.
    Tun,
    /// NAT, client to server.
    NatIn,
    /// NAT, server replies to client.
    NatOut,
    /// NAT, both directions (one burst of each per loop).
    Nat,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Dr => "dr",
            Mode::Tun => "tun",
            Mode::NatIn => "nat-in",
            Mode::NatOut => "nat-out",
            Mode::Nat => "nat",
        }
    }
    fn vip(self) -> Ipv4Addr {
        match self {
            Mode::Dr => Ipv4Addr::new(198, 18, 0, 101),
            Mode::Tun => Ipv4Addr::new(198, 18, 0, 102),
            _ => Ipv4Addr::new(198, 18, 0, 100),
        }
    }
    fn nat(self) -> bool {
        matches!(self, Mode::NatIn | Mode::NatOut | Mode::Nat)
    }
    fn client_side(self) -> bool {
        self != Mode::NatOut
    }
    fn reply_side(self) -> bool {
        matches!(self, Mode::NatOut | Mode::Nat)
    }
}

#[derive(Parser, Debug)]
#[command(
    about = "rvsd's worker loop on real DPDK mbufs, in process: Mpps, ns and cycles per packet, new connections/s, loop latency"
)]
struct Args {
    /// Forwarding modes to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "dr,tun,nat-in,nat-out,nat")]
    modes: Vec<Mode>,
    /// Frame sizes on the wire: a byte count (64..=1518) or `imix` (64:594:1518 as 7:4:1).
    #[arg(long, value_delimiter = ',', default_value = "64")]
    sizes: Vec<String>,
    /// Established flows (connections) in total, spread over the workers.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    flows: Vec<u32>,
    /// Worker cores.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    cores: Vec<usize>,
    /// Per cent of client frames that are SYNs of new connections.
    #[arg(long, default_value_t = 0)]
    syn_percent: u32,
    /// Scheduler of the services (ipvsadm's names).
    #[arg(long, default_value = "wlc")]
    scheduler: String,
    /// Real servers per service.
    #[arg(long, default_value_t = 10)]
    reals: u16,
    /// Seconds measured per run (after a quarter of a second of warm-up).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Write the results as section SECTION of this markdown file.
    #[arg(long)]
    write: Option<PathBuf>,
    /// Section name (between `<!-- BEGIN name -->` and `<!-- END name -->`).
    #[arg(long, default_value = "rvs_bench")]
    section: String,
    /// Append each run's figures as a JSON line to this file (for plots).
    #[arg(long)]
    json: Option<PathBuf>,
    /// While measuring, list every worker's connections again and again from the control
    /// thread, as `rvsadm -L -c` does (the loop's latency then shows what listings cost it).
    #[arg(long)]
    listing: bool,
}

const OUT_MAC: Mac = Mac([2, 0, 0, 0, 0, 1]);
const IN_MAC: Mac = Mac([2, 0, 0, 0, 1, 1]);
const ROUTER: Mac = Mac([2, 0, 0, 0, 0, 0xfe]);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
const NAT_PORT: u16 = 8080;
/// Established flows' clients start here; new flows' clients elsewhere.
const CLIENTS: u32 = u32::from_be_bytes([100, 64, 0, 0]);
const NEW_CLIENTS: u32 = u32::from_be_bytes([100, 96, 0, 0]);
/// Loop warm-up before counting starts.
const WARM: Duration = Duration::from_millis(250);

fn rs_addr(i: u16) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 11)) + u32::from(i))
}

fn rs_mac(i: u16) -> Mac {
    Mac([2, 0, 0, 0, 2, i as u8])
}

/// Three services (NAT, DR, TUN) of `reals` real servers each, on a jumbo-frame back end so
/// that IMIX's largest frames still fit once tunnelled.
fn snapshot(scheduler: &str, reals: u16) -> Result<Snapshot> {
    let svc = |id: u16, vip: Ipv4Addr, fwd: Forward, port: u16| Service {
        id,
        protocol: Protocol::Tcp,
        vip,
        port: 80,
        scheduler: scheduler.into(),
        persistence: 0,
        persistence_prefix: 32,
        dests: (0..reals)
            .map(|i| Dest { id: id * reals + i, addr: rs_addr(i), port, weight: 1 + u32::from(i % 3), forward: fwd })
            .collect(),
    };
    let mut neighbours: Vec<_> = (0..reals).map(|i| (rs_addr(i), rs_mac(i))).collect();
    neighbours.push((GATEWAY, ROUTER));
    Snapshot::new(
        vec![
            Interface {
                mac: OUT_MAC,
                addr: Ipv4Addr::new(198, 18, 0, 1),
                prefix_len: 24,
                gateway: Some(GATEWAY),
                mtu: 1500,
            },
            Interface { mac: IN_MAC, addr: Ipv4Addr::new(198, 19, 0, 1), prefix_len: 24, gateway: None, mtu: 9000 },
        ],
        vec![
            svc(0, Mode::Nat.vip(), Forward::Nat, NAT_PORT),
            svc(1, Mode::Dr.vip(), Forward::DirectRoute, 80),
            svc(2, Mode::Tun.vip(), Forward::Tunnel, 80),
        ],
        neighbours,
        Timeouts::default(),
    )
    .map_err(|e| anyhow::anyhow!("bench config: {e}"))
}

/// Wire sizes (with FCS) of a size spec.
fn sizes(spec: &str) -> Result<Vec<usize>> {
    if spec == "imix" {
        // Simple IMIX, 7:4:1, interleaved so every burst carries the mix.
        return Ok(vec![64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 64, 594]);
    }
    let n: usize = spec.parse().with_context(|| format!("--sizes: {spec:?} is not a size or imix"))?;
    ensure!((64..=1518).contains(&n), "--sizes: {n} is outside 64..=1518");
    Ok(vec![n])
}

/// An ACK (TCP, 20-byte headers) frame of `wire` bytes on the wire, from `b`.
fn ack_frame(b: &PacketBuilder, sport: u16, dport: u16, wire: usize) -> Vec<u8> {
    b.tcp(sport, dport, ACK, 2, &vec![0; wire - 4 - 54])
}

#[derive(Debug)]
struct RunSpec {
    mode: Mode,
    size: String,
    flows: u32,
    cores: usize,
}

#[derive(Debug, serde::Serialize)]
struct Figures {
    /// The markdown section the run was written to (groups runs for plots).
    section: String,
    mode: &'static str,
    size: String,
    flows: u32,
    cores: usize,
    syn_percent: u32,
    scheduler: String,
    mpps: f64,
    mpps_per_core: f64,
    gbps: f64,
    /// ns/packet of the median slice (the figures are that slice's) ...
    ns: f64,
    /// ... and of the fastest and slowest slices.
    ns_range: (f64, f64),
    port_ns: f64,
    dataplane_ns: f64,
    cycles: f64,
    new_conns_per_s: f64,
    loop_p50_ns: u64,
    loop_p99_ns: u64,
    loop_p999_ns: u64,
    packets_per_loop: f64,
    conn_entry_bytes: usize,
    table_bytes_per_conn: f64,
    drops: u64,
    /// Whole connection listings (`--listing`) completed during the run, and connections each.
    listings: u32,
    listed_conns: usize,
}

/// Per worker: its pipeline (connections established) and the traffic of its two ports.
struct Prepared {
    pipeline: Pipeline,
    traffic: [Option<Traffic>; 2],
    table_bytes: usize,
}

fn prepare(args: &Args, spec: &RunSpec, snap: &Arc<Snapshot>, w: usize) -> Result<Prepared> {
    let mode = spec.mode;
    let cores = spec.cores as u16;
    let per = spec.flows.div_ceil(spec.cores as u32).max(1);
    let owned = |ip: u32| snap.owner(Ipv4Addr::from(ip), cores) == w as u16;
    let flows = Arc::new(Flows::new(per, CLIENTS.., owned));
    let syn = if mode.client_side() { args.syn_percent } else { 0 };
    // Room for every SYN a run can send at up to 8 M/s per core.
    let new_max = if syn > 0 { (8e6 * (args.seconds + 1.0)) as u32 } else { 0 };
    let new_flows = Arc::new(Flows::new(new_max, NEW_CLIENTS.., owned));
    let cfg = PipelineConfig {
        conn_capacity: (per + new_max) as usize + 1024,
        hash_seed: 0x9E37_79B9_7F4A_7C15 ^ w as u64,
        core: w as u16,
        cores,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::new(cfg, Arc::clone(snap), CLOCK_EPOCH_MS);
    let vip = mode.vip();
    let c = PacketBuilder::new(ROUTER, OUT_MAC, Ipv4Addr::from(CLIENTS), vip);
    let syn_t = FrameTemplate::new(&c.tcp(1024, 80, SYN, 1, b""), 60, true);
    let ack_t = FrameTemplate::new(&c.tcp(1024, 80, ACK, 2, b""), 60, true);
    let dport = if mode.nat() { NAT_PORT } else { 80 };
    let reply = |i: u16| PacketBuilder::new(rs_mac(i), IN_MAC, rs_addr(i), Ipv4Addr::from(CLIENTS));
    let synack: Vec<FrameTemplate> =
        (0..args.reals).map(|i| FrameTemplate::new(&reply(i).tcp(dport, 1024, SYN | ACK, 1, b""), 60, false)).collect();

    // Establish every flow: SYN, (NAT: the server's SYN-ACK), ACK.
    let mut buf = vec![0u8; 64];
    let mut send = |p: &mut Pipeline, t: &FrameTemplate, ip: u32, port: u16, on: u16| -> Verdict {
        t.fill(&mut buf, ip, port);
        p.process(CLOCK_EPOCH_MS, on, &mut VecFrame::new(&buf[..t.len()]))
    };
    for f in 0..flows.len {
        let (ip, port) = flows.flow(f);
        let v = send(&mut p, &syn_t, ip, port, 0);
        ensure!(matches!(v, Verdict::Forward(_)), "setup: SYN of flow {f}: {v:?}");
    }
    let mut flow_set = vec![0u8; if mode.nat() { flows.len as usize } else { 0 }];
    if mode.nat() {
        for (_, conn) in p.connections().iter() {
            let f = flows.index_of(conn.caddr, conn.cport).context("setup: a connection of no flow")?;
            flow_set[f as usize] = (conn.daddr - u32::from(rs_addr(0))) as u8;
        }
    }
    for f in 0..flows.len {
        let (ip, port) = flows.flow(f);
        if mode.nat() {
            let v = send(&mut p, &synack[usize::from(flow_set[f as usize])], ip, port, 1);
            ensure!(v == Verdict::Forward(0), "setup: SYN-ACK of flow {f}: {v:?}");
        }
        let v = send(&mut p, &ack_t, ip, port, 0);
        ensure!(matches!(v, Verdict::Forward(_)), "setup: ACK of flow {f}: {v:?}");
    }
    ensure!(p.connections().len() == flows.len as usize, "setup: {} connections", p.connections().len());

    let wire = sizes(&spec.size)?;
    let client = mode.client_side().then(|| Traffic {
        flows: Arc::clone(&flows),
        flow_set: Arc::new(Vec::new()),
        sets: vec![wire.iter().map(|&n| FrameTemplate::new(&ack_frame(&c, 1024, 80, n), n - 4, true)).collect()],
        syn_percent: syn,
        syn: Some(syn_t.clone()),
        new_flows: Arc::clone(&new_flows),
    });
    let replies = mode.reply_side().then(|| Traffic {
        flows: Arc::clone(&flows),
        flow_set: Arc::new(flow_set),
        sets: (0..args.reals)
            .map(|i| {
                wire.iter().map(|&n| FrameTemplate::new(&ack_frame(&reply(i), dport, 1024, n), n - 4, false)).collect()
            })
            .collect(),
        syn_percent: 0,
        syn: None,
        new_flows: Arc::new(Flows { ips: Vec::new(), len: 0 }),
    });
    let table_bytes = p.connections().memory_bytes();
    Ok(Prepared { pipeline: p, traffic: [client, replies], table_bytes })
}

fn run(args: &Args, eal: &Eal, pool: &Mempool<'_>, lcores: &[u32], spec: &RunSpec) -> Result<Figures> {
    ensure!(
        spec.cores >= 1 && spec.cores <= lcores.len(),
        "--cores {}: EAL has {} worker lcores",
        spec.cores,
        lcores.len()
    );
    ensure!(!(args.syn_percent > 0 && spec.mode == Mode::NatOut), "--syn-percent needs a mode with client traffic");
    let snap = Arc::new(snapshot(&args.scheduler, args.reals)?);
    let mut prepared = Vec::new();
    for w in 0..spec.cores {
        prepared.push(prepare(args, spec, &snap, w)?);
    }
    let table_bytes: usize = prepared.iter().map(|p| p.table_bytes).sum();
    let capacity: usize = prepared.iter().map(|p| p.pipeline.connections().capacity()).sum();
    let shared = Shared::new(spec.cores, rvsd::dataplane::RING_SIZE, Default::default(), Arc::clone(&snap));
    let identities = vec![
        PortIdentity { mac: OUT_MAC, addr: Ipv4Addr::new(198, 18, 0, 1) },
        PortIdentity { mac: IN_MAC, addr: Ipv4Addr::new(198, 19, 0, 1) },
    ];
    let hz = tsc_hz().max(1);
    let measure_from = rdtsc() + (WARM.as_secs_f64() * hz as f64) as u64;
    let slice_cycles = (args.seconds * hz as f64 / SLICES as f64) as u64;
    let outs: Vec<_> = (0..spec.cores).map(|_| Arc::new(Mutex::new(Vec::<QueueStats>::new()))).collect();
    let mut listed = (0u32, 0usize);
    let (launched, results) = eal.scope(|s| -> Result<()> {
        for (w, prep) in prepared.into_iter().enumerate() {
            let Prepared { pipeline, traffic: [client, replies], .. } = prep;
            let times_reply_side = client.is_none();
            let queues = vec![
                ReplayQueue::new(pool, client, measure_from, slice_cycles, !times_reply_side, Arc::clone(&outs[w])),
                ReplayQueue::new(pool, replies, measure_from, slice_cycles, times_reply_side, Arc::clone(&outs[w])),
            ];
            let worker = Worker {
                index: w,
                queues,
                exceptions: vec![None, None],
                pipeline,
                pool,
                shared: &shared,
                ports: identities.clone(),
                busy_poll: true,
            };
            if let Err(e) = s.launch(lcores[w], move || worker.run()) {
                shared.stop.store(true, Ordering::SeqCst);
                bail!("launch worker {w}: {e}");
            }
        }
        let deadline = Instant::now() + WARM + Duration::from_secs_f64(args.seconds);
        while args.listing && Instant::now() < deadline {
            match shared.listing.collect() {
                Ok(list) => {
                    listed = (listed.0 + 1, list.len());
                }
                Err(e) => {
                    shared.stop.store(true, Ordering::SeqCst);
                    bail!("listing: {e}");
                }
            }
        }
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        shared.stop.store(true, Ordering::SeqCst);
        Ok(())
    });
    launched?;
    ensure!(results.iter().all(|&(_, rc)| rc == 0), "a worker failed: {results:?}");

    let (mut mpps, mut cycles_sum, mut port_sum, mut syn_rate, mut bytes) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut rx_all, mut loops) = (0u64, 0u64);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 1 << 40, 3)?;
    let wire = sizes(&spec.size)?;
    let avg_wire = wire.iter().sum::<usize>() as f64 / wire.len() as f64;
    let (mut ns_lo, mut ns_hi) = (f64::MAX, 0.0f64);
    for (w, out) in outs.iter().enumerate() {
        let qs = out.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let rx: u64 = qs.iter().flat_map(|q| &q.slices).map(|s| s.rx).sum();
        let tx: u64 = qs.iter().flat_map(|q| &q.slices).map(|s| s.tx).sum();
        ensure!(rx > 0, "worker {w} measured nothing");
        // The loop may have sent a burst more or less than it received inside the window.
        ensure!(tx + 2 * 64 >= rx && tx <= rx + 2 * 64, "worker {w}: received {rx}, sent {tx}");
        // This worker's slices (both queues summed), then its median slice by cycles/packet:
        // host noise on a shared VM comes in bursts that a median steps over.
        let mut slices: Vec<(f64, Slice, u64)> = (0..SLICES)
            .filter_map(|k| {
                let mut sum = Slice::default();
                let mut window = 0;
                for q in qs.iter() {
                    let s = q.slices[k];
                    sum.rx += s.rx;
                    sum.syns += s.syns;
                    sum.port_cycles += s.port_cycles;
                    window = window.max(s.last_tsc.saturating_sub(s.first_tsc));
                }
                (sum.rx > 0 && window > 0).then(|| (window as f64 / sum.rx as f64, sum, window))
            })
            .collect();
        ensure!(!slices.is_empty(), "worker {w} measured nothing");
        slices.sort_by(|a, b| a.0.total_cmp(&b.0));
        ns_lo = ns_lo.min(slices[0].0);
        ns_hi = ns_hi.max(slices[slices.len() - 1].0);
        let (per, med, window) = slices[slices.len() / 2];
        let secs = window as f64 / hz as f64;
        mpps += med.rx as f64 / secs / 1e6;
        cycles_sum += per;
        port_sum += med.port_cycles as f64 / med.rx as f64;
        syn_rate += med.syns as f64 / secs;
        bytes += med.rx as f64 * avg_wire * 8.0 / secs;
        for h in qs.iter().filter_map(|q| q.loop_cycles.as_ref()) {
            loops += h.len();
            hist.add(h)?;
        }
        rx_all += rx;
    }
    let drops: u64 = shared.reports.iter().map(|r| r.lock().map(|g| g.counters.total_drops()).unwrap_or(0)).sum();
    let cores = spec.cores as f64;
    let cycles = cycles_sum / cores;
    let ns_of = |c: f64| c * 1e9 / hz as f64;
    let q = |x: f64| (ns_of(hist.value_at_quantile(x) as f64)) as u64;
    Ok(Figures {
        section: args.section.clone(),
        mode: spec.mode.name(),
        size: spec.size.clone(),
        flows: spec.flows,
        cores: spec.cores,
        syn_percent: args.syn_percent,
        scheduler: args.scheduler.clone(),
        mpps,
        mpps_per_core: mpps / cores,
        gbps: bytes / 1e9,
        ns: ns_of(cycles),
        ns_range: (ns_of(ns_lo), ns_of(ns_hi)),
        port_ns: ns_of(port_sum / cores),
        dataplane_ns: ns_of(cycles - port_sum / cores),
        cycles,
        new_conns_per_s: syn_rate,
        loop_p50_ns: q(0.5),
        loop_p99_ns: q(0.99),
        loop_p999_ns: q(0.999),
        packets_per_loop: rx_all as f64 / loops.max(1) as f64 / cores,
        conn_entry_bytes: std::mem::size_of::<Conn>(),
        table_bytes_per_conn: table_bytes as f64 / capacity as f64,
        drops,
        listings: listed.0,
        listed_conns: listed.1,
    })
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
    // Main lcore 0 (sleeps) on CPU 0; worker i on CPU (i + 1) mod CPUs: one worker gets a CPU of
    // its own, two share the machine with the sleeping main thread.
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let map: Vec<String> = std::iter::once("0@0".to_owned())
        .chain((0..max_cores).map(|i| format!("{}@{}", i + 1, (i + 1) % cpus)))
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
                    let f = run(&args, &eal, &pool, &lcores, &spec)
                        .with_context(|| format!("{} {} B, {flows} flows, {cores} cores", mode.name(), size))?;
                    println!(
                        "{:<8} {:>5} {:>9} flows {} core(s): {:>6.2} Mpps ({:.2}/core, {:.2} Gb/s)  {:>5.1} ns/packet ({:.1} dataplane + {:.1} port)  {:>4.0} cycles  {:.2} M new conn/s  loop p50 {} p99 {} p99.9 {} ns  {} B/conn entry, {:.1} B/conn table  drops {}",
                        f.mode, f.size, f.flows, f.cores, f.mpps, f.mpps_per_core, f.gbps, f.ns, f.dataplane_ns,
                        f.port_ns, f.cycles, f.new_conns_per_s / 1e6, f.loop_p50_ns, f.loop_p99_ns, f.loop_p999_ns,
                        f.conn_entry_bytes, f.table_bytes_per_conn, f.drops
                    );
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
    if let Some(path) = &args.write {
        let mut doc = std::fs::read_to_string(path).unwrap_or_default();
        rvs_tools::replace_section(&mut doc, &args.section, &section(&args, &machine, &rows));
        std::fs::write(path, doc).with_context(|| format!("write {}", path.display()))?;
        println!("updated {} ({})", path.display(), args.section);
    }
    Ok(())
}

/// The markdown section for `rows`, with the command that produced it.
fn section(args: &Args, machine: &str, rows: &[Figures]) -> String {
    let mut s = format!("<!-- BEGIN {} -->\n", args.section);
    let _ = writeln!(
        s,
        "{}",
        rvs_tools::generated_by(
            &format!("rvs-bench {}", rvs_tools::command_line(&["--write", "--json", "--section"])),
            machine
        )
    );
    s += "| mode | frame | flows | cores | Mpps (total) | Mpps/core | ns/packet (slices' range) | of which dataplane / port | cycles/packet | new conn/s | loop p50 / p99 / p99.9 (packets/loop) | bytes/conn (entry, table) | drops |\n";
    s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for f in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.1} ({:.0}-{:.0}) | {:.1} / {:.1} | {:.0} | {} | {} / {} / {} ns ({:.0}) | {}, {:.1} | {} |",
            f.mode,
            if f.size == "imix" { "IMIX".to_owned() } else { format!("{} B", f.size) },
            f.flows,
            f.cores,
            f.mpps,
            f.mpps_per_core,
            f.ns,
            f.ns_range.0,
            f.ns_range.1,
            f.dataplane_ns,
            f.port_ns,
            f.cycles,
            if f.new_conns_per_s > 0.0 { format!("{:.2} M", f.new_conns_per_s / 1e6) } else { "-".into() },
            f.loop_p50_ns,
            f.loop_p99_ns,
            f.loop_p999_ns,
            f.packets_per_loop,
            f.conn_entry_bytes,
            f.table_bytes_per_conn,
            f.drops
        );
    }
    if rows.iter().any(|f| f.listings > 0) {
        for f in rows.iter().filter(|f| f.listings > 0) {
            let _ = writeln!(
                s,
                "\n{} {} flows: {} whole `-L -c` listings of {} connections ran on the control thread during the run.",
                f.mode, f.flows, f.listings, f.listed_conns
            );
        }
    }
    let _ = writeln!(s, "<!-- END {} -->", args.section);
    s
}
