//! Lab: FULLNAT (DPVS's FNAT) through rvsd. The real servers sit behind a router on a subnet
//! of their own, with no route to the clients and no VIP: they see the director's local
//! addresses as their clients and answer them by ordinary routing.
//!
//! ```text
//! client 198.18.0.2, .21-.40          [p0 198.18.0.1     rvsd  198.19.0.1     p1]--veth--router 198.19.0.254
//!        2001:db8:18::2, ::21-::40  --veth-- 2001:db8:18::1        2001:db8:19::1             2001:db8:19::254
//!                                                 local addresses 198.19.0.201-.203,              | 10.20.0.254
//!                                                 2001:db8:19::201                                 | 2001:db8:20::254
//!                                                                            switch: rs1 10.20.0.11, 2001:db8:20::11
//!                                                                                    rs2 10.20.0.12, 2001:db8:20::12
//! ```
//! - One worker: curl through each family's VIP from 20 client addresses spreads exactly by rr;
//!   UDP datagrams too; the servers' logs show only local addresses as sources; `-L -c` shows
//!   each connection's local end; a service with a two-port range refuses its third connection
//!   (`laddr_exhausted`, counted per local address by `--get-laddr` and `/metrics`); a local
//!   address added and deleted live serves, then drains; a service with TOA: a capture at the
//!   real server shows option 254 with the client's address and port on the handshake's ACK;
//!   UDP with UOA: the servers read each client's address from the datagrams' IP option.
//!   NAT64: curl -6 through an IPv6 VIP reaches the IPv4 servers (rr exact), which see the
//!   IPv4 local address; `-L -c` lists the connection's IPv4 ends as IPv4.
//! - PROXY protocol v2 to nginx (`listen ... proxy_protocol`): it logs each client's own address
//!   and port; a 20 MB download through a hop that loses 1% of packets, SACK on, arrives
//!   byte-identical (sha256): the sequence adjustment holds through retransmissions and SACK.
//! - Two workers: 20 clients x 20 connections; every client's connections land on both workers,
//!   each from a local port of its own worker's share, every reply reaches its owner (handed over
//!   when the other worker received it), none lost.

use rvs_lab::admin::{ok, rvsadm};
use rvs_lab::{conf, http, lab_scripts, require_lab, Lab, Ns};
use std::collections::BTreeMap;
use std::time::Duration;

const VIP: &str = "198.18.0.100";
const VIP6: &str = "2001:db8:18::100";
const LADDRS: [&str; 2] = ["198.19.0.201", "198.19.0.202"];
const LADDR6: &str = "2001:db8:19::201";
/// The tiny service's only local address (ports 40000-40001).
const LADDR_TINY: &str = "198.19.0.203";
/// NAT64: an IPv6 VIP over the IPv4 real servers, through an IPv4 local address.
const VIP64: &str = "2001:db8:18::164";
const LADDR64: &str = "198.19.0.210";

fn sources4() -> Vec<String> {
    (21..=40).map(|k| format!("198.18.0.{k}")).collect()
}

fn sources6() -> Vec<String> {
    (21..=40).map(|k| format!("2001:db8:18::{k}")).collect()
}

/// The lab: client, director, and the real servers' HTTP handles by (server, family).
struct FullNatLab {
    client: Ns,
    router: Ns,
    rs1: Ns,
    lb: Ns,
    http: BTreeMap<(String, u8), usize>,
    udp: Vec<usize>,
}

fn build(lab: &mut Lab) -> FullNatLab {
    let client = lab.host("c").unwrap();
    let lb = lab.host("lb").unwrap();
    let router = lab.host("r").unwrap();
    let mut sw = lab.switch("rs").unwrap();
    lab.veth(&client, "eth0", &lb, "p0").unwrap();
    lab.veth(&router, "eth0", &lb, "p1").unwrap();
    lab.plug(&mut sw, &router, "eth1").unwrap();
    client.addr("eth0", "198.18.0.2/24").unwrap();
    client.addr("eth0", "2001:db8:18::2/64").unwrap();
    for a in sources4() {
        client.addr("eth0", &format!("{a}/24")).unwrap();
    }
    for a in sources6() {
        client.addr("eth0", &format!("{a}/64")).unwrap();
    }
    // The router knows the director's subnet and the servers'; nothing of the clients'.
    for (dev, a) in [("eth0", "198.19.0.254/24"), ("eth0", "2001:db8:19::254/64"), ("eth1", "10.20.0.254/24")] {
        router.addr(dev, a).unwrap();
    }
    router.addr("eth1", "2001:db8:20::254/64").unwrap();
    router.sysctl("net.ipv4.ip_forward", "1").unwrap();
    router.sysctl("net.ipv6.conf.all.forwarding", "1").unwrap();
    let mut out = FullNatLab { client, router, rs1: lab.host("rs1").unwrap(), lb, http: BTreeMap::new(), udp: vec![] };
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let rs = if i == 0 { out.rs1.clone() } else { lab.host(name).unwrap() };
        lab.plug(&mut sw, &rs, "eth0").unwrap();
        let (a4, a6) = (format!("10.20.0.{}", 11 + i), format!("2001:db8:20::{}", 11 + i));
        rs.addr("eth0", &format!("{a4}/24")).unwrap();
        rs.addr("eth0", &format!("{a6}/64")).unwrap();
        rs.route(&["default", "via", "10.20.0.254"]).unwrap();
        rs.route(&["default", "via", "2001:db8:20::254"]).unwrap();
        out.http.insert((name.to_string(), 4), http::serve(lab, &rs, name, &a4, 80, 0).unwrap());
        out.http.insert((name.to_string(), 6), http::serve(lab, &rs, name, &a6, 8080, 0).unwrap());
        let echo = lab_scripts().join("udp_echo.py");
        let h = lab.spawn(&rs, "python3", &["-u", echo.to_str().unwrap(), name, &a4, "5353"]).unwrap();
        lab.wait_for_line(h, "listening", Duration::from_secs(10)).unwrap();
        out.udp.push(h);
    }
    out
}

/// rvs.toml: tcp VIP:80 and udp VIP:53 over rs1, rs2 from two local addresses; tcp [VIP6]:80
/// over their port 8080 from one; tcp VIP:81 from LADDR_TINY's ports 40000-40001 only; tcp
/// VIP:82 to rs1 with TOA; NAT64: tcp [VIP64]:80 over their IPv4 port 80 from LADDR64.
fn config(lcores: &[u32]) -> String {
    let reals = |port: u16, v6: bool| {
        let mut s = String::new();
        for k in [11, 12] {
            let a = if v6 { format!("2001:db8:20::{k}") } else { format!("10.20.0.{k}") };
            s += &format!("  [[service.real]]\n  address = \"{a}\"\n  port = {port}\n  forward = \"fullnat\"\n");
        }
        s
    };
    let list = |a: &[&str]| a.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", ");
    conf::dataplane(lcores)
        + &conf::port_dual("out", 0, "p0", "198.18.0.1/24", "2001:db8:18::1/64")
        + &conf::port_dual("in", 1, "p1", "198.19.0.1/24", "2001:db8:19::1/64")
            .replace("\n\n", "\ngateway = [\"198.19.0.254\", \"2001:db8:19::254\"]\n\n")
        + &format!("[[service]]\nprotocol = \"tcp\"\nvip = \"{VIP}\"\nport = 80\nscheduler = \"rr\"\nladdrs = [{}]\n{}\n", list(&LADDRS), reals(80, false))
        + &format!("[[service]]\nprotocol = \"udp\"\nvip = \"{VIP}\"\nport = 53\nscheduler = \"rr\"\nladdrs = [{}]\nuoa = true\n{}\n", list(&LADDRS), reals(5353, false))
        + &format!("[[service]]\nprotocol = \"tcp\"\nvip = \"{VIP6}\"\nport = 80\nscheduler = \"rr\"\nladdrs = [\"{LADDR6}\"]\n{}\n", reals(8080, true))
        + &format!("[[service]]\nprotocol = \"tcp\"\nvip = \"{VIP64}\"\nport = 80\nscheduler = \"rr\"\nladdrs = [\"{LADDR64}\"]\n{}\n", reals(80, false))
        + &format!("[[service]]\nprotocol = \"tcp\"\nvip = \"{VIP}\"\nport = 81\nscheduler = \"rr\"\nladdrs = [\"{LADDR_TINY}\"]\nlports = \"40000-40001\"\n  [[service.real]]\n  address = \"10.20.0.11\"\n  port = 80\n  forward = \"fullnat\"\n\n")
        + &format!("[[service]]\nprotocol = \"tcp\"\nvip = \"{VIP}\"\nport = 82\nscheduler = \"rr\"\nladdrs = [\"{}\"]\ntoa = true\n  [[service.real]]\n  address = \"10.20.0.11\"\n  port = 80\n  forward = \"fullnat\"\n\n", LADDRS[0])
}

/// The body of `n` GETs of `url` from `src` (one connection each), one line per answer.
fn gets(client: &Ns, src: &str, url: &str, n: usize) -> Result<Vec<String>, String> {
    let mut args = vec!["-g", "-s", "-m", "10", "--interface", src, "-H", "Connection: close"];
    args.extend(std::iter::repeat_n(url, n));
    let out = client.run("curl", &args, Duration::from_secs(60)).map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("curl from {src}: {} {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect())
}

/// The source addresses an HTTP server logged requests from.
fn logged_sources(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains("\"GET "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn fullnat_serves_both_families_and_udp_from_local_addresses_only() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let l = build(&mut lab);
    let rvsd = lab.rvsd(&l.lb, &config(&[1])).unwrap();
    let s = rvsd.socket.clone();
    http::wait_ready(&l.client, &format!("http://{VIP}/")).unwrap();
    http::wait_ready(&l.client, &format!("http://[{VIP6}]/")).unwrap();

    // 20 sources per family, one GET each: rr alternates exactly.
    for (family, sources, url) in
        [("IPv4", sources4(), format!("http://{VIP}/")), ("IPv6", sources6(), format!("http://[{VIP6}]/"))]
    {
        let mut tally: BTreeMap<String, usize> = BTreeMap::new();
        for src in &sources {
            for name in gets(&l.client, src, &url, 1).unwrap() {
                *tally.entry(name).or_default() += 1;
            }
        }
        assert_eq!(tally, BTreeMap::from([("rs1".into(), 10), ("rs2".into(), 10)]), "{family}: rr over 20 sources");
    }
    // NAT64: IPv6 clients reach the IPv4 servers, rr exact.
    http::wait_ready(&l.client, &format!("http://[{VIP64}]/")).unwrap();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for src in &sources6()[..6] {
        for name in gets(&l.client, src, &format!("http://[{VIP64}]/"), 1).unwrap() {
            *tally.entry(name).or_default() += 1;
        }
    }
    assert_eq!(tally, BTreeMap::from([("rs1".into(), 3), ("rs2".into(), 3)]), "NAT64: rr over 6 IPv6 sources");
    let nat64_rows: Vec<String> = ok(&s, &["-L", "-n", "-c"])
        .lines()
        .filter(|r| r.contains(&format!("[{VIP64}]:80")) && r.contains(&format!("{LADDR64}:")))
        .map(str::to_owned)
        .collect();
    assert!(nat64_rows.len() >= 6, "each NAT64 connection's IPv4 ends listed as IPv4: {nat64_rows:?}");
    assert!(nat64_rows.iter().all(|r| r.contains("10.20.0.1")), "{nat64_rows:?}");
    let svc64 = format!("[{VIP64}]:80");
    ok(&s, &["-a", "-t", &svc64, "-r", "10.20.0.13:80", "--fullnat", "-w", "0"]);
    let (code, _, err) = rvsadm(&s, &["-a", "-t", &svc64, "-r", "10.20.0.14:80", "-m"], "");
    assert!(code != 0 && err.contains("NAT64"), "only FULLNAT crosses families: {err}");
    assert!(ok(&s, &["-L", "-n", "-t", &svc64]).contains("-> 10.20.0.13:80"), "listed under the IPv6 VIP");

    // UDP: one datagram from each of 4 sources, answered by rs1 and rs2 in turn.
    let mut answers = vec![];
    for src in &sources4()[..4] {
        let cmd = format!("echo ping | socat -T 3 - UDP4:{VIP}:53,bind={src}");
        let out = l.client.run("sh", &["-c", &cmd], Duration::from_secs(10)).unwrap();
        answers.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    assert_eq!(answers.iter().filter(|a| a.starts_with("rs1:")).count(), 2, "{answers:?}");
    assert_eq!(answers.iter().filter(|a| a.starts_with("rs2:")).count(), 2, "{answers:?}");

    // -L -c: the local end of each connection, a local address and a port in the range.
    let conns = ok(&s, &["-L", "-n", "-c"]);
    assert!(conns.lines().nth(1).unwrap().contains("local"), "{conns}");
    let fullnat_rows = conns.lines().filter(|l| LADDRS.iter().chain([&LADDR6]).any(|a| l.contains(a))).count();
    assert!(fullnat_rows >= 40, "every connection shows its local end:\n{conns}");

    // The tiny range: two connections hold both ports (TIME_WAIT keeps them); the third is refused.
    let tiny = format!("http://{VIP}:81/");
    assert_eq!(gets(&l.client, "198.18.0.2", &tiny, 2).unwrap(), ["rs1", "rs1"]);
    let refused = l.client.run("curl", &["-s", "-m", "2", &tiny], Duration::from_secs(10)).unwrap();
    assert!(!refused.status.success(), "a third connection found no free local port");
    let report: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "-n", "--json"])).unwrap();
    assert!(report["drops"]["laddr_exhausted"].as_u64().unwrap_or(0) >= 1, "{}", report["drops"]);
    let laddrs = ok(&s, &["--get-laddr", "-t", &format!("{VIP}:81")]);
    let row = laddrs.lines().find(|r| r.contains(LADDR_TINY)).unwrap_or_else(|| panic!("{laddrs}"));
    let figures: Vec<u64> = row.split_whitespace().skip(2).map(|n| n.parse().unwrap()).collect();
    assert_eq!(figures[0], 2, "both ports held: {laddrs}");
    assert!(figures[1] >= 1, "its exhaustion counted: {laddrs}");

    // TOA: the real server's capture shows option 254 with the client's address and port on
    // the handshake's ACK (and on the request, sent before the server answered).
    let sniff = lab_scripts().join("toa_sniff.py");
    let h = lab.spawn(&l.rs1, "python3", &["-u", sniff.to_str().unwrap(), "eth0", "80", "20"]).unwrap();
    lab.wait_for_line(h, "sniffing", Duration::from_secs(10)).unwrap();
    let out = l
        .client
        .run(
            "curl",
            &["-s", "-m", "10", "--interface", "198.18.0.33", "--local-port", "45678", &format!("http://{VIP}:82/")],
            Duration::from_secs(20),
        )
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rs1");
    lab.wait_for_line(h, "toa A 45678 198.18.0.33", Duration::from_secs(10)).unwrap();
    let seen = lab.stop(h, Duration::from_secs(3)).unwrap();
    assert!(seen.iter().any(|l| l.starts_with("plain S")), "the SYN has none: {seen:?}");
    assert!(seen.iter().any(|l| l.starts_with("toa PA 45678 198.18.0.33")), "the request too: {seen:?}");

    // A local address added live serves; deleted, it drains (still listed while it holds ports).
    let svc = format!("{VIP}:80");
    ok(&s, &["--add-laddr", "-t", &svc, "-z", "198.19.0.204", "-F", "in"]);
    let (code, _, err) = rvsadm(&s, &["--add-laddr", "-t", &svc, "-z", "198.19.0.205", "-F", "nope"], "");
    assert!(code != 0 && err.contains("no such port"), "{err}");
    for src in &sources4()[..6] {
        gets(&l.client, src, &format!("http://{VIP}/"), 1).unwrap();
    }
    let all = ok(&s, &["--get-laddr"]);
    assert!(all.contains("198.19.0.204"), "{all}");
    ok(&s, &["--del-laddr", "-t", &svc, "-z", "198.19.0.204"]);
    let after = ok(&s, &["--get-laddr"]);
    assert!(
        after.contains("deleted, draining\n  -> 198.19.0.204"),
        "its connections (TIME_WAIT) still hold ports:\n{after}"
    );
    let saved = ok(&s, &["-S", "-n"]);
    assert!(saved.contains(&format!("--add-laddr -t {VIP}:80 -z 198.19.0.201\n")), "{saved}");
    assert!(saved.contains("-r 10.20.0.11:80 --fullnat"), "{saved}");
    assert!(saved.contains("--lports 40000-40001"), "{saved}");

    // What the servers saw: only local addresses.
    let mut seen = Vec::new();
    for ((name, family), h) in &l.http {
        let lines = lab.stop(*h, Duration::from_secs(3)).unwrap();
        let from = logged_sources(&lines);
        assert!(!from.is_empty(), "{name} IPv{family} logged requests: {lines:?}");
        seen.extend(from);
    }
    let mut uoa = vec![];
    for h in &l.udp {
        let lines = lab.stop(*h, Duration::from_secs(3)).unwrap();
        for from in lines.iter().filter_map(|l| l.strip_prefix("from ")) {
            let words: Vec<&str> = from.split_whitespace().collect();
            seen.push(words[0].to_owned());
            if let ["uoa", _port, client] = words[1..] {
                uoa.push(client.to_owned());
            }
        }
    }
    // UOA: each datagram (a flow's first) told its server the client's own address.
    uoa.sort();
    let dp: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "-n", "--json"])).unwrap();
    assert_eq!(uoa, sources4()[..4].to_vec(), "UOA carried each client's address: {}", dp["dataplane"]);
    let locals = [LADDRS[0], LADDRS[1], LADDR6, LADDR_TINY, "198.19.0.204", LADDR64];
    let strangers: Vec<&String> = seen.iter().filter(|a| !locals.contains(&a.as_str())).collect();
    assert!(strangers.is_empty(), "the servers saw only local addresses, not: {strangers:?}");
    assert!(LADDRS.iter().all(|a| seen.iter().any(|x| x == a)), "both local addresses in turn: {seen:?}");
    assert!(seen.iter().filter(|x| *x == LADDR64).count() >= 6, "NAT64 requests came from its local address");
    let stats = lab.stop_rvsd(rvsd).unwrap();
    for reason in ["no_route", "no_connection", "checksum"] {
        assert_eq!(stats["drops"][reason].as_u64().unwrap_or(0), 0, "{reason}: {}", stats["drops"]);
    }
}

#[test]
fn two_workers_every_reply_reaches_the_worker_whose_port_it_is() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let l = build(&mut lab);
    let rvsd = lab.rvsd(&l.lb, &config(&[0, 1])).unwrap();
    let s = rvsd.socket.clone();
    let url = format!("http://{VIP}/");
    http::wait_ready(&l.client, &url).unwrap();
    let handles: Vec<_> = sources4()
        .into_iter()
        .map(|src| {
            let (c, url) = (l.client.clone(), url.clone());
            std::thread::spawn(move || (src.clone(), gets(&c, &src, &url, 20)))
        })
        .collect();
    for h in handles {
        let (src, got) = h.join().unwrap();
        let got = got.unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(got.len(), 20, "{src}: every request answered: {got:?}");
        assert!(got.iter().all(|b| b == "rs1" || b == "rs2"), "{src}: {got:?}");
    }
    let conns: Vec<serde_json::Value> = serde_json::from_str(&ok(&s, &["-L", "-n", "-c", "--json"])).unwrap();
    let mut cores: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for c in &conns {
        let src = c["source"].as_str().unwrap().rsplit_once(':').unwrap().0.to_owned();
        let core = c["core"].as_u64().unwrap();
        let local = c["local"].as_str().unwrap_or_else(|| panic!("a local end: {c}"));
        let lport: u64 = local.rsplit_once(':').unwrap().1.parse().unwrap();
        assert_eq!(lport % 2, core, "the local port is its worker's: {c}");
        cores.entry(src).or_default().push(core);
    }
    for src in sources4() {
        let mine = cores.get(&src).unwrap_or_else(|| panic!("{src} has connections: {cores:?}"));
        assert!(mine.contains(&0) && mine.contains(&1), "{src}'s connections on both workers: {mine:?}");
    }
    let report: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "-n", "--json"])).unwrap();
    assert!(
        report["dataplane"]["redirected"].as_u64().unwrap() > 0,
        "replies crossed workers: {}",
        report["dataplane"]
    );
    assert_eq!(report["io"]["ring_full"], 0, "{}", report["io"]);
    lab.stop_rvsd(rvsd).unwrap();
}

/// nginx in `ns` serving `www` on `bind`:8081 with the PROXY protocol, logging
/// `$proxy_protocol_addr:$proxy_protocol_port` first; returns (handle, access log path).
fn nginx(lab: &mut Lab, ns: &Ns, bind: &str, www: &std::path::Path) -> (usize, std::path::PathBuf) {
    let dir = lab.scratch_dir(&format!("nginx-{}", ns.name())).unwrap();
    let log = dir.join("access.log");
    let conf = format!(
        "worker_processes 1;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\nevents {{ worker_connections 64; }}\n\
         http {{\n  log_format pp '$proxy_protocol_addr:$proxy_protocol_port $remote_addr \"$request\" $status $bytes_sent';\n\
         access_log {log} pp;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n\
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         server {{\n    listen {bind}:8081 proxy_protocol;\n    root {www};\n  }}\n}}\n",
        d = dir.display(),
        log = log.display(),
        www = www.display(),
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let h = lab
        .spawn(
            ns,
            "nginx",
            &["-c", path.to_str().unwrap(), "-p", dir.to_str().unwrap(), "-g", "daemon off; user root;"],
        )
        .unwrap();
    (h, log)
}

fn sha256(ns: &Ns, path: &str) -> String {
    let out = ns.run("sha256sum", &[path], Duration::from_secs(30)).unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_owned()
}

#[test]
fn proxy_protocol_v2_to_nginx_survives_loss_and_sack_byte_for_byte() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let l = build(&mut lab);
    let www = lab.scratch_dir("www").unwrap();
    let big = www.join("big.bin");
    std::fs::write(&big, rvs_lab::http::random_bytes(20 << 20, 0x9e37_79b9_7f4a_7c15)).unwrap();
    let (h, log) = nginx(&mut lab, &l.rs1, "10.20.0.11", &www);
    let config = config(&[1])
        + &format!("[[service]]\nprotocol = \"tcp\"\nvip = \"{VIP}\"\nport = 8081\nscheduler = \"rr\"\nladdrs = [\"{}\"]\nproxy_protocol = \"v2\"\n  [[service.real]]\n  address = \"10.20.0.11\"\n  port = 8081\n  forward = \"fullnat\"\n\n", LADDRS[0]);
    let rvsd = lab.rvsd(&l.lb, &config).unwrap();
    let url = format!("http://{VIP}:8081/big.bin");
    // SACK on at both ends; the router loses 1% of what it forwards, both ways.
    for ns in [&l.client, &l.rs1] {
        ns.sysctl("net.ipv4.tcp_sack", "1").unwrap();
    }
    let nft = "add table inet lossy\nadd chain inet lossy passing { type filter hook forward priority 0 ; }\nadd rule inet lossy passing numgen random mod 100 0 counter drop\n";
    let file = lab.scratch_dir("nft").unwrap().join("lossy.nft");
    std::fs::write(&file, nft).unwrap();
    l.router.exec("nft", &["-f", file.to_str().unwrap()]).unwrap();
    let mut sums = vec![];
    for (k, src) in ["198.18.0.21", "198.18.0.22"].iter().enumerate() {
        let dest = lab.scratch_dir("dl").unwrap().join(format!("got{k}.bin"));
        let port = (46000 + k).to_string();
        let out = l
            .client
            .run(
                "curl",
                &["-s", "-m", "120", "--interface", src, "--local-port", &port, "-o", dest.to_str().unwrap(), &url],
                Duration::from_secs(150),
            )
            .unwrap();
        assert!(out.status.success(), "download from {src}: {}", String::from_utf8_lossy(&out.stderr));
        sums.push(sha256(&l.client, dest.to_str().unwrap()));
        let _ = std::fs::remove_file(&dest);
    }
    let want = sha256(&l.client, big.to_str().unwrap());
    assert!(sums.iter().all(|s| *s == want), "byte-identical downloads: {sums:?} vs {want}");
    let drops = l.router.exec("nft", &["list", "table", "inet", "lossy"]).unwrap();
    let lost: u64 = drops
        .split("counter packets ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(lost > 100, "the hop lost packets ({lost}): retransmissions and SACK were exercised\n{drops}");
    let report: serde_json::Value = serde_json::from_str(&ok(&rvsd.socket, &["-L", "-n", "--json"])).unwrap();
    assert!(report["dataplane"]["proxy_headers"].as_u64().unwrap_or(0) >= 2, "{}", report["dataplane"]);
    // nginx saw each client's own address and port through the header; the connection came
    // from the local address.
    let logged = std::fs::read_to_string(&log).unwrap();
    for (k, src) in ["198.18.0.21", "198.18.0.22"].iter().enumerate() {
        let line = format!("{src}:{} {} \"GET /big.bin HTTP/1.1\" 200", 46000 + k, LADDRS[0]);
        assert!(logged.contains(&line), "nginx logged {line:?}:\n{logged}\n{drops}");
    }
    lab.stop(h, Duration::from_secs(3)).unwrap();
    lab.stop_rvsd(rvsd).unwrap();
}
