//! rvsadm's output: ipvsadm's `-L` tables (plain, --stats, --rate, --thresholds, ...) and
//! `-S`'s rules, from the daemon's report.

use rvs_core::service::{Forward, Protocol};
use rvsd::control::local_addrs::LaddrReport;
use rvsd::control::mark_rules::MarkRuleSpec;
use rvsd::control::proto::{ConnEntry, DaemonReply};
use rvsd::control::snat_rules::{SnatReport, SnatRuleSpec};
use rvsd::stats::{RealReport, Report, ServiceReport};

/// Sorts services by protocol, address and port and each one's real servers by address and
/// port, as ipvsadm does unless `--nosort` (`ipvs_cmp_services`, `ipvs_cmp_dests`).
pub(crate) fn sort_listing(services: &mut [ServiceReport]) {
    // IPv4 before IPv6 (the address family first, as `ipvs_cmp_services`), then numerically.
    fn addr(a: &str) -> std::net::IpAddr {
        a.parse().unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }
    let proto = |p: &str| p.parse::<Protocol>().map_or(0, Protocol::number);
    services.sort_by_key(|s| (addr(&s.vip).is_ipv6(), proto(&s.protocol), addr(&s.vip), s.port, s.fwmark));
    for s in services {
        s.reals.sort_by_key(|r| (addr(&r.address), r.port));
    }
}

pub(crate) fn fwd_name(f: &str) -> &'static str {
    match f.parse::<Forward>() {
        Ok(Forward::Nat) => "Masq",
        Ok(Forward::Tunnel) => "Tunnel",
        Ok(Forward::FullNat) => "FullNat",
        _ => "Route",
    }
}

/// `-L -c`, as ipvsadm prints it; with a FULLNAT connection listed, a `local` column (its
/// LIP:lport, DPVS's CIP -> VIP -> LIP -> RIP) between virtual and destination.
pub(crate) fn conn_lines(conns: &[ConnEntry]) -> String {
    let fullnat = conns.iter().any(|k| k.local.is_some());
    let mut o =
        String::from("IPVS connection entries\npro expire state       source                virtual               ");
    o += if fullnat { "local                 destination\n" } else { "destination\n" };
    for k in conns {
        let e = k.expires_in;
        o += &format!(
            "{:<3} {:02}:{:02}  {:<11} {:<21} {:<21} ",
            k.protocol.to_uppercase(),
            e / 60,
            e % 60,
            k.state,
            k.source,
            k.virtual_
        );
        if fullnat {
            o += &format!("{:<21} ", k.local.as_deref().unwrap_or("-"));
        }
        o += &k.destination;
        o += "\n";
    }
    o
}

/// `--get-laddr`, after DPVS's ipvsadm: each service's local addresses with the ports their
/// connections hold and how often none was free, then the deleted ones still draining.
pub(crate) fn laddr_lines(l: &[LaddrReport]) -> String {
    let mut o = format!("{:<33} {:<10} {}\n", "Prot LocalAddress:Port", "Conns", "PortConflict");
    let mut last = None;
    for r in l {
        if last != Some(&r.service) {
            o += &if r.draining { "deleted, draining\n".to_owned() } else { format!("{}\n", r.service) };
            last = Some(&r.service);
        }
        o += &format!("  -> {:<28} {:<10} {}\n", r.address, r.ports_in_use, r.exhausted);
    }
    o
}

/// A persistence netmask as ipvsadm prints it: dotted for IPv4, a prefix length for IPv6.
pub(crate) fn mask(prefix: u8, v6: bool) -> String {
    if v6 {
        return prefix.to_string();
    }
    let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
    std::net::Ipv4Addr::from(m).to_string()
}

/// `ADDR:PORT`, an IPv6 address in brackets (`[2001:db8::1]:80`), as ipvsadm writes them.
pub(crate) fn addr_port(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

/// The service's protocol column and name as ipvsadm lists them: (`TCP`, `10.0.0.1:80`), or
/// for a firewall-mark service (`FWM`, `1`) and (`FWM`, `1 IPv6`).
pub(crate) fn svc_name(s: &ServiceReport) -> (String, String) {
    match (s.fwmark, s.vip.contains(':')) {
        (0, _) => (s.protocol.to_uppercase(), addr_port(&s.vip, s.port)),
        (m, false) => ("FWM".into(), m.to_string()),
        (m, true) => ("FWM".into(), format!("{m} IPv6")),
    }
}

/// The service as `-S` names it: `-t 10.0.0.1:80`, `-u ...`, `--sctp-service ...`, `-f 1`,
/// `-f 1 -6`.
pub(crate) fn svc_option(s: &ServiceReport) -> String {
    match (s.fwmark, s.vip.contains(':'), s.protocol.as_str()) {
        (0, _, "udp") => format!("-u {}", addr_port(&s.vip, s.port)),
        (0, _, "sctp") => format!("--sctp-service {}", addr_port(&s.vip, s.port)),
        (0, _, _) => format!("-t {}", addr_port(&s.vip, s.port)),
        (m, false, _) => format!("-f {m}"),
        (m, true, _) => format!("-f {m} -6"),
    }
}

/// The service's default netmask: the whole address.
pub(crate) fn full_mask(s: &ServiceReport) -> u8 {
    if s.vip.contains(':') {
        128
    } else {
        32
    }
}

pub(crate) fn persistence_flags(s: &ServiceReport) -> String {
    let sched = if s.sched_flags.is_empty() { String::new() } else { format!(" ({})", s.sched_flags) };
    let ops = if s.ops { " ops" } else { "" };
    let pe = if s.pe.is_empty() { String::new() } else { format!(" pe {}", s.pe) };
    match (s.persistence, s.netmask) {
        (0, _) => format!("{sched}{ops}"),
        (p, m) if m == full_mask(s) => format!("{sched} persistent {p}{ops}{pe}"),
        (p, m) => format!("{sched} persistent {p} mask {}{ops}{pe}", mask(m, s.vip.contains(':'))),
    }
}

/// `-L -n`, as ipvsadm lays it out.
pub(crate) fn table(services: &[ServiceReport]) -> String {
    scheduler_table(services, "Forward Weight ActiveConn InActConn", |r| {
        format!("{:<7} {:<6} {:<10} {:<10}", fwd_name(&r.forward), r.weight, r.active, r.inactive)
    })
}

/// ipvsadm's listing with the scheduler in the service's row: a row per real server of
/// `columns` under `header`, its marks after it.
fn scheduler_table(services: &[ServiceReport], header: &str, columns: impl Fn(&RealReport) -> String) -> String {
    let mut o = String::from("IP Virtual Server version 1.2.1 (rvs)\n");
    o += "Prot LocalAddress:Port Scheduler Flags\n";
    o += &format!("  -> RemoteAddress:Port           {header}\n");
    for s in services {
        let (proto, name) = svc_name(s);
        o += &format!("{proto}  {name} {}{}{}\n", s.scheduler, persistence_flags(s), held_mark(s));
        for r in &s.reals {
            let addr = addr_port(&r.address, r.port);
            o += &format!("  -> {addr:<28} {}{}\n", columns(r), real_marks(r));
        }
    }
    o
}

/// After a service's row while this director does not serve its VIP (VRRP BACKUP for it).
pub(crate) fn held_mark(s: &ServiceReport) -> &'static str {
    if s.held {
        ""
    } else {
        " (VIP not held: VRRP backup)"
    }
}

/// After a real server's row: at its upper threshold, draining, or in its slow start
/// (ipvsadm shows nothing; a row without a mark reads exactly as ipvsadm's).
pub(crate) fn real_marks(r: &RealReport) -> String {
    let mut m = String::new();
    if r.overloaded {
        m += " overloaded";
    }
    if r.draining {
        m += &format!(" draining ({} conns", r.active + r.inactive);
        if let Some(s) = r.drain_deadline_s {
            m += &format!(", deadline in {s}s");
        }
        m += ")";
    }
    if let Some(s) = r.ramp_left_s {
        m += &format!(" slow-start ({s}s left of {}s, weight {} of {})", r.slow_start, r.weight, r.configured_weight);
    }
    m
}

/// `-L -n --thresholds` and `--persistent-conn`: ipvsadm's layout, four columns per real server.
pub(crate) fn real_columns_table(
    services: &[ServiceReport],
    header: &str,
    row: impl Fn(&RealReport) -> String,
) -> String {
    let mut o = String::from("IP Virtual Server version 1.2.1 (rvs)\n");
    o += &format!("Prot LocalAddress:Port            {header}\n");
    o += "  -> RemoteAddress:Port\n";
    for s in services {
        let (proto, name) = svc_name(s);
        o += &format!("{proto}  {name} {}{}{}\n", s.scheduler, persistence_flags(s), held_mark(s));
        for r in &s.reals {
            let addr = addr_port(&r.address, r.port);
            o += &format!("  -> {addr:<28} {}{}\n", row(r), real_marks(r));
        }
    }
    o
}

/// Five counters per service and per real server under `header` (`--stats`, `--rate`).
pub(crate) fn counters_table(
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
pub(crate) fn stats_table(services: &[ServiceReport]) -> String {
    counters_table(services, ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"], |s, r| match r {
        Some(r) => [r.conns, r.pkts_in, r.pkts_out, r.bytes_in, r.bytes_out],
        None => [s.conns, s.pkts_in, s.pkts_out, s.bytes_in, s.bytes_out],
    })
}

/// Below `--stats`' table (after a blank line, so that ipvsadm's rows stay as they are): what
/// the overload defences did, summed over workers, and each worker's table pressure.
pub(crate) fn defences(r: &Report) -> String {
    let n = |k: &str| r.dataplane.get(k).copied().unwrap_or(0);
    format!(
        "\nOverload defences: evicted {} stateless_forwarded {} refused {} level_changes {} pressure {}\n",
        n("evicted"),
        n("stateless_forwarded"),
        n("refused"),
        n("level_changes"),
        if r.per_core_pressure.is_empty() { "-".to_owned() } else { r.per_core_pressure.join(",") }
    ) + &synproxy_line(r)
}

/// What the SYN proxy did, summed over workers (only once it did something).
fn synproxy_line(r: &Report) -> String {
    let keys = ["cookies_sent", "cookies_valid", "cookies_bad", "syn_retries", "rs_timeouts", "ack_storms", "refused"];
    let v: Vec<u64> = keys.iter().map(|k| r.dataplane.get(&format!("synproxy_{k}")).copied().unwrap_or(0)).collect();
    if v.iter().all(|&n| n == 0) {
        return String::new();
    }
    let fields: Vec<String> = keys.iter().zip(&v).map(|(k, n)| format!("{k} {n}")).collect();
    format!("SYN proxy: {}\n", fields.join(" "))
}

/// `-L -n --rate`: smoothed per-second rates, as ipvsadm's columns.
pub(crate) fn rate_table(services: &[ServiceReport]) -> String {
    counters_table(services, ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"], |s, r| {
        let t = r.map_or(&s.rates, |r| &r.rates);
        [t.cps, t.inpps, t.outpps, t.inbps, t.outbps]
    })
}

/// `-L --daemon`, as ipvsadm 1.31 prints it.
pub(crate) fn daemon_lines(d: &[DaemonReply]) -> String {
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
pub(crate) fn save(services: &[ServiceReport]) -> String {
    let mut o = String::new();
    for s in services {
        let svc = svc_option(s);
        o += &format!("-A {svc} -s {}", s.scheduler);
        if !s.sched_flags.is_empty() {
            o += &format!(" -b {}", s.sched_flags);
        }
        if s.persistence > 0 {
            o += &format!(" -p {}", s.persistence);
            if s.netmask != full_mask(s) {
                o += &format!(" -M {}", mask(s.netmask, s.vip.contains(':')));
            }
        }
        if s.ops {
            o += " -o";
        }
        if !s.pe.is_empty() {
            o += &format!(" --pe {}", s.pe);
        }
        if !s.lports.is_empty() {
            o += &format!(" --lports {}", s.lports);
        }
        if s.toa {
            o += " --toa on";
        }
        if !s.proxy_protocol.is_empty() {
            o += &format!(" --proxy-protocol {}", s.proxy_protocol);
        }
        if s.uoa {
            o += " --uoa on";
        }
        if s.synproxy {
            o += " --synproxy on";
        }
        o += "\n";
        for a in &s.laddrs {
            o += &format!("--add-laddr {svc} -z {a}\n"); // before the FULLNAT real servers that need one
        }
        for r in &s.reals {
            let f = match r.forward.parse::<Forward>() {
                Ok(Forward::Nat) => "-m",
                Ok(Forward::Tunnel) => "-i",
                Ok(Forward::FullNat) => "--fullnat",
                _ => "-g",
            };
            o += &format!("-a {svc} -r {} {f} -w {}", addr_port(&r.address, r.port), r.configured_weight);
            if r.u_threshold > 0 {
                o += &format!(" -x {}", r.u_threshold);
            }
            if r.l_threshold > 0 {
                o += &format!(" -y {}", r.l_threshold);
            }
            o += &tunnel_options(r);
            if r.slow_start > 0 {
                o += &format!(" --slow-start {}", r.slow_start);
            }
            if r.draining {
                o += " --drain";
                if let Some(s) = r.drain_deadline_s {
                    o += &format!(" --deadline {s}");
                }
            }
            o += "\n";
        }
    }
    o
}

/// ipvsadm's `-S` tunnel options of a TUN real server (`--tun-type ipip`, `--tun-type gue
/// --tun-port P --tun-csum`, `--tun-type gre --tun-nocsum`); nothing for the others.
pub(crate) fn tunnel_options(r: &RealReport) -> String {
    match r.tun_type.as_str() {
        "" => String::new(),
        "gue" => format!(" --tun-type gue --tun-port {} --tun-{}", r.tun_port, r.tun_csum),
        "gre" => format!(" --tun-type gre --tun-{}", r.tun_csum),
        t => format!(" --tun-type {t}"),
    }
}

/// ipvsadm's `--tun-info` column: `ipip`, `gue:PORT:-c`, `gre:+c`, `n/a` for NAT and DR.
pub(crate) fn tunnel_info(r: &RealReport) -> String {
    let flag = match r.tun_csum.as_str() {
        "csum" => "+c",
        "remcsum" => "r+c",
        _ => "-c",
    };
    match r.tun_type.as_str() {
        "" => "n/a".into(),
        "gue" => format!("gue:{}:{flag}", r.tun_port),
        "gre" => format!("gre:{flag}"),
        t => t.to_owned(),
    }
}

/// `-L --tun-info`, as ipvsadm lays it out.
pub(crate) fn tunnel_table(services: &[ServiceReport]) -> String {
    scheduler_table(services, "Forward TunnelInfo    Weight ActiveConn InActConn", |r| {
        format!(
            "{:<7} {:<13} {:<6} {:<10} {:<10}",
            fwd_name(&r.forward),
            tunnel_info(r),
            r.weight,
            r.active,
            r.inactive
        )
    })
}

/// A classifier rule's options, as `--add-mark-rule` takes them.
fn mark_rule_options(r: &MarkRuleSpec) -> String {
    let mut o = format!("-f {}", r.mark);
    if let Some(p) = &r.protocol {
        o += &format!(" --proto {p}");
    }
    o += &format!(" --dst {}", r.destination);
    if let Some(p) = &r.ports {
        o += &format!(" --dports {p}");
    }
    o
}

/// `-L --mark-rules`: the classifier's rules in order, numbered.
pub(crate) fn mark_rule_lines(rules: &[MarkRuleSpec]) -> String {
    let mut o = String::from(
        "Mark rules (first match wins, for packets without a connection)
",
    );
    for (i, r) in rules.iter().enumerate() {
        let proto = r.protocol.as_deref().unwrap_or("all");
        let ports = r.ports.as_deref().unwrap_or("all");
        o += &format!("{:<3} {:<4} {:<43} ports {:<15} -> FWM {}\n", i + 1, proto, r.destination, ports, r.mark);
    }
    o
}

/// `-S`'s classifier rules: one `--add-mark-rule` line each, in order.
pub(crate) fn save_mark_rules(rules: &[MarkRuleSpec]) -> String {
    rules.iter().map(|r| format!("--add-mark-rule {}\n", mark_rule_options(r))).collect()
}

/// A SNAT rule's options, as `--add-snat` takes them.
fn snat_options(r: &SnatRuleSpec) -> String {
    let mut o = format!("--source {} --pool {}", r.source, r.pool.join(","));
    for (flag, v) in [
        ("--proto", &r.protocol),
        ("-F", &r.out_port),
        ("--lports", &r.ports),
        ("--mapping", &r.mapping),
        ("--filtering", &r.filtering),
    ] {
        if let Some(v) = v {
            o += &format!(" {flag} {v}");
        }
    }
    o
}

/// `-L --snat`: the SNAT rules in order, numbered, each with its counts and its pool's.
pub(crate) fn snat_lines(rules: &[SnatReport]) -> String {
    let mut out = String::from("SNAT rules (first match wins)\n");
    for (i, r) in rules.iter().enumerate() {
        let s = &r.rule;
        out += &format!(
            "{:>3}  {} {} -> {}  mapping {}  filtering {}\n",
            i + 1,
            s.source,
            s.protocol.as_deref().unwrap_or("tcp,udp,icmp"),
            s.out_port.as_deref().unwrap_or("any port"),
            s.mapping.as_deref().unwrap_or("endpoint-independent"),
            s.filtering.as_deref().unwrap_or("address-and-port-dependent"),
        );
        out += &format!(
            "       conns {}  out {} pkts {} bytes  in {} pkts {} bytes\n",
            r.conns, r.pkts_out, r.bytes_out, r.pkts_in, r.bytes_in
        );
        for p in &r.pool {
            out += &format!(
                "       pool {}  ports {}  in use {}  exhausted {}\n",
                p.address,
                s.ports.as_deref().unwrap_or("1024-65535"),
                p.ports_in_use,
                p.exhausted
            );
        }
    }
    out
}

/// `-S`'s SNAT rules: one `--add-snat` line each, in order.
pub(crate) fn save_snat(rules: &[SnatReport]) -> String {
    rules.iter().map(|r| format!("--add-snat {}\n", snat_options(&r.rule))).collect()
}

/// `-L --access`: each allow or deny list, its scope, size and refusals.
pub(crate) fn access_lines(lists: &[rvsd::control::access_lists::AccessReport]) -> String {
    let mut out = String::from("Access lists\n  Scope                          List   Prefixes   Refused\n");
    for l in lists {
        out += &format!("  {:<30} {:<6} {:<10} {}\n", l.scope, l.list, l.prefixes, l.refused);
    }
    out
}

/// `-L --clients`: the client prefixes with the most connections, under per-client limits.
pub(crate) fn client_lines(top: &[rvsd::control::access_lists::ClientReport]) -> String {
    let mut out =
        String::from("Top clients\n  Service                        Client                      Conns      Limit\n");
    for c in top {
        let limit = if c.max_conns > 0 { c.max_conns.to_string() } else { "-".into() };
        out += &format!("  {:<30} {:<27} {:<10} {}\n", c.service, c.client, c.conns, limit);
    }
    out
}
