//! Lab: SNAT through rvsd. Hosts behind rvs (their gateway) reach an outside server from the
//! pool's addresses; the outside cannot open a connection inward.
//!
//! ```text
//! host 10.1.0.2 --veth-- [p1 10.1.0.1   rvsd (2 workers)   198.18.0.1 p0] --veth-- server 198.18.0.2
//!                                       pool 198.18.0.50, 198.18.0.51
//! ```
//! - TCP (curl, several connections), UDP (socat to an echo server) and ping from the host all
//!   work, and the server sees only pool addresses.
//! - The server cannot reach the host: not directly (its route to 10.1.0.0/24 points at rvs),
//!   not through a live mapping's public address and port (address-and-port-dependent
//!   filtering), not on a pool address's other ports.
//! - `-L --snat` counts the rule's connections and each pool address's ports; `-S` writes it;
//!   deleted live, the host's new connections fail; added back, they work again.

use rvs_lab::admin::{ok, rvsadm};
use rvs_lab::{conf, http, lab_scripts, require_lab, Lab, Ns};
use std::time::Duration;

const SERVER: &str = "198.18.0.2";
const POOL: [&str; 2] = ["198.18.0.50", "198.18.0.51"];

fn curl(ns: &Ns, args: &[&str]) -> std::process::Output {
    let mut all = vec!["-s", "-m", "3"];
    all.extend_from_slice(args);
    ns.run("curl", &all, Duration::from_secs(20)).unwrap()
}

#[test]
fn hosts_reach_the_outside_from_the_pool_and_nothing_comes_in() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let host = lab.host("h").unwrap();
    let lb = lab.host("lb").unwrap();
    let server = lab.host("s").unwrap();
    lab.veth(&server, "eth0", &lb, "p0").unwrap();
    lab.veth(&host, "eth0", &lb, "p1").unwrap();
    host.addr("eth0", "10.1.0.2/24").unwrap();
    host.route(&["default", "via", "10.1.0.1"]).unwrap();
    server.addr("eth0", &format!("{SERVER}/24")).unwrap();
    server.route(&["10.1.0.0/24", "via", "198.18.0.1"]).unwrap();
    let web = http::serve(&mut lab, &server, "srv", SERVER, 80, 0).unwrap();
    let inside_web = http::serve(&mut lab, &host, "inside", "10.1.0.2", 8080, 0).unwrap();
    let echo = lab_scripts().join("udp_echo.py");
    let udp = lab.spawn(&server, "python3", &["-u", echo.to_str().unwrap(), "srv", SERVER, "5353"]).unwrap();
    lab.wait_for_line(udp, "listening", Duration::from_secs(10)).unwrap();

    let pool = POOL.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
    let toml = conf::dataplane(&[0, 1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "10.1.0.1/24")
        + &format!("[[snat]]\nsource = \"10.1.0.0/24\"\nout_port = \"out\"\npool = [{pool}]\n\n")
        + "[control]\nmetrics = \"127.0.0.1:9390\"\n";
    let rvsd = lab.rvsd(&lb, &toml).unwrap();
    let s = rvsd.socket.clone();
    http::wait_ready(&host, &format!("http://{SERVER}/")).unwrap();

    // TCP: several connections, one with a known port (its mapping is tried from outside below).
    for _ in 0..4 {
        assert_eq!(String::from_utf8_lossy(&curl(&host, &[&format!("http://{SERVER}/")]).stdout).trim(), "srv");
    }
    let out = curl(&host, &["--local-port", "45000", &format!("http://{SERVER}/")]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "srv");
    // UDP and ping.
    let cmd = format!("echo ping | socat -T 3 - UDP4:{SERVER}:5353,bind=10.1.0.2:46000");
    let out = host.run("sh", &["-c", &cmd], Duration::from_secs(10)).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "srv:ping");
    let ping = host.run("ping", &["-c", "3", "-i", "0.2", "-W", "2", SERVER], Duration::from_secs(15)).unwrap();
    assert!(ping.status.success(), "ping: {}", String::from_utf8_lossy(&ping.stdout));

    // The mapping of 10.1.0.2:45000, from the connection listing.
    let conns: Vec<serde_json::Value> = serde_json::from_str(&ok(&s, &["-L", "-n", "-c", "--json"])).unwrap();
    let mapped = conns
        .iter()
        .find(|c| c["source"] == "10.1.0.2:45000")
        .and_then(|c| c["local"].as_str())
        .unwrap_or_else(|| panic!("the TCP connection from port 45000 and its public end: {conns:?}"))
        .to_owned();
    assert!(POOL.iter().any(|a| mapped.starts_with(&format!("{a}:"))), "{mapped}");

    // Nothing comes in: not directly, not through the live mapping, not on another port.
    for url in ["http://10.1.0.2:8080/".to_string(), format!("http://{mapped}/"), format!("http://{}:8080/", POOL[0])] {
        let out = curl(&server, &["-m", "2", &url]);
        assert_eq!(out.status.code(), Some(28), "{url}: dropped, so curl timed out: {out:?}");
    }
    let inside = lab.stop(inside_web, Duration::from_secs(3)).unwrap();
    assert!(!inside.iter().any(|l| l.contains("\"GET ")), "the inside server was never reached: {inside:?}");

    // Counts, and -S.
    let rules: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "--snat", "--json"])).unwrap();
    let r = &rules[0];
    assert!(r["conns"].as_u64().unwrap() >= 7, "5 TCP + UDP + ping at least: {r}");
    assert!(r["pkts_out"].as_u64().unwrap() > 0 && r["pkts_in"].as_u64().unwrap() > 0, "{r}");
    let held: u64 = r["pool"].as_array().unwrap().iter().map(|p| p["ports_in_use"].as_u64().unwrap()).sum();
    assert!(held >= 5, "TIME_WAIT and UDP connections still hold their ports: {r}");
    let listed = ok(&s, &["-L", "--snat"]);
    assert!(listed.contains("10.1.0.0/24 tcp,udp,icmp -> out") && listed.contains("pool 198.18.0.51"), "{listed}");
    let out = lb.run("curl", &["-s", "http://127.0.0.1:9390/metrics"], Duration::from_secs(10)).unwrap();
    let metrics = String::from_utf8_lossy(&out.stdout);
    let line = metrics
        .lines()
        .find(|l| l.starts_with("rvs_snat_connections_total{source=\"10.1.0.0/24\",protocol=\"all\"}"))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(line.rsplit(' ').next().unwrap().parse::<u64>().unwrap() >= 7, "{line}");
    assert!(metrics.contains("rvs_snat_ports_in_use{source=\"10.1.0.0/24\",protocol=\"all\",address=\"198.18.0.50\"}"));
    let saved = ok(&s, &["-S", "-n"]);
    assert!(saved.contains("--add-snat --source 10.1.0.0/24 --pool 198.18.0.50,198.18.0.51 -F out"), "{saved}");
    assert!(!ok(&s, &["--get-laddr"]).contains("198.18.0.50"), "pools are not FULLNAT's local addresses");

    // Deleted live: the host's new connections go nowhere; added back (a port per connection
    // now), they work again.
    ok(&s, &["--del-snat", "--source", "10.1.0.0/24", "-F", "out"]);
    assert_eq!(curl(&host, &["-m", "2", &format!("http://{SERVER}/")]).status.code(), Some(28));
    let (code, _, err) = rvsadm(&s, &["--add-snat", "--source", "10.1.0.0/24", "--pool", "198.18.0.1"], "");
    assert!(code != 0 && err.contains("director's own"), "{err}");
    ok(&s, &["--add-snat", "--source", "10.1.0.0/24", "--pool", POOL[1], "--mapping", "address-and-port-dependent"]);
    assert_eq!(String::from_utf8_lossy(&curl(&host, &[&format!("http://{SERVER}/")]).stdout).trim(), "srv");

    // What the server saw: only pool addresses.
    let mut seen: Vec<String> = lab
        .stop(web, Duration::from_secs(3))
        .unwrap()
        .iter()
        .filter(|l| l.contains("\"GET "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    seen.extend(
        lab.stop(udp, Duration::from_secs(3))
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("from ").map(|a| a.split_whitespace().next().unwrap_or("").to_owned())),
    );
    assert!(seen.len() >= 7, "{seen:?}");
    assert!(seen.iter().all(|a| POOL.contains(&a.as_str())), "only pool addresses: {seen:?}");
    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert!(stats["drops"]["no_connection"].as_u64().unwrap_or(0) >= 1, "the knocks were dropped: {}", stats["drops"]);
    assert_eq!(stats["drops"]["checksum"].as_u64().unwrap_or(0), 0, "{}", stats["drops"]);
}
