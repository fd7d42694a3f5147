//! `soak [--minutes N] [--seed S] [--no-faults] [--out FILE]`: the soak-and-chaos run (`rvs_lab::soak`), as
//! root; prints the report and writes it to FILE (`docs/RELIABILITY.md` by default; `-` for
//! none). Exits 1 when something was unexplained, a download corrupted or an invariant broken.

use rvs_lab::soak::{run, SoakOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut minutes = 10.0f64;
    let mut seed = None;
    let mut faults = true;
    let mut out = rvs_lab::workspace_root().join("docs/RELIABILITY.md").to_string_lossy().into_owned();
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or_else(|| anyhow::anyhow!("{name} needs a value"));
        match a.as_str() {
            "--minutes" => minutes = val("--minutes")?.parse()?,
            "--seed" => seed = Some(val("--seed")?.parse()?),
            "--out" => out = val("--out")?,
            "--no-faults" => faults = false,
            "-h" | "--help" => {
                println!(
                    "usage: soak [--minutes N (10)] [--seed S (random)] [--no-faults (the load alone)] [--out FILE (docs/RELIABILITY.md); - for none]"
                );
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?} (--help)"),
        }
    }
    if let Some(why) = rvs_lab::unavailable() {
        anyhow::bail!("the soak needs the lab: {why}");
    }
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let seconds = (minutes * 60.0).round().max(60.0) as u64;
    let (findings, md) = run(&SoakOptions { seconds, seed, gap: (6, 14), faults })?;
    println!("{md}");
    if out != "-" {
        std::fs::write(&out, &md)?;
        eprintln!("soak: wrote {out}");
    }
    let bad = findings.unexplained_total() > 0 || findings.corrupted() > 0 || !findings.invariants_hold();
    std::process::exit(i32::from(bad));
}
