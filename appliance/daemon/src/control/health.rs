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

/// One probe: `Ok` when the server answered as expected, else why not (logged with a
/// transition, as keepalived names a failed check's cause).
pub fn probe(addr: IpAddr, port: u16, c: &Check) -> Result<(), String> {
    let timeout = Duration::from_secs(u64::from(c.timeout));
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&SocketAddr::from((addr, port)), timeout)
        .map_err(|e| format!("connect: {e} after {} ms", started.elapsed().as_millis()))?;
    if !c.http {
        return Ok(());
    }
    let _ = s.set_write_timeout(Some(timeout));
    let host = match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"), // RFC 3986 §3.2.2
    };
    let req = format!("GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: rvsd-check\r\nConnection: close\r\n\r\n", c.path);
    s.write_all(req.as_bytes()).map_err(|e| format!("sending the request: {e}"))?;
    let mut head = [0u8; 64];
    let mut n = 0;
    let mut error = None;
    let deadline = started + timeout;
    while n < 12 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            error = Some(std::io::Error::from(std::io::ErrorKind::TimedOut));
            break;
        }
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut head[n..]) {
            Ok(0) => break,
            // A signal handled in another part of the process (DPDK's TAP driver signals every
            // frame on its queues) ends a read that has a timeout with EINTR even under
            // SA_RESTART (signal(7)): not the server's fault, read again.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                error = Some(e);
                break;
            }
            Ok(k) => n += k,
        }
    }
    // "HTTP/1.x NNN"
    let line = String::from_utf8_lossy(&head[..n]);
    match line.get(9..12).and_then(|c| c.parse::<u16>().ok()) {
        Some(status) if line.starts_with("HTTP/") && status == c.expect => Ok(()),
        Some(status) if line.starts_with("HTTP/") => Err(format!("status {status}, expected {}", c.expect)),
        _ => Err(match error {
            // SO_RCVTIMEO's expiry is EAGAIN.
            Some(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                format!("no answer within {} s", c.timeout)
            }
            Some(e) => format!("reading the answer: {e} after {} ms", started.elapsed().as_millis()),
            None => format!("no HTTP status line in {n} bytes"),
        }),
    }
}

#[derive(Debug, Default)]
struct Track {
    due: Option<Instant>,
    inflight: bool,
    oks: u32,
    fails: u32,
    /// Why the last probe failed.
    why: String,
}

/// Runs the checks of the live state until `stop`.
pub fn run(ctl: &Control<'_>, beat: &crate::supervision::ThreadBeat, stop: &AtomicBool) {
    let (tx, rx) = mpsc::channel::<(u16, Result<(), String>)>();
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
        while let Ok((id, result)) = rx.try_recv() {
            let Some(t) = track.get_mut(&id) else { continue };
            t.inflight = false;
            let ok = result.is_ok();
            match result {
                Ok(()) => {
                    t.oks += 1;
                    t.fails = 0;
                }
                Err(why) => {
                    t.fails += 1;
                    t.oks = 0;
                    t.why = why;
                }
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
    let (service, real) = st
        .services
        .iter()
        .find_map(|s| {
            let d = s.dests.iter().find(|d| d.id == id)?;
            let service = match s.fwmark {
                0 => format!("{} {}", s.protocol, std::net::SocketAddr::new(s.vip, s.port)),
                mark => format!("fwmark {mark}"),
            };
            Some((service, std::net::SocketAddr::new(d.addr, d.port).to_string()))
        })
        .unwrap_or_else(|| ("?".into(), "?".into()));
    let why = if ok { "" } else { t.why.as_str() };
    match ctl.publish(&st) {
        Ok(()) => tracing::warn!(
            service,
            real,
            health = now,
            action = if c.remove { "remove" } else { "quiesce" },
            why,
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
        assert_eq!(probe(lo, server("200 OK"), &check(false, 200)), Ok(()), "TCP connect");
        assert_eq!(probe(lo, server("200 OK"), &check(true, 200)), Ok(()), "HTTP 200 as expected");
        assert_eq!(
            probe(lo, server("503 Service Unavailable"), &check(true, 200)),
            Err("status 503, expected 200".into()),
            "wrong status"
        );
        assert_eq!(probe(lo, server("503 Service Unavailable"), &check(true, 503)), Ok(()), "expect is configurable");
        let silent = TcpListener::bind("127.0.0.1:0").unwrap(); // accepted by the kernel, never answered
        let port = silent.local_addr().unwrap().port();
        assert_eq!(
            probe(lo, port, &check(true, 200)),
            Err("no answer within 1 s".into()),
            "a server that says nothing"
        );
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let refused = probe(lo, closed, &check(false, 200)).unwrap_err();
        assert!(refused.starts_with("connect: ") && refused.contains("refused"), "nothing listening: {refused}");
    }

    /// A signal to the probing thread while it waits for the answer (rvsd's TAP driver signals
    /// the process on every frame it queues) is not a failed check: the read is retried.
    #[test]
    fn a_signal_while_waiting_for_the_answer_is_not_a_failure() {
        use nix::sys::pthread::{pthread_kill, pthread_self};
        use nix::sys::signal::Signal;
        // A handler as DPDK installs its own (SA_RESTART), so the signal does not kill us.
        let seen = std::sync::Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGUSR1, std::sync::Arc::clone(&seen)).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in l.incoming().take(1).flatten() {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                std::thread::sleep(Duration::from_millis(600)); // a slow server
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let (tx, rx) = mpsc::channel();
        let prober = std::thread::spawn(move || {
            tx.send(pthread_self()).unwrap();
            probe(IpAddr::from(std::net::Ipv4Addr::LOCALHOST), port, &check(true, 200))
        });
        let thread = rx.recv().unwrap();
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(80));
            pthread_kill(thread, Signal::SIGUSR1).unwrap();
        }
        assert_eq!(prober.join().unwrap(), Ok(()), "the probe waited through the signals");
        assert!(seen.load(Ordering::Relaxed), "the signals were delivered");
    }
}
