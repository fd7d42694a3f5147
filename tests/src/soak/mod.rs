//! The soak-and-chaos run: rvs under steady mixed load for a while, faults injected at random
//! times from a seed, and a report of what was lost and why ([`report`]). `tools/soak.sh`
//! runs it for minutes and writes `docs/RELIABILITY.md`; the test suite runs two minutes of it
//! (`tests/tests/soak.rs`).
//!
//! The parts: [`topology`] (the VRRP pair, its services and real servers), [`faults`] (what
//! the injector does), [`report`] (events matched to faults, resources, invariants, failovers);
//! the load is `lab/soak_load.py` in the client's namespace, one JSON object per event.

pub mod faults;
pub mod report;
pub mod topology;

use crate::hold::script;
use anyhow::{Context, Result};
use faults::{inject, unix_now, FaultKind, Rng};
use report::{Findings, ProcessSamples, Resources};
use std::time::{Duration, Instant};
use topology::{SoakLab, ECHO_PORT, HTTP_SERVICES, UDP_PORT, VIP};

/// How to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Seconds of load (faults stop 10 s before its end).
    pub seconds: u64,
    /// The faults' seed.
    pub seed: u64,
    /// Seconds between faults: at least, and at most.
    pub gap: (u64, u64),
    /// Inject faults (false: the load alone, a baseline).
    pub faults: bool,
}

/// Runs the soak; returns its findings and the report's markdown.
pub fn run(opts: &SoakOptions) -> Result<(Findings, String)> {
    let mut s = SoakLab::build().context("building the soak lab")?;
    eprintln!("soak: lab {} ready; seed {}, {} s", s.lab.id(), opts.seed, opts.seconds);
    let cfg = serde_json::json!({
        "seconds": opts.seconds,
        "http_period": 0.05,
        "http_targets": HTTP_SERVICES.iter().map(|(p, _)| format!("{VIP}:{p}/index.html")).collect::<Vec<_>>(),
        "http_sources": s.sources,
        "udp_target": format!("{VIP}:{UDP_PORT}"),
        "echo_target": format!("{VIP}:{ECHO_PORT}"),
        "long_sources": s.long_sources,
        "download": format!("http://{VIP}/big.bin"),
        "sha256": s.download_sha,
    });
    let dir = s.lab.scratch_dir("soak")?;
    let cfg_path = dir.join("load.json");
    std::fs::write(&cfg_path, cfg.to_string())?;
    let t0 = unix_now();
    let started = Instant::now();
    let load =
        s.lab.spawn(&s.client.clone(), "python3", &["-u", &script("soak_load.py"), &cfg_path.to_string_lossy()])?;
    s.lab.wait_for_line(load, "\"k\": \"start\"", Duration::from_secs(20))?;
    let mut samples: Vec<(u32, ProcessSamples)> = Vec::new();
    sample(&s, &mut samples, "start");
    let warm_up = Duration::from_secs((opts.seconds / 4).max(20));
    let mut warmed = false;
    let mut rng = Rng::new(opts.seed);
    let mut findings = Findings { seed: opts.seed, seconds: opts.seconds, ..Findings::default() };
    let quiet_end = Duration::from_secs(opts.seconds.saturating_sub(10));
    let mut next = Duration::from_secs(5);
    while started.elapsed() < quiet_end {
        if !warmed && started.elapsed() >= warm_up {
            sample(&s, &mut samples, "after warm-up");
            warmed = true;
        }
        if started.elapsed() < next || !opts.faults {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let conns: Vec<String> = (0..2)
            .map(|k| s.report(k).map_or("-".into(), |r| format!("{} (held {})", r["conns"], r["services"][0]["held"])))
            .collect();
        eprintln!("soak: {:.1} s connections: lb1 {}, lb2 {}", unix_now() - t0, conns[0], conns[1]);
        let kind = FaultKind::ALL[rng.below(FaultKind::ALL.len() as u64) as usize];
        let f = inject(&mut s, kind, &mut rng);
        eprintln!(
            "soak: {:.1} s {} {} ({:.1} s){}",
            f.start - t0,
            kind.name(),
            f.target,
            f.end - f.start,
            f.error.as_ref().map_or(String::new(), |e| format!(": {e}"))
        );
        findings.faults.push(f);
        next = started.elapsed() + Duration::from_secs(opts.gap.0 + rng.below(opts.gap.1 - opts.gap.0 + 1));
    }
    if !warmed {
        sample(&s, &mut samples, "after warm-up");
    }
    let left = Duration::from_secs(opts.seconds + 20).saturating_sub(started.elapsed());
    s.lab.wait_for_line(load, "\"k\": \"end\"", left)?;
    sample(&s, &mut samples, "end");
    let lines = s.lab.stop(load, Duration::from_secs(5))?;
    let events: Vec<serde_json::Value> =
        lines.iter().filter(|l| l.starts_with('{')).filter_map(|l| serde_json::from_str(l).ok()).collect();
    report::analyse(&mut findings, &events, t0);
    findings.resources = samples.into_iter().map(|(_, p)| p).collect();
    let mut downs = Vec::new();
    for (k, h) in s.rvsd_starts.clone() {
        let director = format!("lb{}", k + 1);
        for l in s
            .lab
            .lines(h)
            .iter()
            .filter(|l| l.contains("health check transition") || l.contains("WARN") || l.contains("ERROR"))
        {
            downs.extend(report::HealthDown::parse(&director, l));
            findings.daemon_log.push(format!("{director}: {l}"));
        }
    }
    let servers = s.servers.iter().map(|x| (x.addr.clone(), x.name.clone())).collect();
    report::explain_health(&mut findings, downs, &servers);
    findings.counters = (0..2)
        .filter_map(|k| s.report(k).map(|r| (format!("lb{}", k + 1), r["drops"].clone(), r["dataplane"].clone())))
        .collect();
    findings.invariants = invariants(&s);
    let machine = machine();
    let md = report::markdown(&findings, &machine, t0);
    Ok((findings, md))
}

/// Samples each running rvsd's resources under `label`.
fn sample(s: &SoakLab, into: &mut Vec<(u32, ProcessSamples)>, label: &'static str) {
    for k in 0..2 {
        let Some(r) = s.rvsd[k].as_ref() else { continue };
        let Some(pid) = s.lab.pid(r.handle) else { continue };
        let Some(res) = Resources::of(pid) else { continue };
        match into.iter_mut().find(|(p, _)| *p == pid) {
            Some((_, p)) => p.samples.push((label, res)),
            None => {
                let n = into.iter().filter(|(_, p)| p.who.starts_with(&format!("lb{}", k + 1))).count();
                let who = format!("lb{} (start {})", k + 1, n + 1);
                into.push((pid, ProcessSamples { who, samples: vec![(label, res)] }));
            }
        }
    }
}

/// The end's invariants: on each director, active + inactive over all real servers equals the
/// table's connections (one worker each); then, with the load stopped, every connection expires
/// (TIME_WAIT's 120 s is the longest a finished TCP connection waits).
fn invariants(s: &SoakLab) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let counted = |r: &serde_json::Value| -> (u64, u64) {
        let held = r["conns"].as_u64().unwrap_or(u64::MAX);
        let sum = r["services"]
            .as_array()
            .map(|a| {
                a.iter()
                    .flat_map(|svc| svc["reals"].as_array().cloned().unwrap_or_default())
                    .map(|x| x["active"].as_u64().unwrap_or(0) + x["inactive"].as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0);
        (held, sum)
    };
    for k in 0..2 {
        match s.report(k) {
            Some(r) => {
                let (held, sum) = counted(&r);
                out.push((format!("lb{}: active + inactive = {sum}, connections held = {held}", k + 1), held == sum));
            }
            None => out.push((format!("lb{}: its rvsd answers", k + 1), false)),
        }
    }
    let t = Instant::now();
    let mut left: Vec<u64> = vec![u64::MAX; 2];
    while t.elapsed() < Duration::from_secs(150) {
        left = (0..2).map(|k| s.report(k).and_then(|r| r["conns"].as_u64()).unwrap_or(u64::MAX)).collect();
        if left.iter().all(|&n| n == 0) {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    out.push((
        format!(
            "every connection expired after the load stopped (left: lb1 {}, lb2 {}, after {:.0} s)",
            left[0],
            left[1],
            t.elapsed().as_secs_f64()
        ),
        left.iter().all(|&n| n == 0),
    ));
    for k in 0..2 {
        if let Some(r) = s.report(k) {
            let (held, sum) = counted(&r);
            out.push((format!("lb{}: at rest, active + inactive = {sum} = connections {held}", k + 1), held == sum));
        }
    }
    out
}

/// One line about this machine: CPUs, memory, kernel.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or(0, |kib| kib / 1024 / 1024);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} CPUs, {mem} GiB, Linux {}", kernel.trim())
}
