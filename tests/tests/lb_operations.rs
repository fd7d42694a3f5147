//! Lab: rvsd as an operator runs it. The status page at `/` of the metrics listener, rendered
//! by headless Chromium (a screenshot kept in `target/lab-status-page.png`, the DOM checked for
//! the lab's services); every metric the Grafana dashboard and the alert rules in docs/ name
//! exists in the live /metrics; and systemd's `Type=notify` protocol through a test
//! `NOTIFY_SOCKET`: READY after the ports are up, watchdog pings that stop while a worker is
//! paused and resume after.

use rvs_lab::admin::ok;
use rvs_lab::conf::Real;
use rvs_lab::{conf, http, require_lab, topo, Lab, Ns};
use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// The NAT lab's configuration: service 198.18.0.100:80 (rr) over rs1 and rs2 with HTTP
/// checks, metrics and the status page on 127.0.0.1:9390.
fn nat_config() -> String {
    let reals = ["198.19.0.11", "198.19.0.12"].map(|addr| Real { addr, port: None, weight: 1, forward: "nat" });
    conf::dataplane(&[1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
            .replace("address = ", "exception = true\nexception_iface = \"rvs-in\"\naddress = ")
        + &conf::service("tcp", "198.18.0.100", 80, "rr", &reals).replace(
            "  forward = \"nat\"\n",
            "  forward = \"nat\"\n  [service.real.check]\n  kind = \"http\"\n  path = \"/\"\n  interval = 1\n",
        )
        + "[control]\nmetrics = \"127.0.0.1:9390\"\n"
}

/// Every `rvs_*` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(k) = text[i..].find("rvs_") {
        let start = i + k;
        let before_ok = start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_lowercase() || b[end].is_ascii_digit() || b[end] == b'_') {
            end += 1;
        }
        if before_ok {
            out.insert(text[start..end].to_owned());
        }
        i = end;
    }
    out
}

fn chromium(lb: &Ns, args: &[&str], profile: &str) -> String {
    let mut all = vec!["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"];
    let dir = format!("--user-data-dir={profile}");
    all.push(&dir);
    all.extend_from_slice(args);
    let out = lb.run("chromium", &all, Duration::from_secs(60)).expect("chromium runs");
    assert!(out.status.success(), "chromium {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_status_page_shows_the_labs_services_and_the_dashboards_metrics_exist() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let topo::NatPair { client, lb, .. } = topo::nat_pair(&mut lab, 1000).unwrap();
    let r = lab.rvsd(&lb, &nat_config()).unwrap();
    http::wait_ready(&client, "http://198.18.0.100/").unwrap();
    let t = http::tally(&client, "http://198.18.0.100/", 20).unwrap();
    assert_eq!(t.values().sum::<usize>(), 20, "{t:?}");
    // Both checks have run at least once.
    let t0 = Instant::now();
    while ok(&r.socket, &["-L", "-n", "--json"]).matches("\"last_check\":[").count() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(10), "no health check ran");
        std::thread::sleep(Duration::from_millis(200));
    }

    let profile = lab.scratch_dir("chromium").unwrap();
    let dom = chromium(&lb, &["--dump-dom", "http://127.0.0.1:9390/"], profile.to_str().unwrap());
    for want in [
        "data-service=\"TCP 198.18.0.100:80\"",
        "data-real=\"198.19.0.11:80\"",
        "data-real=\"198.19.0.12:80\"",
        "<td class=\"l up\">up</td>",
        "s ago, passed",
        "id=\"ha-mode\">standalone<",
        "id=\"workers\"",
        "http-equiv=\"refresh\"",
    ] {
        assert!(dom.contains(want), "{want:?} in the rendered DOM:\n{dom}");
    }
    let shot = rvs_lab::workspace_root().join("target/lab-status-page.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    chromium(&lb, &[&arg, "--window-size=1280,640", "http://127.0.0.1:9390/"], profile.to_str().unwrap());
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5000, "a PNG of the page ({} bytes)", png.len());
    eprintln!("status page: screenshot in {} ({} bytes)", shot.display(), png.len());

    // Every metric the dashboard and the alert rules use is exported by a live rvsd.
    let metrics = lb.exec("curl", &["-s", "-m", "5", "http://127.0.0.1:9390/metrics"]).unwrap();
    let exported: BTreeSet<String> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let mut used = BTreeSet::new();
    for doc in ["docs/grafana-dashboard.json", "docs/prometheus-alerts.yml"] {
        let text = std::fs::read_to_string(rvs_lab::workspace_root().join(doc)).unwrap();
        if doc.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&text).expect("the dashboard is JSON");
        }
        let names = metric_names(&text);
        assert!(names.len() >= 5, "{doc} names metrics: {names:?}");
        used.extend(names);
    }
    let missing: Vec<_> = used.difference(&exported).collect();
    assert!(missing.is_empty(), "metrics named in docs/ but not exported: {missing:?}");
    eprintln!("dashboard and alerts: {} metrics, all exported", used.len());
}

/// Reads the notify socket until `limit`; returns each datagram with its arrival time.
fn notifications(sock: &UnixDatagram, limit: Duration) -> Vec<(Instant, String)> {
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while Instant::now() < end {
        sock.set_read_timeout(Some(end.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            got.push((Instant::now(), String::from_utf8_lossy(&buf[..n]).to_string()));
        }
    }
    got
}

#[test]
fn systemd_hears_ready_after_the_ports_and_no_watchdog_ping_while_a_worker_stalls() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let c = lab.host("c").unwrap();
    let lb = lab.host("lb").unwrap();
    lab.veth(&c, "eth0", &lb, "p0").unwrap();
    let dir = lab.scratch_dir("notify").unwrap();
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let env = [("NOTIFY_SOCKET", path.to_str().unwrap()), ("WATCHDOG_USEC", "1000000"), ("RVS_LOG_FORMAT", "json")];
    let r = lab.rvsd_env(&lb, &(conf::dataplane(&[1]) + &conf::port("lan", 0, "p0", "198.18.0.1/24")), &env).unwrap();

    let first = notifications(&sock, Duration::from_secs(2));
    let ready = first.iter().position(|(_, m)| m.contains("READY=1")).expect("READY=1 was sent");
    assert!(first[ready].1.contains("STATUS=serving with 1 worker(s)"), "{first:?}");
    // READY followed the ports: rvsd had logged its port up by then.
    lab.rvsd_line(&r, "port up", Duration::from_secs(2)).expect("the port was up before READY");
    let pings = first.iter().filter(|(_, m)| m.contains("WATCHDOG=1")).count();
    assert!(pings >= 2, "pings every half interval (0.5 s): {first:?}");

    // Worker 0 stops polling for 4 s: the pings stop, then come back.
    ok(&r.socket, &["--pause-worker", "0", "--for", "4000"]);
    let paused = Instant::now();
    let during = notifications(&sock, Duration::from_secs(6));
    let stamps: Vec<f64> =
        during.iter().filter(|(_, m)| m.contains("WATCHDOG=1")).map(|(t, _)| (*t - paused).as_secs_f64()).collect();
    let gap = stamps.windows(2).map(|w| w[1] - w[0]).fold(stamps.first().copied().unwrap_or(6.0), f64::max);
    eprintln!("watchdog pings after the pause (s): {stamps:.2?}; longest gap {gap:.2} s");
    assert!(gap >= 2.5, "no ping for most of the 4 s pause: {stamps:?}");
    assert!(stamps.last().is_some_and(|&t| t > 4.0), "pings resumed after the pause: {stamps:?}");
    // One JSON object per line (`--log-format json`), the state change with its fields.
    let stalled = lab.rvsd_line(&r, "worker stalled", Duration::from_secs(2)).expect("the stall was logged");
    let v: serde_json::Value = serde_json::from_str(&stalled).unwrap_or_else(|e| panic!("{e}: {stalled}"));
    assert_eq!((v["level"].as_str(), v["fields"]["workers"].as_str()), (Some("ERROR"), Some("[0]")), "{v}");
    lab.rvsd_line(&r, "watchdog pings resume", Duration::from_secs(2)).expect("the recovery was logged");

    // Hardening: a control-plane thread the service depends on (here the health checks') stops
    // for 7 s: past its 5 s allowance the pings stop too, and come back when it runs again.
    ok(&r.socket, &["--pause-thread", "health", "--for", "7000"]);
    let paused = Instant::now();
    let during = notifications(&sock, Duration::from_secs(9));
    let stamps: Vec<f64> =
        during.iter().filter(|(_, m)| m.contains("WATCHDOG=1")).map(|(t, _)| (*t - paused).as_secs_f64()).collect();
    let gap = stamps.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    eprintln!("watchdog pings around the health thread's pause (s): {stamps:.2?}; longest gap {gap:.2} s");
    assert!(stamps.first().is_some_and(|&t| t < 4.0), "pings go on within the allowance: {stamps:?}");
    assert!(gap >= 1.0, "no ping once the thread counted as stalled: {stamps:?}");
    assert!(stamps.last().is_some_and(|&t| t > 7.0), "pings resumed with the thread: {stamps:?}");
    let stalled = lab.rvsd_line(&r, "control-plane thread stalled", Duration::from_secs(2)).expect("logged");
    let v: serde_json::Value = serde_json::from_str(&stalled).unwrap_or_else(|e| panic!("{e}: {stalled}"));
    assert_eq!(v["fields"]["thread"].as_str(), Some("health"), "{v}");
    lab.rvsd_line(&r, "control-plane thread runs again", Duration::from_secs(2)).expect("the recovery was logged");
    let (code, _, err) = rvs_lab::admin::rvsadm(&r.socket, &["--pause-thread", "gc", "--for", "10"], "");
    assert!(code == 1 && err.contains("is not one of control, health, sync, vip, neighbours"), "{err}");
}
