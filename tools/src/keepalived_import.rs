//! keepalived.conf's LVS part as rvs.toml (`rvsadm --import-keepalived FILE`): each
//! `virtual_server IP PORT { ... }` becomes a `[[service]]`, each `real_server` a
//! `[[service.real]]`, a `TCP_CHECK` or `HTTP_GET` its `[service.real.check]`. What rvs cannot
//! carry over (firewall-mark and group services, sorry servers, SSL and misc checks, options it
//! has no equivalent for) is named, with its line, never silently dropped.
//!
//! keepalived's syntax (keepalived.conf(5)): words separated by blanks, `{ }` blocks, comments
//! from `#` or `!` to the end of the line. VRRP blocks, `global_defs` and the like are not the
//! LVS part and are skipped whole (keepalived keeps running them on its own).

use std::fmt::Write as _;

/// A word of the file and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    line: usize,
}

fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split(['#', '!']).next().unwrap_or("");
        let spaced = line.replace('{', " { ").replace('}', " } ");
        out.extend(spaced.split_whitespace().map(|w| Word { text: w.to_owned(), line: n + 1 }));
    }
    out
}

/// A statement: its words up to the end of its line, and its block if one follows.
#[derive(Debug, Clone)]
struct Stmt {
    words: Vec<Word>,
    block: Vec<Stmt>,
}

impl Stmt {
    fn key(&self) -> &str {
        self.words.first().map_or("", |w| w.text.as_str())
    }

    fn line(&self) -> usize {
        self.words.first().map_or(0, |w| w.line)
    }

    fn arg(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(|w| w.text.as_str())
    }
}

/// Statements until the matching `}` (or the end); `pos` moves past what was read.
fn statements(w: &[Word], pos: &mut usize) -> Vec<Stmt> {
    let mut out: Vec<Stmt> = Vec::new();
    while *pos < w.len() {
        match w[*pos].text.as_str() {
            "}" => {
                *pos += 1;
                return out;
            }
            "{" => {
                *pos += 1;
                let block = statements(w, pos);
                match out.last_mut() {
                    Some(s) if s.block.is_empty() => s.block = block,
                    _ => out.push(Stmt { words: Vec::new(), block }),
                }
            }
            _ => {
                let line = w[*pos].line;
                let mut words = Vec::new();
                while *pos < w.len() && w[*pos].line == line && !matches!(w[*pos].text.as_str(), "{" | "}") {
                    words.push(w[*pos].clone());
                    *pos += 1;
                }
                out.push(Stmt { words, block: Vec::new() });
            }
        }
    }
    out
}

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
    let (Some(vip), Some(port)) = (s.arg(1), s.arg(2)) else {
        r.skipped.push(format!("line {line}: virtual_server without an address and port"));
        return;
    };
    if vip == "fwmark" || vip == "group" {
        r.skipped.push(format!(
            "line {line}: virtual_server {vip} {port}: firewall-mark and group services are not supported"
        ));
        return;
    }
    if vip.parse::<std::net::Ipv4Addr>().is_err() || port.parse::<u16>().map_or(true, |p| p == 0) {
        r.skipped.push(format!("line {line}: virtual_server {vip} {port}: not an IPv4 address and port"));
        return;
    }
    let (mut sched, mut method, mut protocol) = ("wlc", "nat", "tcp");
    let (mut persistence, mut netmask, mut delay_loop) = (None, None, None);
    let mut reals = Vec::new();
    let mut sched_flags: Vec<&str> = Vec::new();
    for k in &s.block {
        let a = k.arg(1).unwrap_or("");
        match k.key() {
            "lb_algo" | "lvs_sched" => match scheduler(a) {
                Some(n) => sched = n,
                None => {
                    r.skipped.push(format!("line {}: {} {a}: rvs has no such scheduler (kept wlc)", k.line(), k.key()))
                }
            },
            "lb_kind" | "lvs_method" => match a.to_ascii_uppercase().as_str() {
                "NAT" => method = "nat",
                "DR" => method = "dr",
                "TUN" => method = "tun",
                _ => r.skipped.push(format!("line {}: {} {a}: not NAT, DR or TUN (kept NAT)", k.line(), k.key())),
            },
            "protocol" => match a.to_ascii_uppercase().as_str() {
                "TCP" => protocol = "tcp",
                "UDP" => protocol = "udp",
                _ => r.skipped.push(format!("line {}: protocol {a}: only TCP and UDP (kept TCP)", k.line())),
            },
            "persistence_timeout" => persistence = a.parse::<u32>().ok().or(Some(360)),
            "persistence_granularity" => netmask = Some(a.to_owned()),
            "delay_loop" => delay_loop = a.parse::<u32>().ok(),
            // keepalived's scheduler flags, one keyword each (ipvsadm's -b names).
            f @ ("sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" | "flag-1" | "flag-2" | "flag-3") => {
                sched_flags.push(f)
            }
            "real_server" => reals.push(k),
            "sorry_server" | "sorry_server_inhibit" => {
                r.skipped.push(format!("line {}: {}: rvs has no sorry server", k.line(), k.key()))
            }
            "" => {}
            other => r.skipped.push(format!("line {}: {other}: no rvs equivalent (ignored)", k.line())),
        }
    }
    let _ = writeln!(r.toml, "[[service]]  # keepalived.conf line {line}");
    let _ = writeln!(r.toml, "protocol = \"{protocol}\"\nvip = \"{vip}\"\nport = {port}\nscheduler = \"{sched}\"");
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
    for rs in reals {
        real_server(rs, method, port, delay_loop, r);
    }
    r.toml.push('\n');
    r.services += 1;
}

fn real_server(s: &Stmt, method: &str, vport: &str, delay_loop: Option<u32>, r: &mut Imported) {
    let line = s.line();
    let (Some(addr), Some(port)) = (s.arg(1), s.arg(2)) else {
        r.skipped.push(format!("line {line}: real_server without an address and port"));
        return;
    };
    if method != "nat" && port != vport {
        r.skipped.push(format!("line {line}: real_server {addr} {port}: {method} uses the virtual port {vport}"));
    }
    let _ = writeln!(r.toml, "  [[service.real]]\n  address = \"{addr}\"\n  forward = \"{method}\"");
    if method == "nat" {
        let _ = writeln!(r.toml, "  port = {port}");
    }
    let mut inhibit = false;
    let mut check: Option<String> = None;
    for k in &s.block {
        let a = k.arg(1).unwrap_or("");
        match k.key() {
            "weight" => {
                let _ = writeln!(r.toml, "  weight = {a}");
            }
            "uthreshold" => {
                let _ = writeln!(r.toml, "  u_threshold = {a}");
            }
            "lthreshold" => {
                let _ = writeln!(r.toml, "  l_threshold = {a}");
            }
            "inhibit_on_failure" => inhibit = true,
            "TCP_CHECK" | "HTTP_GET" => {
                if check.is_some() {
                    r.skipped.push(format!("line {}: a second check: rvs runs one per real server", k.line()));
                    continue;
                }
                check = Some(check_block(k, delay_loop, r));
            }
            "SSL_GET" | "MISC_CHECK" | "SMTP_CHECK" | "DNS_CHECK" | "BFD_CHECK" | "UDP_CHECK" | "PING_CHECK"
            | "FILE_CHECK" => {
                r.skipped.push(format!("line {}: {}: rvs checks by TCP connect or HTTP GET only", k.line(), k.key()))
            }
            "" => {}
            other => r.skipped.push(format!("line {}: {other}: no rvs equivalent (ignored)", k.line())),
        }
    }
    if let Some(c) = check {
        r.toml += &c;
        // keepalived removes a failed real server unless inhibit_on_failure (then weight 0).
        let _ = writeln!(r.toml, "  action = \"{}\"", if inhibit { "quiesce" } else { "remove" });
    }
}

fn check_block(s: &Stmt, delay_loop: Option<u32>, r: &mut Imported) -> String {
    let http = s.key() == "HTTP_GET";
    let mut o = format!("  [service.real.check]\n  kind = \"{}\"\n", if http { "http" } else { "tcp" });
    if let Some(d) = delay_loop {
        let _ = writeln!(o, "  interval = {d}");
    }
    let mut urls = 0;
    for k in &s.block {
        let a = k.arg(1).unwrap_or("");
        match k.key() {
            "connect_timeout" => {
                let _ = writeln!(o, "  timeout = {a}");
            }
            "connect_port" => {
                let _ = writeln!(o, "  port = {a}");
            }
            "retry" | "nb_get_retry" => {
                let _ = writeln!(o, "  fall = {a}");
            }
            "delay_before_retry" | "connect_ip" | "bindto" | "warmup" => {
                r.skipped.push(format!("line {}: {}: no rvs equivalent (ignored)", k.line(), k.key()))
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
                        "status_code" => {
                            let _ = writeln!(o, "  expect = {}", u.arg(1).unwrap_or("200"));
                        }
                        "digest" => {
                            r.skipped.push(format!("line {}: digest: rvs checks the status code only", u.line()))
                        }
                        _ => {}
                    }
                }
            }
            "" => {}
            other => r.skipped.push(format!("line {}: {other}: no rvs equivalent (ignored)", k.line())),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of keepalived's own samples (keepalived.conf.sample, keepalived.conf.HTTP_GET.port).
    const SAMPLE: &str = r#"
! Configuration File for keepalived
global_defs {
   notification_email { acassen }
   router_id LVS_DEVEL
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.200.16
    }
}
virtual_server 192.168.200.100 443 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    sorry_server 192.168.200.200 1358
    real_server 192.168.201.100 443 {
        weight 1
        inhibit_on_failure
        HTTP_GET {
            url {
              path /testurl/test.jsp
              digest 640205b7b0fc66c1ea91c463fac6334d
              status_code 200
            }
            connect_timeout 3
            retry 3
            delay_before_retry 3
        }
    }
}
virtual_server 10.10.10.2 1358 {
    delay_loop 6
    lvs_sched mh
    mh-port
    mh-fallback
    lvs_method DR
    protocol TCP
    real_server 192.168.200.2 1358 {
        weight 2
        TCP_CHECK {
            connect_port 1358
            connect_timeout 3
        }
    }
}
virtual_server fwmark 5 {
    lb_algo rr
}
"#;

    #[test]
    fn keepalived_samples_become_services_and_what_is_left_is_named() {
        let r = import(SAMPLE);
        assert_eq!(r.services, 2);
        let cfg = format!(
            "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = \"10.10.10.1/24\"\nexception = true\nexception_iface = \"x\"\n{}",
            r.toml
        );
        let c = rvsd::config::Config::parse("imported.toml", &cfg).unwrap_or_else(|e| panic!("{e}\n{cfg}"));
        let s = &c.services[0];
        assert_eq!((s.scheduler.as_str(), s.port, s.persistence), ("rr", 443, 50));
        assert_eq!((s.dests[0].forward, s.dests[0].port, s.dests[0].weight), (rvs_core::service::Forward::Nat, 443, 1));
        let check = &c.checks[0].1;
        assert!(check.http && check.path == "/testurl/test.jsp" && check.expect == 200);
        assert_eq!(
            (check.interval, check.timeout, check.fall, check.remove),
            (6, 3, 3, false),
            "inhibit_on_failure quiesces"
        );
        let dr = &c.services[1];
        assert_eq!(
            (dr.scheduler.as_str(), dr.dests[0].forward, dr.dests[0].weight),
            ("mh", rvs_core::service::Forward::DirectRoute, 2)
        );
        assert_eq!(rvs_core::sched::flags::format(&dr.scheduler, dr.sched_flags), "mh-fallback,mh-port");
        assert!(c.checks[1].1.remove, "keepalived removes a failed server by default");
        assert_eq!(c.checks[1].1.port, Some(1358));
        let skipped = r.skipped.join("\n");
        for what in ["sorry_server", "digest", "delay_before_retry", "virtual_server fwmark 5"] {
            assert!(skipped.contains(what), "{what} is named:\n{skipped}");
        }
        assert!(r.skipped.iter().all(|l| l.starts_with("line ")), "{skipped}");
    }
}
