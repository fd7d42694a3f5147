//! Before and after in one sitting (`tools/bench-ab.sh`): two builds' figures side by side,
//! each target judged on each build exactly as the targets table judges one run
//! ([`targets::targets`]). A build's figure is the median of its interleaved rounds (a shared
//! VM's speed drifts between runs; interleaving gives both builds the same drift); callgrind's
//! counts repeat and are taken once.

use crate::targets::{self, BenchRun, CompareRun, Measured, Outcome};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

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

/// One row per rvs-compare contender, each figure the median of its rounds'.
fn median_contenders(runs: &[CompareRun]) -> Vec<CompareRun> {
    let mut groups: BTreeMap<&str, Vec<&CompareRun>> = BTreeMap::new();
    for r in runs {
        groups.entry(&r.name).or_default().push(r);
    }
    groups
        .into_values()
        .map(|g| {
            let m = |f: &dyn Fn(&CompareRun) -> Option<f64>| median(g.iter().filter_map(|r| f(r)).collect());
            let pps = m(&|r| r.pps.map(|p| p.0)).zip(m(&|r| r.pps.map(|p| p.1)));
            CompareRun { rps: m(&|r| Some(r.rps)).unwrap_or(f64::NAN), pps, ..g[0].clone() }
        })
        .collect()
}

/// A build's figures from its directory: `rvs-bench.jsonl` (every round's runs), `ipp.txt`
/// (callgrind totals, as for `--ipp-from`), one criterion directory per round (`criterion-*`)
/// and, when rvs-compare ran (as root), `compare.jsonl` (every round's contenders). Returns
/// them with the number of rounds.
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
    let compare_path = dir.join("compare.jsonl");
    let compare =
        if compare_path.exists() { median_contenders(&crate::json_lines(&compare_path)?) } else { Vec::new() };
    let m = Measured { bench, ipp: crate::ipp(&ipp_text)?.into_iter().collect(), sched_new_conn, compare };
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
pub(crate) fn section(
    before: (&str, &Measured),
    after: (&str, &Measured),
    rounds: usize,
    generated_by: &str,
) -> String {
    let mut s = String::from("<!-- BEGIN round_ab -->\n");
    let _ = writeln!(s, "{generated_by}");
    let _ = writeln!(
        s,
        "Each build's figure is the median of {rounds} rounds run in turn with the other build's; the callgrind counts are of both builds made at one checkout path.\n"
    );
    let _ = writeln!(s, "| target | before: {} | after: {} |", targets::cell(before.0), targets::cell(after.0));
    s += "|---|---|---|\n";
    for ((id, what, b), (_, _, a)) in targets::targets(before.1).iter().zip(targets::targets(after.1).iter()) {
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
        let (old, mut new) = (side(640.0, 300.0), side(390.0, 140.0));
        let contender = |name: &str, rps: f64, pps: f64| CompareRun { name: name.into(), rps, pps: Some((pps, pps)) };
        new.compare = median_contenders(&[
            contender("rvsd", 90.0, 200.0),
            contender("nftables", 75.0, 150.0),
            contender("rvsd", 70.0, 100.0),
            contender("nftables", 85.0, 160.0),
            contender("rvsd", 95.0, 210.0),
            contender("nftables", 70.0, 140.0),
        ]);
        let s = section(("old", &old), ("new", &new), 3, "gen");
        let row = |what: &str| s.lines().find(|l| l.starts_with(&format!("| {what}"))).unwrap().to_owned();
        assert!(row("DR <= 400").contains("| dr 640 (missed) | dr 390 (**met**) |"), "{s}");
        assert!(row("10 M flows").contains("(3.00x)") && row("10 M flows").contains("(1.40x)"), "{s}");
        // The medians: rvsd 90 requests/s and 200 pps against nftables' 75 and 150.
        let end_to_end = row("end to end");
        assert!(
            end_to_end.starts_with("| end to end ahead of nftables (HTTP requests/s and UDP pps) | not measured"),
            "{s}"
        );
        assert!(end_to_end.contains("rvsd 90 requests/s, nftables 75 (1.20x)"), "{s}");
        assert!(end_to_end.contains("rvsd 200 pps, nftables 150 (1.33x) (**met**) |"), "{s}");
        assert!(s.contains("| target | before: old | after: new |") && s.contains("median of 3 rounds"), "{s}");
    }
}
