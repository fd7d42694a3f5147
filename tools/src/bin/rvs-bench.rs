//! rvs-bench: the dataplane's cost per packet on real DPDK mbufs, in process.
//!
//! EAL runs without hugepages; a pool of real mbufs feeds `Pipeline::process` exactly as the
//! worker loop does: each burst of 32 is allocated from the pool (as a PMD refills its rx ring),
//! filled with 64-byte frames of established flows, processed, and freed (as a PMD frees sent
//! mbufs). A baseline loop does the same without `process`, so the dataplane's own share is
//! reported apart from the mbuf handling. Prints Mpps, ns and TSC cycles per packet, and
//! percentiles of the per-burst time (hdrhistogram).

use anyhow::{ensure, Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use rvs_core::service::{Dest, Forward, Interface, Protocol, Service, Timeouts};
use rvs_core::wire::build::PacketBuilder;
use rvs_core::wire::tcp::flags::{ACK, SYN};
use rvs_core::wire::Mac;
use rvs_core::{Pipeline, PipelineConfig, Snapshot, VecFrame, Verdict};
use rvsd::port::dpdk::{rdtsc, tsc_hz, Eal, Mbuf, Mempool};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Per-packet cost of rvs's dataplane on real DPDK mbufs (in process)")]
struct Args {
    /// Modes to run: dr, tun, nat-in, nat-out.
    #[arg(long, value_delimiter = ',', default_value = "dr,tun,nat-in,nat-out")]
    modes: Vec<String>,
    /// Established flows cycled through.
    #[arg(long, default_value_t = 1024)]
    flows: u16,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Also write the results as the `rvs_bench` section of this markdown file.
    #[arg(long)]
    write: Option<std::path::PathBuf>,
}

const BURST: usize = 32;
const OUT: Mac = Mac([2, 0, 0, 0, 0, 1]);
const IN: Mac = Mac([2, 0, 0, 0, 1, 1]);
const ROUTER: Mac = Mac([2, 0, 0, 0, 0, 0xfe]);
const RS_MAC: Mac = Mac([2, 0, 0, 0, 2, 11]);
const CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const RS: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

fn snapshot() -> Snapshot {
    let svc = |id: u16, vip: [u8; 4], fwd: Forward, port: u16| Service {
        id,
        protocol: Protocol::Tcp,
        vip: Ipv4Addr::from(vip),
        port: 80,
        scheduler: "wlc".into(),
        persistence: 0,
        persistence_prefix: 32,
        dests: vec![Dest { id, addr: RS, port, weight: 1, forward: fwd }],
    };
    Snapshot::new(
        vec![
            Interface {
                mac: OUT,
                addr: Ipv4Addr::new(198, 18, 0, 1),
                prefix_len: 24,
                gateway: Some(Ipv4Addr::new(198, 18, 0, 254)),
                mtu: 1500,
            },
            Interface { mac: IN, addr: Ipv4Addr::new(198, 19, 0, 1), prefix_len: 24, gateway: None, mtu: 1500 },
        ],
        vec![
            svc(0, [198, 18, 0, 100], Forward::Nat, 8080),
            svc(1, [198, 18, 0, 101], Forward::DirectRoute, 80),
            svc(2, [198, 18, 0, 102], Forward::Tunnel, 80),
        ],
        vec![(Ipv4Addr::new(198, 18, 0, 254), ROUTER), (RS, RS_MAC)],
        Timeouts::default(),
    )
    .expect("bench config")
}

/// Frames to replay: (arrival port, bytes).
type Frames = Vec<(u16, Vec<u8>)>;

/// A pipeline with `flows` established flows of `mode`, and one 64-byte frame per flow.
fn setup(mode: &str, flows: u16) -> Result<(Pipeline, Frames)> {
    let mut p = Pipeline::new(
        PipelineConfig { conn_capacity: 1 << 16, ..PipelineConfig::default() },
        Arc::new(snapshot()),
        1_000_000,
    );
    let vip = match mode {
        "nat-in" | "nat-out" => Ipv4Addr::new(198, 18, 0, 100),
        "dr" => Ipv4Addr::new(198, 18, 0, 101),
        "tun" => Ipv4Addr::new(198, 18, 0, 102),
        m => anyhow::bail!("--modes: unknown mode {m:?} (dr, tun, nat-in, nat-out)"),
    };
    let c = PacketBuilder::new(ROUTER, OUT, CLIENT, vip);
    let r = PacketBuilder::new(RS_MAC, IN, RS, CLIENT);
    let mut frames = Vec::new();
    for i in 0..flows {
        let port = 10_000 + i;
        let mut f = VecFrame::new(&c.tcp(port, 80, SYN, 1, b""));
        ensure!(matches!(p.process(1_000_000, 0, &mut f), Verdict::Forward(_)), "setup SYN not forwarded");
        if mode.starts_with("nat") {
            let mut f = VecFrame::new(&r.tcp(8080, port, SYN | ACK, 1, b""));
            ensure!(p.process(1_000_000, 1, &mut f) == Verdict::Forward(0), "setup reply not forwarded");
        }
        // 14 + 20 + 20 + 6 = 60 bytes, 64 on the wire with the FCS.
        frames.push(if mode == "nat-out" {
            (1, r.tcp(8080, port, ACK, 2, &[0; 6]))
        } else {
            (0, c.tcp(port, 80, ACK, 2, &[0; 6]))
        });
    }
    Ok((p, frames))
}

struct Figures {
    mpps: f64,
    ns: f64,
    cycles: f64,
    p50_ns: u64,
    p99_ns: u64,
    p999_ns: u64,
}

/// Runs bursts for `secs`; `process` decides whether the pipeline runs or only the mbuf work.
fn measure(
    pool: &Mempool<'_>,
    p: &mut Pipeline,
    frames: &[(u16, Vec<u8>)],
    secs: f64,
    process: bool,
) -> Result<Figures> {
    let hz = tsc_hz().max(1);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3)?;
    let mut burst: Vec<Mbuf<'_>> = Vec::with_capacity(BURST);
    let (mut next, mut packets) = (0usize, 0u64);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let t0 = rdtsc();
    let mut bursts = 0u64;
    while bursts & 255 != 0 || Instant::now() < end {
        let b0 = rdtsc();
        for _ in 0..BURST {
            let (_, bytes) = &frames[next];
            let mut m = pool.alloc().context("pool empty")?;
            m.append(bytes.len()).context("tailroom")?.copy_from_slice(bytes);
            burst.push(m);
            next = (next + 1) % frames.len();
        }
        if process {
            for (k, m) in burst.iter_mut().enumerate() {
                let port = frames[(next + frames.len() - BURST + k) % frames.len()].0;
                std::hint::black_box(p.process(1_000_000, port, m));
            }
        }
        burst.clear(); // frees the mbufs, as a PMD does after tx
        hist.saturating_record(((rdtsc() - b0) as u128 * 1_000_000_000 / u128::from(hz)) as u64);
        packets += BURST as u64;
        bursts += 1;
    }
    let cycles = (rdtsc() - t0) as f64;
    let ns = cycles * 1e9 / hz as f64 / packets as f64;
    Ok(Figures {
        mpps: 1e3 / ns,
        ns,
        cycles: cycles / packets as f64,
        p50_ns: hist.value_at_quantile(0.5),
        p99_ns: hist.value_at_quantile(0.99),
        p999_ns: hist.value_at_quantile(0.999),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let prefix = format!("rvs-bench-{}", std::process::id());
    let eal = Eal::init(&[
        "--no-huge",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "-m",
        "256",
        "-l",
        "0",
        "--log-level",
        "lib.eal:error",
        "--file-prefix",
        &prefix,
    ])
    .context("EAL init")?;
    let pool = Mempool::new(&eal, "bench_pool", 4095, 256, 2048 + 128).context("mbuf pool")?;
    let hz = tsc_hz();
    println!(
        "rvs-bench: TSC {:.2} GHz, {} flows, bursts of {BURST}, 64-byte frames, real mbufs",
        hz as f64 / 1e9,
        args.flows
    );
    let mut md = String::from("<!-- BEGIN rvs_bench -->\n");
    md += &format!("Generated by `tools/bench.sh` ({} flows, {} s per mode).\n\n", args.flows, args.seconds);
    md += "| mode | Mpps/core | ns/packet | of which dataplane | of which mbuf alloc/fill/free | cycles/packet | burst p50 / p99 / p99.9 |\n";
    md += "|---|---:|---:|---:|---:|---:|---:|\n";
    for mode in &args.modes {
        let (mut p, frames) = setup(mode, args.flows)?;
        let base = measure(&pool, &mut p, &frames, args.seconds / 2.0, false)?;
        let f = measure(&pool, &mut p, &frames, args.seconds, true)?;
        ensure!(p.counters().total_drops() == 0, "{mode}: the bench dropped packets: {:?}", p.counters());
        let own = (f.ns - base.ns).max(0.0);
        md += &format!(
            "| {mode} | {:.2} | {:.1} | {own:.1} | {:.1} | {:.0} | {} / {} / {} ns |\n",
            f.mpps, f.ns, base.ns, f.cycles, f.p50_ns, f.p99_ns, f.p999_ns
        );
        {
            println!(
                "{mode:<8} {:>6.2} Mpps  {:>6.1} ns/packet ({own:.1} dataplane + {:.1} mbuf alloc/fill/free)  {:>5.0} cycles/packet  burst p50 {} ns p99 {} ns p99.9 {} ns",
                f.mpps, f.ns, base.ns, f.cycles, f.p50_ns, f.p99_ns, f.p999_ns
            );
        }
    }
    md += "<!-- END rvs_bench -->\n";
    if let Some(path) = &args.write {
        let mut doc = std::fs::read_to_string(path).unwrap_or_default();
        rvs_tools::replace_section(&mut doc, "rvs_bench", &md);
        std::fs::write(path, doc).with_context(|| format!("write {}", path.display()))?;
        println!("updated {}", path.display());
    }
    Ok(())
}
