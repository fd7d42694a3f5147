//! Brings the dataplane up from a [`Config`]: EAL (with one lcore per worker), the mbuf pool,
//! the ports (one rx/tx queue pair per worker; `qpairs=N` on af_packet), the shared state, and
//! one worker per lcore launched the DPDK way. The calling thread (EAL's main lcore) runs the
//! control loop: it learns and ages neighbours, asks for refreshes, and stops everything on
//! SIGINT/SIGTERM. Returns the final statistics once every worker has stopped and every DPDK
//! resource is released.
//!
//! Cross-core handoff: a NAT reply (or any packet of a steered connection) that lands on a core
//! that does not own the connection is pushed, as is, into the owner's bounded lock-free ring
//! (crossbeam `ArrayQueue`); the owner drains its ring every loop. A full ring drops the frame
//! and counts it (`ring_full`): no core ever waits for another.

use crate::config::{Config, HaMode};
use crate::control::live_config::LiveConfig;
use crate::control::server::{self, Control, Dataplane, Freshness};
use crate::port::dpdk::{Eal, Mempool, Port, PortConfig, PortStats, Queue};
use crate::stats::{self, Baseline, Report};
use crate::worker::{PortIdentity, Shared, Worker, WorkerReport};
use anyhow::{anyhow, bail, Context, Result};
use rvs_core::neigh::NeighbourTable;
use rvs_core::neigh_cache::{Admitted, NeighbourCache};
use rvs_core::pipeline::PipelineConfig;
use rvs_core::Pipeline;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames one worker's handoff ring holds.
pub const RING_SIZE: usize = 4096;
/// Seconds after which a neighbour not confirmed again is forgotten.
pub const NEIGH_MAX_AGE: u32 = 300;
/// Age at which a neighbour is refreshed.
pub const NEIGH_REFRESH_AGE: u32 = 240;

/// The EAL arguments for a configuration: the user's, plus (unless given) the lcore map — main
/// lcore 0 on CPU 0 for the control thread, worker i on lcore i+1 pinned to its configured CPU
/// (a CPU may be shared, as on a small lab VM) — a unique file prefix, and `--no-shconf` (rvsd
/// runs no secondary processes).
pub fn eal_args(cfg: &Config) -> Vec<String> {
    let mut a = cfg.eal_args.clone();
    let has = |a: &[String], k: &str| a.iter().any(|x| x == k || x.starts_with(&format!("{k}=")));
    if !has(&a, "-l") && !has(&a, "--lcores") && !has(&a, "-c") {
        let map: Vec<String> = std::iter::once("0@0".to_owned())
            .chain(cfg.lcores.iter().enumerate().map(|(i, cpu)| format!("{}@{cpu}", i + 1)))
            .collect();
        a.push("--lcores".into());
        a.push(map.join(","));
    }
    if !has(&a, "--file-prefix") {
        a.push("--file-prefix".into());
        a.push(format!("rvsd-{}", std::process::id()));
    }
    if !has(&a, "--no-shconf") {
        a.push("--no-shconf".into());
    }
    a
}

/// The device string to attach: af_packet gets one queue pair per worker unless it says.
pub fn device_string(device: &str, workers: usize) -> String {
    if device.starts_with("net_af_packet") && !device.contains("qpairs=") {
        format!("{device},qpairs={workers}")
    } else {
        device.to_owned()
    }
}

/// Runs the dataplane until `stop` is set (or a signal arrives); calls `ready` once everything is
/// up. Returns the final report.
pub fn run(cfg: &Config, stop: Arc<AtomicBool>, hup: Arc<AtomicBool>, ready: impl FnOnce(&Report)) -> Result<Report> {
    let workers = cfg.lcores.len();
    let eal = Eal::init(&eal_args(cfg)).context("EAL init")?;
    let lcores = eal.worker_lcores();
    if lcores.len() < workers {
        return Err(anyhow!("EAL gave {} worker lcores, the config asks for {workers}", lcores.len()));
    }
    let report = {
        let pool = Mempool::new(&eal, "rvsd_pool", cfg.mbufs, 256, 2048 + 128).context("mbuf pool")?;
        let ports = start_ports(&eal, cfg, &pool, workers)?;
        let macs: Vec<_> = ports.iter().map(|p| rvs_core::wire::Mac(p.mac())).collect();
        let taps = start_exception_devices(&eal, cfg, &macs, &pool, workers)?;
        let snap = Arc::new(cfg.snapshot(&macs).map_err(|e| anyhow!("{e}"))?);
        let neighbours = Arc::new(NeighbourTable::default());
        let started = Instant::now();
        let shared = Shared::new(workers, RING_SIZE, Arc::clone(&neighbours), Arc::clone(&snap));
        warn_unreachable_checks(cfg);
        let metrics = cfg
            .metrics
            .map(|a| tiny_http::Server::http(a).map_err(|e| anyhow!("metrics endpoint {a}: {e}")))
            .transpose()?;
        let listener = server::bind(&cfg.socket).with_context(|| format!("control socket {}", cfg.socket.display()))?;
        let workers_side = Workers { cfg, ports: &ports, shared: &shared, started };
        let ctl = Control {
            state: Mutex::new(LiveConfig::from_config(cfg, macs.clone())),
            dataplane: &workers_side,
            baseline: Mutex::new(Baseline::default()),
            t0: Instant::now(),
            rates: Mutex::new(Default::default()),
            config_path: cfg.file.clone(),
        };
        let identities: Vec<PortIdentity> = cfg
            .ports
            .iter()
            .zip(&macs)
            .map(|(p, m)| PortIdentity { mac: *m, addr: p.addr, addr6: p.addr6.map(|a| a.0) })
            .collect();

        let (per_worker, exc_per_worker) = queues_per_worker(&ports, &taps, workers)?;

        // The workers stop when the scope's closure ends, however it ends (the scope then waits
        // for them).
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let cookie_secret = cookie_secret()?;
        let (control, results) = eal.scope(|s| -> Result<()> {
            let _stop_workers = StopOnDrop(&shared.stop);
            for (w, (queues, exceptions)) in per_worker.into_iter().zip(exc_per_worker).enumerate() {
                let pcfg = PipelineConfig {
                    conn_capacity: cfg.conn_capacity,
                    conn6_capacity: cfg.conn6_capacity,
                    hash_seed: seed(w),
                    local_port_seed: seed(w).rotate_left(31) | 1,
                    core: w as u16,
                    cores: workers as u16,
                    cookie_secret,
                    ..PipelineConfig::default()
                };
                let (snap, neighbours) = (Arc::clone(&snap), Arc::clone(&neighbours));
                let (shared, pool, ports, busy_poll) = (&shared, &pool, identities.clone(), cfg.busy_poll);
                // The pipeline is built on the worker's own lcore: its tables are allocated from
                // that thread's arena and first touched there (so placed on its NUMA node), and
                // no other worker's allocation shares a cache line with them.
                let run = move || {
                    let mut pipeline =
                        Pipeline::with_neighbours(pcfg, snap, neighbours, rvs_core::pipeline::CLOCK_EPOCH_MS);
                    pipeline.share_thresholds(Arc::clone(&shared.thresholds));
                    pipeline.share_neighbours6(Arc::clone(&shared.neighbours6));
                    Worker { index: w, queues, exceptions, pipeline, pool, shared, ports, busy_poll }.run()
                };
                s.launch(lcores[w], run).with_context(|| format!("launch worker {w}"))?;
            }
            // Ready once every worker's loop runs (each builds its tables first).
            if !crate::supervision::wait_running(&shared.heartbeats, Duration::from_secs(60)) {
                bail!("a worker did not start within 60 s");
            }
            tracing::info!(workers, services = snap.services().len(), "rvsd ready");
            ready(&ctl.fresh_report(&Baseline::default()).map_err(|e| anyhow!(e))?.1);
            tracing::info!(socket = %cfg.socket.display(), "control socket listening");
            serve_control(&ctl, &listener, metrics.as_ref(), &shared, &stop, &hup, workers, cfg);
            Ok(())
        });
        control?;
        for (lcore, rc) in results {
            if rc != 0 {
                tracing::warn!(lcore, rc, "worker ended with an error");
            }
        }
        // Leaving this block drops, in order: the shared state (frames still in its rings go
        // back to the pool), the ports (stopped and closed), then the pool.
        let _ = std::fs::remove_file(&cfg.socket);
        let st = ctl.state.lock().map_err(|_| anyhow!("poisoned"))?;
        let base = ctl.baseline.lock().map_err(|_| anyhow!("poisoned"))?;
        build_report(cfg, &st, &ports, &shared, started, &base, Freshness::Wait)
    };
    drop(eal);
    Ok(report)
}

/// The control plane until `stop`: the socket's clients, health checks, the rate estimator,
/// SIGHUP reloads and /metrics on threads of their own; the neighbour loop on this one (EAL's
/// main lcore).
#[allow(clippy::too_many_arguments)] // the control plane's parts, each borrowed from the start-up scope
fn serve_control(
    ctl: &Control<'_>,
    listener: &std::os::unix::net::UnixListener,
    metrics: Option<&tiny_http::Server>,
    shared: &Shared<'_>,
    stop: &AtomicBool,
    hup: &AtomicBool,
    workers: usize,
    cfg: &Config,
) {
    let taps: Vec<String> = cfg.ports.iter().filter_map(|p| p.exception_iface.clone()).collect();
    std::thread::scope(|ts| {
        ts.spawn(|| server::serve(listener, ctl, shared.thread("control"), stop));
        ts.spawn(|| crate::control::health::run(ctl, shared.thread("health"), stop));
        ts.spawn(|| server::estimate(ctl, stop));
        ts.spawn(|| server::watch_reload(ctl, hup, stop));
        ts.spawn(|| crate::sync_daemon::run(ctl, shared, stop, workers));
        ts.spawn(|| crate::supervision::watchdog(&shared.heartbeats, &shared.threads, shared.started, stop));
        match cfg.ha.mode {
            HaMode::Vrrp => {
                let rescan = Duration::from_millis(cfg.ha.vip_rescan_ms);
                ts.spawn(move || crate::vip_watch::run(ctl, &taps, rescan, shared.thread("vip"), stop));
            }
            HaMode::Ecmp => {
                let grace = Duration::from_secs(u64::from(cfg.ha.announce_grace));
                ts.spawn(move || crate::vip_announce::run(ctl, &cfg.ports, grace, shared.thread("vip"), stop));
            }
            HaMode::Standalone => {}
        }
        if let Some(m) = metrics {
            ts.spawn(|| crate::control::metrics::serve(m, ctl, stop));
        }
        control_loop(shared, stop, workers);
    });
}

/// Start-up step: attaches and starts every configured port, one queue pair per worker.
fn start_ports<'p>(eal: &Eal, cfg: &Config, pool: &'p Mempool<'_>, workers: usize) -> Result<Vec<Port<'p>>> {
    let pcfg = PortConfig { queues: workers as u16, ..PortConfig::default() };
    let mut ports = Vec::new();
    for p in &cfg.ports {
        let dev = device_string(&p.device, workers);
        let id = Port::attach(eal, &dev).with_context(|| format!("port {}: attach {dev}", p.name))?;
        let port = Port::start(eal, id, &PortConfig { mtu: Some(p.mtu), ..pcfg.clone() }, pool)
            .with_context(|| format!("port {}: start", p.name))?;
        tracing::info!(port = %p.name, driver = port.driver(), mac = %rvs_core::wire::Mac(port.mac()), rss = port.rss(), rx_ipv4_checksum = port.rx_ipv4_checksum(), queues = workers, "port up");
        ports.push(port);
    }
    Ok(ports)
}

/// Start-up step: the TAP exception devices of the ports that have one (None for the others).
/// The kernel side carries the port's MAC and address, so that what the kernel sends out
/// through rvsd looks like the director's own traffic.
fn start_exception_devices<'p>(
    eal: &Eal,
    cfg: &Config,
    macs: &[rvs_core::wire::Mac],
    pool: &'p Mempool<'_>,
    workers: usize,
) -> Result<Vec<Option<Port<'p>>>> {
    let pcfg = PortConfig { queues: workers as u16, promiscuous: false, ..PortConfig::default() };
    let mut taps = Vec::new();
    for (k, (p, mac)) in cfg.ports.iter().zip(macs).enumerate() {
        let Some(iface) = &p.exception_iface else {
            taps.push(None);
            continue;
        };
        let dev = format!("net_tap{k},iface={iface},mac={mac}");
        let id = Port::attach(eal, &dev).with_context(|| format!("port {}: exception device {dev}", p.name))?;
        let tap =
            Port::start(eal, id, &pcfg, pool).with_context(|| format!("port {}: start exception device", p.name))?;
        tracing::info!(port = %p.name, iface = %iface, "kernel exception device up");
        give_address(iface, &format!("{}/{}", p.addr, p.prefix_len));
        if let Some((a, len)) = p.addr6 {
            give_address(iface, &format!("{a}/{len}"));
        }
        taps.push(Some(tap));
    }
    Ok(taps)
}

/// Start-up step: says which health checks cannot reach their real server (no exception port on
/// its network, nor a gateway behind one).
fn warn_unreachable_checks(cfg: &Config) {
    for (id, _) in &cfg.checks {
        let checkable = cfg.services.iter().flat_map(|s| &s.dests).find(|d| d.id == *id).is_some_and(|d| {
            cfg.ports.iter().any(|p| p.exception_iface.is_some() && crate::vip_announce::on_port_network(p, d.addr))
                || cfg.ports.iter().any(|p| {
                    p.exception_iface.is_some()
                        && if d.addr.is_ipv4() { p.gateway.is_some() } else { p.gateway6.is_some() }
                })
        });
        if !checkable {
            tracing::warn!(
                real = id,
                "health check cannot reach this real server: no exception port on its network (set exception = true)"
            );
        }
    }
}

/// Per-worker queue lists and their exception queues.
type WorkerQueues<'a, 'p> = (Vec<Vec<Queue<'a, 'p>>>, Vec<Vec<Option<Queue<'a, 'p>>>>);

/// Start-up step: the ports' queue pairs transposed into per-worker lists (worker w gets queue
/// w of every port, and of every exception device).
fn queues_per_worker<'a, 'p>(
    ports: &'a [Port<'p>],
    taps: &'a [Option<Port<'p>>],
    workers: usize,
) -> Result<WorkerQueues<'a, 'p>> {
    let mut per_worker: Vec<Vec<_>> = (0..workers).map(|_| Vec::new()).collect();
    for port in ports {
        let qs = port.take_queues().ok_or_else(|| anyhow!("queues already taken"))?;
        for (w, q) in qs.into_iter().enumerate() {
            per_worker[w].push(q);
        }
    }
    let mut exc_per_worker: Vec<Vec<Option<_>>> = (0..workers).map(|_| Vec::new()).collect();
    for tap in taps {
        match tap {
            Some(t) => {
                let qs = t.take_queues().ok_or_else(|| anyhow!("queues already taken"))?;
                for (w, q) in qs.into_iter().enumerate() {
                    exc_per_worker[w].push(Some(q));
                }
            }
            None => exc_per_worker.iter_mut().for_each(|v| v.push(None)),
        }
    }
    Ok((per_worker, exc_per_worker))
}

/// The SYN proxy's cookie secret: 256 bits from the kernel's random source, the same for every
/// worker (a client's ACK validates wherever it lands).
fn cookie_secret() -> Result<rvs_core::syncookie::CookieSecret> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| anyhow::anyhow!("/dev/urandom: {e}"))?;
    let word = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap_or_default());
    Ok(rvs_core::syncookie::CookieSecret::new([word(0), word(1), word(2), word(3)]))
}

fn seed(w: usize) -> u64 {
    let t =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    t ^ (w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id())
}

/// The control thread's loop (on EAL's main lcore): neighbours in, refreshes out, stop.
/// The neighbour table's single writer. It polls the learned-neighbour ring every millisecond
/// rather than being woken: a wake-up is a futex system call, and a worker (a dataplane core)
/// makes none; the poll costs the control core (EAL's main lcore, which does nothing else this
/// fine-grained) next to nothing, and adds at most 1 ms to learning a neighbour — while packets
/// to an unresolved next hop wait in the worker's hold queue for an ARP round trip anyway.
fn control_loop(shared: &Shared<'_>, stop: &AtomicBool, workers: usize) {
    let t0 = Instant::now();
    let mut last_age = 0u32;
    // The neighbour tables' writer: what gets a place, where each refresh goes out.
    let mut cache4 = NeighbourCache::new(Arc::clone(&shared.neighbours));
    let mut cache6 = NeighbourCache::new(Arc::clone(&shared.neighbours6));
    let mut needed_of: Option<Arc<rvs_core::Snapshot>> = None;
    let mut full_logged = false;
    let mut levels = vec![rvs_core::pipeline::PressureLevel::Normal; workers];
    let beat = shared.thread("neighbours");
    let _alive = beat.running();
    while !stop.load(Ordering::Relaxed) {
        beat.beat();
        let now = t0.elapsed().as_secs() as u32;
        // Each change of a worker's table pressure, once (workers report every 200 ms).
        for (w, seen) in levels.iter_mut().enumerate() {
            let Ok(r) = shared.reports[w].try_lock() else { continue };
            if r.level != *seen {
                tracing::warn!(
                    worker = w,
                    from = seen.name(),
                    to = r.level.name(),
                    conns = r.conns,
                    evicted = r.counters.evicted,
                    refused = r.counters.drops(rvs_core::DropReason::TableFull),
                    stateless = r.counters.stateless_forwarded,
                    "connection table pressure changed"
                );
                *seen = r.level;
            }
        }
        // The configured next hops always find a place (a new configuration may name others).
        let snap = shared.snapshot.load_full();
        if !needed_of.as_ref().is_some_and(|s| Arc::ptr_eq(s, &snap)) {
            cache4.set_needed(snap.family::<u32>().learned_next_hops());
            cache6.set_needed(snap.family::<u128>().learned_next_hops());
            needed_of = Some(snap);
        }
        while let Some(l) = shared.learned.pop() {
            let (known, admitted) = match l.ip {
                std::net::IpAddr::V4(a) => (
                    shared.neighbours.lookup(a),
                    cache4.learn(a, l.mac, l.port, l.answer, now).map(std::net::IpAddr::from),
                ),
                std::net::IpAddr::V6(a) => (
                    shared.neighbours6.lookup(a),
                    cache6.learn(a, l.mac, l.port, l.answer, now).map(std::net::IpAddr::from),
                ),
            };
            match admitted {
                Admitted::Refused | Admitted::Replaced(_) if !full_logged => {
                    full_logged = true;
                    tracing::warn!(ip = %l.ip, "neighbour table full: entries made by solicitations give way (logged once)");
                }
                Admitted::Created | Admitted::Replaced(_) if known != Some(l.mac) && l.answer => {
                    tracing::info!(ip = %l.ip, mac = %l.mac, port = l.port, "neighbour learned");
                }
                _ => {}
            }
        }
        if now != last_age {
            last_age = now;
            let gone = cache4.age(now, NEIGH_MAX_AGE) + cache6.age(now, NEIGH_MAX_AGE);
            if gone > 0 {
                tracing::debug!(gone, "neighbours expired");
            }
            // Ask again (every 10 s) before entries expire; spread the work over the workers.
            let due = cache4
                .refresh_due(now, NEIGH_REFRESH_AGE)
                .into_iter()
                .map(|(a, p)| (std::net::IpAddr::from(a), p))
                .chain(cache6.refresh_due(now, NEIGH_REFRESH_AGE).into_iter().map(|(a, p)| (a.into(), p)));
            for (k, (ip, port)) in due.enumerate() {
                let _ = shared.arp_requests[k % workers].push((port, ip));
            }
        }
        shared.neigh_evicted.store(cache4.evicted + cache6.evicted, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The daemon's dataplane as the control plane sees it: the running workers and their ports.
struct Workers<'a, 'p> {
    cfg: &'a Config,
    ports: &'a [Port<'p>],
    shared: &'a Shared<'p>,
    started: Instant,
}

impl Dataplane for Workers<'_, '_> {
    fn publish(&self, snap: rvs_core::Snapshot) {
        self.shared.publish(snap);
    }

    fn report(&self, config: &LiveConfig, base: &Baseline, fresh: Freshness) -> Report {
        build_report(self.cfg, config, self.ports, self.shared, self.started, base, fresh)
    }

    fn connections(&self) -> Result<Vec<crate::conn_list::ConnRecord>, String> {
        self.shared.listing.collect()
    }

    fn pause_thread(&self, name: &str, ms: u64) -> Result<(), String> {
        let t = self.shared.threads.iter().find(|t| t.name() == name).ok_or_else(|| {
            format!("thread: {name:?} is not one of {}", crate::supervision::SUPERVISED_THREADS.join(", "))
        })?;
        t.pause_until(self.shared.started.elapsed().as_millis() as u64 + ms);
        Ok(())
    }

    fn pause_worker(&self, w: usize, ms: u64) -> Result<(), String> {
        let beat = self.shared.heartbeats.get(w).ok_or_else(|| format!("worker: no worker {w}"))?;
        beat.pause_until(self.shared.started.elapsed().as_millis() as u64 + ms);
        Ok(())
    }
}

fn build_report(
    cfg: &Config,
    st: &LiveConfig,
    ports: &[Port<'_>],
    shared: &Shared<'_>,
    started: Instant,
    base: &Baseline,
    fresh: Freshness,
) -> Report {
    // Ask every worker for a fresh report and wait (bounded) for them: listings are current.
    let asked = shared.report_req.fetch_add(1, Ordering::AcqRel) + 1;
    let deadline = Instant::now() + Duration::from_millis(500);
    while fresh == Freshness::Wait
        && !shared.stop.load(Ordering::Relaxed)
        && Instant::now() < deadline
        && !shared.reports.iter().all(|r| r.lock().map(|g| g.gen >= asked).unwrap_or(true))
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let port_stats: Vec<PortStats> = ports.iter().map(|p| p.stats()).collect();
    let reports: Vec<WorkerReport> =
        shared.reports.iter().map(|r| r.lock().map(|g| g.clone()).unwrap_or_default()).collect();
    let health = |id: u16| st.checks.contains_key(&id).then(|| !st.down.contains(&id));
    let inputs = stats::Inputs {
        ports_conf: &cfg.ports,
        ports: &port_stats,
        workers: &reports,
        neighbours: shared.neighbours.len() + shared.neighbours6.len(),
        neighbours_evicted: shared.neigh_evicted.load(Ordering::Relaxed),
        uptime: started.elapsed(),
        overloaded: &(0..rvs_core::service::MAX_DESTS as u16)
            .map(|id| shared.thresholds.is_overloaded(id))
            .collect::<Vec<_>>(),
    };
    let mut r = stats::Report::build(&inputs, &st.services, &health, base);
    r.snat = crate::control::snat_rules::reports(st, &reports);
    r.access = crate::control::access_lists::reports(st, &reports);
    r.top_clients = crate::control::access_lists::top_clients(st, &reports, 20);
    // SNAT's pools hold ports as local addresses do: they are listed with their rules.
    let pools: Vec<String> = st.snat_pools().map(|a| a.to_string()).collect();
    r.laddrs.retain(|l| !pools.contains(&l.address));
    r.health_transitions = st.health_transitions;
    r.drains_completed = st.drains_completed;
    r.sync = shared.sync_counters.figures();
    r.ha = crate::stats::HaReport {
        mode: st.ha.mode.name().to_owned(),
        sloppy_tcp: st.ha.sloppy_tcp,
        held: st.held.iter().map(|v| v.to_string()).collect(),
        vip_changes: st.vip_changes,
    };
    for (s, conf) in r.services.iter_mut().zip(&st.services) {
        let now = started.elapsed().as_secs();
        for (real, d) in s.reals.iter_mut().zip(&conf.dests) {
            real.last_check = st.last_check.get(&d.id).map(|(at, ok)| (at.elapsed().as_secs(), *ok));
            if real.weight > 0 {
                real.weight = st.weight_in_force(d.id, d.weight);
            }
            real.draining = st.draining.contains_key(&d.id);
            real.drain_deadline_s = st.draining.get(&d.id).and_then(|x| x.deadline).map(|t| t.saturating_sub(now));
            real.slow_start = st.slow_start.get(&d.id).copied().unwrap_or(0);
            real.ramp_left_s = st.ramp_left(d.id, now);
        }
    }
    for (s, conf) in r.services.iter_mut().zip(&st.services) {
        s.held = !st.vrrp() || st.vips_of(conf).iter().any(|v| st.held.contains(v));
    }
    r.sync.insert("out_full".into(), r.io.sync_out_full);
    r
}

/// Gives the kernel side of an exception device the port's address (and brings it up), so the
/// host's own traffic — health checks, ssh — uses the director's address through the DPDK port.
fn give_address(iface: &str, cidr: &str) {
    let run =
        |args: &[&str]| std::process::Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false);
    // An IPv6 address is the port's own, already unique on its link: no duplicate detection.
    let nodad: &[&str] = if cidr.contains(':') { &["nodad"] } else { &[] };
    if !(run(&["link", "set", iface, "up"]) && run(&[&["addr", "replace", cidr, "dev", iface][..], nodad].concat())) {
        tracing::warn!(iface, cidr, "could not set the exception device's address (is iproute2 installed?)");
    }
}
