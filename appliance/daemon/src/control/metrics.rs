//! The Prometheus endpoint (`[control] metrics = "ADDR:PORT"`; `GET /` there is the status
//! page, [`super::status_page`]): `GET /metrics` returns the
//! text exposition format (version 0.0.4) of the same counters rvsadm lists: ports, dataplane
//! verdicts and drop reasons, services and real servers (connections, packets, bytes, active and
//! inactive connections, weight, health), taken fresh from the workers at each scrape.

use super::server::Control;
use crate::stats::{Baseline, Report};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Renders a report in Prometheus' text format.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, u64)>| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = if labels.is_empty() { writeln!(o, "{name} {v}") } else { writeln!(o, "{name}{{{labels}}} {v}") };
        }
    };
    let port = |f: fn(&crate::stats::PortReport) -> u64| {
        r.ports.iter().map(|p| (format!("port=\"{}\"", esc(&p.name)), f(p))).collect()
    };
    family("rvs_port_rx_packets_total", "counter", "Packets received on a port.", port(|p| p.rx_packets));
    family("rvs_port_tx_packets_total", "counter", "Packets sent on a port.", port(|p| p.tx_packets));
    family("rvs_port_rx_bytes_total", "counter", "Bytes received on a port.", port(|p| p.rx_bytes));
    family("rvs_port_tx_bytes_total", "counter", "Bytes sent on a port.", port(|p| p.tx_bytes));
    family("rvs_port_rx_missed_total", "counter", "Packets the NIC dropped (rx queues full).", port(|p| p.rx_missed));
    family(
        "rvs_dataplane_total",
        "counter",
        "Dataplane events by kind (rx, forwarded, replied, to_kernel, pending, redirected, dropped, new_conns, expired_conns, evicted, stateless_forwarded, one_packet, one_packet_replies, icmp_scheduled, refused, level_changes, too_big_sent, sync_*).",
        r.dataplane.iter().map(|(k, v)| (format!("kind=\"{k}\""), *v)).collect(),
    );
    family(
        "rvs_drops_total",
        "counter",
        "Dropped packets by reason.",
        r.drops.iter().map(|(k, v)| (format!("reason=\"{k}\""), *v)).collect(),
    );
    family(
        "rvs_vip_held",
        "gauge",
        "1 while this director serves the service's VIP (always, unless [ha] mode = vrrp and keepalived is BACKUP).",
        r.services.iter().map(|s| (s.labels(), u64::from(s.held))).collect(),
    );
    family(
        "rvs_vip_changes_total",
        "counter",
        "VRRP: VIPs taken or released.",
        vec![(String::new(), r.ha.vip_changes)],
    );
    family(
        "rvs_sync_total",
        "counter",
        "Connection sync daemon events by kind (sent_msgs, sent_conns, recv_msgs, recv_conns, bad_size, other_syncid, bad_record, ...).",
        r.sync.iter().map(|(k, v)| (format!("kind=\"{k}\""), *v)).collect(),
    );
    family("rvs_connections", "gauge", "Connections held by all workers.", vec![(String::new(), r.conns as u64)]);
    family("rvs_neighbours", "gauge", "Learned neighbours.", vec![(String::new(), r.neighbours as u64)]);
    family(
        "rvs_neighbours_evicted_total",
        "counter",
        "Neighbour entries evicted to make room (those made by solicitations first).",
        vec![(String::new(), r.neighbours_evicted)],
    );
    family(
        "rvs_health_transitions_total",
        "counter",
        "Health-check transitions.",
        vec![(String::new(), r.health_transitions)],
    );
    family(
        "rvs_drains_completed_total",
        "counter",
        "Real servers rvsd deleted at the end of a drain (rvsadm -e --drain).",
        vec![(String::new(), r.drains_completed)],
    );
    let laddr = |f: fn(&crate::control::local_addrs::LaddrReport) -> u64| {
        let label = |l: &crate::control::local_addrs::LaddrReport| {
            format!("laddr=\"{}\",service=\"{}\",draining=\"{}\"", l.address, l.service, l.draining)
        };
        r.laddrs.iter().map(|l| (label(l), f(l))).collect()
    };
    family(
        "rvs_laddr_ports_in_use",
        "gauge",
        "FULLNAT local ports held by connections, per local address (all workers).",
        laddr(|l| l.ports_in_use),
    );
    family(
        "rvs_laddr_exhausted_total",
        "counter",
        "New FULLNAT connections that found no free port of a local address (then tried the next; laddr_exhausted drops when none had one).",
        laddr(|l| l.exhausted),
    );
    // Allow and deny lists: size and refusals per list.
    let access = |f: fn(&crate::control::access_lists::AccessReport) -> u64| {
        r.access.iter().map(|l| (format!("scope=\"{}\",list=\"{}\"", l.scope, l.list), f(l))).collect::<Vec<_>>()
    };
    family("rvs_access_prefixes", "gauge", "Prefixes in an allow or deny list.", access(|l| l.prefixes));
    family(
        "rvs_access_refused_total",
        "counter",
        "New connections an allow or deny list refused.",
        access(|l| l.refused),
    );
    // SNAT rules: connections and traffic per rule, ports per pool address.
    let rule_label = |x: &crate::control::snat_rules::SnatReport| {
        let p = x.rule.protocol.as_deref().unwrap_or("all");
        format!("source=\"{}\",protocol=\"{p}\"", x.rule.source)
    };
    let per_rule = |f: fn(&crate::control::snat_rules::SnatReport) -> u64| {
        r.snat.iter().map(|x| (rule_label(x), f(x))).collect::<Vec<_>>()
    };
    family("rvs_snat_connections_total", "counter", "Connections a SNAT rule made.", per_rule(|x| x.conns));
    family(
        "rvs_snat_out_packets_total",
        "counter",
        "Inside-to-outside packets of a SNAT rule.",
        per_rule(|x| x.pkts_out),
    );
    family(
        "rvs_snat_in_packets_total",
        "counter",
        "Outside-to-inside packets of a SNAT rule.",
        per_rule(|x| x.pkts_in),
    );
    let per_pool = |f: fn(&crate::control::snat_rules::SnatPoolReport) -> u64| {
        r.snat
            .iter()
            .flat_map(|x| x.pool.iter().map(move |p| (format!("{},address=\"{}\"", rule_label(x), p.address), f(p))))
            .collect::<Vec<_>>()
    };
    family(
        "rvs_snat_ports_in_use",
        "gauge",
        "Pool ports held by SNAT connections, per pool address (all workers).",
        per_pool(|p| p.ports_in_use),
    );
    family(
        "rvs_snat_exhausted_total",
        "counter",
        "New SNAT connections that found no free port of a pool address.",
        per_pool(|p| p.exhausted),
    );
    let svc = |s: &crate::stats::ServiceReport| s.labels();
    let per_svc = |f: fn(&crate::stats::ServiceReport) -> u64| r.services.iter().map(|s| (svc(s), f(s))).collect();
    family("rvs_service_connections_total", "counter", "Connections scheduled for a service.", per_svc(|s| s.conns));
    family("rvs_service_in_packets_total", "counter", "Client-to-server packets of a service.", per_svc(|s| s.pkts_in));
    family(
        "rvs_service_out_packets_total",
        "counter",
        "Server-to-client packets of a service (NAT).",
        per_svc(|s| s.pkts_out),
    );
    family("rvs_service_in_bytes_total", "counter", "Client-to-server bytes of a service.", per_svc(|s| s.bytes_in));
    family(
        "rvs_service_out_bytes_total",
        "counter",
        "Server-to-client bytes of a service (NAT).",
        per_svc(|s| s.bytes_out),
    );
    let per_real = |f: fn(&crate::stats::RealReport) -> u64| {
        r.services
            .iter()
            .flat_map(|s| {
                s.reals.iter().map(move |x| {
                    (
                        format!(
                            "{},real=\"{}\",forward=\"{}\"",
                            svc(s),
                            crate::stats::endpoint(&x.address, x.port),
                            x.forward
                        ),
                        f(x),
                    )
                })
            })
            .collect()
    };
    family("rvs_real_connections_total", "counter", "Connections scheduled to a real server.", per_real(|x| x.conns));
    family("rvs_real_in_packets_total", "counter", "Packets forwarded to a real server.", per_real(|x| x.pkts_in));
    family(
        "rvs_real_out_packets_total",
        "counter",
        "Reply packets from a real server (NAT).",
        per_real(|x| x.pkts_out),
    );
    family("rvs_real_in_bytes_total", "counter", "Bytes forwarded to a real server.", per_real(|x| x.bytes_in));
    family("rvs_real_out_bytes_total", "counter", "Reply bytes from a real server (NAT).", per_real(|x| x.bytes_out));
    family(
        "rvs_real_active_connections",
        "gauge",
        "Established connections (ipvsadm's ActiveConn).",
        per_real(|x| x.active),
    );
    family(
        "rvs_real_inactive_connections",
        "gauge",
        "Other connections (ipvsadm's InActConn).",
        per_real(|x| x.inactive),
    );
    family(
        "rvs_real_weight",
        "gauge",
        "Weight in force (0 while a health check fails or it drains; ramping during its slow start).",
        per_real(|x| u64::from(x.weight)),
    );
    family(
        "rvs_real_draining",
        "gauge",
        "1 while the real server drains (rvsadm -e --drain): rvsd deletes it when its connections end.",
        per_real(|x| u64::from(x.draining)),
    );
    family(
        "rvs_real_overloaded",
        "gauge",
        "1 while the real server is at its upper connection threshold (ipvsadm -x): no new connections.",
        per_real(|x| u64::from(x.overloaded)),
    );
    family(
        "rvs_real_u_threshold",
        "gauge",
        "Upper connection threshold (0 = none).",
        per_real(|x| u64::from(x.u_threshold)),
    );
    family("rvs_real_l_threshold", "gauge", "Lower connection threshold.", per_real(|x| u64::from(x.l_threshold)));
    family(
        "rvs_real_persistent_connections",
        "gauge",
        "Persistence templates pointing at the real server (ipvsadm's PersistConn).",
        per_real(|x| x.persist_conns),
    );
    family(
        "rvs_worker_table_pressure",
        "gauge",
        "A worker's connection-table pressure: 0 normal, 1 pressure (short SYN_RECV timeout), 2 full (evicting).",
        r.per_core_pressure
            .iter()
            .enumerate()
            .map(|(w, l)| {
                let level = match l.as_str() {
                    "pressure" => 1,
                    "full" => 2,
                    _ => 0,
                };
                (format!("worker=\"{w}\""), level)
            })
            .collect(),
    );
    family(
        "rvs_real_up",
        "gauge",
        "1 unless the real server's health check fails.",
        per_real(|x| u64::from(x.health != "down")),
    );
    o
}

/// Serves `/metrics` on `server` until `stop`.
pub fn serve(server: &tiny_http::Server, ctl: &Control<'_>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(200)) else { continue };
        let get = *req.method() == tiny_http::Method::Get;
        let resp = if get && (req.url() == "/" || req.url().starts_with("/?")) {
            let Ok((_, r)) = ctl.listing_report() else { return };
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            let body = super::status_page::render(&r, host.trim());
            let ct = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"text/html; charset=utf-8"[..])
                .expect("static header");
            tiny_http::Response::from_string(body).with_header(ct)
        } else if req.url() == "/metrics" && get {
            let base = ctl.baseline.lock().map(|b| b.clone()).unwrap_or_else(|_| Baseline::default());
            let body = match ctl.fresh_report(&base) {
                Ok((_, r)) => render(&r),
                Err(_) => return,
            };
            let ct = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"text/plain; version=0.0.4"[..])
                .expect("static header");
            tiny_http::Response::from_string(body).with_header(ct)
        } else {
            tiny_http::Response::from_string("not found: GET / (status page) or GET /metrics\n").with_status_code(404)
        };
        let _ = req.respond(resp);
    }
}
