//! What a soak run found: the load's events matched against the faults, resources over time,
//! the end's invariants, failover times; and `docs/RELIABILITY.md` written from them.
//!
//! A failed request is *explained* when a fault that can cause it was under way: a real server
//! killed (for requests to a service it belongs to, until it has been back for its health
//! checks' rise, 3 s), the VRRP master killed (every service, until the first request that
//! succeeded after the kill, plus 1 s), `-C` before `-R` (every service, until 1 s after), a
//! paused worker (every service, until 1 s after). Anything else is listed as unexplained.
//!
//! A long-lived connection is lost either at once (an error) or when its echo has not come back
//! in 15 s; the fault it is charged to is the one under way when it stopped. It is explained by
//! its own real server's kill, or by a master killed less than [`CATCH_UP_SECONDS`] after the
//! other director came back: IPVS's sync sends a connection again only every 50th client packet
//! (`threshold = [3, 50]`), so a backup that has just started lacks the connections not yet
//! sent again (the limit of the protocol, not of a director; a smaller `threshold` period
//! shortens it).
//!
//! A health check's transition to down (from rvsd's log, every start) is explained by a kill or
//! health flap of that real server; any other is a working server its checks failed.

use super::faults::{Fault, FaultKind};
use super::topology::{HTTP_SERVICES, UDP_PORT, VIP};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A sample of a director's rvsd process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
}

impl Resources {
    /// Reads process `pid`'s figures from /proc.
    pub fn of(pid: u32) -> Option<Resources> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field =
            |k: &str| status.lines().find(|l| l.starts_with(k)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
        Some(Resources { rss_kib: field("VmRSS:")?, fds, threads: field("Threads:")? })
    }
}

/// One process's samples: at start, after the warm-up, at the end.
#[derive(Debug, Clone, Default)]
pub struct ProcessSamples {
    /// Which director, and which of its starts.
    pub who: String,
    /// The samples, in order (label, figures).
    pub samples: Vec<(&'static str, Resources)>,
}

/// One service's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Made.
    pub made: u64,
    /// Failed (an error or no answer within the client's timeout).
    pub failed: u64,
    /// Failed while a fault that explains it was under way.
    pub explained: u64,
    /// Served, but slower than [`SLOW_SECONDS`]: a retransmitted SYN or segment on the way.
    pub slow: u64,
}

/// How long a restarted director takes to hold every long-lived connection again: each must
/// be sent by the master once more, on its 50th client packet (the echo connections send about
/// two a second), plus the restart's own seconds.
pub const CATCH_UP_SECONDS: f64 = 30.0;

/// Seconds a long-lived connection's echo may take before it counts as lost (the load's
/// `LONG_DEADLINE`).
const LONG_DEADLINE: f64 = 15.0;

/// A request served in more than this many seconds counts as slow (TCP's first SYN
/// retransmission comes after 1 s).
pub const SLOW_SECONDS: f64 = 1.0;

/// The whole run's findings.
#[derive(Debug, Default)]
pub struct Findings {
    /// The seed.
    pub seed: u64,
    /// The run's length, seconds.
    pub seconds: u64,
    /// Faults, in order.
    pub faults: Vec<Fault>,
    /// Requests (HTTP and UDP) by service.
    pub requests: BTreeMap<String, RequestCounts>,
    /// Unexplained failed requests: (time since start, service, error).
    pub unexplained: Vec<(f64, String, String)>,
    /// Long-lived connections lost, by the fault under way (or "none"): (lost, explained).
    pub long_lost: BTreeMap<String, (u64, u64)>,
    /// Unexplained long-lived losses: (time since start, source, server, error).
    pub long_unexplained: Vec<(f64, String, String, String)>,
    /// Downloads: (made, failed, failed and explained, corrupted).
    pub downloads: (u64, u64, u64, u64),
    /// rvsd's resources.
    pub resources: Vec<ProcessSamples>,
    /// The end's invariants: what was checked and whether it held.
    pub invariants: Vec<(String, bool)>,
    /// Failover times (kill to the first request served after it), seconds.
    pub failovers: Vec<f64>,
    /// Faults that could not be done (no master at that moment, a command that failed).
    pub fault_errors: Vec<String>,
    /// Each director's drops by reason and dataplane counters at the end (its last start's).
    pub counters: Vec<(String, Value, Value)>,
    /// rvsd's warnings and errors (health transitions among them), every start of each director.
    pub daemon_log: Vec<String>,
    /// Health checks' transitions to down (every start of each director), and which of them no
    /// fault on that server explains.
    pub health_downs: Vec<HealthDown>,
    /// The unexplained ones among them.
    pub health_unexplained: Vec<HealthDown>,
    /// Health flaps (their start, seconds since the run's start) that took their server down on
    /// no director: a fault that did nothing.
    pub flaps_without_effect: Vec<f64>,
}

/// A health check's transition to down, read from rvsd's log.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthDown {
    /// When (Unix seconds).
    pub t: f64,
    /// Which director.
    pub director: String,
    /// The service (`tcp VIP:PORT`).
    pub service: String,
    /// The real server (`ADDR:PORT`).
    pub real: String,
    /// Why its last probe failed.
    pub why: String,
}

impl HealthDown {
    /// Reads director `director`'s log line, when it is a transition to down (rvsd's tracing
    /// format: `TIMESTAMP  WARN target: health check transition service="…" real="…"
    /// health="down" … why="…"`).
    pub fn parse(director: &str, line: &str) -> Option<HealthDown> {
        if !line.contains("health check transition") || !line.contains("health=\"down\"") {
            return None;
        }
        let field = |k: &str| -> Option<String> {
            let from = line.find(&format!("{k}=\""))? + k.len() + 2;
            Some(line[from..].split('"').next()?.to_owned())
        };
        Some(HealthDown {
            t: unix_of_rfc3339(line.split_whitespace().next()?)?,
            director: director.to_owned(),
            service: field("service")?,
            real: field("real")?,
            why: field("why").unwrap_or_default(),
        })
    }
}

/// `2026-12-04T02:29:21.424043Z` as Unix seconds (UTC only, as rvsd logs).
fn unix_of_rfc3339(ts: &str) -> Option<f64> {
    let ts = ts.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min, sec) =
        (t.next()?.parse::<f64>().ok()?, t.next()?.parse::<f64>().ok()?, t.next()?.parse::<f64>().ok()?);
    // Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + sec)
}

/// How long after a fault on a server ends its checks may still report it down: its last
/// failing probes (fall 3, interval 1 s, timeout 3 s) end up to this much later.
pub const HEALTH_AFTER_SECONDS: f64 = 12.0;

/// The name of the real server at `real` (`ADDR:PORT`), from `servers` (address to name).
fn server_of<'a>(real: &str, servers: &'a BTreeMap<String, String>) -> Option<&'a String> {
    real.rsplit_once(':').and_then(|(a, _)| servers.get(a))
}

/// Matches the health checks' transitions to down against the faults: one is explained by a
/// kill or health flap of that real server (`servers`: address to name) under way or ended
/// less than [`HEALTH_AFTER_SECONDS`] before. Anything else is a check that failed a working
/// server, listed as unexplained.
pub fn explain_health(f: &mut Findings, downs: Vec<HealthDown>, servers: &BTreeMap<String, String>) {
    f.health_unexplained = downs
        .iter()
        .filter(|d| {
            let name = server_of(&d.real, servers);
            !f.faults.iter().any(|x| {
                matches!(x.kind, FaultKind::KillServer | FaultKind::FlapHealth)
                    && Some(&x.target) == name
                    && x.start <= d.t
                    && d.t <= x.end + HEALTH_AFTER_SECONDS
            })
        })
        .cloned()
        .collect();
    f.flaps_without_effect = f
        .faults
        .iter()
        .filter(|x| x.kind == FaultKind::FlapHealth && x.error.is_none())
        .filter(|x| {
            !downs.iter().any(|d| server_of(&d.real, servers) == Some(&x.target) && x.start <= d.t && d.t <= x.end)
        })
        .map(|x| x.start)
        .collect();
    f.health_downs = downs;
}

impl Findings {
    /// Total unexplained failures (requests, downloads) and losses of long-lived connections.
    pub fn unexplained_total(&self) -> usize {
        self.unexplained.len() + self.long_unexplained.len() + self.health_unexplained.len()
    }

    /// Corrupted downloads.
    pub fn corrupted(&self) -> u64 {
        self.downloads.3
    }

    /// True when every invariant held.
    pub fn invariants_hold(&self) -> bool {
        self.invariants.iter().all(|(_, ok)| *ok)
    }
}

/// The services a real server belongs to (by port).
fn services_of(server: &str) -> Vec<u16> {
    match server {
        "rs1" | "rs2" => vec![80, 81, 84, 7, UDP_PORT],
        "rs3" | "rs4" => vec![82],
        "rs5" | "rs6" => vec![83],
        _ => vec![],
    }
}

/// The windows in which each fault explains a failure to `port` (start, end), given the
/// failover ends measured from the load.
fn explains(f: &Fault, port: u16, failover_end: Option<f64>) -> Option<(f64, f64)> {
    match f.kind {
        FaultKind::KillServer if services_of(&f.target).contains(&port) => Some((f.start, f.end + 3.0)),
        FaultKind::KillMaster => Some((f.start, failover_end.unwrap_or(f.end) + 1.0)),
        FaultKind::SaveClearRestore | FaultKind::PauseWorker => Some((f.start, f.end + 1.0)),
        _ => None,
    }
}

/// Matches the load's `events` (its JSON lines) against the faults; `t0` is the run's start.
pub fn analyse(f: &mut Findings, events: &[Value], t0: f64) {
    let port_of = |target: &str| target.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
    // Failover: the first request started after each master kill that was served (its answer's
    // time: a request started at once waits for the new master).
    let served: Vec<(f64, f64)> = events
        .iter()
        .filter(|e| e["k"] == "http" && e["ok"] == true)
        .filter_map(|e| Some((e["t"].as_f64()?, e["t"].as_f64()? + e["d"].as_f64().unwrap_or(0.0))))
        .collect();
    let failover_end: Vec<Option<f64>> = f
        .faults
        .iter()
        .map(|x| {
            (x.kind == FaultKind::KillMaster)
                .then(|| served.iter().find(|(t, _)| *t > x.effective).map(|(_, done)| *done))
                .flatten()
        })
        .collect();
    f.failovers = f
        .faults
        .iter()
        .zip(&failover_end)
        .filter(|(x, _)| x.kind == FaultKind::KillMaster && x.error.is_none())
        .filter_map(|(x, e)| e.map(|e| e - x.effective))
        .collect();
    let explained_by = |t: f64, port: u16| {
        f.faults
            .iter()
            .zip(&failover_end)
            .any(|(x, fe)| explains(x, port, *fe).is_some_and(|(a, b)| t >= a - 0.5 && t <= b))
    };
    let fault_at = |t: f64| {
        f.faults
            .iter()
            .enumerate()
            .zip(&failover_end)
            .find(|((_, x), fe)| t >= x.start - 0.5 && t <= fe.unwrap_or(x.end).max(x.end) + 3.0)
            .map(|((i, x), _)| (i, x))
    };
    // A master killed before the other director, back from its own kill, had caught up.
    let before_catch_up = |i: usize| {
        let x = &f.faults[i];
        x.kind == FaultKind::KillMaster
            && f.faults[..i]
                .iter()
                .rev()
                .find(|y| y.kind == FaultKind::KillMaster && y.target != x.target)
                .is_some_and(|y| x.effective - y.end < CATCH_UP_SECONDS)
    };
    let mut requests: BTreeMap<String, RequestCounts> = BTreeMap::new();
    let mut unexplained = Vec::new();
    let mut long_lost: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut long_unexplained = Vec::new();
    let mut dl = (0, 0, 0, 0);
    for e in events {
        let t = e["t"].as_f64().unwrap_or(0.0);
        let ok = e["ok"] == true;
        let err = e["err"].as_str().unwrap_or("").to_owned();
        match e["k"].as_str().unwrap_or("") {
            k @ ("http" | "udp") => {
                let port = if k == "udp" { UDP_PORT } else { port_of(e["target"].as_str().unwrap_or("")) };
                let name = service_name(k, port);
                let r = requests.entry(name.clone()).or_default();
                r.made += 1;
                if ok && e["d"].as_f64().is_some_and(|d| d > SLOW_SECONDS) {
                    r.slow += 1;
                }
                if !ok {
                    r.failed += 1;
                    if explained_by(t, port) {
                        r.explained += 1;
                    } else {
                        unexplained.push((t - t0, name, err));
                    }
                }
            }
            "long" if e["event"] == "lost" => {
                let server = e["server"].as_str().unwrap_or("").to_owned();
                // When it stopped: a stalled echo is reported a deadline later.
                let stopped = if err.starts_with("no echo") { t - LONG_DEADLINE } else { t };
                let by = fault_at(stopped);
                let key = by.map_or("none".to_owned(), |(_, x)| x.kind.name().to_owned());
                let own = by.is_some_and(|(_, x)| x.kind == FaultKind::KillServer && x.target == server);
                let unsynced = by.is_some_and(|(i, _)| before_catch_up(i));
                let l = long_lost.entry(key).or_default();
                l.0 += 1;
                if own || unsynced {
                    l.1 += 1;
                } else {
                    long_unexplained.push((t - t0, e["src"].as_str().unwrap_or("").to_owned(), server, err));
                }
            }
            "dl" => {
                dl.0 += 1;
                if !ok {
                    dl.1 += 1;
                    if explained_by(t, 80) {
                        dl.2 += 1;
                    } else {
                        unexplained.push((t - t0, "download (NAT :80)".into(), err));
                    }
                } else if e["intact"] != true {
                    dl.3 += 1;
                }
            }
            _ => {}
        }
    }
    f.requests = requests;
    f.unexplained = unexplained;
    f.long_lost = long_lost;
    f.long_unexplained = long_unexplained;
    f.downloads = dl;
    f.fault_errors = f
        .faults
        .iter()
        .filter_map(|x| x.error.as_ref().map(|e| format!("{:.0} s {}: {e}", x.start - t0, x.kind.name())))
        .collect();
}

fn service_name(kind: &str, port: u16) -> String {
    if kind == "udp" {
        return format!("udp {VIP}:{port} (NAT)");
    }
    let what = HTTP_SERVICES.iter().find(|(p, _)| *p == port).map_or("?", |(_, w)| w);
    format!("http {VIP}:{port} ({what})")
}

/// The findings as `docs/RELIABILITY.md`.
pub fn markdown(f: &Findings, machine: &str, t0: f64) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Reliability: soak and chaos\n");
    let _ = writeln!(
        o,
        "Generated by `tools/soak.sh --minutes {}` (seed {}; rerun with `--seed {}` for the same faults at the same moments). Machine: {machine}.\n",
        f.seconds / 60,
        f.seed,
        f.seed
    );
    let _ = writeln!(
        o,
        "A keepalived VRRP pair of rvsd (one worker each, connection sync) serves NAT, FULLNAT, DR, TUN and SYN-proxied HTTP, a NAT line-echo service and NAT UDP on one VIP. The client keeps steady load: an HTTP request every 50 ms round-robin over the five HTTP services, a UDP request every 200 ms, 100 long-lived TCP connections that echo every second, and a 4 MiB download again and again (sha256 checked). Faults come at random times from the seed. How failures are explained: `tests/src/soak/report.rs`.\n"
    );
    let _ = writeln!(o, "## Faults injected\n\n| kind | times |\n|---|---|");
    for k in FaultKind::ALL {
        let n = f.faults.iter().filter(|x| x.kind == k).count();
        let _ = writeln!(o, "| {} | {n} |", k.name());
    }
    if !f.fault_errors.is_empty() {
        let _ = writeln!(o, "\nFaults that could not be done as planned:\n");
        for e in &f.fault_errors {
            let _ = writeln!(o, "- {e}");
        }
    }
    let _ = writeln!(
        o,
        "\n## Requests\n\n| service | made | failed | explained by a fault | unexplained | served in over {SLOW_SECONDS:.0} s |\n|---|---|---|---|---|---|"
    );
    for (name, r) in &f.requests {
        let slow = if name.starts_with("http") { r.slow.to_string() } else { "-".into() };
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {slow} |",
            r.made,
            r.failed,
            r.explained,
            r.failed - r.explained
        );
    }
    let (d, dfail, dexpl, corrupt) = f.downloads;
    let _ = writeln!(o, "| download (NAT :80) | {d} | {dfail} | {dexpl} | {} | - |", dfail - dexpl);
    let _ = writeln!(o, "\nDownloads corrupted (complete, wrong sha256): **{corrupt}**.\n");
    if f.unexplained.is_empty() {
        let _ = writeln!(o, "Unexplained failures: **none**.\n");
    } else {
        let _ = writeln!(o, "Unexplained failures: **{}**\n", f.unexplained.len());
        for (t, what, err) in f.unexplained.iter().take(50) {
            let _ = writeln!(o, "- {t:.1} s, {what}: {err}");
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(
        o,
        "## Long-lived connections lost\n\n| under fault | lost | explained: their own server killed, or the master killed within {CATCH_UP_SECONDS:.0} s of the other director's return |\n|---|---|---|"
    );
    for (k, (lost, own)) in &f.long_lost {
        let _ = writeln!(o, "| {k} | {lost} | {own} |");
    }
    if f.long_lost.is_empty() {
        let _ = writeln!(o, "| (none lost) | 0 | 0 |");
    }
    let _ = writeln!(o, "\nLost unexplained: **{}**.\n", f.long_unexplained.len());
    for (t, src, server, err) in f.long_unexplained.iter().take(50) {
        let _ = writeln!(o, "- {t:.1} s, from {src} on {server}: {err}");
    }
    let _ = writeln!(
        o,
        "## Health checks\n\nTransitions to down: {}; explained by a kill or health flap of that real server: {}.\n\nUnexplained (a working server failed its checks): **{}**.\n",
        f.health_downs.len(),
        f.health_downs.len() - f.health_unexplained.len(),
        f.health_unexplained.len()
    );
    for d in f.health_unexplained.iter().take(50) {
        let _ = writeln!(o, "- {:.1} s, {} {} real {}: {}", d.t - t0, d.director, d.service, d.real, d.why);
    }
    if !f.flaps_without_effect.is_empty() {
        let at: Vec<String> = f.flaps_without_effect.iter().map(|t| format!("{:.1} s", t - t0)).collect();
        let _ = writeln!(o, "Health flaps that took their server down nowhere: {}.\n", at.join(", "));
    }
    let _ =
        writeln!(o, "## rvsd's resources\n\n| process | sample | RSS (MiB) | fds | threads |\n|---|---|---|---|---|");
    for p in &f.resources {
        for (label, r) in &p.samples {
            let _ =
                writeln!(o, "| {} | {label} | {:.1} | {} | {} |", p.who, r.rss_kib as f64 / 1024.0, r.fds, r.threads);
        }
    }
    let _ = writeln!(o, "\n## rvsd's drops at the end (each director's last start)\n");
    for (who, drops, dp) in &f.counters {
        let _ = writeln!(o, "- {who}: drops {drops}");
        let sp: Vec<String> = dp
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("synproxy") || k.starts_with("sync"))
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(o, "  - {}", sp.join(", "));
    }
    let _ = writeln!(o, "\n## rvsd's warnings and errors ({})\n", f.daemon_log.len());
    for l in f.daemon_log.iter().take(60) {
        let _ = writeln!(o, "- `{l}`");
    }
    let _ = writeln!(o, "\n## Invariants at the end\n");
    for (what, ok) in &f.invariants {
        let _ = writeln!(o, "- {}: {what}", if *ok { "holds" } else { "**FAILS**" });
    }
    let _ = writeln!(o, "\n## Failover times (master killed to the first request served)\n");
    if f.failovers.is_empty() {
        let _ = writeln!(o, "No master was killed in this run.");
    } else {
        let mut v = f.failovers.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let _ = writeln!(
            o,
            "{} failovers: min {:.2} s, median {:.2} s, max {:.2} s.",
            v.len(),
            v[0],
            v[v.len() / 2],
            v[v.len() - 1]
        );
    }
    let _ = writeln!(o, "\n## Fault log\n\n| at (s) | fault | target | lasted (s) |\n|---|---|---|---|");
    for x in &f.faults {
        let _ = writeln!(o, "| {:.1} | {} | {} | {:.1} |", x.start - t0, x.kind.name(), x.target, x.end - x.start);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fault(kind: FaultKind, target: &str, start: f64, end: f64) -> Fault {
        Fault { kind, start, end, target: target.into(), error: None, effective: start }
    }

    #[test]
    fn a_failure_is_explained_only_by_a_fault_that_can_cause_it() {
        let mut f = Findings {
            faults: vec![
                fault(FaultKind::KillServer, "rs3", 100.0, 106.0),
                fault(FaultKind::KillMaster, "lb1", 200.0, 210.0),
                fault(FaultKind::KillMaster, "lb2", 300.0, 310.0),
                fault(FaultKind::KillMaster, "lb1", 316.0, 326.0), // lb2 back only 6 s before
                fault(FaultKind::KillMaster, "lb2", 400.0, 410.0), // lb1 back for 74 s
            ],
            ..Findings::default()
        };
        let http = |t: f64, port: u16, ok: bool, d: f64| json!({"k": "http", "t": t, "d": d, "target": format!("{VIP}:{port}"), "ok": ok, "err": "timed out"});
        let events = vec![
            http(101.0, 82, false, 5.0), // DR, rs3 killed: explained
            http(101.5, 80, false, 5.0), // NAT does not use rs3: unexplained
            http(108.5, 82, false, 5.0), // rs3 back for 2.5 s, within its rise: explained
            http(150.0, 83, true, 1.5),  // served, slowly
            http(200.5, 81, false, 5.0), // the master killed: explained
            http(203.0, 81, true, 0.9),  // the first served after the kill: failover 3.9 s
            http(205.0, 84, false, 5.0), // past the failover's end + 1 s: unexplained
            json!({"k": "long", "t": 102.0, "event": "lost", "src": "a", "server": "rs3", "err": "x"}),
            json!({"k": "long", "t": 102.0, "event": "lost", "src": "b", "server": "rs1", "err": "x"}),
            // Stalled at 318 (reported a deadline later): lb2 had not caught up. Explained.
            json!({"k": "long", "t": 333.0, "event": "lost", "src": "c", "server": "rs1", "err": "no echo within 15 s"}),
            // Stalled at 402: lb1 had been back for 74 s. Unexplained.
            json!({"k": "long", "t": 417.0, "event": "lost", "src": "d", "server": "rs2", "err": "no echo within 15 s"}),
            json!({"k": "dl", "t": 50.0, "ok": true, "intact": false}),
        ];
        analyse(&mut f, &events, 0.0);
        let dr = f.requests[&service_name("http", 82)];
        assert_eq!((dr.made, dr.failed, dr.explained), (2, 2, 2));
        assert_eq!(f.requests[&service_name("http", 83)].slow, 1);
        let unexplained: Vec<f64> = f.unexplained.iter().map(|u| u.0).collect();
        assert_eq!(unexplained, [101.5, 205.0]);
        assert_eq!(f.failovers.len(), 1, "only the first kill has a request served after it here");
        assert!((f.failovers[0] - 3.9).abs() < 1e-9, "{:?}", f.failovers);
        assert_eq!(f.long_lost["kill real server"], (2, 1));
        assert_eq!(f.long_lost["kill VRRP master"], (2, 1));
        let lost: Vec<&str> = f.long_unexplained.iter().map(|l| l.1.as_str()).collect();
        assert_eq!(lost, ["b", "d"]);
        assert_eq!(f.corrupted(), 1);
    }

    #[test]
    fn a_health_check_down_is_explained_only_by_a_fault_on_its_server() {
        let line = |ts: &str, real: &str| {
            format!("{ts}  WARN rvsd::control::health: health check transition service=\"tcp {VIP}:80\" real=\"{real}\" health=\"down\" action=\"quiesce\" why=\"connect: refused\"")
        };
        let t = unix_of_rfc3339("2026-12-04T02:29:21.5Z").unwrap();
        assert_eq!(t, 1_796_351_361.5, "2026-12-04T02:29:21.5Z (date -d ... +%s)");
        let up = line("2026-12-04T02:29:21.5Z", "198.19.0.11:80").replace("\"down\"", "\"up\"");
        assert_eq!(HealthDown::parse("lb1", &up), None, "a transition up is not a down");
        let d = HealthDown::parse("lb1", &line("2026-12-04T02:29:21.5Z", "198.19.0.11:80")).unwrap();
        assert_eq!(
            (d.t, d.service.as_str(), d.real.as_str(), d.why.as_str()),
            (t, "tcp 198.18.0.100:80", "198.19.0.11:80", "connect: refused")
        );
        let mut f = Findings {
            faults: vec![
                fault(FaultKind::KillServer, "rs1", t - 5.0, t + 1.0),
                fault(FaultKind::FlapHealth, "rs1", t - 1.0, t + 0.5), // its down at t
                fault(FaultKind::FlapHealth, "rs2", t + 100.0, t + 106.0), // no down of rs2 then
            ],
            ..Findings::default()
        };
        let servers: BTreeMap<String, String> =
            [("198.19.0.11", "rs1"), ("198.19.0.12", "rs2")].map(|(a, n)| (a.to_owned(), n.to_owned())).into();
        let downs = vec![
            d.clone(),                                                           // rs1 killed: explained
            HealthDown { real: "198.19.0.12:80".into(), ..d.clone() },           // rs2 was not touched
            HealthDown { t: t + 1.0 + HEALTH_AFTER_SECONDS + 1.0, ..d.clone() }, // long after rs1 came back
        ];
        explain_health(&mut f, downs, &servers);
        assert_eq!(f.health_downs.len(), 3);
        let unexplained: Vec<(&str, f64)> = f.health_unexplained.iter().map(|d| (d.real.as_str(), d.t - t)).collect();
        assert_eq!(unexplained, vec![("198.19.0.12:80", 0.0), ("198.19.0.11:80", 14.0)]);
        assert_eq!(f.unexplained_total(), 2, "they count as unexplained");
        assert_eq!(f.flaps_without_effect, vec![t + 100.0], "the flap of rs2 took nothing down");
    }
}
