//! The status page, as HAProxy's stats page is for its users: `GET /` on the `[control]
//! metrics` listener returns one server-rendered HTML page (no script, no framework) that
//! reloads itself every few seconds. Per service and real server: forwarding method, weight,
//! health and last check, active and inactive connections, rates, the overload mark; FULLNAT's
//! local addresses (ports in use, exhausted, draining); the HA and sync state; per worker:
//! packets, table pressure and drops by reason.

use crate::stats::{Report, ServiceReport};
use std::fmt::Write as _;

/// Seconds between the page's own reloads.
pub const REFRESH_S: u32 = 2;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A rate in bits or packets per second, with an SI prefix.
fn si(v: u64) -> String {
    match v {
        0..=9_999 => v.to_string(),
        10_000..=999_999 => format!("{:.1} k", v as f64 / 1e3),
        _ => format!("{:.1} M", v as f64 / 1e6),
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em;color:#222}\
table{border-collapse:collapse;margin-bottom:1.2em}\
th,td{border:1px solid #bbb;padding:2px 8px;text-align:right}\
th{background:#e8e8f0}td.l,th.l{text-align:left}\
tr.svc td{background:#dde8f8;font-weight:bold}\
.up{background:#c8f0c8}.down{background:#f4b8b8}.unchecked{background:#eee}\
.over{background:#f8e0a0}.muted{color:#777}";

/// Renders the page for report `r` (rates filled in) of host `title`.
pub fn render(r: &Report, title: &str) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">\
         <title>rvs status: {t}</title><style>{STYLE}</style></head><body>\
         <h1>rvs status: {t}</h1><p id=\"summary\">up {up:.0} s, {w} worker(s), {c} connection(s), HA mode \
         <b id=\"ha-mode\">{mode}</b>{held}{sloppy}</p>",
        t = esc(title),
        up = r.uptime_s,
        w = r.workers,
        c = r.conns,
        mode = esc(&r.ha.mode),
        held = if r.ha.held.is_empty() {
            String::new()
        } else {
            format!(", VIPs {} {}", if r.ha.mode == "ecmp" { "announced" } else { "held" }, esc(&r.ha.held.join(" ")))
        },
        sloppy = if r.ha.sloppy_tcp { ", sloppy_tcp on" } else { "" },
    );
    services(&mut o, &r.services);
    local_addrs(&mut o, r);
    workers(&mut o, r);
    sync(&mut o, r);
    o += "</body></html>\n";
    o
}

fn services(o: &mut String, list: &[ServiceReport]) {
    o.push_str(
        "<h2>Services</h2><table id=\"services\"><tr><th class=\"l\">Service / real server</th>\
         <th class=\"l\">Scheduler / forward</th><th>Weight</th><th class=\"l\">Health</th>\
         <th class=\"l\">Last check</th><th>Active</th><th>Inactive</th><th>Conn/s</th>\
         <th>Pkt/s in</th><th>Pkt/s out</th><th>bit/s in</th><th>bit/s out</th></tr>",
    );
    for s in list {
        let name = s.display_name();
        let mut sched = s.scheduler.clone();
        if !s.sched_flags.is_empty() {
            sched += &format!(" ({})", s.sched_flags);
        }
        if s.persistence > 0 {
            sched += &format!(" persistent {}", s.persistence);
        }
        let (active, inactive) = s.reals.iter().fold((0, 0), |a, x| (a.0 + x.active, a.1 + x.inactive));
        let _ = write!(
            o,
            "<tr class=\"svc\" data-service=\"{id}\"><td class=\"l\">{id}{held}</td><td class=\"l\">{sched}</td>\
             <td></td><td></td><td></td><td>{active}</td><td>{inactive}</td><td>{cps}</td><td>{ip}</td><td>{op}</td>\
             <td>{ib}</td><td>{ob}</td></tr>",
            id = esc(&name),
            held = if s.held { "" } else { " <span class=\"muted\">(VIP not held)</span>" },
            sched = esc(&sched),
            cps = si(s.rates.cps),
            ip = si(s.rates.inpps),
            op = si(s.rates.outpps),
            ib = si(s.rates.inbps * 8),
            ob = si(s.rates.outbps * 8),
        );
        for x in &s.reals {
            let last = match x.last_check {
                Some((ago, ok)) => format!("{ago} s ago, {}", if ok { "passed" } else { "failed" }),
                None => "-".into(),
            };
            let weight = if x.weight == x.configured_weight {
                x.weight.to_string()
            } else {
                format!("{} (of {})", x.weight, x.configured_weight)
            };
            let _ = write!(
                o,
                "<tr data-real=\"{addr}\"><td class=\"l\">&rarr; {addr}</td><td class=\"l\">{fwd}</td>\
                 <td>{weight}</td><td class=\"l {health}\">{health}{over}</td><td class=\"l\">{last}</td>\
                 <td>{a}</td><td>{i}</td><td>{cps}</td><td>{ip}</td><td>{op}</td><td>{ib}</td><td>{ob}</td></tr>",
                addr = esc(&crate::stats::endpoint(&x.address, x.port)),
                fwd = esc(&x.forward),
                health = esc(&x.health),
                over = if x.overloaded { " <span class=\"over\">overloaded</span>" } else { "" },
                last = esc(&last),
                a = x.active,
                i = x.inactive,
                cps = si(x.rates.cps),
                ip = si(x.rates.inpps),
                op = si(x.rates.outpps),
                ib = si(x.rates.inbps * 8),
                ob = si(x.rates.outbps * 8),
            );
        }
    }
    o.push_str("</table>");
}

fn workers(o: &mut String, r: &Report) {
    o.push_str("<h2>Workers</h2><table id=\"workers\"><tr><th>Worker</th><th>Packets</th><th class=\"l\">Table</th><th class=\"l\">Drops by reason</th></tr>");
    for (w, rx) in r.per_core_rx.iter().enumerate() {
        let pressure = r.per_core_pressure.get(w).map_or("-", String::as_str);
        let drops = r.per_core_drops.get(w).map_or_else(String::new, |d| {
            d.iter().map(|(k, v)| format!("{} {v}", esc(k))).collect::<Vec<_>>().join(", ")
        });
        let _ = write!(
            o,
            "<tr><td>{w}</td><td>{rx}</td><td class=\"l\">{p}</td><td class=\"l\">{d}</td></tr>",
            p = esc(pressure),
            d = if drops.is_empty() { "none".into() } else { drops },
        );
    }
    o.push_str("</table>");
}

/// FULLNAT's local addresses, when there are any.
fn local_addrs(o: &mut String, r: &Report) {
    if r.laddrs.is_empty() {
        return;
    }
    o.push_str(
        "<h2>Local addresses (FULLNAT)</h2><table id=\"laddrs\"><tr><th class=\"l\">Address</th>\
         <th class=\"l\">Service</th><th>Ports in use</th><th>Exhausted</th></tr>",
    );
    for l in &r.laddrs {
        let (class, service) =
            if l.draining { (" class=\"muted\"", "deleted, draining") } else { ("", l.service.as_str()) };
        let _ = write!(
            o,
            "<tr{class}><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.address),
            esc(service),
            l.ports_in_use,
            l.exhausted
        );
    }
    o.push_str("</table>");
}

fn sync(o: &mut String, r: &Report) {
    if r.sync.values().all(|&v| v == 0) {
        return;
    }
    o.push_str("<h2>Connection sync</h2><table id=\"sync\"><tr><th class=\"l\">Counter</th><th>Value</th></tr>");
    for (k, v) in &r.sync {
        let _ = write!(o, "<tr><td class=\"l\">{}</td><td>{v}</td></tr>", esc(k));
    }
    o.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_are_listed_with_their_ports() {
        use crate::control::local_addrs::LaddrReport;
        let mut o = String::new();
        let empty: Report = serde_json::from_str(
            &serde_json::to_string(&serde_json::json!({
                "uptime_s": 1.0, "workers": 1, "conns": 0, "neighbours": 0, "neighbours_evicted": 0,
                "health_transitions": 0, "ports": [], "dataplane": {}, "drops": {}, "io": {
                    "tx_dropped": 0, "ring_full": 0, "ring_in": 0, "neigh_dropped": 0, "arp_requests": 0,
                    "unlinearizable": 0, "to_kernel_dropped": 0, "to_kernel": 0, "from_kernel": 0 },
                "per_core_rx": [], "per_core_drops": [], "services": []
            }))
            .unwrap(),
        )
        .unwrap();
        local_addrs(&mut o, &empty);
        assert!(o.is_empty(), "no table without local addresses");
        let mut r = empty;
        r.laddrs = vec![
            LaddrReport {
                service: "TCP 10.0.0.1:80".into(),
                address: "10.0.0.201".into(),
                draining: false,
                ports_in_use: 7,
                exhausted: 2,
            },
            LaddrReport {
                service: String::new(),
                address: "10.0.0.202".into(),
                draining: true,
                ports_in_use: 1,
                exhausted: 0,
            },
        ];
        local_addrs(&mut o, &r);
        assert!(
            o.contains("<td class=\"l\">10.0.0.201</td><td class=\"l\">TCP 10.0.0.1:80</td><td>7</td><td>2</td>"),
            "{o}"
        );
        assert!(
            o.contains("<tr class=\"muted\"><td class=\"l\">10.0.0.202</td><td class=\"l\">deleted, draining</td>"),
            "{o}"
        );
    }

    #[test]
    fn text_is_escaped_and_rates_get_prefixes() {
        assert_eq!(esc("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
        assert_eq!(si(950), "950");
        assert_eq!(si(12_500), "12.5 k");
        assert_eq!(si(3_400_000), "3.4 M");
    }
}
