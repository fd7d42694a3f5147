//! rvsd: the rvs load-balancer daemon. `rvsd --config rvs.toml` runs the dataplane until
//! SIGINT/SIGTERM (SIGHUP re-reads the configuration and applies the difference); `--check`
//! validates the configuration and exits.

use anyhow::Result;
use clap::Parser;
use rvsd::config::Config;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(name = "rvsd", version, about = "rvs: an LVS-style layer-4 load balancer on DPDK")]
struct Args {
    /// The configuration file.
    #[arg(long, short = 'c', default_value = "/etc/rvs/rvs.toml")]
    config: PathBuf,
    /// Validate the configuration and exit (0 when valid).
    #[arg(long)]
    check: bool,
}

/// Large tables (connections, indexes) on transparent huge pages.
#[global_allocator]
static ALLOC: rvsd::hugepage_alloc::HugePageAlloc = rvsd::hugepage_alloc::HugePageAlloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("rvsd: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rvsd: {e}");
            std::process::exit(2);
        }
    };
    if args.check {
        println!(
            "rvsd: {} is valid: {} port(s), {} service(s), {} real server(s), {} worker(s)",
            args.config.display(),
            cfg.ports.len(),
            cfg.services.len(),
            cfg.services.iter().map(|s| s.dests.len()).sum::<usize>(),
            cfg.lcores.len()
        );
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))?;
    let report = rvsd::dataplane::run(&cfg, stop, hup, |_| println!("rvsd: ready"))?;
    println!("rvsd: stats {}", serde_json::to_string(&report)?);
    println!("rvsd: stopped cleanly");
    Ok(())
}
