//! rvsd: the rvs load-balancer daemon. `rvsd --config rvs.toml` runs the dataplane until
//! SIGINT/SIGTERM (SIGHUP re-reads the configuration and applies the difference); `--check`
//! validates the configuration and exits. Under systemd (`Type=notify`) it reports READY and
//! feeds the watchdog while every worker polls (`rvsd::supervision`).

use anyhow::Result;
use clap::{CommandFactory, Parser};
use rvsd::config::Config;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "rvsd",
    version,
    about = "rvs: an LVS-style layer-4 load balancer on DPDK",
    long_about = "rvs: an LVS-style layer-4 load balancer on DPDK. Runs the dataplane described by \
its configuration until SIGTERM; SIGHUP re-reads the configuration and applies the difference. \
Under systemd (Type=notify) it reports READY once its ports are up and feeds the watchdog while \
every worker polls. rvsadm(8) is its ipvsadm-style control tool."
)]
struct Args {
    /// The configuration file.
    #[arg(long, short = 'c', default_value = "/etc/rvs/rvs.toml")]
    config: PathBuf,
    /// Validate the configuration and exit (0 when valid).
    #[arg(long)]
    check: bool,
    /// Log format on stderr: text (one line per event, fields as key=value) or json (one JSON
    /// object per line, for log shippers). The level comes from RUST_LOG (default info).
    #[arg(long, value_name = "FORMAT", env = "RVS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Print the manual page (roff) and exit.
    #[arg(long, hide = true)]
    man_page: bool,
    /// Print the shell completion script for SHELL (bash, zsh, fish, ...) and exit.
    #[arg(long, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
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
    if args.man_page {
        return Ok(rvsd::cli_docs::man_page(Args::command(), &mut std::io::stdout())?);
    }
    if let Some(shell) = args.completions {
        rvsd::cli_docs::completions(Args::command(), shell, &mut std::io::stdout());
        return Ok(());
    }
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if args.log_format == "json" {
        logs.json().with_current_span(false).init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))?;
    let report = rvsd::dataplane::run(&cfg, stop, hup, |r| {
        println!("rvsd: ready");
        rvsd::supervision::notify_ready(r.workers);
    })?;
    rvsd::supervision::notify_stopping();
    println!("rvsd: stats {}", serde_json::to_string(&report)?);
    println!("rvsd: stopped cleanly");
    Ok(())
}
