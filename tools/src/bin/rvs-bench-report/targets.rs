//! The performance targets, checked against one `tools/bench.sh` run: each target's figure is
//! computed from that run's outputs (rvs-bench's JSON lines, the callgrind counts, criterion's
//! scheduler results, rvs-compare's JSON lines) and marked met or not; for a target not met the
//! table carries the profile-based reason and the next step from `tools/bench-targets.toml`,
//! which must name every target here (and only those), so prose and figures cannot drift apart.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One rvs-bench run (a line of `rvs-bench --json`; the fields used here).
#[derive(Debug, Clone, Deserialize)]
pub struct BenchRun {
    pub section: String,
    pub mode: String,
    pub size: String,
    pub flows: u32,
    pub cores: usize,
    pub ns: f64,
    pub mpps: f64,
    pub new_conns_per_s: f64,
    pub table_bytes_per_conn: f64,
}

/// One contender of rvs-compare (a line of `rvs-compare --json`).
#[derive(Debug, Clone, Deserialize)]
pub struct CompareRun {
    pub name: String,
    pub rps: f64,
    /// 64-byte UDP: sent and reached the servers (packets/s).
    pub pps: Option<(f64, f64)>,
}

/// Everything one bench run measured.
pub struct Measured {
    pub bench: Vec<BenchRun>,
    /// Instructions per packet by `ipp` mode.
    pub ipp: BTreeMap<String, f64>,
    /// ns per new connection by scheduler, 1,000 real servers (criterion's median).
    pub sched_new_conn: BTreeMap<String, f64>,
    pub compare: Vec<CompareRun>,
}

/// The prose of one target (from the spec file).
#[derive(Debug, Deserialize)]
struct Prose {
    id: String,
    reason: String,
    next: String,
}

#[derive(Debug, Deserialize)]
struct Spec {
    target: Vec<Prose>,
}

/// A target's outcome: what was measured, and whether it meets the target (`None`: not
/// measured in this run).
pub(crate) struct Outcome {
    pub(crate) measured: String,
    pub(crate) met: Option<bool>,
}

fn not_measured(why: &str) -> Outcome {
    Outcome { measured: format!("not measured: {why}"), met: None }
}

impl Measured {
    fn run(&self, section: &str, mode: &str, flows: u32, cores: usize) -> Option<&BenchRun> {
        self.bench
            .iter()
            .find(|r| r.section == section && r.mode == mode && r.flows == flows && r.cores == cores && r.size == "64")
    }
}

/// A target every one of `names` must meet: `value` finds a name's figure (or says why it is
/// missing), `show` prints it, `met` judges it.
fn each<T>(
    names: &[&str],
    value: impl Fn(&str) -> Result<T, String>,
    show: impl Fn(&str, &T) -> String,
    met: impl Fn(&T) -> bool,
) -> Outcome {
    let mut parts = Vec::new();
    let mut all = true;
    for name in names {
        match value(name) {
            Ok(v) => {
                all &= met(&v);
                parts.push(show(name, &v));
            }
            Err(why) => return not_measured(&why),
        }
    }
    Outcome { measured: parts.join(", "), met: Some(all) }
}

/// `ns/packet <= limit` for each mode, 1 K established flows, one core.
fn ns_target(m: &Measured, modes: &[&str], limit: f64) -> Outcome {
    each(
        modes,
        |mode| m.run("rvs_bench", mode, 1000, 1).map(|r| r.ns).ok_or(format!("no rvs_bench run of {mode}")),
        |mode, ns| format!("{mode} {ns:.1} ns"),
        |ns| *ns <= limit,
    )
}

fn ipp_target(m: &Measured, modes: &[&str], limit: f64) -> Outcome {
    each(
        modes,
        |mode| m.ipp.get(mode).copied().ok_or(format!("no callgrind count of {mode}")),
        |mode, n| format!("{mode} {n:.0}"),
        |n| *n <= limit,
    )
}

/// A pair of runs per mode and their ratio `after / before`.
fn ratio(before: &BenchRun, after: &BenchRun, value: fn(&BenchRun) -> f64) -> (f64, f64, f64) {
    (value(before), value(after), value(after) / value(before))
}

fn scale_target(m: &Measured) -> Outcome {
    each(
        &["dr", "nat-in"],
        |mode| match (m.run("rvs_bench_scale", mode, 1000, 1), m.run("rvs_bench_scale", mode, 10_000_000, 1)) {
            (Some(small), Some(large)) => Ok(ratio(small, large, |r| r.ns)),
            _ => Err(format!("no rvs_bench_scale runs of {mode} at 1 K and 10 M flows")),
        },
        |mode, (small, large, x)| format!("{mode} {small:.1} -> {large:.1} ns ({x:.2}x)"),
        |(_, _, x)| *x <= 1.5,
    )
}

fn newconn_target(m: &Measured) -> Outcome {
    each(
        &["dr", "tun", "nat-in"],
        |mode| {
            let run = m.run("rvs_bench_newconn", mode, 1000, 1);
            run.map(|r| r.new_conns_per_s).ok_or(format!("no rvs_bench_newconn run of {mode}"))
        },
        |mode, rate| format!("{mode} {:.2} M/s", rate / 1e6),
        |rate| *rate >= 3e6,
    )
}

fn sched_target(m: &Measured) -> Outcome {
    each(
        &["lc", "wlc", "sed", "nq"],
        |s| m.sched_new_conn.get(s).copied().ok_or(format!("no sched_new_conn/{s}/1000 result")),
        |s, ns| format!("{s} {ns:.0} ns"),
        |ns| *ns <= 50.0,
    )
}

fn cores_target(m: &Measured) -> Outcome {
    each(
        &["dr", "nat"],
        |mode| match (m.run("rvs_bench_cores", mode, 1000, 1), m.run("rvs_bench_cores", mode, 1000, 2)) {
            (Some(one), Some(two)) => Ok(ratio(one, two, |r| r.mpps)),
            _ => Err(format!("no rvs_bench_cores runs of {mode} on 1 and 2 workers")),
        },
        |mode, (one, two, x)| format!("{mode} {one:.2} -> {two:.2} Mpps ({x:.2}x)"),
        // "Keep" the 1.93x (DR) and 1.98x (NAT) of the run: within the VM's noise.
        |(_, _, x)| *x >= 1.8,
    )
}

fn compare_target(m: &Measured) -> Outcome {
    let find = |n: &str| m.compare.iter().find(|c| c.name == n);
    let (Some(rvsd), Some(nft)) = (find("rvsd"), find("nftables")) else {
        return not_measured("rvs-compare did not run (it needs root)");
    };
    let (Some((_, rvsd_pps)), Some((_, nft_pps))) = (rvsd.pps, nft.pps) else {
        return not_measured("rvs-compare ran without UDP");
    };
    let mut measured = format!(
        "HTTP: rvsd {:.0} requests/s, nftables {:.0} ({:.2}x); UDP reaching the servers: rvsd {rvsd_pps:.0} pps, nftables {nft_pps:.0} ({:.2}x)",
        rvsd.rps,
        nft.rps,
        rvsd.rps / nft.rps,
        rvsd_pps / nft_pps
    );
    let mut best = (rvsd.rps, rvsd_pps);
    if let Some(x) = find("rvsd-xdp") {
        let pps = x.pps.map_or(0.0, |p| p.1);
        let _ = write!(
            measured,
            "; on AF_XDP: {:.0} requests/s ({:.2}x), {pps:.0} pps ({:.2}x)",
            x.rps,
            x.rps / nft.rps,
            pps / nft_pps
        );
        best = (best.0.max(x.rps), best.1.max(pps));
    }
    if let Some(c) = find("nftables-cpu") {
        let _ = write!(
            measured,
            "; nftables with rvsd's worker CPU held by a busy loop: {:.0} requests/s (rvsd {:.2}x)",
            c.rps,
            rvsd.rps / c.rps
        );
    }
    Outcome { measured, met: Some(best.0 > nft.rps && best.1 > nft_pps) }
}

/// The table's bytes per connection where it is sized for at least 100 K connections: below
/// that, the timer wheel's fixed 16 KiB is a visible share of a small table.
fn memory_target(m: &Measured) -> Outcome {
    let v4 = |r: &&BenchRun| !r.mode.ends_with('6');
    let large: Vec<f64> =
        m.bench.iter().filter(v4).filter(|r| r.flows >= 100_000).map(|r| r.table_bytes_per_conn).collect();
    if large.is_empty() {
        return not_measured("no IPv4 rvs-bench run of 100 K flows or more");
    }
    let worst = large.iter().copied().fold(0.0, f64::max);
    let best = large.iter().copied().fold(f64::MAX, f64::min);
    let small =
        m.bench.iter().filter(v4).filter(|r| r.flows < 100_000).map(|r| r.table_bytes_per_conn).fold(0.0, f64::max);
    Outcome {
        measured: format!("{best:.1}-{worst:.1} bytes (IPv4 tables of 100 K-10 M flows; {small:.1} for a 1 K-flow table with the wheel's fixed 16 KiB)"),
        met: Some(worst <= 80.0),
    }
}

/// The targets: id, wording, outcome.
pub(crate) fn targets(m: &Measured) -> Vec<(&'static str, &'static str, Outcome)> {
    vec![
        ("dr_ns", "DR established, 1 K flows: dataplane + port <= 67 ns/packet", ns_target(m, &["dr"], 67.0)),
        ("tun_ns", "TUN <= 75 ns/packet", ns_target(m, &["tun"], 75.0)),
        ("nat_ns", "NAT <= 80 ns/packet each direction", ns_target(m, &["nat-in", "nat-out"], 80.0)),
        ("dr_ipp", "DR <= 400 instructions/packet (callgrind)", ipp_target(m, &["dr"], 400.0)),
        ("tun_ipp", "TUN <= 500 instructions/packet", ipp_target(m, &["tun"], 500.0)),
        ("nat_ipp", "NAT <= 550 instructions/packet", ipp_target(m, &["nat-in", "nat-out"], 550.0)),
        ("scale", "10 M flows within 1.5x of 1 K flows", scale_target(m)),
        ("newconn", "new connections >= 3 M/s per core (DR, TUN, NAT)", newconn_target(m)),
        ("sched", "lc/wlc/sed/nq new connection <= 50 ns at 1,000 real servers", sched_target(m)),
        ("cores", "linear over cores: 2 workers keep ~1.9x of one", cores_target(m)),
        ("compare", "end to end ahead of nftables (HTTP requests/s and UDP pps)", compare_target(m)),
        ("memory", "<= 80 bytes per connection, whole table (entries, indexes, timers)", memory_target(m)),
    ]
}

/// Markdown cells hold no pipes or line breaks.
pub(crate) fn cell(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// The `targets` section, from the measurements and the spec file's text.
pub fn section(m: &Measured, spec_text: &str, generated_by: &str) -> Result<String> {
    let spec: Spec = toml::from_str(spec_text).context("the targets spec")?;
    let targets = targets(m);
    let mut prose: BTreeMap<&str, &Prose> = BTreeMap::new();
    for p in &spec.target {
        if !targets.iter().any(|(id, _, _)| *id == p.id) {
            bail!("the targets spec names an unknown target {:?}", p.id);
        }
        if prose.insert(p.id.as_str(), p).is_some() {
            bail!("the targets spec names target {:?} twice", p.id);
        }
    }
    let mut s = String::from("<!-- BEGIN targets -->\n");
    let _ = writeln!(s, "{generated_by}");
    s += "| target | measured in this run | met? | why not (from the profiles) | next step |\n|---|---|---|---|---|\n";
    for (id, what, o) in &targets {
        let p = prose.get(id).with_context(|| format!("the targets spec has no entry for target {id:?}"))?;
        let (met, reason, next) = match o.met {
            Some(true) => ("**yes**", "-".to_owned(), "-".to_owned()),
            Some(false) => ("no", cell(&p.reason), cell(&p.next)),
            None => ("not measured", "-".to_owned(), "-".to_owned()),
        };
        println!("target {id}: {} ({met})", o.measured);
        let _ = writeln!(s, "| {what} | {} | {met} | {reason} | {next} |", cell(&o.measured));
    }
    s += "<!-- END targets -->\n";
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(section: &str, mode: &str, flows: u32, cores: usize, ns: f64) -> BenchRun {
        BenchRun {
            section: section.into(),
            mode: mode.into(),
            size: "64".into(),
            flows,
            cores,
            ns,
            mpps: 1e3 / ns * cores as f64,
            new_conns_per_s: 0.0,
            table_bytes_per_conn: if flows >= 100_000 { 77.0 } else { 90.0 },
        }
    }

    fn spec() -> String {
        let m = Measured { bench: vec![], ipp: BTreeMap::new(), sched_new_conn: BTreeMap::new(), compare: vec![] };
        targets(&m)
            .iter()
            .map(|(id, _, _)| format!("[[target]]\nid = \"{id}\"\nreason = \"because {id}\"\nnext = \"then {id}\"\n"))
            .collect()
    }

    #[test]
    fn each_target_is_marked_from_the_figures_with_its_reason_only_when_missed() {
        let m = Measured {
            bench: vec![
                run("rvs_bench", "dr", 1000, 1, 60.0),
                run("rvs_bench", "tun", 1000, 1, 90.0),
                run("rvs_bench_scale", "dr", 1000, 1, 60.0),
                run("rvs_bench_scale", "dr", 10_000_000, 1, 120.0),
                run("rvs_bench_scale", "nat-in", 1000, 1, 70.0),
                run("rvs_bench_scale", "nat-in", 10_000_000, 1, 80.0),
            ],
            ipp: [("dr".to_owned(), 380.0), ("tun".to_owned(), 620.0)].into(),
            sched_new_conn: BTreeMap::new(),
            compare: vec![],
        };
        let s = section(&m, &spec(), "gen").unwrap();
        let row = |what: &str| s.lines().find(|l| l.starts_with(&format!("| {what}"))).unwrap().to_owned();
        assert!(row("DR established").contains("| dr 60.0 ns | **yes** | - | - |"), "{s}");
        assert!(row("TUN <= 75").contains("| tun 90.0 ns | no | because tun_ns | then tun_ns |"), "{s}");
        assert!(row("DR <= 400").contains("**yes**"), "{s}");
        assert!(row("TUN <= 500").contains("| no | because tun_ipp"), "{s}");
        // 2x at 10 M for DR: missed, though NAT's 1.14x alone would pass.
        assert!(row("10 M flows").contains("(2.00x)") && row("10 M flows").contains("| no |"), "{s}");
        assert!(row("end to end").contains("not measured"), "{s}");
        assert!(row("<= 80 bytes").contains("**yes**"), "{s}");
    }

    #[test]
    fn the_spec_must_name_every_target_once_and_no_other() {
        let m = Measured { bench: vec![], ipp: BTreeMap::new(), sched_new_conn: BTreeMap::new(), compare: vec![] };
        let full = spec();
        assert!(section(&m, &full, "gen").is_ok());
        let missing: String =
            full.split("[[target]]").filter(|t| !t.contains("\"memory\"")).collect::<Vec<_>>().join("[[target]]");
        assert!(section(&m, &missing, "gen").unwrap_err().to_string().contains("memory"));
        let extra = format!("{full}[[target]]\nid = \"warp\"\nreason = \"r\"\nnext = \"n\"\n");
        assert!(section(&m, &extra, "gen").unwrap_err().to_string().contains("warp"));
        let twice = format!("{full}[[target]]\nid = \"dr_ns\"\nreason = \"r\"\nnext = \"n\"\n");
        assert!(section(&m, &twice, "gen").unwrap_err().to_string().contains("twice"));
    }
}
