//! rvsadm: ipvsadm's verbs for rvsd, over its control socket (one JSON request per line).
//!
//! ```text
//! rvsadm -A -t|-u VIP:PORT [-s SCHED] [-p [SECONDS]] [-M NETMASK]
//! rvsadm -E -t|-u VIP:PORT [-s SCHED] [-p [SECONDS]] [-M NETMASK]
//! rvsadm -D -t|-u VIP:PORT            rvsadm -C
//! rvsadm -a|-e -t|-u VIP:PORT -r RIP[:PORT] [-m|-g|-i] [-w WEIGHT] [-x UPPER] [-y LOWER]
//! rvsadm -d -t|-u VIP:PORT -r RIP[:PORT]
//! rvsadm -L|-l [-n] [--stats|--rate|--thresholds|--persistent-conn|-c|--timeout] [--nosort]
//!              [-t|-u VIP:PORT] [--json]
//! rvsadm -Z [-t|-u VIP:PORT]          rvsadm --set TCP TCPFIN UDP
//! rvsadm -S [-n]                      rvsadm -R < rules
//! rvsadm --start-daemon master|backup [--mcast-interface PORT] [--syncid N] [--sync-maxlen N]
//!        [--mcast-group ADDR] [--mcast-port N] [--mcast-ttl N]
//! rvsadm --stop-daemon master|backup   rvsadm -L --daemon
//! rvsadm --import-keepalived keepalived.conf >> rvs.toml
//! ```
//! Errors: one line on stderr naming what was wrong, exit status 1 (2 for a bad command line);
//! the daemon's state is unchanged.

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgGroup, CommandFactory, Parser};
use rvs_core::service::{Forward, Protocol};
use rvsd::control::proto::{ConnEntry, DaemonReply, Reply, Request, SvcSpec, TimeoutsReply};
use rvsd::stats::{RealReport, Report, ServiceReport};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug, Default)]
#[command(name = "rvsadm", version, about = "ipvsadm's verbs for rvsd", disable_version_flag = true)]
#[command(group(ArgGroup::new("cmd").required(true).args([
    "add_service", "edit_service", "delete_service", "clear", "add_server", "edit_server",
    "delete_server", "list", "zero", "set", "save", "restore", "version", "reload", "start_daemon",
    "stop_daemon", "import_keepalived", "pause_worker", "pause_thread", "man_page", "completions", "check_host"
])))]
#[command(group(ArgGroup::new("pause").args(["pause_worker", "pause_thread"])))]
struct Cli {
    /// Add a virtual service.
    #[arg(short = 'A', long = "add-service")]
    add_service: bool,
    /// Edit a virtual service.
    #[arg(short = 'E', long = "edit-service")]
    edit_service: bool,
    /// Delete a virtual service.
    #[arg(short = 'D', long = "delete-service")]
    delete_service: bool,
    /// Clear every virtual service.
    #[arg(short = 'C', long = "clear")]
    clear: bool,
    /// Add a real server.
    #[arg(short = 'a', long = "add-server")]
    add_server: bool,
    /// Edit a real server.
    #[arg(short = 'e', long = "edit-server")]
    edit_server: bool,
    /// Delete a real server.
    #[arg(short = 'd', long = "delete-server")]
    delete_server: bool,
    /// List the table.
    #[arg(short = 'L', long = "list", visible_short_alias = 'l')]
    list: bool,
    /// Zero the counters.
    #[arg(short = 'Z', long = "zero")]
    zero: bool,
    /// Timeouts: TCP TCPFIN UDP seconds (0 keeps a value).
    #[arg(long = "set", num_args = 3, value_names = ["TCP", "TCPFIN", "UDP"])]
    set: Option<Vec<u32>>,
    /// Print the rules, one command per line (for -R).
    #[arg(short = 'S', long = "save")]
    save: bool,
    /// Read rules (as -S prints them) from standard input and apply them.
    #[arg(short = 'R', long = "restore")]
    restore: bool,
    /// Print the version (ipvsadm's -v; -V is accepted too).
    #[arg(short = 'v', long = "version", visible_short_alias = 'V')]
    version: bool,
    /// Make rvsd re-read its configuration file and apply the difference (as SIGHUP).
    #[arg(long = "reload")]
    reload: bool,
    /// A TCP service, VIP:PORT.
    #[arg(short = 't', long = "tcp-service", value_name = "VIP:PORT", conflicts_with = "udp")]
    tcp: Option<String>,
    /// A UDP service, VIP:PORT.
    #[arg(short = 'u', long = "udp-service", value_name = "VIP:PORT")]
    udp: Option<String>,
    /// Scheduler: rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos.
    #[arg(short = 's', long = "scheduler")]
    scheduler: Option<String>,
    /// Persistence, seconds (300 when given without a value).
    #[arg(short = 'p', long = "persistent", num_args = 0..=1, default_missing_value = "300", value_name = "SECONDS")]
    persistent: Option<u32>,
    /// Persistence netmask.
    #[arg(short = 'M', long = "netmask")]
    netmask: Option<String>,
    /// Real server RIP[:PORT].
    #[arg(short = 'r', long = "real-server", value_name = "RIP[:PORT]")]
    real: Option<String>,
    /// Forward by masquerading (NAT).
    #[arg(short = 'm', long = "masquerading", conflicts_with_all = ["gatewaying", "ipip"])]
    masquerading: bool,
    /// Forward by direct routing (DR, the default).
    #[arg(short = 'g', long = "gatewaying", conflicts_with = "ipip")]
    gatewaying: bool,
    /// Forward by IP-in-IP tunnelling (TUN).
    #[arg(short = 'i', long = "ipip")]
    ipip: bool,
    /// Weight.
    #[arg(short = 'w', long = "weight")]
    weight: Option<u32>,
    /// Numeric output (rvsadm never resolves names).
    #[arg(short = 'n', long = "numeric")]
    numeric: bool,
    /// With -L: traffic counters.
    #[arg(long = "stats")]
    stats: bool,
    /// With -L: rates.
    #[arg(long = "rate")]
    rate: bool,
    /// With -L: connections.
    #[arg(short = 'c', long = "connection")]
    connection: bool,
    /// With -L: timeouts.
    #[arg(long = "timeout")]
    timeout: bool,
    /// With -L: exact numbers (rvsadm always prints them).
    #[arg(short = 'X', long = "exact")]
    exact: bool,
    /// With -L: keep the daemon's order instead of sorting services and real servers.
    #[arg(long = "nosort")]
    nosort: bool,
    /// With -L: sort (the default; accepted for ipvsadm compatibility).
    #[arg(long = "sort")]
    sort: bool,
    /// Output format: json (long option only: -o is ipvsadm's --ops).
    #[arg(long = "output", value_name = "FORMAT")]
    output: Option<String>,
    /// Upper connection threshold of a real server: at this many connections it gets no new
    /// ones (0 = none).
    #[arg(short = 'x', long = "u-threshold", value_name = "UTHRESHOLD")]
    u_threshold: Option<u32>,
    /// Lower connection threshold: an overloaded real server takes new connections again
    /// below it (0: below 3/4 of the upper).
    #[arg(short = 'y', long = "l-threshold", value_name = "LTHRESHOLD")]
    l_threshold: Option<u32>,
    /// Start a connection sync daemon role: master or backup.
    #[arg(long = "start-daemon", value_name = "STATE")]
    start_daemon: Option<String>,
    /// Stop a connection sync daemon role: master or backup.
    #[arg(long = "stop-daemon", value_name = "STATE")]
    stop_daemon: Option<String>,
    /// Print the manual page (roff) and exit.
    #[arg(long = "man-page", hide = true)]
    man_page: bool,
    /// Print the shell completion script for SHELL (bash, zsh, fish, ...) and exit.
    #[arg(long = "completions", value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
    /// Fault injection (rvs): worker N stops polling for --for MS milliseconds, so that a
    /// supervisor's watchdog (systemd's WatchdogSec) can be seen to act.
    #[arg(long = "pause-worker", value_name = "N")]
    pause_worker: Option<usize>,
    /// Fault injection (rvs): control-plane thread NAME (control, health, sync, vip, neighbours)
    /// stops its loop for --for MS milliseconds, so that the watchdog can be seen to act.
    #[arg(long = "pause-thread", value_name = "NAME")]
    pause_thread: Option<String>,
    /// With --pause-worker or --pause-thread: how long, in milliseconds (1 ..= 60000).
    #[arg(long = "for", value_name = "MS", requires = "pause", default_value_t = 5000)]
    pause_ms: u64,
    /// With --start-daemon: the port (or its exception interface) the sync datagrams use.
    #[arg(long = "mcast-interface", value_name = "INTERFACE")]
    mcast_interface: Option<String>,
    /// With --start-daemon: the sync group id (0..=255).
    #[arg(long = "syncid", value_name = "SYNCID")]
    syncid: Option<u8>,
    /// With --start-daemon: the largest sync datagram.
    #[arg(long = "sync-maxlen", value_name = "LENGTH")]
    sync_maxlen: Option<usize>,
    /// With --start-daemon: the multicast group (or a unicast peer).
    #[arg(long = "mcast-group", value_name = "ADDRESS")]
    mcast_group: Option<String>,
    /// With --start-daemon: the UDP port.
    #[arg(long = "mcast-port", value_name = "PORT")]
    mcast_port: Option<u16>,
    /// With --start-daemon: the multicast TTL.
    #[arg(long = "mcast-ttl", value_name = "TTL")]
    mcast_ttl: Option<u8>,
    /// Print keepalived.conf's virtual_server blocks as rvs.toml services (what cannot be carried
    /// over is named on standard error).
    #[arg(long = "import-keepalived", value_name = "FILE")]
    import_keepalived: Option<PathBuf>,
    /// Say what this host still lacks for rvsd's DPDK ports (hugepages, IOMMU and vfio-pci,
    /// NIC binding, isolated CPUs, NUMA placement), with the command that fixes each; reads the
    /// configuration (--config) for the ports and workers. Changes nothing; exit status 1 when
    /// something is missing.
    #[arg(long = "check-host")]
    check_host: bool,
    /// With -L: the sync daemon roles running.
    #[arg(long = "daemon")]
    daemon: bool,
    /// With -L: the real servers' connection thresholds.
    #[arg(long = "thresholds")]
    thresholds: bool,
    /// With -L: the real servers' persistence templates (PersistConn).
    #[arg(long = "persistent-conn")]
    persistent_conn: bool,
    /// ipvsadm's one-packet scheduling (not supported by rvsd).
    #[arg(short = 'o', long = "ops")]
    ops: bool,
    /// ipvsadm's firewall-mark service (not supported by rvsd).
    #[arg(short = 'f', long = "fwmark-service", value_name = "FWMARK")]
    fwmark: Option<String>,
    /// ipvsadm's IPv6 firewall-mark flag (not supported by rvsd).
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
    /// Scheduler flags: sh-fallback,sh-port for sh; mh-fallback,mh-port for mh; flag-1..3.
    #[arg(short = 'b', long = "sched-flags", value_name = "FLAGS")]
    sched_flags: Option<String>,
    /// ipvsadm's persistence engine (not supported by rvsd).
    #[arg(long = "pe", value_name = "ENGINE")]
    pe: Option<String>,
    /// JSON output (same as --output json).
    #[arg(long = "json")]
    json: bool,
    /// rvsd's control socket (default: [control] socket of --config, else /run/rvs/rvs.sock).
    #[arg(long = "socket")]
    socket: Option<PathBuf>,
    /// rvsd's configuration, to find its control socket.
    #[arg(long = "config", default_value = "/etc/rvs/rvs.toml")]
    config: PathBuf,
}

fn main() {
    let cli = Cli::parse();
    if cli.man_page {
        let _ = rvsd::cli_docs::man_page(Cli::command(), &mut std::io::stdout());
        return;
    }
    if let Some(shell) = cli.completions {
        rvsd::cli_docs::completions(Cli::command(), shell, &mut std::io::stdout());
        return;
    }
    match run(&cli) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("rvsadm: {e:#}");
            std::process::exit(1);
        }
    }
}

struct Client {
    out: UnixStream,
    inp: BufReader<UnixStream>,
}

impl Client {
    fn connect(cli: &Cli) -> Result<Client> {
        let path = match &cli.socket {
            Some(p) => p.clone(),
            None => rvsd::config::Config::load(&cli.config)
                .map(|c| c.socket)
                .unwrap_or_else(|_| PathBuf::from("/run/rvs/rvs.sock")),
        };
        let s = UnixStream::connect(&path).with_context(|| format!("cannot reach rvsd at {}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Client { out: s.try_clone()?, inp: BufReader::new(s) })
    }

    /// Sends `req`; returns its result (`T`: what the request gives, `Value` where nothing).
    fn call<T: serde::de::DeserializeOwned>(&mut self, req: &Request) -> Result<Option<T>> {
        writeln!(self.out, "{}", serde_json::to_string(req)?)?;
        let mut line = String::new();
        self.inp.read_line(&mut line).context("no answer from rvsd")?;
        let reply: Reply<T> = serde_json::from_str(&line).context("unreadable answer from rvsd")?;
        reply.into_result().map_err(|e| anyhow!("{e}"))
    }
}

fn service(cli: &Cli) -> Result<Option<SvcSpec>> {
    Ok(match (&cli.tcp, &cli.udp) {
        (Some(a), None) => Some(SvcSpec { protocol: Protocol::Tcp.to_string(), address: a.clone() }),
        (None, Some(a)) => Some(SvcSpec { protocol: Protocol::Udp.to_string(), address: a.clone() }),
        (None, None) => None,
        (Some(_), Some(_)) => bail!("-t and -u: give one service"),
    })
}

fn need_service(cli: &Cli) -> Result<SvcSpec> {
    service(cli)?.ok_or_else(|| anyhow!("a service is needed: -t VIP:PORT or -u VIP:PORT"))
}

fn forward(cli: &Cli) -> Option<String> {
    let f = if cli.masquerading {
        Forward::Nat
    } else if cli.ipip {
        Forward::Tunnel
    } else if cli.gatewaying {
        Forward::DirectRoute
    } else {
        return None;
    };
    Some(f.to_string())
}

/// The request a command line stands for (None: a listing or -S/-R).
fn request(cli: &Cli) -> Result<Option<Request>> {
    let real = || cli.real.clone().ok_or_else(|| anyhow!("a real server is needed: -r RIP[:PORT]"));
    let (scheduler, persistence, netmask) = (cli.scheduler.clone(), cli.persistent, cli.netmask.clone());
    let sched_flags = cli.sched_flags.clone();
    Ok(Some(if cli.add_service {
        Request::AddService { service: need_service(cli)?, scheduler, sched_flags, persistence, netmask }
    } else if cli.edit_service {
        Request::EditService { service: need_service(cli)?, scheduler, sched_flags, persistence, netmask }
    } else if cli.delete_service {
        Request::DelService { service: need_service(cli)? }
    } else if cli.clear {
        Request::Clear
    } else if cli.add_server {
        Request::AddReal {
            service: need_service(cli)?,
            address: real()?,
            forward: forward(cli),
            weight: cli.weight,
            u_threshold: cli.u_threshold,
            l_threshold: cli.l_threshold,
        }
    } else if cli.edit_server {
        Request::EditReal {
            service: need_service(cli)?,
            address: real()?,
            forward: forward(cli),
            weight: cli.weight,
            u_threshold: cli.u_threshold,
            l_threshold: cli.l_threshold,
        }
    } else if cli.delete_server {
        Request::DelReal { service: need_service(cli)?, address: real()? }
    } else if cli.zero {
        Request::Zero { service: service(cli)? }
    } else if cli.reload {
        Request::Reload
    } else if let Some(s) = &cli.set {
        Request::SetTimeouts { tcp: s[0], tcpfin: s[1], udp: s[2] }
    } else if let Some(state) = &cli.start_daemon {
        Request::StartDaemon {
            state: state.clone(),
            mcast_interface: cli.mcast_interface.clone(),
            syncid: cli.syncid,
            sync_maxlen: cli.sync_maxlen,
            mcast_group: cli.mcast_group.clone(),
            mcast_port: cli.mcast_port,
            mcast_ttl: cli.mcast_ttl,
        }
    } else if let Some(state) = &cli.stop_daemon {
        Request::StopDaemon { state: state.clone() }
    } else if let Some(worker) = cli.pause_worker {
        Request::PauseWorker { worker, ms: cli.pause_ms }
    } else if let Some(thread) = &cli.pause_thread {
        Request::PauseThread { thread: thread.clone(), ms: cli.pause_ms }
    } else {
        return Ok(None);
    }))
}

/// ipvsadm options rvsd cannot honour: refused by name, never taken for something else.
fn unsupported(cli: &Cli) -> Option<&'static str> {
    [
        (cli.ops, "-o/--ops: one-packet scheduling is not supported (for JSON output use --json)"),
        (cli.fwmark.is_some(), "-f/--fwmark-service: firewall-mark services are not supported"),
        (cli.ipv6, "-6/--ipv6: firewall-mark services are not supported"),
        (cli.pe.is_some(), "--pe: persistence engines are not supported"),
    ]
    .into_iter()
    .find_map(|(given, why)| given.then_some(why))
}

fn run(cli: &Cli) -> Result<String> {
    if let Some(why) = unsupported(cli) {
        bail!("{why}");
    }
    if cli.check_host {
        let d = match rvsd::config::Config::load(&cli.config) {
            Ok(c) => rvs_tools::check_host::Deployment {
                devices: c.ports.iter().map(|p| p.device.clone()).collect(),
                lcores: c.lcores.clone(),
            },
            Err(e) => {
                eprintln!("rvsadm: {e}: checking the host without ports or workers");
                Default::default()
            }
        };
        let (text, all) =
            rvs_tools::check_host::render(&rvs_tools::check_host::check(&rvs_tools::check_host::this_host(), &d));
        if !all {
            print!("{text}");
            std::process::exit(1);
        }
        return Ok(text);
    }
    if let Some(path) = &cli.import_keepalived {
        let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let r = rvs_tools::keepalived_import::import(&text);
        for s in &r.skipped {
            eprintln!("rvsadm: {}: not carried over: {s}", path.display());
        }
        let head = format!(
            "# {} service(s) imported from {} by rvsadm --import-keepalived; {} item(s) not carried over (see stderr)\n\n",
            r.services,
            path.display(),
            r.skipped.len()
        );
        return Ok(head + &r.toml);
    }
    if cli.version {
        return Ok(format!("rvsadm {} (ipvsadm-compatible verbs for rvsd)\n", env!("CARGO_PKG_VERSION")));
    }
    let json_out = cli.json || cli.output.as_deref() == Some("json");
    if let Some(f) = cli.output.as_deref().filter(|f| *f != "json") {
        bail!("-o {f}: the only output format is json");
    }
    if cli.restore {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        let mut c = Client::connect(cli)?;
        for (n, line) in
            text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        {
            let words = std::iter::once("rvsadm").chain(line.split_whitespace());
            let rule = Cli::try_parse_from(words)
                .map_err(|e| anyhow!("line {}: {}", n + 1, e.to_string().lines().next().unwrap_or("")))?;
            if let Some(why) = unsupported(&rule) {
                bail!("line {}: {why}", n + 1);
            }
            let req = request(&rule)?.ok_or_else(|| anyhow!("line {}: not a rule: {line}", n + 1))?;
            c.call::<Value>(&req).with_context(|| format!("line {}: {line}", n + 1))?;
        }
        return Ok(String::new());
    }
    let mut c = Client::connect(cli)?;
    if let Some(req) = request(cli)? {
        let r: Option<Value> = c.call(&req)?;
        return Ok(r.as_ref().and_then(Value::as_str).map(|s| format!("{s}\n")).unwrap_or_default());
    }
    if cli.list && cli.connection {
        let conns: Vec<ConnEntry> = c.call(&Request::Connections)?.unwrap_or_default();
        if json_out {
            return Ok(format!("{}\n", serde_json::to_string(&conns)?));
        }
        let mut o = String::from(
            "IPVS connection entries\npro expire state       source                virtual               destination\n",
        );
        for k in &conns {
            let e = k.expires_in;
            o += &format!(
                "{:<3} {:02}:{:02}  {:<11} {:<21} {:<21} {}\n",
                k.protocol.to_uppercase(),
                e / 60,
                e % 60,
                k.state,
                k.source,
                k.virtual_,
                k.destination
            );
        }
        return Ok(o);
    }
    if cli.list && cli.daemon {
        let d: Vec<DaemonReply> = c.call(&Request::Daemons)?.unwrap_or_default();
        return Ok(if json_out { format!("{}\n", serde_json::to_string(&d)?) } else { daemon_lines(&d) });
    }
    if cli.list && cli.timeout {
        let t: TimeoutsReply = c.call(&Request::Timeouts)?.context("no timeouts in the answer")?;
        return Ok(if json_out {
            format!("{}\n", serde_json::to_string(&t)?)
        } else {
            format!("Timeout (tcp tcpfin udp): {} {} {}\n", t.tcp, t.tcpfin, t.udp)
        });
    }
    let mut list: Report = c.call(&Request::List { service: service(cli)? })?.context("no listing in the answer")?;
    if !cli.nosort {
        sort_listing(&mut list.services);
    }
    if json_out {
        return Ok(format!(
            "{}\n",
            if cli.save { serde_json::to_string(&list.services)? } else { serde_json::to_string(&list)? }
        ));
    }
    let services = &list.services;
    Ok(if cli.save {
        save(services)
    } else if cli.rate {
        rate_table(services)
    } else if cli.stats {
        stats_table(services) + &defences(&list)
    } else if cli.thresholds {
        real_columns_table(services, "Uthreshold Lthreshold ActiveConn InActConn", |r| {
            format!("{:<10} {:<10} {:<10} {:<10}", r.u_threshold, r.l_threshold, r.active, r.inactive)
        })
    } else if cli.persistent_conn {
        real_columns_table(services, "Weight    PersistConn ActiveConn InActConn", |r| {
            format!("{:<9} {:<11} {:<10} {:<10}", r.weight, r.persist_conns, r.active, r.inactive)
        })
    } else {
        table(services)
    })
}

/// Sorts services by protocol, address and port and each one's real servers by address and
/// port, as ipvsadm does unless `--nosort` (`ipvs_cmp_services`, `ipvs_cmp_dests`).
fn sort_listing(services: &mut [ServiceReport]) {
    // IPv4 before IPv6 (the address family first, as `ipvs_cmp_services`), then numerically.
    fn addr(a: &str) -> std::net::IpAddr {
        a.parse().unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }
    let proto = |p: &str| p.parse::<Protocol>().map_or(0, Protocol::number);
    services.sort_by_key(|s| (addr(&s.vip).is_ipv6(), proto(&s.protocol), addr(&s.vip), s.port));
    for s in services {
        s.reals.sort_by_key(|r| (addr(&r.address), r.port));
    }
}

fn fwd_name(f: &str) -> &'static str {
    match f.parse::<Forward>() {
        Ok(Forward::Nat) => "Masq",
        Ok(Forward::Tunnel) => "Tunnel",
        _ => "Route",
    }
}

/// A persistence netmask as ipvsadm prints it: dotted for IPv4, a prefix length for IPv6.
fn mask(prefix: u8, v6: bool) -> String {
    if v6 {
        return prefix.to_string();
    }
    let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
    std::net::Ipv4Addr::from(m).to_string()
}

/// `ADDR:PORT`, an IPv6 address in brackets (`[2001:db8::1]:80`), as ipvsadm writes them.
fn addr_port(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

fn svc_name(s: &ServiceReport) -> (String, String) {
    (s.protocol.to_uppercase(), addr_port(&s.vip, s.port))
}

/// The service's default netmask: the whole address.
fn full_mask(s: &ServiceReport) -> u8 {
    if s.vip.contains(':') {
        128
    } else {
        32
    }
}

fn persistence_flags(s: &ServiceReport) -> String {
    let sched = if s.sched_flags.is_empty() { String::new() } else { format!(" ({})", s.sched_flags) };
    match (s.persistence, s.netmask) {
        (0, _) => sched,
        (p, m) if m == full_mask(s) => format!("{sched} persistent {p}"),
        (p, m) => format!("{sched} persistent {p} mask {}", mask(m, s.vip.contains(':'))),
    }
}

/// `-L -n`, as ipvsadm lays it out.
fn table(services: &[ServiceReport]) -> String {
    let mut o = String::from("IP Virtual Server version 1.2.1 (rvs)\n");
    o += "Prot LocalAddress:Port Scheduler Flags\n";
    o += "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
    for s in services {
        let (proto, name) = svc_name(s);
        o += &format!("{proto}  {name} {}{}{}\n", s.scheduler, persistence_flags(s), held_mark(s));
        for r in &s.reals {
            let addr = addr_port(&r.address, r.port);
            o += &format!(
                "  -> {addr:<28} {:<7} {:<6} {:<10} {:<10}{}\n",
                fwd_name(&r.forward),
                r.weight,
                r.active,
                r.inactive,
                overload_mark(r)
            );
        }
    }
    o
}

/// After a service's row while this director does not serve its VIP (VRRP BACKUP for it).
fn held_mark(s: &ServiceReport) -> &'static str {
    if s.held {
        ""
    } else {
        " (VIP not held: VRRP backup)"
    }
}

/// After a real server's row while it is at its upper threshold (ipvsadm shows nothing; a
/// row without the mark reads exactly as ipvsadm's).
fn overload_mark(r: &RealReport) -> &'static str {
    if r.overloaded {
        " overloaded"
    } else {
        ""
    }
}

/// `-L -n --thresholds` and `--persistent-conn`: ipvsadm's layout, four columns per real server.
fn real_columns_table(services: &[ServiceReport], header: &str, row: impl Fn(&RealReport) -> String) -> String {
    let mut o = String::from("IP Virtual Server version 1.2.1 (rvs)\n");
    o += &format!("Prot LocalAddress:Port            {header}\n");
    o += "  -> RemoteAddress:Port\n";
    for s in services {
        let (proto, name) = svc_name(s);
        o += &format!("{proto}  {name} {}{}{}\n", s.scheduler, persistence_flags(s), held_mark(s));
        for r in &s.reals {
            let addr = addr_port(&r.address, r.port);
            o += &format!("  -> {addr:<28} {}{}\n", row(r), overload_mark(r));
        }
    }
    o
}

/// Five counters per service and per real server under `header` (`--stats`, `--rate`).
fn counters_table(
    services: &[ServiceReport],
    header: [&str; 5],
    figures: impl Fn(&ServiceReport, Option<&RealReport>) -> [u64; 5],
) -> String {
    let mut o = String::from("IP Virtual Server version 1.2.1 (rvs)\n");
    o += &format!(
        "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        "Prot LocalAddress:Port", header[0], header[1], header[2], header[3], header[4]
    );
    o += "  -> RemoteAddress:Port\n";
    let row = |label: String, f: [u64; 5]| {
        format!("{label:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n", f[0], f[1], f[2], f[3], f[4])
    };
    for s in services {
        let (proto, name) = svc_name(s);
        o += &row(format!("{proto}  {name}"), figures(s, None));
        for r in &s.reals {
            o += &row(format!("  -> {}", addr_port(&r.address, r.port)), figures(s, Some(r)));
        }
    }
    o
}

/// `-L -n --stats`, exact numbers.
fn stats_table(services: &[ServiceReport]) -> String {
    counters_table(services, ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"], |s, r| match r {
        Some(r) => [r.conns, r.pkts_in, r.pkts_out, r.bytes_in, r.bytes_out],
        None => [s.conns, s.pkts_in, s.pkts_out, s.bytes_in, s.bytes_out],
    })
}

/// Below `--stats`' table (after a blank line, so that ipvsadm's rows stay as they are): what
/// the overload defences did, summed over workers, and each worker's table pressure.
fn defences(r: &Report) -> String {
    let n = |k: &str| r.dataplane.get(k).copied().unwrap_or(0);
    format!(
        "\nOverload defences: evicted {} stateless_forwarded {} refused {} level_changes {} pressure {}\n",
        n("evicted"),
        n("stateless_forwarded"),
        n("refused"),
        n("level_changes"),
        if r.per_core_pressure.is_empty() { "-".to_owned() } else { r.per_core_pressure.join(",") }
    )
}

/// `-L -n --rate`: smoothed per-second rates, as ipvsadm's columns.
fn rate_table(services: &[ServiceReport]) -> String {
    counters_table(services, ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"], |s, r| {
        let t = r.map_or(&s.rates, |r| &r.rates);
        [t.cps, t.inpps, t.outpps, t.inbps, t.outbps]
    })
}

/// `-L --daemon`, as ipvsadm 1.31 prints it.
fn daemon_lines(d: &[DaemonReply]) -> String {
    d.iter()
        .map(|r| {
            format!(
                "{} sync daemon (mcast={}, syncid={}, maxlen={}, group={}, port={}, ttl={})\n",
                r.state, r.mcast_ifn, r.syncid, r.maxlen, r.group, r.mcast_port, r.ttl
            )
        })
        .collect()
}

/// `-S -n`: the rules as ipvsadm prints them.
fn save(services: &[ServiceReport]) -> String {
    let mut o = String::new();
    for s in services {
        let flag = if s.protocol == "udp" { "-u" } else { "-t" };
        let name = addr_port(&s.vip, s.port);
        o += &format!("-A {flag} {name} -s {}", s.scheduler);
        if !s.sched_flags.is_empty() {
            o += &format!(" -b {}", s.sched_flags);
        }
        if s.persistence > 0 {
            o += &format!(" -p {}", s.persistence);
            if s.netmask != full_mask(s) {
                o += &format!(" -M {}", mask(s.netmask, s.vip.contains(':')));
            }
        }
        o += "\n";
        for r in &s.reals {
            let f = match r.forward.parse::<Forward>() {
                Ok(Forward::Nat) => "-m",
                Ok(Forward::Tunnel) => "-i",
                _ => "-g",
            };
            o += &format!("-a {flag} {name} -r {} {f} -w {}", addr_port(&r.address, r.port), r.configured_weight);
            if r.u_threshold > 0 {
                o += &format!(" -x {}", r.u_threshold);
            }
            if r.l_threshold > 0 {
                o += &format!(" -y {}", r.l_threshold);
            }
            o += "\n";
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("rvsadm").chain(args.split_whitespace()))
    }

    /// Every option of ipvsadm 1.31 that takes a short letter, with the meaning ipvsadm gives it.
    #[test]
    fn short_options_mean_what_ipvsadm_s_mean() {
        let c = parse("-A -t 10.0.0.1:80 -s rr -p 60 -M 255.255.255.0").unwrap();
        assert!(c.add_service && c.tcp.is_some() && c.scheduler.as_deref() == Some("rr"));
        assert_eq!((c.persistent, c.netmask.as_deref()), (Some(60), Some("255.255.255.0")));
        assert_eq!(parse("-E -u 10.0.0.1:53 -p").unwrap().persistent, Some(300), "-p alone: 300 s");
        assert!(parse("-D -t 10.0.0.1:80").unwrap().delete_service);
        assert!(parse("-C").unwrap().clear);
        let r = parse("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3 -x 50 -y 20").unwrap();
        assert!(r.add_server && r.masquerading && r.weight == Some(3));
        assert_eq!((r.u_threshold, r.l_threshold), (Some(50), Some(20)), "-x/-y are the thresholds");
        assert!(parse("-e -t 10.0.0.1:80 -r 10.0.1.1 -g").unwrap().gatewaying);
        assert!(parse("-d -t 10.0.0.1:80 -r 10.0.1.1 -i").unwrap().ipip);
        for l in ["-L", "-l"] {
            assert!(parse(l).unwrap().list);
        }
        let l = parse("-L -n -c -X").unwrap();
        assert!(l.numeric && l.connection && l.exact, "-X is --exact");
        assert!(parse("-Z").unwrap().zero);
        assert!(parse("-S -n").unwrap().save);
        assert!(parse("-R").unwrap().restore);
        assert!(parse("-v").unwrap().version, "-v is --version");
        assert!(parse("-A -u 10.0.0.1:53 -o").unwrap().ops, "-o is --ops, not an output format");
        assert!(parse("-L -o json").is_err(), "-o takes no value");
        assert_eq!(parse("-A -f 1").unwrap().fwmark.as_deref(), Some("1"));
        assert!(parse("-A -f 1 -6").unwrap().ipv6);
        assert_eq!(parse("-A -t 10.0.0.1:80 -s mh -b mh-port").unwrap().sched_flags.as_deref(), Some("mh-port"));
        assert!(parse("-h").is_err_and(|e| e.kind() == clap::error::ErrorKind::DisplayHelp));
    }

    #[test]
    fn long_only_options_of_ipvsadm() {
        assert_eq!(parse("--set 900 120 300").unwrap().set, Some(vec![900, 120, 300]));
        let l = parse("-L --stats --rate --timeout --nosort --sort --exact").unwrap();
        assert!(l.stats && l.rate && l.timeout && l.nosort && l.sort && l.exact);
        assert!(parse("-L --json").unwrap().json);
        assert_eq!(parse("-L --output json").unwrap().output.as_deref(), Some("json"));
    }

    #[test]
    fn options_rvsd_cannot_honour_are_refused_by_name() {
        for (args, name) in [
            ("-A -u 10.0.0.1:53 -o", "-o/--ops"),
            ("-A -f 1", "-f/--fwmark-service"),
            ("-A -t 10.0.0.1:80 --pe sip", "--pe"),
        ] {
            let e = run(&parse(args).unwrap()).unwrap_err().to_string();
            assert!(e.starts_with(name), "{args}: {e}");
        }
    }

    fn svc(protocol: &str, vip: &str, reals: &[(&str, u16)]) -> ServiceReport {
        let real = |(address, port): &(&str, u16)| RealReport {
            address: (*address).into(),
            port: *port,
            forward: "dr".into(),
            weight: 1,
            configured_weight: 1,
            health: "unchecked".into(),
            last_check: None,
            u_threshold: 0,
            l_threshold: 0,
            overloaded: false,
            persist_conns: 0,
            active: 0,
            inactive: 0,
            conns: 0,
            pkts_in: 0,
            pkts_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            rates: Default::default(),
        };
        ServiceReport {
            protocol: protocol.into(),
            vip: vip.into(),
            port: 80,
            scheduler: "wlc".into(),
            sched_flags: String::new(),
            persistence: 0,
            netmask: 32,
            conns: 0,
            pkts_in: 0,
            pkts_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            rates: Default::default(),
            held: true,
            reals: reals.iter().map(real).collect(),
        }
    }

    #[test]
    fn scheduler_flags_list_and_save_as_ipvsadm() {
        let mut s = svc("tcp", "10.0.0.1", &[]);
        s.scheduler = "mh".into();
        s.sched_flags = "mh-fallback,mh-port".into();
        assert!(table(&[s.clone()]).contains("TCP  10.0.0.1:80 mh (mh-fallback,mh-port)\n"), "{}", table(&[s.clone()]));
        assert!(
            save(&[s.clone()]).starts_with("-A -t 10.0.0.1:80 -s mh -b mh-fallback,mh-port\n"),
            "{}",
            save(&[s.clone()])
        );
        s.persistence = 300;
        assert!(table(&[s.clone()]).contains("mh (mh-fallback,mh-port) persistent 300\n"));
        let c = parse("-A -t 10.0.0.1:80 -s sh -b sh-fallback,sh-port").unwrap();
        match request(&c).unwrap() {
            Some(Request::AddService { sched_flags, .. }) => {
                assert_eq!(sched_flags.as_deref(), Some("sh-fallback,sh-port"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn listings_sort_as_ipvsadm_unless_nosort() {
        let mut l = vec![
            svc("udp", "10.0.0.1", &[]),
            svc("tcp", "10.0.0.9", &[]),
            svc("tcp", "10.0.0.10", &[("10.0.1.12", 80), ("10.0.1.2", 81), ("10.0.1.2", 80)]),
        ];
        sort_listing(&mut l);
        let order: Vec<String> = l.iter().map(|s| format!("{} {}", s.protocol, s.vip)).collect();
        assert_eq!(order, ["tcp 10.0.0.9", "tcp 10.0.0.10", "udp 10.0.0.1"], "numeric order, TCP before UDP");
        let reals: Vec<String> = l[1].reals.iter().map(|r| format!("{}:{}", r.address, r.port)).collect();
        assert_eq!(reals, ["10.0.1.2:80", "10.0.1.2:81", "10.0.1.12:80"]);
    }

    #[test]
    fn ipv6_services_list_save_and_sort_as_ipvsadm() {
        let mut v6 = svc("tcp", "2001:db8::100", &[("2001:db8:1::12", 8080), ("2001:db8:1::11", 8080)]);
        v6.netmask = 128;
        let mut l = vec![v6.clone(), svc("udp", "10.0.0.1", &[])];
        sort_listing(&mut l);
        assert_eq!(l[0].vip, "10.0.0.1", "IPv4 before IPv6, as ipvsadm sorts by family first");
        let t = table(&l);
        assert!(t.contains("TCP  [2001:db8::100]:80 wlc\n"), "{t}");
        assert!(t.contains("  -> [2001:db8:1::11]:8080"), "{t}");
        assert!(t.find("[2001:db8:1::11]") < t.find("[2001:db8:1::12]"), "reals sorted: {t}");
        v6.persistence = 300;
        v6.netmask = 64;
        assert!(table(&[v6.clone()]).contains("wlc persistent 300 mask 64\n"));
        let saved = save(&[v6.clone()]);
        assert!(saved.starts_with("-A -t [2001:db8::100]:80 -s wlc -p 300 -M 64\n"), "{saved}");
        assert!(saved.contains("-a -t [2001:db8::100]:80 -r [2001:db8:1::12]:8080 -g -w 1\n"), "{saved}");
        // What -S writes, -R reads.
        for line in saved.lines() {
            let c = Cli::try_parse_from(std::iter::once("rvsadm").chain(line.split_whitespace())).unwrap();
            assert!(request(&c).unwrap().is_some(), "{line}");
        }
        let c = parse("-A -t [2001:db8::100]:80 -s wlc -p 300 -M 64").unwrap();
        match request(&c).unwrap() {
            Some(Request::AddService { service, netmask, .. }) => {
                assert_eq!(service.key().unwrap().vip, "2001:db8::100".parse::<std::net::IpAddr>().unwrap());
                assert_eq!(netmask.as_deref(), Some("64"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn thresholds_and_persistent_conn_listings_as_ipvsadm_with_the_overload_mark() {
        let mut s = svc("tcp", "172.25.116.175", &[("192.168.1.180", 80), ("192.168.1.182", 80)]);
        s.scheduler = "rr".into();
        s.reals[1].u_threshold = 10000;
        s.reals[1].l_threshold = 100;
        s.reals[1].active = 7;
        s.reals[1].persist_conns = 3;
        let t = real_columns_table(std::slice::from_ref(&s), "Uthreshold Lthreshold ActiveConn InActConn", |r| {
            format!("{:<10} {:<10} {:<10} {:<10}", r.u_threshold, r.l_threshold, r.active, r.inactive)
        });
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[1], "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn");
        assert_eq!(lines[3], "TCP  172.25.116.175:80 rr");
        assert_eq!(lines[4], "  -> 192.168.1.180:80             0          0          0          0         ");
        assert_eq!(lines[5], "  -> 192.168.1.182:80             10000      100        7          0         ");
        s.reals[1].overloaded = true;
        let plain = table(std::slice::from_ref(&s));
        assert!(plain.lines().nth(5).unwrap().ends_with(" overloaded"), "{plain}");
        assert!(!plain.lines().nth(4).unwrap().contains("overloaded"), "{plain}");
        let saved = save(std::slice::from_ref(&s));
        assert!(saved.contains("-a -t 172.25.116.175:80 -r 192.168.1.182:80 -g -w 1 -x 10000 -y 100\n"), "{saved}");
        let p = parse("-a -t 10.0.0.1:80 -r 10.0.1.1 -x 5 -y 2").unwrap();
        assert_eq!((p.u_threshold, p.l_threshold), (Some(5), Some(2)));
        assert!(parse("-L -n --thresholds").unwrap().thresholds);
        assert!(parse("-L -n --persistent-conn").unwrap().persistent_conn);
    }
}
