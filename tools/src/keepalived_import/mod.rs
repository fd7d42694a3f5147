//! keepalived.conf's LVS part as rvs.toml (`rvsadm --import-keepalived FILE`): each
//! `virtual_server IP PORT { ... }` (IPv4 or IPv6) becomes a `[[service]]`, each `real_server` a
//! `[[service.real]]`, a `TCP_CHECK` or `HTTP_GET` its `[service.real.check]`. What rvs cannot
//! carry over (firewall-mark and group services, sorry servers, SSL and misc checks, options it
//! has no equivalent for) is named, with its line, never silently dropped. VRRP blocks,
//! `global_defs` and the like are not the LVS part and are skipped whole (keepalived keeps
//! running them on its own).
//!
//! The meaning is carried over as keepalived.conf(5) gives it, not only the words:
//! - **Inheritance.** `lvs_method`, `delay_loop`, `connect_timeout`, `retry` and
//!   `inhibit_on_failure` may be set on the virtual server, overridden on a real server, and
//!   (the first three but `lvs_method`) on its checker; a real server's own `lvs_method` is its
//!   forwarding method.
//! - **Defaults** keepalived applies where nothing is set: `delay_loop` 60 s, `connect_timeout`
//!   5 s, `retry` 1, `lvs_method` NAT, `persistence_timeout` 360 s when given no value; a
//!   failed real server is removed unless `inhibit_on_failure` (then weight 0).
//! - **Counts.** `retry N` is N more checks after a failure, so a server goes down after N + 1
//!   failures in a row: rvs's `fall = N + 1`. keepalived brings a failed server back at its
//!   first success: `rise = 1`.
//! - Timers keepalived takes in fractions of a second are rounded up to whole seconds, which is
//!   what rvs counts, and the rounding is named.

mod syntax;

use std::fmt::Write as _;
use std::net::IpAddr;
use syntax::{statements, words, Stmt};

/// The result: rvs.toml text of the services, and what was not carried over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// `[[service]]` blocks, ready to append to an rvs.toml.
    pub toml: String,
    /// Services imported.
    pub services: usize,
    /// One line per thing not carried over: `line N: what, why`.
    pub skipped: Vec<String>,
}

/// keepalived's defaults (keepalived.conf(5)).
const DELAY_LOOP: u32 = 60;
const CONNECT_TIMEOUT: u32 = 5;
const RETRY: u32 = 1;
const PERSISTENCE: u32 = 360;

/// The settings a real server and its checker inherit from the level above.
#[derive(Debug, Clone, Copy, Default)]
struct Inherited<'a> {
    method: Option<&'a str>,
    delay_loop: Option<u32>,
    connect_timeout: Option<u32>,
    retry: Option<u32>,
    inhibit: Option<bool>,
}

impl<'a> Inherited<'a> {
    /// Takes `k` if it is one of the inherited settings; false otherwise.
    fn take(&mut self, k: &'a Stmt, r: &mut Imported) -> bool {
        let a = k.arg(1).unwrap_or("");
        match k.key() {
            "lb_kind" | "lvs_method" => match method(a) {
                Some(m) => self.method = Some(m),
                None => r.skipped.push(format!("line {}: {} {a}: not NAT, DR or TUN (ignored)", k.line(), k.key())),
            },
            "delay_loop" => self.delay_loop = timer(k, r),
            "connect_timeout" => self.connect_timeout = timer(k, r),
            "retry" | "nb_get_retry" => match a.parse::<u32>() {
                Ok(n) => self.retry = Some(n),
                Err(_) => r.skipped.push(format!("line {}: {} {a}: not a count (ignored)", k.line(), k.key())),
            },
            "inhibit_on_failure" => self.inhibit = Some(!matches!(a, "false" | "off" | "no" | "0")),
            _ => return false,
        }
        true
    }
}

fn method(a: &str) -> Option<&'static str> {
    match a.to_ascii_uppercase().as_str() {
        "NAT" => Some("nat"),
        "DR" => Some("dr"),
        "TUN" => Some("tun"),
        _ => None,
    }
}

/// A keepalived timer in whole seconds (fractions rounded up, and named).
fn timer(k: &Stmt, r: &mut Imported) -> Option<u32> {
    let a = k.arg(1).unwrap_or("");
    let Ok(v) = a.parse::<f64>() else {
        r.skipped.push(format!("line {}: {} {a}: not a time (ignored)", k.line(), k.key()));
        return None;
    };
    let s = v.ceil().max(1.0) as u32;
    if f64::from(s) != v {
        r.skipped.push(format!("line {}: {} {a}: rounded to {s} s (rvs counts whole seconds)", k.line(), k.key()));
    }
    Some(s)
}

fn scheduler(s: &str) -> Option<&'static str> {
    rvs_core::sched::NAMES.iter().copied().find(|n| n.eq_ignore_ascii_case(s))
}

/// Converts keepalived.conf text (its `virtual_server` blocks) to rvs.toml services.
pub fn import(text: &str) -> Imported {
    let w = words(text);
    let mut pos = 0;
    let top = statements(&w, &mut pos);
    let mut r = Imported::default();
    for s in &top {
        match s.key() {
            "virtual_server" => virtual_server(s, &mut r),
            "virtual_server_group" => r.skipped.push(format!(
                "line {}: virtual_server_group {}: groups are not supported",
                s.line(),
                s.arg(1).unwrap_or("")
            )),
            "include" => {
                r.skipped.push(format!("line {}: include {}: import that file too", s.line(), s.arg(1).unwrap_or("")))
            }
            _ => {} // global_defs, vrrp_*: keepalived's own, not the LVS table
        }
    }
    r
}

fn virtual_server(s: &Stmt, r: &mut Imported) {
    let line = s.line();
    let Some(vip) = s.arg(1) else {
        r.skipped.push(format!("line {line}: virtual_server without an address"));
        return;
    };
    let port = s.arg(2).unwrap_or("");
    if vip == "group" {
        r.skipped.push(format!("line {line}: virtual_server group {port}: group services are not supported"));
        return;
    }
    // `virtual_server fwmark N`: its family from `ip_family`, else from its first real server.
    let fwmark = vip == "fwmark";
    if fwmark && port.parse::<u32>().map_or(true, |m| m == 0) {
        r.skipped.push(format!("line {line}: virtual_server fwmark {port}: not a firewall mark 1..=4294967295"));
        return;
    }
    let vip_addr = if fwmark {
        let family = s.block.iter().find(|k| k.key() == "ip_family").and_then(|k| k.arg(1));
        let first_real = s.block.iter().find(|k| k.key() == "real_server").and_then(|k| k.arg(1));
        let v6 = family.map_or_else(|| first_real.is_some_and(|a| a.contains(':')), |f| f == "inet6");
        if v6 {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        }
    } else {
        let Ok(a) = vip.parse::<IpAddr>() else {
            r.skipped.push(format!("line {line}: virtual_server {vip} {port}: not an IPv4 or IPv6 address"));
            return;
        };
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            r.skipped
                .push(format!("line {line}: virtual_server {vip} {port}: rvs needs a port (no all-ports service)"));
            return;
        }
        a
    };
    if fwmark {
        r.skipped.push(format!(
            "line {line}: virtual_server fwmark {port}: keepalived relies on iptables for the marks; \
             add [[fwmark]] rules (mark = {port}) naming its VIPs and ports"
        ));
    }
    let (mut sched, mut protocol) = ("wlc", "tcp");
    let (mut persistence, mut netmask) = (None, None);
    let mut inherited = Inherited::default();
    let mut reals = Vec::new();
    let mut sched_flags: Vec<&str> = Vec::new();
    let mut ops = None;
    for k in &s.block {
        let a = k.arg(1).unwrap_or("");
        if inherited.take(k, r) {
            continue;
        }
        match k.key() {
            "lb_algo" | "lvs_sched" => match scheduler(a) {
                Some(n) => sched = n,
                None => {
                    r.skipped.push(format!("line {}: {} {a}: rvs has no such scheduler (kept wlc)", k.line(), k.key()))
                }
            },
            "protocol" => match a.to_ascii_uppercase().as_str() {
                "TCP" => protocol = "tcp",
                "UDP" => protocol = "udp",
                "SCTP" => protocol = "sctp",
                _ => r.skipped.push(format!("line {}: protocol {a}: only TCP, UDP and SCTP (kept TCP)", k.line())),
            },
            "ip_family" if fwmark => {}
            "persistence_timeout" => persistence = Some(a.parse::<u32>().unwrap_or(PERSISTENCE)),
            "persistence_granularity" => netmask = Some(a.to_owned()),
            // keepalived's scheduler flags, one keyword each (ipvsadm's -b names).
            f @ ("sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" | "flag-1" | "flag-2" | "flag-3") => {
                sched_flags.push(f)
            }
            // One-packet scheduling; keepalived sets it for UDP services only.
            "ops" => ops = Some(k.line()),
            "real_server" => reals.push(k),
            "sorry_server" | "sorry_server_inhibit" | "sorry_server_lvs_method" => {
                r.skipped.push(format!("line {}: {}: rvs has no sorry server", k.line(), k.key()))
            }
            "" => {}
            other => r.skipped.push(format!("line {}: {other}: no rvs equivalent (ignored)", k.line())),
        }
    }
    let _ = writeln!(r.toml, "[[service]]  # keepalived.conf line {line}");
    if fwmark {
        let family = if vip_addr.is_ipv6() { "\nfamily = \"ipv6\"" } else { "" };
        let _ = writeln!(r.toml, "fwmark = {port}{family}\nscheduler = \"{sched}\"");
    } else {
        let _ = writeln!(r.toml, "protocol = \"{protocol}\"\nvip = \"{vip}\"\nport = {port}\nscheduler = \"{sched}\"");
    }
    let flags = sched_flags.join(",");
    match rvs_core::sched::flags::parse(sched, &flags) {
        Ok(0) => {}
        Ok(_) => {
            let _ = writeln!(r.toml, "sched_flags = \"{flags}\"");
        }
        Err(e) => r.skipped.push(format!("line {line}: {flags}: {e} (ignored)")),
    }
    if let Some(p) = persistence {
        let _ = writeln!(r.toml, "persistence = {p}");
    }
    if let Some(m) = netmask {
        let _ = writeln!(r.toml, "netmask = \"{m}\"");
    }
    match ops {
        Some(_) if protocol == "udp" => {
            let _ = writeln!(r.toml, "ops = true");
        }
        Some(l) => r.skipped.push(format!("line {l}: ops: for UDP services only, as keepalived (ignored)")),
        None => {}
    }
    for rs in reals {
        // A fwmark service's real server without a port keeps each packet's (port 0).
        real_server(rs, vip_addr, if fwmark { "0" } else { port }, inherited, r);
    }
    r.toml.push('\n');
    r.services += 1;
}

fn real_server(s: &Stmt, vip: IpAddr, vport: &str, above: Inherited<'_>, r: &mut Imported) {
    let line = s.line();
    let Some(addr) = s.arg(1) else {
        r.skipped.push(format!("line {line}: real_server without an address"));
        return;
    };
    let port = s.arg(2).unwrap_or(vport); // keepalived: the virtual server's port by default
    match addr.parse::<IpAddr>() {
        Ok(a) if a.is_ipv4() == vip.is_ipv4() => {}
        _ => {
            r.skipped.push(format!("line {line}: real_server {addr}: not an address of the virtual server's family"));
            return;
        }
    }
    let mut own = above;
    let mut lines = String::new();
    let mut checks = Vec::new();
    for k in &s.block {
        let a = k.arg(1).unwrap_or("");
        if own.take(k, r) {
            continue;
        }
        match k.key() {
            "weight" => {
                let _ = writeln!(lines, "  weight = {a}");
            }
            "uthreshold" => {
                let _ = writeln!(lines, "  u_threshold = {a}");
            }
            "lthreshold" => {
                let _ = writeln!(lines, "  l_threshold = {a}");
            }
            "TCP_CHECK" | "HTTP_GET" => checks.push(k),
            "SSL_GET" | "MISC_CHECK" | "SMTP_CHECK" | "DNS_CHECK" | "BFD_CHECK" | "UDP_CHECK" | "PING_CHECK"
            | "FILE_CHECK" => {
                r.skipped.push(format!("line {}: {}: rvs checks by TCP connect or HTTP GET only", k.line(), k.key()))
            }
            "" => {}
            other => r.skipped.push(format!("line {}: {other}: no rvs equivalent (ignored)", k.line())),
        }
    }
    let method = own.method.unwrap_or("nat");
    if method != "nat" && port != vport && vport != "0" {
        r.skipped.push(format!("line {line}: real_server {addr} {port}: {method} uses the virtual port {vport}"));
    }
    let _ = writeln!(r.toml, "  [[service.real]]  # line {line}\n  address = \"{addr}\"\n  forward = \"{method}\"");
    if method == "nat" {
        let _ = writeln!(r.toml, "  port = {port}");
    }
    r.toml += &lines;
    for extra in checks.iter().skip(1) {
        r.skipped.push(format!("line {}: a second check: rvs runs one per real server", extra.line()));
    }
    if let Some(k) = checks.first() {
        let block = check_block(k, own, r);
        r.toml += &block;
    }
}

fn check_block(s: &Stmt, above: Inherited<'_>, r: &mut Imported) -> String {
    let http = s.key() == "HTTP_GET";
    let mut own = above;
    let mut o =
        format!("  [service.real.check]  # line {}\n  kind = \"{}\"\n", s.line(), if http { "http" } else { "tcp" });
    let mut urls = 0;
    let mut status = None;
    for k in &s.block {
        let a = k.arg(1).unwrap_or("");
        if !matches!(k.key(), "lb_kind" | "lvs_method" | "inhibit_on_failure") && own.take(k, r) {
            continue;
        }
        match k.key() {
            "connect_port" => {
                let _ = writeln!(o, "  port = {a}");
            }
            "url" if http => {
                urls += 1;
                if urls > 1 {
                    r.skipped.push(format!("line {}: a second url: rvs checks one", k.line()));
                    continue;
                }
                for u in &k.block {
                    match u.key() {
                        "path" => {
                            let _ = writeln!(o, "  path = \"{}\"", u.arg(1).unwrap_or("/"));
                        }
                        "status_code" => status = Some(u),
                        "digest" => {
                            r.skipped.push(format!("line {}: digest: rvs checks the status code only", u.line()))
                        }
                        "" => {}
                        other => r.skipped.push(format!("line {}: {other}: no rvs equivalent (ignored)", u.line())),
                    }
                }
            }
            "delay_before_retry" | "connect_ip" | "bindto" | "bind_port" | "bind_if" | "warmup" | "alpha" => {
                r.skipped.push(format!("line {}: {}: no rvs equivalent (ignored)", k.line(), k.key()))
            }
            "" => {}
            other => r.skipped.push(format!("line {}: {other}: no rvs equivalent (ignored)", k.line())),
        }
    }
    if http {
        match status.map(|u| (u, u.arg(1).unwrap_or(""), u.words.len())) {
            Some((_, code, 2)) if code.parse::<u16>().is_ok() => {
                let _ = writeln!(o, "  expect = {code}");
            }
            Some((u, _, _)) => r.skipped.push(format!(
                "line {}: status_code {}: rvs expects one status code (kept 200)",
                u.line(),
                u.words[1..].iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")
            )),
            None => r
                .skipped
                .push(format!("line {}: no status_code: keepalived accepts 200-299, rvs expects 200", s.line())),
        }
    }
    let line = s.line();
    let mut bounded = |name: &str, v: u32| match rvsd::limits::check_setting(name, v) {
        Ok(v) => v,
        Err(e) => {
            let (_, lo, hi) = rvsd::limits::CHECK_BOUNDS.iter().copied().find(|b| b.0 == name).unwrap_or((name, v, v));
            r.skipped.push(format!("line {line}: {name} {v}: {e} (kept {})", v.clamp(lo, hi)));
            v.clamp(lo, hi)
        }
    };
    let interval = bounded("interval", own.delay_loop.unwrap_or(DELAY_LOOP));
    let timeout = bounded("timeout", own.connect_timeout.unwrap_or(CONNECT_TIMEOUT));
    let fall = bounded("fall", own.retry.unwrap_or(RETRY).saturating_add(1));
    let action = if own.inhibit.unwrap_or(false) { "quiesce" } else { "remove" };
    let _ = writeln!(
        o,
        "  interval = {interval}\n  timeout = {timeout}\n  fall = {fall}\n  rise = 1\n  action = \"{action}\""
    );
    o
}

#[cfg(test)]
mod tests;
