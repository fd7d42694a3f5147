//! The control socket: a Unix stream socket (mode 0600), one JSON request per line, one JSON
//! reply per line. Each client is served on its own thread with an idle timeout, a line-length
//! limit and a cap on concurrent clients, so a slow or dead client never stalls the daemon (the
//! dataplane never waits for the control plane at all).

use super::live_config::{LiveConfig, OpError};
use super::proto::{
    parse_addr_port, parse_real_addr, real_opts, svc_opts, LifeArgs, Reply, Request, TimeoutsReply, TunArgs,
};
use crate::stats::{Baseline, Report};
use crate::supervision::ThreadBeat;
use serde_json::Value;
use std::io::{BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::limits::{read_line_bounded, LineRead, IDLE, MAX_CLIENTS, MAX_LINE};

/// How current a report must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Ask every worker for a report now and wait (bounded) for them: for listings. Never
    /// called with the LiveConfig mutex held.
    Wait,
    /// The workers' latest reports (at most ~200 ms old), without waiting.
    Latest,
}

/// What the control plane needs from the dataplane: the daemon's workers, or a stand-in.
pub trait Dataplane: Sync {
    /// Hands the workers a new configuration (they pick it up at their next burst boundary).
    fn publish(&self, snap: rvs_core::Snapshot);
    /// The statistics of `config`'s objects, less `base`.
    fn report(&self, config: &LiveConfig, base: &Baseline, fresh: Freshness) -> Report;
    /// Every worker's connections (copies, collected without the LiveConfig mutex).
    fn connections(&self) -> Result<Vec<crate::conn_list::ConnRecord>, String>;
    /// Fault injection: worker `w` stops polling for `ms` milliseconds.
    fn pause_worker(&self, w: usize, ms: u64) -> Result<(), String>;
    /// Fault injection: supervised control-plane thread `name` stops its loop for `ms`
    /// milliseconds (it takes the pause at its next turn).
    fn pause_thread(&self, name: &str, ms: u64) -> Result<(), String>;
}

/// The control plane: the live configuration and what the requests share.
pub struct Control<'a> {
    /// The live configuration.
    pub state: Mutex<LiveConfig>,
    /// The workers it configures and reads.
    pub dataplane: &'a dyn Dataplane,
    /// Counter baselines set by `-Z`.
    pub baseline: Mutex<Baseline>,
    /// Seconds clock for id quarantine.
    pub t0: Instant,
    /// Rate estimators, sampled every 2 s.
    pub rates: Mutex<super::rates::Estimator>,
    /// The configuration file, for reloads.
    pub config_path: std::path::PathBuf,
}

impl std::fmt::Debug for Control<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> String {
    serde_json::to_string(&Reply::<()>::refused(e)).unwrap_or_default()
}

impl Control<'_> {
    /// A copy of the live state, taken under the LiveConfig mutex and released at once, for work
    /// that waits (reports): no request waits behind a slow listing.
    pub fn state_copy(&self) -> Result<LiveConfig, &'static str> {
        self.state.lock().map(|g| g.clone()).map_err(|_| "state lock poisoned")
    }

    /// A report with fresh worker figures, taken outside the LiveConfig mutex.
    pub fn fresh_report(&self, base: &Baseline) -> Result<(LiveConfig, Report), &'static str> {
        let st = self.state_copy()?;
        let r = self.dataplane.report(&st, base, Freshness::Wait);
        Ok((st, r))
    }

    /// Builds `config`'s snapshot (once) and hands it to the workers; refuses a configuration
    /// that does not validate, changing nothing.
    pub fn publish(&self, config: &LiveConfig) -> Result<(), OpError> {
        self.dataplane.publish(config.snapshot()?);
        Ok(())
    }

    /// VRRP: `on_taps` are the addresses now on the exception interfaces; the VIPs among them
    /// are served from now on, the others not. Each change is logged and counted.
    pub fn set_held_vips(&self, on_taps: &std::collections::BTreeSet<std::net::IpAddr>) {
        let Ok(mut guard) = self.state.lock() else { return };
        if !guard.vrrp() {
            return;
        }
        let vips = guard.floating_addrs();
        let held: std::collections::BTreeSet<_> = on_taps.intersection(&vips).copied().collect();
        if held == guard.held {
            return;
        }
        let mut next = guard.clone();
        for v in held.difference(&guard.held) {
            tracing::warn!(vip = %v, "vrrp: VIP taken (MASTER): serving it");
        }
        for v in guard.held.difference(&held) {
            tracing::warn!(vip = %v, "vrrp: VIP released (BACKUP): no longer serving it");
        }
        next.vip_changes += (held.symmetric_difference(&guard.held).count()) as u64;
        next.held = held;
        match self.publish(&next) {
            Ok(()) => *guard = next,
            Err(e) => tracing::error!(error = %e, "vrrp: the new ownership could not be published"),
        }
    }

    /// A request's `proxy_protocol`.
    fn proxy(p: &Option<String>) -> Result<Option<rvs_core::wire::proxy_protocol::ProxyProtocol>, String> {
        p.as_deref()
            .map(|v| v.parse().map_err(|e: rvs_core::service::UnknownName| format!("proxy_protocol: {e}")))
            .transpose()
    }

    /// What `-L` lists: a fresh report less the `-Z` baseline, with the rates (the status page
    /// shows the same).
    pub fn listing_report(&self) -> Result<(LiveConfig, Report), String> {
        let base = self.baseline.lock().map_err(|_| "lock poisoned")?.clone();
        let (st, mut r) = self.fresh_report(&base)?;
        if let Ok(e) = self.rates.lock() {
            e.fill(&mut r);
        }
        Ok((st, r))
    }

    /// ECMP: the VIPs worth announcing ([`LiveConfig::usable_vips`]).
    pub fn usable_vips(&self) -> std::collections::BTreeSet<std::net::IpAddr> {
        self.state.lock().map(|g| g.usable_vips()).unwrap_or_default()
    }

    /// The VIPs held (VRRP) or announced (ECMP).
    pub fn held_vips(&self) -> std::collections::BTreeSet<std::net::IpAddr> {
        self.state.lock().map(|g| g.held.clone()).unwrap_or_default()
    }

    /// ECMP: `announced` are now the VIPs on the exception interfaces. Nothing changes in the
    /// dataplane (it serves every VIP); the report and the change count follow.
    pub fn set_announced_vips(&self, announced: std::collections::BTreeSet<std::net::IpAddr>) {
        let Ok(mut guard) = self.state.lock() else { return };
        guard.vip_changes += announced.symmetric_difference(&guard.held).count() as u64;
        guard.held = announced;
    }

    /// Handles one request line; returns the reply line. A refused request changes nothing.
    pub fn handle(&self, line: &str) -> String {
        let req: Request = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => return err(format!("bad request: {e}")),
        };
        if let Request::Connections = req {
            // Serialized straight from the copies: a million connections never become a tree.
            #[derive(serde::Serialize)]
            struct Listing<'a> {
                ok: bool,
                result: &'a [crate::conn_list::ConnRecord],
            }
            return match self.dataplane.connections() {
                Ok(list) => {
                    serde_json::to_string(&Listing { ok: true, result: &list }).unwrap_or_else(|e| err(e).to_string())
                }
                Err(e) => err(e).to_string(),
            };
        }
        match self.run(req) {
            Ok(v) => serde_json::to_string(&Reply::ok(v)).unwrap_or_else(err),
            Err(e) => err(e),
        }
    }

    fn run(&self, req: Request) -> Result<Value, Box<dyn std::error::Error>> {
        let now = self.t0.elapsed().as_secs();
        // Reads that wait for the workers work on a copy, outside the LiveConfig mutex.
        match &req {
            Request::List { service } => {
                let (st, mut r) = self.listing_report()?;
                if let Some(s) = service {
                    let k = s.key()?;
                    st.service(&k)?;
                    r.services.retain(|x| {
                        x.vip == k.vip.to_string()
                            && x.port == k.port
                            && x.fwmark == k.fwmark
                            && (k.fwmark != 0 || x.protocol == k.protocol.as_str())
                    });
                }
                return Ok(serde_json::to_value(r)?);
            }
            Request::Connections => unreachable!("answered by Control::handle"),
            Request::PauseWorker { worker, ms } => {
                if *ms == 0 || *ms > 60_000 {
                    return Err("ms: 1 ..= 60000".into());
                }
                self.dataplane.pause_worker(*worker, *ms)?;
                tracing::warn!(worker, ms, "worker paused on request (supervision test)");
                return Ok(Value::Null);
            }
            Request::PauseThread { thread, ms } => {
                if *ms == 0 || *ms > 60_000 {
                    return Err("ms: 1 ..= 60000".into());
                }
                self.dataplane.pause_thread(thread, *ms)?;
                tracing::warn!(thread, ms, "control-plane thread paused on request (supervision test)");
                return Ok(Value::Null);
            }
            Request::Timeouts => {
                let t = self.state_copy()?.timeouts;
                return Ok(serde_json::to_value(TimeoutsReply { tcp: t.tcp, tcpfin: t.tcpfin, udp: t.udp })?);
            }
            Request::Knobs => return Ok(serde_json::to_value(self.state_copy()?.knob_values())?),
            Request::MarkRules => return Ok(serde_json::to_value(self.state_copy()?.mark_rule_specs())?),
            Request::Snat => return Ok(serde_json::to_value(self.fresh_report(&Baseline::default())?.1.snat)?),
            Request::GetLaddr { service } => {
                let (st, r) = self.fresh_report(&Baseline::default())?;
                let only = match service {
                    Some(s) => Some(crate::stats::ServiceReport::name_of(st.service(&s.key()?)?)),
                    None => None,
                };
                let mine = r.laddrs.into_iter().filter(|l| only.as_ref().is_none_or(|n| *n == l.service));
                return Ok(serde_json::to_value(mine.collect::<Vec<_>>())?);
            }
            Request::Zero { service } => {
                let only = service.as_ref().map(|s| s.key()).transpose()?;
                let (st, current) = self.fresh_report(&Baseline::default())?;
                let only = match &only {
                    Some(k) => Some(st.service(k)?.id),
                    None => None,
                };
                self.baseline.lock().map_err(|_| "lock poisoned")?.zero(&st.services, &current, only);
                return Ok(Value::Null);
            }
            _ => {}
        }
        let mut guard = self.state.lock().map_err(|_| "state lock poisoned")?;
        let mut next = guard.clone();
        let before_ids = ids(&next);
        let mut result = Value::Null;
        match &req {
            Request::List { .. }
            | Request::Connections
            | Request::Timeouts
            | Request::Knobs
            | Request::MarkRules
            | Request::Snat
            | Request::GetLaddr { .. }
            | Request::Zero { .. }
            | Request::PauseWorker { .. }
            | Request::PauseThread { .. } => {}
            Request::Daemons => return Ok(serde_json::to_value(guard.daemons())?),
            Request::StartDaemon {
                state,
                mcast_interface,
                syncid,
                sync_maxlen,
                mcast_group,
                mcast_port,
                mcast_ttl,
            } => {
                let opts = crate::control::sync_roles::DaemonOpts {
                    interface: mcast_interface.clone(),
                    syncid: *syncid,
                    maxlen: *sync_maxlen,
                    group: mcast_group
                        .as_deref()
                        .map(|g| parse_addr_port(g, "mcast_group").map(|(a, _)| a))
                        .transpose()?,
                    port: *mcast_port,
                    ttl: *mcast_ttl,
                };
                next.start_daemon(state, &opts)?
            }
            Request::StopDaemon { state } => next.stop_daemon(state)?,
            // -A and -E carry the same options: read once, applied by the verb.
            Request::AddService {
                service,
                scheduler,
                sched_flags,
                persistence,
                netmask,
                ops,
                pe,
                lports,
                toa,
                proxy_protocol,
                uoa,
                synproxy,
            }
            | Request::EditService {
                service,
                scheduler,
                sched_flags,
                persistence,
                netmask,
                ops,
                pe,
                lports,
                toa,
                proxy_protocol,
                uoa,
                synproxy,
            } => {
                let o = svc_opts(scheduler, sched_flags, *persistence, netmask, *ops, pe, lports)?;
                let o = super::live_config::SvcOpts {
                    toa: *toa,
                    proxy_protocol: Self::proxy(proxy_protocol)?,
                    uoa: *uoa,
                    synproxy: *synproxy,
                    ..o
                };
                if matches!(req, Request::AddService { .. }) {
                    next.add_service(service.key()?, &o, now)?
                } else {
                    next.edit_service(service.key()?, &o)?
                }
            }
            Request::AddLaddr { service, laddr, ifname } => {
                next.add_laddr(service.key()?, parse_addr_port(laddr, "laddr")?.0, ifname.as_deref())?
            }
            Request::DelLaddr { service, laddr } => {
                next.del_laddr(service.key()?, parse_addr_port(laddr, "laddr")?.0)?
            }
            Request::DelService { service } => next.del_service(service.key()?, now)?,
            Request::Clear => next.clear(now),
            Request::AddReal {
                service,
                address,
                forward,
                weight,
                u_threshold,
                l_threshold,
                slow_start,
                drain,
                deadline,
                tun_type,
                tun_port,
                tun_csum,
            } => {
                let (ip, port) = parse_real_addr(address)?;
                let life = LifeArgs { slow_start: *slow_start, drain: *drain, deadline: *deadline };
                let tun = TunArgs { kind: tun_type.clone(), port: *tun_port, csum: tun_csum.clone() };
                let o = real_opts(forward, *weight, (*u_threshold, *l_threshold), life, &tun)?;
                next.add_real(service.key()?, ip, port, o, now)?
            }
            Request::EditReal {
                service,
                address,
                forward,
                weight,
                u_threshold,
                l_threshold,
                slow_start,
                drain,
                deadline,
                tun_type,
                tun_port,
                tun_csum,
            } => {
                let (ip, port) = parse_real_addr(address)?;
                let life = LifeArgs { slow_start: *slow_start, drain: *drain, deadline: *deadline };
                let tun = TunArgs { kind: tun_type.clone(), port: *tun_port, csum: tun_csum.clone() };
                let o = real_opts(forward, *weight, (*u_threshold, *l_threshold), life, &tun)?;
                next.edit_real(service.key()?, ip, port, o, now)?
            }
            Request::DelReal { service, address } => {
                let (ip, port) = parse_real_addr(address)?;
                next.del_real(service.key()?, ip, port, now)?
            }
            Request::SetTimeouts { tcp, tcpfin, udp } => next.set_timeouts(*tcp, *tcpfin, *udp)?,
            Request::SetKnob { name, value } => next.set_knob(name, value)?,
            Request::AddMarkRule { rule } => next.add_mark_rule(rule)?,
            Request::DelMarkRule { rule } => next.del_mark_rule(rule)?,
            Request::AddSnat { rule } => next.add_snat(rule)?,
            Request::EditAccess { service, list, add, prefixes } => {
                let kind = match list.as_str() {
                    "allow" => super::access_lists::ListKind::Allow,
                    "deny" => super::access_lists::ListKind::Deny,
                    other => {
                        let msg = format!("{other:?}: allow or deny");
                        return Err(OpError::Invalid { field: "list", msg }.into());
                    }
                };
                next.edit_access(service.as_ref().map(|s| s.key()).transpose()?, kind, *add, prefixes)?
            }
            Request::DelSnat { rule } => next.del_snat(rule)?,
            Request::Reload => {
                let cfg = crate::config::Config::load(&self.config_path)?;
                result = Value::String(next.reload(&cfg, now)?);
            }
        }
        self.publish(&next)?;
        // New objects start from zero even when they reuse an id.
        let fresh: Vec<_> = ids(&next).into_iter().filter(|i| !before_ids.contains(i)).collect();
        if !fresh.is_empty() {
            let current = self.dataplane.report(&next, &Baseline::default(), Freshness::Latest);
            self.baseline.lock().map_err(|_| "lock poisoned")?.reset_ids(&next.services, &current, &fresh);
        }
        *guard = next;
        // Every change of the running configuration, one line with the request that made it.
        tracing::info!(request = %serde_json::to_string(&req).unwrap_or_default(), "configuration changed");
        Ok(result)
    }
}

/// Object ids of a state: (service id, None) and (service id, Some(real id)).
fn ids(s: &LiveConfig) -> Vec<(u16, Option<u16>)> {
    s.services
        .iter()
        .flat_map(|v| std::iter::once((v.id, None)).chain(v.dests.iter().map(move |d| (v.id, Some(d.id)))))
        .collect()
}

/// Binds the control socket at `path` (creating its directory, replacing a stale socket),
/// mode 0600.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is in use by a running daemon", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Serves clients until `stop`; returns when every client thread has ended.
pub fn serve(listener: &UnixListener, ctl: &Control<'_>, beat: &ThreadBeat, stop: &AtomicBool) {
    let clients = AtomicUsize::new(0);
    let _alive = beat.running();
    std::thread::scope(|s| {
        while !stop.load(Ordering::Relaxed) {
            beat.beat();
            match listener.accept() {
                Ok((stream, _)) => {
                    if clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
                        clients.fetch_sub(1, Ordering::AcqRel);
                        let mut w = stream;
                        let _ = writeln!(w, "{}", err("too many control clients"));
                        continue;
                    }
                    let clients = &clients;
                    s.spawn(move || {
                        serve_client(stream, ctl, stop);
                        clients.fetch_sub(1, Ordering::AcqRel);
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    });
}

fn serve_client(stream: UnixStream, ctl: &Control<'_>, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(mut out) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut idle = Instant::now();
    let mut line = Vec::new();
    while !stop.load(Ordering::Relaxed) && idle.elapsed() < IDLE {
        match read_line_bounded(&mut reader, &mut line) {
            Ok(LineRead::Line) => {}
            Ok(LineRead::Pending) => continue, // timeout, perhaps mid-line: keep what came
            Ok(LineRead::TooLong) => {
                let _ = writeln!(out, "{}", err(format!("request longer than {MAX_LINE} bytes")));
                return;
            }
            Ok(LineRead::Closed) | Err(_) => return,
        }
        idle = Instant::now();
        let text = String::from_utf8_lossy(&line);
        let reply = if text.trim().is_empty() { err("empty request") } else { ctl.handle(text.trim()) };
        line.clear();
        if writeln!(out, "{reply}").is_err() {
            return;
        }
    }
}

/// Samples the counters for the rate estimators every [`super::rates::PERIOD_S`] seconds.
pub fn estimate(ctl: &Control<'_>, stop: &AtomicBool) {
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            next += Duration::from_secs(super::rates::PERIOD_S);
            let raw = match ctl.fresh_report(&Baseline::default()) {
                Ok((_, r)) => r,
                Err(_) => return,
            };
            if let Ok(mut e) = ctl.rates.lock() {
                e.sample(&raw);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reloads the configuration when `hup` is raised (SIGHUP), logging the outcome.
pub fn watch_reload(ctl: &Control<'_>, hup: &AtomicBool, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if hup.swap(false, Ordering::AcqRel) {
            let reply: Value = serde_json::from_str(&ctl.handle(r#"{"op":"reload"}"#)).unwrap_or_default();
            if reply["ok"] == true {
                tracing::info!(result = %reply["result"], "SIGHUP: configuration reloaded");
            } else {
                tracing::error!(error = %reply["error"], "SIGHUP: reload refused; running configuration unchanged");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
