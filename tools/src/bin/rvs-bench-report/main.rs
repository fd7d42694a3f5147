//! rvs-bench-report: turns criterion's results (`target/criterion`) into the tables of
//! `docs/BENCHMARKS.md`, one generated section per benchmark group, between
//! `<!-- BEGIN group -->` / `<!-- END group -->` markers; the rest of the file (explanations)
//! is left as written. Also prints the figures. With `--targets`, writes the targets table
//! ([`targets`]) from one run's outputs.

mod ab;
mod targets;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(about = "Write criterion results into docs/BENCHMARKS.md")]
struct Args {
    /// criterion's output directory.
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
    /// The markdown file to update.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    write: PathBuf,
    /// The command that produced the results (recorded with them).
    #[arg(long, default_value = "tools/bench.sh")]
    command: String,
    /// Instead of criterion's results, write the `ipp` section (instructions per packet) from
    /// this file of `MODE PACKETS INSTRUCTIONS` lines: callgrind totals of the `ipp` example,
    /// two packet counts per mode, so that set-up cancels out.
    #[arg(long)]
    ipp_from: Option<PathBuf>,
    /// Instead of criterion's results, write section SECTION with the text BODY (a figure
    /// another command printed).
    #[arg(long, requires = "body")]
    section: Option<String>,
    /// See `--section`.
    #[arg(long, requires = "section")]
    body: Option<String>,
    /// Instead, write the `targets` section: the targets file (prose per target), checked
    /// against `--bench-json`, `--ipp-file`, `--compare-json` and the criterion results.
    #[arg(long, requires_all = ["bench_json", "ipp_file"])]
    targets: Option<PathBuf>,
    /// rvs-bench's JSON lines (`rvs-bench --json`), for `--targets`.
    #[arg(long)]
    bench_json: Option<PathBuf>,
    /// The callgrind counts (as for `--ipp-from`), for `--targets`.
    #[arg(long)]
    ipp_file: Option<PathBuf>,
    /// rvs-compare's JSON lines (`rvs-compare --json`), for `--targets`; absent when it did not run.
    #[arg(long)]
    compare_json: Option<PathBuf>,
    /// Instead, write the `round_ab` section: every target before and after, from two builds'
    /// directories as `tools/bench-ab.sh` fills them (`BEFORE,AFTER`; each holds a `label`).
    #[arg(long, value_delimiter = ',')]
    ab: Option<Vec<PathBuf>>,
}

/// Replaces section `name` of the markdown file `path` with `body` (its markers included).
fn write_section(path: &Path, name: &str, body: &str) -> Result<()> {
    let mut doc = std::fs::read_to_string(path).unwrap_or_default();
    rvs_tools::replace_section(&mut doc, name, body);
    std::fs::write(path, doc).with_context(|| format!("write {}", path.display()))
}

/// JSON lines of a file, each parsed as `T`.
fn json_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{} line {}", path.display(), i + 1)))
        .collect()
}

fn write_targets(args: &Args, spec: &Path) -> Result<()> {
    let (Some(bench), Some(ipp_file)) = (&args.bench_json, &args.ipp_file) else {
        anyhow::bail!("--targets needs --bench-json and --ipp-file");
    };
    let ipp_text = std::fs::read_to_string(ipp_file).with_context(|| format!("read {}", ipp_file.display()))?;
    let sched_new_conn = sched_new_conn_at_1000(&args.criterion).into_iter().collect();
    let compare = match &args.compare_json {
        Some(p) if p.exists() => json_lines(p)?,
        _ => Vec::new(),
    };
    let m = targets::Measured {
        bench: json_lines(bench)?,
        ipp: ipp(&ipp_text)?.into_iter().collect(),
        sched_new_conn,
        compare,
    };
    let spec_text = std::fs::read_to_string(spec).with_context(|| format!("read {}", spec.display()))?;
    let s = targets::section(&m, &spec_text, &rvs_tools::generated_by(&args.command, &rvs_tools::machine()))?;
    write_section(&args.write, "targets", &s)?;
    Ok(())
}

/// ns per new connection by scheduler at 1,000 real servers, from criterion's results in `dir`
/// (none when it holds none).
fn sched_new_conn_at_1000(dir: &Path) -> Vec<(String, f64)> {
    collect(dir)
        .unwrap_or_default()
        .remove("sched_new_conn")
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.param.as_deref() == Some("1000"))
        .map(|r| (r.function, r.ns / r.elements as f64))
        .collect()
}

fn write_ab(args: &Args, dirs: &[PathBuf]) -> Result<()> {
    let [before, after] = dirs else { anyhow::bail!("--ab: want BEFORE,AFTER") };
    let label = |d: &Path| -> Result<String> {
        let p = d.join("label");
        Ok(std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?.trim().to_owned())
    };
    let ((b, rounds), (a, after_rounds)) = (ab::load(before)?, ab::load(after)?);
    anyhow::ensure!(rounds == after_rounds, "--ab: {rounds} rounds before, {after_rounds} after");
    let gen = rvs_tools::generated_by(&args.command, &rvs_tools::machine());
    let s = ab::section((&label(before)?, &b), (&label(after)?, &a), rounds, &gen);
    write_section(&args.write, "round_ab", &s)?;
    Ok(())
}

/// The SYN share of `ipp_flood`'s mix.
const FLOOD_SYN_SHARE: f64 = 0.1;

/// The share of a core's instructions left for established packets when a `syn_share` of the
/// packets are a flood: established ones cost `est` each alone, the mix `mix` per packet.
fn established_share(est: f64, mix: f64, syn_share: f64) -> f64 {
    (1.0 - syn_share) * est / mix
}

/// Instructions per packet per mode from `MODE PACKETS TOTAL` lines (two counts per mode).
fn ipp(text: &str) -> Result<Vec<(String, f64)>> {
    let mut runs: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let parse = |k: usize| f.get(k).and_then(|x| x.parse::<u64>().ok());
        let (Some(mode), Some(n), Some(ir)) = (f.first(), parse(1), parse(2)) else {
            anyhow::bail!("--ipp-from line {}: want MODE PACKETS INSTRUCTIONS, got {line:?}", i + 1);
        };
        runs.entry((*mode).to_owned()).or_default().push((n, ir));
    }
    runs.into_iter()
        .map(|(mode, mut v)| {
            v.sort();
            let ((n1, i1), (n2, i2)) = match v.as_slice() {
                [a, .., b] if b.0 > a.0 => (*a, *b),
                _ => anyhow::bail!("--ipp-from: {mode} needs runs with two different packet counts"),
            };
            Ok((mode, (i2 as f64 - i1 as f64) / (n2 - n1) as f64))
        })
        .collect()
}

#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    /// The parameter of a `BenchmarkId::new(function, parameter)`.
    value_str: Option<String>,
    /// `{"Elements": n}` or `{"Bytes": n}`; only elements divide the time.
    throughput: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

struct Row {
    function: String,
    param: Option<String>,
    ns: f64,
    lo: f64,
    hi: f64,
    elements: u64,
}

fn collect(dir: &Path) -> Result<BTreeMap<String, Vec<Row>>> {
    let mut groups: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("read {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.file_name().is_none_or(|n| n != "benchmark.json") || !p.parent().is_some_and(|x| x.ends_with("new")) {
                continue;
            }
            let b: BenchmarkJson = serde_json::from_slice(&std::fs::read(&p)?)?;
            let est: Estimates = serde_json::from_slice(&std::fs::read(p.with_file_name("estimates.json"))?)?;
            let elements = b.throughput.as_ref().and_then(|t| t.get("Elements")).and_then(|n| n.as_u64()).unwrap_or(1);
            groups.entry(b.group_id).or_default().push(Row {
                function: b.function_id.unwrap_or_default(),
                param: b.value_str,
                ns: est.median.point_estimate,
                lo: est.median.confidence_interval.lower_bound,
                hi: est.median.confidence_interval.upper_bound,
                elements,
            });
        }
    }
    for rows in groups.values_mut() {
        let num = |r: &Row| r.param.as_deref().and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
        rows.sort_by(|a, b| a.function.cmp(&b.function).then(num(a).cmp(&num(b))));
    }
    Ok(groups)
}

/// A duration in ns, in the unit that reads best.
fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn label(r: &Row) -> String {
    match &r.param {
        Some(p) => format!("{} / {p}", r.function),
        None => r.function.clone(),
    }
}

fn section(group: &str, rows: &[Row], command: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "<!-- BEGIN {group} -->");
    let _ = writeln!(s, "{}", rvs_tools::generated_by(command, &rvs_tools::machine()));
    let _ = writeln!(s, "| {group} | median per iteration | per element (95% CI) | M elements/s per core |");
    let _ = writeln!(s, "|---|---:|---:|---:|");
    for r in rows {
        let e = r.elements as f64;
        let per = r.ns / e;
        let _ = writeln!(
            s,
            "| {} | {} | {} ({}–{}) | {:.3} |",
            label(r),
            human(r.ns),
            human(per),
            human(r.lo / e),
            human(r.hi / e),
            1e3 / per
        );
    }
    let _ = writeln!(s, "<!-- END {group} -->");
    s
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(spec) = &args.targets {
        return write_targets(&args, spec);
    }
    if let Some(dirs) = &args.ab {
        return write_ab(&args, dirs);
    }
    if let (Some(name), Some(body)) = (&args.section, &args.body) {
        write_section(&args.write, name, &format!("<!-- BEGIN {name} -->\n{body}\n<!-- END {name} -->\n"))?;
        return Ok(());
    }
    if let Some(path) = &args.ipp_from {
        let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let rows = ipp(&text)?;
        let mut s = String::from("<!-- BEGIN ipp -->\n");
        let _ = writeln!(s, "{}", rvs_tools::generated_by(&args.command, &rvs_tools::machine()));
        s += "| mode | instructions per packet (callgrind) |\n|---|---:|\n";
        for (mode, per) in &rows {
            println!("ipp {mode}: {per:.0} instructions per packet");
            let _ = writeln!(s, "| {mode} | {per:.0} |");
        }
        let floods: Vec<String> = rows
            .iter()
            .filter_map(|(mode, per)| {
                let base = mode.strip_prefix("flood-")?;
                let (_, est) = rows.iter().find(|(m, _)| m == base)?;
                Some(format!(
                    "| {base} | {est:.0} | {per:.0} | {:.1}% |",
                    100.0 * established_share(*est, *per, FLOOD_SYN_SHARE)
                ))
            })
            .collect();
        if !floods.is_empty() {
            s += "\nUnder a SYN flood (`ipp_flood`: one packet in ten a SYN from a new client on a full table), the share of a core's instructions left for established packets, `0.9 * ipp / ipp_flood` (goal: at least 80%):\n\n";
            s += "| mode | established only | mix under the flood | established share |\n|---|---:|---:|---:|\n";
            for row in floods {
                let _ = writeln!(s, "{row}");
            }
        }
        s += "<!-- END ipp -->\n";
        write_section(&args.write, "ipp", &s)?;
        return Ok(());
    }
    let groups = collect(&args.criterion)?;
    anyhow::ensure!(!groups.is_empty(), "no criterion results under {}", args.criterion.display());
    let mut doc = std::fs::read_to_string(&args.write).unwrap_or_else(|_| "# rvs benchmarks\n".into());
    for (group, rows) in &groups {
        for r in rows {
            println!("{group}/{}: {} per element", label(r), human(r.ns / r.elements as f64));
        }
        let new = section(group, rows, &args.command);
        rvs_tools::replace_section(&mut doc, group, &new);
    }
    std::fs::write(&args.write, doc).with_context(|| format!("write {}", args.write.display()))?;
    println!("updated {}", args.write.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ipp_is_the_slope_between_two_runs() {
        let rows = super::ipp("dr 100 1500\ndr 200 2500\nnat-in 100 900\nnat-in 300 1300\n").unwrap();
        assert_eq!(rows, vec![("dr".to_owned(), 10.0), ("nat-in".to_owned(), 2.0)]);
        assert!(super::ipp("dr 100 1500\n").is_err());
        assert!(super::ipp("dr x 1\n").unwrap_err().to_string().contains("line 1"));
    }
}
