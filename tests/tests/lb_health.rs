//! Lab: keepalived-style health checks. Both real servers have an HTTP check (1 s interval,
//! fall 2, rise 2); rvsd probes them through the kernel exception port of the inside network.
//! Killing one server's HTTP process takes its weight to 0 within the fall time while requests
//! keep succeeding on the other; restarting it brings it back.

use rvs_lab::{http, require_lab, topo, workspace_bin, Lab, Ns};
use std::path::Path;
use std::time::{Duration, Instant};

fn list(socket: &Path) -> serde_json::Value {
    let out = std::process::Command::new(workspace_bin("rvsadm").unwrap())
        .args(["--socket", socket.to_str().unwrap(), "-L", "-n", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits (bounded) until rs2's health is `want`; returns how long it took.
fn wait_health(socket: &Path, want: &str) -> Duration {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(15) {
        if list(socket)["services"][0]["reals"][1]["health"] == want {
            return t0.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("rs2 never became {want}: {}", list(socket));
}

fn split(client: &Ns, n: usize) -> (usize, usize) {
    let t = http::tally(client, "http://198.18.0.100/", n).unwrap();
    (t.get("rs1").copied().unwrap_or(0), t.get("rs2").copied().unwrap_or(0))
}

#[test]
fn a_failing_server_is_quiesced_within_the_fall_time_and_comes_back() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let topo::NatPair { client, lb, servers } = topo::nat_pair(&mut lab, 0).unwrap();
    let mut config = rvs_lab::conf::dataplane(&[1])
        + &rvs_lab::conf::port("out", 0, "p0", "198.18.0.1/24")
        + &rvs_lab::conf::port("in", 1, "p1", "198.19.0.1/24")
        + "[[service]]\nprotocol = \"tcp\"\nvip = \"198.18.0.100\"\nport = 80\nscheduler = \"rr\"\n";
    // A killed server refuses at once, so the fall time does not depend on the timeout; 2 s
    // keeps a healthy server's probe from timing out on a loaded CI machine (seen once with 1 s:
    // rs1 went down for two slow probes).
    for a in ["198.19.0.11", "198.19.0.12"] {
        config += &format!(
            "  [[service.real]]\n  address = \"{a}\"\n  forward = \"nat\"\n  [service.real.check]\n  kind = \"http\"\n  path = \"/index.html\"\n  interval = 1\n  timeout = 2\n  fall = 2\n  rise = 2\n"
        );
    }
    // The inside network needs an exception port: the checks leave through it.
    config = config.replace(
        "address = \"198.19.0.1/24\"\n",
        "address = \"198.19.0.1/24\"\nexception = true\nexception_iface = \"rvs-in\"\n",
    );
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let s = rvsd.socket.clone();
    http::wait_ready(&client, "http://198.18.0.100/").unwrap();
    assert_eq!(split(&client, 10), (5, 5));
    let v = list(&s);
    assert_eq!(v["services"][0]["reals"][0]["health"], "up");

    // Kill rs2's HTTP server: down within fall * interval (+ a probe's timeout and slack).
    let (_, _, h2) = &servers[1];
    lab.stop(*h2, Duration::from_secs(2)).unwrap();
    let took = wait_health(&s, "down");
    assert!(took < Duration::from_secs(5), "quiesced after {took:?}");
    let v = list(&s);
    assert_eq!(v["services"][0]["reals"][1]["weight"], 0, "weight 0 while down: {v}");
    assert_eq!(v["services"][0]["reals"][1]["configured_weight"], 1);
    assert_eq!(split(&client, 10), (10, 0), "every request succeeds, on rs1");
    assert!(http::tally(&client, "http://198.18.0.100/", 4).unwrap().values().sum::<usize>() == 4);

    // Restart it: back after rise successes.
    let (rs2, a2, _) = &servers[1];
    http::serve(&mut lab, &rs2.clone(), "rs2", &a2.clone(), 80, 0).unwrap();
    wait_health(&s, "up");
    assert_eq!(list(&s)["services"][0]["reals"][1]["weight"], 1);
    let (a, b) = split(&client, 10);
    assert_eq!(a + b, 10);
    assert!(b >= 4, "rs2 takes connections again: {a}/{b}");

    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert_eq!(stats["health_transitions"], 2, "one down, one up: {stats}");
}
