//! Health checks, keepalived-style: per real server a TCP connect or an HTTP GET (path,
//! expected status), every `interval` seconds with a `timeout`; `fall` failures in a row take
//! the server out (weight 0, or removed), `rise` successes bring it back. Transitions are
//! logged and counted.
//!
//! Probes are ordinary sockets of the daemon's host, on control-plane threads (never on the
//! dataplane cores). They reach the real servers the way the dataplane does: through the
//! kernel exception port of the real servers' network, whose TAP device carries the director's
//! address (rvsd sets it), so the kernel's packets leave through the DPDK port and the answers
//! come back to the kernel as traffic for the director. A real server's network without an
//! exception port cannot be checked from the host; rvsd says so at start.

use super::server::Control;
use crate::config::Check;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One probe: true when the server answered as expected.
pub fn probe(addr: IpAddr, port: u16, c: &Check) -> bool {
    let timeout = Duration::from_secs(u64::from(c.timeout));
    let Ok(mut s) = TcpStream::connect_timeout(&SocketAddr::from((addr, port)), timeout) else { return false };
    if !c.http {
        return true;
    }
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let host = match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"), // RFC 3986 §3.2.2
    };
    let req = format!("GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: rvsd-check\r\nConnection: close\r\n\r\n", c.path);
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    // "HTTP/1.x NNN"
    let line = String::from_utf8_lossy(&head[..n]);
    line.starts_with("HTTP/") && line.get(9..12).and_then(|c| c.parse::<u16>().ok()) == Some(c.expect)
}

#[derive(Debug, Default)]
struct Track {
    due: Option<Instant>,
    inflight: bool,
    oks: u32,
    fails: u32,
}

/// Runs the checks of the live state until `stop`.
pub fn run(ctl: &Control<'_>, beat: &crate::supervision::ThreadBeat, stop: &AtomicBool) {
    let (tx, rx) = mpsc::channel::<(u16, bool)>();
    let mut track: HashMap<u16, Track> = HashMap::new();
    let mut next_tick = Instant::now();
    let _alive = beat.running();
    while !stop.load(Ordering::Relaxed) {
        beat.beat();
        let targets: Vec<(u16, Check, IpAddr, u16)> = match ctl.state.lock() {
            Ok(st) => st
                .services
                .iter()
                .flat_map(|s| s.dests.iter())
                .filter_map(|d| st.checks.get(&d.id).map(|c| (d.id, c.clone(), d.addr, c.port.unwrap_or(d.port))))
                .collect(),
            Err(_) => return,
        };
        track.retain(|id, _| targets.iter().any(|t| t.0 == *id));
        let now = Instant::now();
        for (id, check, addr, port) in targets {
            let t = track.entry(id).or_default();
            if t.inflight || t.due.is_some_and(|d| now < d) {
                continue;
            }
            t.inflight = true;
            t.due = Some(now + Duration::from_secs(u64::from(check.interval)));
            let tx = tx.clone();
            // Detached: a probe ends within its timeout; nothing it holds is borrowed.
            std::thread::spawn(move || {
                let _ = tx.send((id, probe(addr, port, &check)));
            });
        }
        while let Ok((id, ok)) = rx.try_recv() {
            let Some(t) = track.get_mut(&id) else { continue };
            t.inflight = false;
            if ok {
                t.oks += 1;
                t.fails = 0;
            } else {
                t.fails += 1;
                t.oks = 0;
            }
            transition(ctl, id, t, ok);
        }
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + Duration::from_secs(1);
            super::real_lifecycle::tick(ctl);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Records probe result `ok` of server `id`, applies rise/fall and republishes on a change.
fn transition(ctl: &Control<'_>, id: u16, t: &Track, ok: bool) {
    let Ok(mut st) = ctl.state.lock() else { return };
    let Some(c) = st.checks.get(&id).cloned() else { return };
    st.last_check.insert(id, (Instant::now(), ok));
    if ok {
        st.proven.insert(id);
    }
    let is_down = st.down.contains(&id);
    let change = if !is_down && t.fails >= c.fall {
        st.down.insert(id);
        Some("down")
    } else if is_down && t.oks >= c.rise {
        st.down.remove(&id);
        st.start_ramp(id, ctl.t0.elapsed().as_secs());
        Some("up")
    } else {
        None
    };
    let Some(now) = change else { return };
    st.health_transitions += 1;
    let who = st
        .services
        .iter()
        .flat_map(|s| s.dests.iter())
        .find(|d| d.id == id)
        .map(|d| std::net::SocketAddr::new(d.addr, d.port).to_string());
    match ctl.publish(&st) {
        Ok(()) => tracing::warn!(
            real = who.as_deref().unwrap_or("?"),
            health = now,
            action = if c.remove { "remove" } else { "quiesce" },
            "health check transition"
        ),
        Err(e) => tracing::error!(error = %e, "health transition not published"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn check(http: bool, expect: u16) -> Check {
        Check {
            http,
            interval: 1,
            timeout: 1,
            rise: 1,
            fall: 1,
            port: None,
            path: "/health".into(),
            expect,
            remove: false,
        }
    }

    /// A one-shot HTTP server on loopback answering `status`; returns its port.
    fn server(status: &'static str) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming().take(1).flatten() {
                let mut s = s;
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).unwrap_or(0);
                assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /health HTTP/1.0\r\n"));
                let _ = s.write_all(format!("HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
            }
        });
        port
    }

    #[test]
    fn tcp_and_http_probes() {
        let lo = IpAddr::from(std::net::Ipv4Addr::LOCALHOST);
        assert!(probe(lo, server("200 OK"), &check(false, 200)), "TCP connect");
        assert!(probe(lo, server("200 OK"), &check(true, 200)), "HTTP 200 as expected");
        assert!(!probe(lo, server("503 Service Unavailable"), &check(true, 200)), "wrong status");
        assert!(probe(lo, server("503 Service Unavailable"), &check(true, 503)), "expect is configurable");
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert!(!probe(lo, closed, &check(false, 200)), "nothing listening");
    }
}
