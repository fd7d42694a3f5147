//! Before and after in one sitting (`tools/bench-ab.sh`): two builds' figures side by side,
//! each target judged on each build exactly as the targets table judges one run
//! ([`targets::targets`]). A build's figure is the median of its interleaved rounds (a shared
//! VM's speed drifts between runs; interleaving gives both builds the same drift); callgrind's
//! counts repeat and are taken once.

use crate::targets::{self, BenchRun, Measured, Outcome};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Targets the A/B does not re-measure per build, and why.
const NOT_IN_AB: &[(&str, &str)] =
    &[("compare", "not re-run per build: rvs-compare compares its contenders within one run (the targets table)")];

/// The median of `v` (the lower of the two middle values for an even count).
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// One run per (section, mode, size, flows, cores), each figure the median of its rounds'.
fn median_runs(runs: &[BenchRun]) -> Vec<BenchRun> {
    let mut groups: BTreeMap<(&str, &str, &str, u32, usize), Vec<&BenchRun>> = BTreeMap::new();
    for r in runs {
        groups.entry((&r.section, &r.mode, &r.size, r.flows, r.cores)).or_default().push(r);
    }
    groups
        .into_values()
        .map(|g| {
            let m = |f: fn(&BenchRun) -> f64| median(g.iter().map(|r| f(r)).collect()).unwrap_or(f64::NAN);
            BenchRun {
                ns: m(|r| r.ns),
                mpps: m(|r| r.mpps),
                new_conns_per_s: m(|r| r.new_conns_per_s),
                table_bytes_per_conn: m(|r| r.table_bytes_per_conn),
                ..g[0].clone()
            }
        })
        .collect()
}

/// A build's figures from its directory: `rvs-bench.jsonl` (every round's runs), `ipp.txt`
/// (callgrind totals, as for `--ipp-from`) and one criterion directory per round
/// (`criterion-*`). Returns them with the number of rounds.
pub(crate) fn load(dir: &Path) -> Result<(Measured, usize)> {
    let bench = median_runs(&crate::json_lines(&dir.join("rvs-bench.jsonl"))?);
    let ipp_path = dir.join("ipp.txt");
    let ipp_text = std::fs::read_to_string(&ipp_path).with_context(|| format!("read {}", ipp_path.display()))?;
    let mut sched: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut rounds = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let p = e?.path();
        if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("criterion-")) {
            rounds += 1;
            for (s, ns) in crate::sched_new_conn_at_1000(&p) {
                sched.entry(s).or_default().push(ns);
            }
        }
    }
    let sched_new_conn = sched.into_iter().filter_map(|(s, v)| Some((s, median(v)?))).collect();
    let m = Measured { bench, ipp: crate::ipp(&ipp_text)?.into_iter().collect(), sched_new_conn, compare: Vec::new() };
    Ok((m, rounds))
}

fn shown(o: &Outcome) -> String {
    let mark = match o.met {
        Some(true) => " (**met**)",
        Some(false) => " (missed)",
        None => "",
    };
    format!("{}{mark}", targets::cell(&o.measured))
}

/// The `round_ab` section: one row per target, the before build's figures and the after's.
pub(crate) fn section(before: (&str, &Measured), after: (&str, &Measured), rounds: usize, generated_by: &str) -> String {
    let mut s = String::from("<!-- BEGIN round_ab -->\n");
    let _ = writeln!(s, "{generated_by}");
    let _ = writeln!(
        s,
        "Each build's figure is the median of {rounds} rounds run in turn with the other build's; the callgrind counts are of both builds made at one checkout path.\n"
    );
    let _ = writeln!(s, "| target | before: {} | after: {} |", targets::cell(before.0), targets::cell(after.0));
    s += "|---|---|---|\n";
    for ((id, what, b), (_, _, a)) in targets::targets(before.1).iter().zip(targets::targets(after.1).iter()) {
        if let Some((_, why)) = NOT_IN_AB.iter().find(|(n, _)| n == id) {
            let _ = writeln!(s, "| {what} | {why} | - |");
            continue;
        }
        println!("{id}: {} -> {}", b.measured, a.measured);
        let _ = writeln!(s, "| {what} | {} | {} |", shown(b), shown(a));
    }
    s += "<!-- END round_ab -->\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: &str, flows: u32, ns: f64) -> BenchRun {
        BenchRun {
            section: "rvs_bench_scale".into(),
            mode: mode.into(),
            size: "64".into(),
            flows,
            cores: 1,
            ns,
            mpps: 1e3 / ns,
            new_conns_per_s: 0.0,
            table_bytes_per_conn: 79.0,
        }
    }

    #[test]
    fn each_figure_is_the_median_of_its_rounds() {
        let runs = [run("dr", 1000, 90.0), run("dr", 1000, 60.0), run("dr", 1000, 200.0), run("dr", 10_000_000, 150.0)];
        let m = median_runs(&runs);
        assert_eq!(m.len(), 2);
        let small = m.iter().find(|r| r.flows == 1000).unwrap();
        assert_eq!((small.ns, small.mpps), (90.0, 1e3 / 90.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn both_builds_are_judged_on_every_target() {
        let side = |dr: f64, large: f64| Measured {
            bench: ["dr", "nat-in"].iter().flat_map(|m| [run(m, 1000, 100.0), run(m, 10_000_000, large)]).collect(),
            ipp: [("dr".to_owned(), dr)].into(),
            sched_new_conn: BTreeMap::new(),
            compare: vec![],
        };
        let s = section(("old", &side(640.0, 300.0)), ("new", &side(390.0, 140.0)), 3, "gen");
        let row = |what: &str| s.lines().find(|l| l.starts_with(&format!("| {what}"))).unwrap().to_owned();
        assert!(row("DR <= 400").contains("| dr 640 (missed) | dr 390 (**met**) |"), "{s}");
        assert!(row("10 M flows").contains("(3.00x)") && row("10 M flows").contains("(1.40x)"), "{s}");
        assert!(row("end to end").contains("not re-run per build"), "{s}");
        assert!(s.contains("| target | before: old | after: new |") && s.contains("median of 3 rounds"), "{s}");
    }
}
