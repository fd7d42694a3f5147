//! One run: the workers launched on their lcores over replay ports, the control thread (listing
//! connections, with `--listing`), and the figures taken from the median slice of each worker.

use super::*;

#[derive(Debug, serde::Serialize)]
pub(crate) struct Figures {
    /// The markdown section the run was written to (groups runs for plots).
    pub(crate) section: String,
    pub(crate) mode: &'static str,
    pub(crate) size: String,
    pub(crate) flows: u32,
    pub(crate) cores: usize,
    pub(crate) syn_percent: u32,
    pub(crate) scheduler: String,
    pub(crate) mpps: f64,
    pub(crate) mpps_per_core: f64,
    pub(crate) gbps: f64,
    /// ns/packet of the median slice (the figures are that slice's) ...
    pub(crate) ns: f64,
    /// ... and of the fastest and slowest slices.
    pub(crate) ns_range: (f64, f64),
    pub(crate) port_ns: f64,
    pub(crate) dataplane_ns: f64,
    pub(crate) cycles: f64,
    pub(crate) new_conns_per_s: f64,
    pub(crate) loop_p50_ns: u64,
    pub(crate) loop_p99_ns: u64,
    pub(crate) loop_p999_ns: u64,
    pub(crate) packets_per_loop: f64,
    pub(crate) conn_entry_bytes: usize,
    pub(crate) table_bytes_per_conn: f64,
    pub(crate) drops: u64,
    /// Packets of established flows per second (all but the SYNs of new flows).
    pub(crate) established_mpps: f64,
    /// Overload defences during the run: embryonic entries evicted, SYNs forwarded without an
    /// entry, SYNs refused (table full of established entries).
    pub(crate) evicted: u64,
    pub(crate) stateless_forwarded: u64,
    pub(crate) refused: u64,
    /// Whole connection listings (`--listing`) completed during the run, and connections each.
    pub(crate) listings: u32,
    pub(crate) listed_conns: usize,
}

pub(crate) fn run(args: &Args, eal: &Eal, pool: &Mempool<'_>, lcores: &[u32], spec: &RunSpec) -> Result<Figures> {
    ensure!(
        spec.cores >= 1 && spec.cores <= lcores.len(),
        "--cores {}: EAL has {} worker lcores",
        spec.cores,
        lcores.len()
    );
    ensure!(args.syn_percent == 0 || spec.mode.client_side(), "--syn-percent needs a mode with client traffic");
    let snap = Arc::new(with_deny_list(snapshot(&args.scheduler, args.reals)?, args.deny_prefixes, args.blackhole));
    let mut prepared = Vec::new();
    for w in 0..spec.cores {
        prepared.push(prepare(args, spec, &snap, w)?);
    }
    let table_bytes: usize = prepared.iter().map(|p| p.table_bytes).sum();
    let capacity: usize = prepared
        .iter()
        .map(
            |p| if spec.mode.v6() { p.pipeline.connections6().capacity() } else { p.pipeline.connections().capacity() },
        )
        .sum();
    let shared = Shared::new(spec.cores, rvsd::dataplane::RING_SIZE, Default::default(), Arc::clone(&snap));
    let identities = vec![
        PortIdentity { mac: OUT_MAC, addr: Ipv4Addr::new(198, 18, 0, 1), addr6: None },
        PortIdentity { mac: IN_MAC, addr: Ipv4Addr::new(198, 19, 0, 1), addr6: None },
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
    // IPv6's TCP frames are at least 78 bytes on the wire (`ack_frame`).
    let wire: Vec<usize> = sizes(&spec.size)?.into_iter().map(|n| if spec.mode.v6() { n.max(78) } else { n }).collect();
    let avg_wire = wire.iter().sum::<usize>() as f64 / wire.len() as f64;
    let (mut ns_lo, mut ns_hi) = (f64::MAX, 0.0f64);
    for (w, out) in outs.iter().enumerate() {
        let qs = out.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let rx: u64 = qs.iter().flat_map(|q| &q.slices).map(|s| s.rx).sum();
        let tx: u64 = qs.iter().flat_map(|q| &q.slices).map(|s| s.tx).sum();
        ensure!(rx > 0, "worker {w} measured nothing");
        // The loop may have sent a burst more or less than it received inside the window; a
        // flood's refused SYNs are dropped, not sent.
        let refused = if args.flood { rx - tx.min(rx) } else { 0 };
        ensure!(tx + refused + 2 * 64 >= rx && tx <= rx + 2 * 64, "worker {w}: received {rx}, sent {tx}");
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
    let counter = |f: fn(&rvs_core::Counters) -> u64| -> u64 {
        shared.reports.iter().map(|r| r.lock().map(|g| f(&g.counters)).unwrap_or(0)).sum()
    };
    let established_share = f64::from(100 - if spec.mode.client_side() { args.syn_percent } else { 0 }) / 100.0;
    let cores = spec.cores as f64;
    let cycles = cycles_sum / cores;
    let ns_of = |c: f64| c * 1e9 / hz as f64;
    let q = |x: f64| (ns_of(hist.value_at_quantile(x) as f64)) as u64;
    Ok(Figures {
        section: args.section.clone(),
        mode: spec.mode.name(),
        size: if spec.mode.v6() && spec.size == "64" { "78".into() } else { spec.size.clone() },
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
        conn_entry_bytes: if spec.mode.v6() { std::mem::size_of::<Conn<u128>>() } else { std::mem::size_of::<Conn>() },
        table_bytes_per_conn: table_bytes as f64 / capacity as f64,
        drops,
        established_mpps: mpps * established_share,
        evicted: counter(|c| c.evicted),
        stateless_forwarded: counter(|c| c.stateless_forwarded),
        refused: counter(|c| c.drops(rvs_core::DropReason::TableFull)),
        listings: listed.0,
        listed_conns: listed.1,
    })
}
