//! rvsadm: ipvsadm's verbs for rvsd, over its control socket (one JSON request per line).
//!
//! ```text
//! rvsadm -A -t|-u VIP:PORT [-s SCHED] [-p [SECONDS]] [-M NETMASK] [-b FLAGS] [-o]
//! rvsadm -E -t|-u VIP:PORT [-s SCHED] [-p [SECONDS]] [-M NETMASK] [-b FLAGS] [-o|--ops=off]
//! rvsadm -D -t|-u VIP:PORT            rvsadm -C
//! rvsadm -a|-e -t|-u VIP:PORT -r RIP[:PORT] [-m|-g|-i] [-w WEIGHT] [-x UPPER] [-y LOWER]
//!        [--tun-type ipip|gue|gre] [--tun-port PORT] [--tun-nocsum|--tun-csum|--tun-remcsum]
//!        [--slow-start SECONDS] [--drain [--deadline SECONDS]]
//! rvsadm -d -t|-u VIP:PORT -r RIP[:PORT]
//! rvsadm -L|-l [-n] [--stats|--rate|--thresholds|--persistent-conn|--tun-info|-c|--timeout] [--nosort]
//!              [-t|-u VIP:PORT] [--json]
//! rvsadm -Z [-t|-u VIP:PORT]          rvsadm --set TCP TCPFIN UDP
//! rvsadm --set-knob NAME VALUE         rvsadm -L --knobs
//! rvsadm -S [-n]                      rvsadm -R < rules
//! rvsadm --start-daemon master|backup [--mcast-interface PORT] [--syncid N] [--sync-maxlen N]
//!        [--mcast-group ADDR] [--mcast-port N] [--mcast-ttl N]
//! rvsadm --stop-daemon master|backup   rvsadm -L --daemon
//! rvsadm --import-keepalived keepalived.conf >> rvs.toml
//! ```
//! Errors: one line on stderr naming what was wrong, exit status 1 (2 for a bad command line);
//! the daemon's state is unchanged.

use anyhow::{anyhow, bail, Context, Result};
use clap::{CommandFactory, Parser};
use rvs_core::service::{Forward, Protocol};
use rvsd::control::local_addrs::LaddrReport;
use rvsd::control::mark_rules::MarkRuleSpec;
use rvsd::control::proto::{ConnEntry, DaemonReply, Reply, Request, SvcSpec, TimeoutsReply};
use rvsd::control::snat_rules::{SnatReport, SnatRuleSpec};
use rvsd::stats::Report;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

mod cli;
mod listing;
#[cfg(test)]
mod tests;

use cli::Cli;
use listing::*;

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
    let spec = |p: &str, a: &String| SvcSpec { protocol: p.to_owned(), address: a.clone(), ipv6: false };
    let given = [
        cli.tcp.as_ref().map(|a| spec(Protocol::Tcp.as_str(), a)),
        cli.udp.as_ref().map(|a| spec(Protocol::Udp.as_str(), a)),
        cli.sctp.as_ref().map(|a| spec(Protocol::Sctp.as_str(), a)),
        cli.fwmark.as_ref().map(|m| SvcSpec { ipv6: cli.ipv6, ..spec("fwmark", m) }),
    ];
    let mut given = given.into_iter().flatten();
    match (given.next(), given.next()) {
        (one, None) => Ok(one),
        _ => bail!("-t, -u, --sctp-service and -f: give one service"),
    }
}

fn need_service(cli: &Cli) -> Result<SvcSpec> {
    service(cli)?
        .ok_or_else(|| anyhow!("a service is needed: -t VIP:PORT, -u VIP:PORT, --sctp-service VIP:PORT or -f FWMARK"))
}

/// The classifier rule `--add-mark-rule`/`--del-mark-rule` name.
fn mark_rule(cli: &Cli) -> Result<MarkRuleSpec> {
    let mark = cli.fwmark.as_deref().ok_or_else(|| anyhow!("a mark is needed: -f FWMARK"))?;
    let mark = mark.parse::<u32>().map_err(|_| anyhow!("-f {mark}: expected a firewall mark 1..=4294967295"))?;
    Ok(MarkRuleSpec {
        mark,
        protocol: cli.proto.clone(),
        destination: cli.dst.clone().ok_or_else(|| anyhow!("a destination is needed: --dst PREFIX"))?,
        ports: cli.dports.clone(),
    })
}

/// The allow or deny list edit that --add/--del-allow/-deny asks for: (list, add, prefixes),
/// the prefixes given and those of --from-file (read and checked here, the line named).
fn access_edit(cli: &Cli) -> Result<Option<(&'static str, bool, Vec<String>)>> {
    let (list, add, given) = match (&cli.add_allow, &cli.del_allow, &cli.add_deny, &cli.del_deny) {
        (Some(p), None, None, None) => ("allow", true, p),
        (None, Some(p), None, None) => ("allow", false, p),
        (None, None, Some(p), None) => ("deny", true, p),
        (None, None, None, Some(p)) => ("deny", false, p),
        (None, None, None, None) => return Ok(None),
        _ => bail!("--add-allow, --del-allow, --add-deny, --del-deny: one at a time"),
    };
    let mut prefixes: Vec<String> =
        given.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if let Some(f) = &cli.from_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("--from-file {}", f.display()))?;
        let list = rvs_core::access::parse_list(&text).map_err(|(line, e)| anyhow!("{}:{line}: {e}", f.display()))?;
        prefixes.extend(list.into_iter().map(|(a, l)| format!("{a}/{l}")));
    }
    if prefixes.is_empty() {
        bail!("no prefix given: --{}-{list} PREFIXES, or --from-file FILE", if add { "add" } else { "del" });
    }
    Ok(Some((list, add, prefixes)))
}

/// The SNAT rule `--add-snat`/`--del-snat` name.
fn snat_rule(cli: &Cli) -> Result<SnatRuleSpec> {
    Ok(SnatRuleSpec {
        source: cli.source.clone().ok_or_else(|| anyhow!("inside hosts are needed: --source PREFIX"))?,
        protocol: cli.proto.clone(),
        out_port: cli.ifname.clone(),
        pool: cli.pool.as_deref().map_or_else(Vec::new, |p| p.split(',').map(|a| a.trim().to_owned()).collect()),
        ports: cli.lports.clone(),
        mapping: cli.mapping.clone(),
        filtering: cli.filtering.clone(),
    })
}

fn forward(cli: &Cli) -> Option<String> {
    let f = if cli.masquerading {
        Forward::Nat
    } else if cli.ipip {
        Forward::Tunnel
    } else if cli.gatewaying {
        Forward::DirectRoute
    } else if cli.fullnat {
        Forward::FullNat
    } else {
        return None;
    };
    Some(f.to_string())
}

/// `--tun-nocsum`, `--tun-csum` or `--tun-remcsum` as the request names it.
fn tun_csum(cli: &Cli) -> Option<String> {
    [(cli.tun_nocsum, "nocsum"), (cli.tun_csum, "csum"), (cli.tun_remcsum, "remcsum")]
        .into_iter()
        .find_map(|(on, name)| on.then(|| name.to_owned()))
}

/// The request a command line stands for (None: a listing or -S/-R).
fn request(cli: &Cli) -> Result<Option<Request>> {
    let real = || cli.real.clone().ok_or_else(|| anyhow!("a real server is needed: -r RIP[:PORT]"));
    let (scheduler, persistence, netmask) = (cli.scheduler.clone(), cli.persistent, cli.netmask.clone());
    let sched_flags = cli.sched_flags.clone();
    let ops = match cli.ops.as_deref() {
        None => None,
        Some("on") => Some(true),
        Some("off") => Some(false),
        Some(v) => bail!("--ops={v}: on or off"),
    };
    let (pe, lports) = (cli.pe.clone(), cli.lports.clone());
    let on_off = |v: Option<&str>, name: &str| match v {
        None => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(v) => Err(anyhow!("--{name} {v}: on or off")),
    };
    let (toa, uoa) = (on_off(cli.toa.as_deref(), "toa")?, on_off(cli.uoa.as_deref(), "uoa")?);
    let synproxy = match cli.synproxy.as_deref() {
        Some("enable") => Some(true),
        Some("disable") => Some(false),
        v => on_off(v, "synproxy")?,
    };
    let laddr = || cli.laddr.clone().ok_or_else(|| anyhow!("a local address is needed: -z ADDR"));
    Ok(Some(if cli.add_service {
        Request::AddService {
            service: need_service(cli)?,
            scheduler,
            sched_flags,
            persistence,
            netmask,
            ops,
            pe,
            lports,
            toa,
            proxy_protocol: cli.proxy_protocol.clone(),
            uoa,
            synproxy,
        }
    } else if cli.edit_service {
        Request::EditService {
            service: need_service(cli)?,
            scheduler,
            sched_flags,
            persistence,
            netmask,
            ops,
            pe,
            lports,
            toa,
            proxy_protocol: cli.proxy_protocol.clone(),
            uoa,
            synproxy,
        }
    } else if cli.add_laddr {
        Request::AddLaddr { service: need_service(cli)?, laddr: laddr()?, ifname: cli.ifname.clone() }
    } else if cli.del_laddr {
        Request::DelLaddr { service: need_service(cli)?, laddr: laddr()? }
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
            slow_start: cli.slow_start,
            drain: cli.drain,
            deadline: cli.deadline,
            tun_type: cli.tun_type.clone(),
            tun_port: cli.tun_port,
            tun_csum: tun_csum(cli),
        }
    } else if cli.edit_server {
        Request::EditReal {
            service: need_service(cli)?,
            address: real()?,
            forward: forward(cli),
            weight: cli.weight,
            u_threshold: cli.u_threshold,
            l_threshold: cli.l_threshold,
            slow_start: cli.slow_start,
            drain: cli.drain,
            deadline: cli.deadline,
            tun_type: cli.tun_type.clone(),
            tun_port: cli.tun_port,
            tun_csum: tun_csum(cli),
        }
    } else if cli.delete_server {
        Request::DelReal { service: need_service(cli)?, address: real()? }
    } else if cli.zero {
        Request::Zero { service: service(cli)? }
    } else if cli.reload {
        Request::Reload
    } else if let Some(s) = &cli.set {
        Request::SetTimeouts { tcp: s[0], tcpfin: s[1], udp: s[2] }
    } else if cli.add_mark_rule {
        Request::AddMarkRule { rule: mark_rule(cli)? }
    } else if cli.del_mark_rule {
        Request::DelMarkRule { rule: mark_rule(cli)? }
    } else if let Some((list, add, prefixes)) = access_edit(cli)? {
        Request::EditAccess { service: service(cli)?, list: list.into(), add, prefixes }
    } else if cli.add_snat {
        Request::AddSnat { rule: snat_rule(cli)? }
    } else if cli.del_snat {
        Request::DelSnat { rule: snat_rule(cli)? }
    } else if let Some(k) = &cli.set_knob {
        Request::SetKnob { name: k[0].clone(), value: k[1].clone() }
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

/// Options given with a command they do not belong to, as ipvsadm's
/// `commands_v_options` table refuses them (e.g. `-L -o`).
fn misplaced(cli: &Cli) -> Option<&'static str> {
    let svc_edit = cli.add_service || cli.edit_service;
    let real_edit = cli.add_server || cli.edit_server;
    let tunnel = cli.tun_type.is_some() || cli.tun_port.is_some() || cli.tun_nocsum || cli.tun_csum || cli.tun_remcsum;
    [
        (cli.ops.is_some() && !svc_edit, "-o/--ops: only with -A or -E"),
        (cli.pe.is_some() && !svc_edit, "--pe: only with -A or -E"),
        (
            (cli.toa.is_some() || cli.uoa.is_some() || cli.proxy_protocol.is_some() || cli.synproxy.is_some())
                && !svc_edit,
            "--toa/--uoa/--proxy-protocol/--synproxy: only with -A or -E",
        ),
        (cli.lports.is_some() && !(svc_edit || cli.add_snat), "--lports: only with -A, -E or --add-snat"),
        (
            (cli.pool.is_some() || cli.mapping.is_some() || cli.filtering.is_some()) && !cli.add_snat,
            "--pool/--mapping/--filtering: only with --add-snat",
        ),
        (cli.source.is_some() && !(cli.add_snat || cli.del_snat), "--source: only with --add-snat or --del-snat"),
        (
            cli.from_file.is_some()
                && [&cli.add_allow, &cli.del_allow, &cli.add_deny, &cli.del_deny].iter().all(|o| o.is_none()),
            "--from-file: only with --add/--del-allow or --add/--del-deny",
        ),
        (cli.fullnat && !real_edit, "--fullnat: only with -a or -e"),
        (
            (cli.laddr.is_some() && !(cli.add_laddr || cli.del_laddr))
                || (cli.ifname.is_some() && !(cli.add_laddr || cli.add_snat || cli.del_snat)),
            "-z/--laddr: only with --add-laddr or --del-laddr; -F/--ifname: only with --add-laddr or --add/--del-snat",
        ),
        (tunnel && !real_edit, "--tun-type/--tun-port/--tun-*csum: only with -a or -e"),
        ((cli.slow_start.is_some() || cli.drain) && !real_edit, "--slow-start/--drain: only with -a or -e"),
        (cli.ipv6 && cli.fwmark.is_none(), "-6/--ipv6: only with -f (a VIP has its own family)"),
        (
            (cli.dst.is_some() || cli.dports.is_some()) && !(cli.add_mark_rule || cli.del_mark_rule),
            "--dst/--dports: only with --add-mark-rule or --del-mark-rule",
        ),
        (
            cli.proto.is_some() && !(cli.add_mark_rule || cli.del_mark_rule || cli.add_snat || cli.del_snat),
            "--proto: only with --add/--del-mark-rule or --add/--del-snat",
        ),
    ]
    .into_iter()
    .find_map(|(given, why)| given.then_some(why))
}

fn run(cli: &Cli) -> Result<String> {
    if let Some(why) = misplaced(cli) {
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
            if let Some(why) = misplaced(&rule) {
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
        return Ok(conn_lines(&conns));
    }
    if cli.get_laddr {
        let l: Vec<LaddrReport> = c.call(&Request::GetLaddr { service: service(cli)? })?.unwrap_or_default();
        return Ok(if json_out { format!("{}\n", serde_json::to_string(&l)?) } else { laddr_lines(&l) });
    }
    if cli.list && cli.daemon {
        let d: Vec<DaemonReply> = c.call(&Request::Daemons)?.unwrap_or_default();
        return Ok(if json_out { format!("{}\n", serde_json::to_string(&d)?) } else { daemon_lines(&d) });
    }
    if cli.list && cli.knobs {
        let k: std::collections::BTreeMap<String, u32> = c.call(&Request::Knobs)?.context("no knobs in the answer")?;
        return Ok(if json_out {
            format!("{}\n", serde_json::to_string(&k)?)
        } else {
            k.iter().map(|(n, v)| format!("{n} = {v}\n")).collect()
        });
    }
    if cli.list && cli.clients {
        let list: Report = c.call(&Request::List { service: None })?.context("no listing in the answer")?;
        return Ok(if json_out {
            format!("{}\n", serde_json::to_string(&list.top_clients)?)
        } else {
            client_lines(&list.top_clients)
        });
    }
    if cli.list && cli.access {
        let list: Report = c.call(&Request::List { service: None })?.context("no listing in the answer")?;
        return Ok(if json_out {
            format!("{}\n", serde_json::to_string(&list.access)?)
        } else {
            access_lines(&list.access)
        });
    }
    if cli.list && cli.snat {
        let rules: Vec<SnatReport> = c.call(&Request::Snat)?.unwrap_or_default();
        return Ok(if json_out { format!("{}\n", serde_json::to_string(&rules)?) } else { snat_lines(&rules) });
    }
    if cli.list && cli.mark_rules {
        let rules: Vec<MarkRuleSpec> = c.call(&Request::MarkRules)?.unwrap_or_default();
        return Ok(if json_out { format!("{}\n", serde_json::to_string(&rules)?) } else { mark_rule_lines(&rules) });
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
        // The classifier's rules after the services, as --add-mark-rule lines -R reads back.
        let rules: Vec<MarkRuleSpec> = c.call(&Request::MarkRules)?.unwrap_or_default();
        let snat: Vec<SnatReport> = c.call(&Request::Snat)?.unwrap_or_default();
        save(services) + &save_mark_rules(&rules) + &save_snat(&snat)
    } else if cli.rate {
        rate_table(services)
    } else if cli.stats {
        stats_table(services) + &defences(&list)
    } else if cli.thresholds {
        real_columns_table(services, "Uthreshold Lthreshold ActiveConn InActConn", |r| {
            format!("{:<10} {:<10} {:<10} {:<10}", r.u_threshold, r.l_threshold, r.active, r.inactive)
        })
    } else if cli.tun_info {
        tunnel_table(services)
    } else if cli.persistent_conn {
        real_columns_table(services, "Weight    PersistConn ActiveConn InActConn", |r| {
            format!("{:<9} {:<11} {:<10} {:<10}", r.weight, r.persist_conns, r.active, r.inactive)
        })
    } else {
        table(services)
    })
}
