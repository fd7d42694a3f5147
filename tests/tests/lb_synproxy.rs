//! Lab: the SYN proxy on a NAT service.
//!
//! ```text
//! client 198.18.0.2-.7 --veth-- [p0 198.18.0.1  rvsd  198.19.0.1 p1] --veth-- rs 198.19.0.11
//!   (and spoofed 100.64/16)                                                 nft: counts SYNs by source
//! ```
//! - 20,000 SYNs from spoofed sources (tens of thousands of addresses) over 5 s: each gets a
//!   cookie, none reaches the real server (its nft counter of SYNs from 100.64/10 stays 0),
//!   while clients are served meanwhile.
//! - 3,000 blind ACKs with guessed cookies make no connection (`synproxy_cookies_bad`).
//! - A 20 MB file of random bytes downloads byte-identical (sha256) through the proxy, with SACK
//!   and timestamps on and the real server losing 1% of its packets both ways: sequence, SACK,
//!   timestamp and window shifts hold through retransmissions.
//! - A real server that never answers (nft drops its SYNs): rvsd sends the SYN again, then the
//!   client gets a reset within seconds rather than hanging.
//! - `rvsadm -E --synproxy off` / `-j enable` turn it off and on live.
//! - The counters reach `-L --stats` and `/metrics`.

use rvs_lab::admin::ok;
use rvs_lab::conf::Real;
use rvs_lab::hold::script;
use rvs_lab::{conf, http, require_lab, Lab, Ns};
use std::time::{Duration, Instant};

const VIP: &str = "198.18.0.100";

fn sha256(ns: &Ns, path: &str) -> String {
    let out = ns.run("sha256sum", &[path], Duration::from_secs(60)).unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_owned()
}

/// The packets counted by the nft rule with `comment` in `ns`'s table `watch`.
fn counted(ns: &Ns, comment: &str) -> u64 {
    let text = ns.exec("nft", &["list", "table", "inet", "watch"]).unwrap();
    let line = text.lines().find(|l| l.contains(&format!("comment \"{comment}\""))).expect(&text);
    let w: Vec<&str> = line.split_whitespace().collect();
    w[w.iter().position(|x| *x == "packets").expect(line) + 1].parse().unwrap()
}

/// `-L -n --stats`'s "SYN proxy:" figure `key`.
fn proxy_figure(s: &std::path::Path, key: &str) -> u64 {
    let stats = ok(s, &["-L", "-n", "--stats"]);
    let line = stats.lines().find(|l| l.starts_with("SYN proxy:")).expect(&stats);
    let w: Vec<&str> = line.split_whitespace().collect();
    w[w.iter().position(|x| *x == key).expect(line) + 1].parse().unwrap()
}

#[test]
fn spoofed_syns_never_reach_the_server_and_proxied_connections_carry_every_byte() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let client = lab.host("c").unwrap();
    let lb = lab.host("lb").unwrap();
    let rs = lab.host("rs").unwrap();
    lab.veth(&client, "eth0", &lb, "p0").unwrap();
    lab.veth(&rs, "eth0", &lb, "p1").unwrap();
    let sources: Vec<String> = (2..=7).map(|k| format!("198.18.0.{k}")).collect();
    for a in &sources {
        client.addr("eth0", &format!("{a}/16")).unwrap();
    }
    client.route(&["default", "via", "198.18.0.1"]).unwrap();
    rs.addr("eth0", "198.19.0.11/24").unwrap();
    rs.route(&["default", "via", "198.19.0.1"]).unwrap();
    for ns in [&client, &rs] {
        ns.sysctl("net.ipv4.tcp_sack", "1").unwrap();
        ns.sysctl("net.ipv4.tcp_timestamps", "1").unwrap();
        ns.sysctl("net.ipv4.tcp_window_scaling", "1").unwrap();
    }
    // The real server counts the SYNs its kernel sees, by source; port 81's are dropped.
    let watch = "add table inet watch\n\
        add chain inet watch in { type filter hook input priority -10 ; }\n\
        add rule inet watch in ip saddr 100.64.0.0/10 tcp flags & (syn | ack) == syn counter comment \"spoofed\"\n\
        add rule inet watch in ip saddr 198.18.0.0/16 tcp flags & (syn | ack) == syn counter comment \"clients\"\n\
        add rule inet watch in tcp dport 81 counter drop comment \"silent\"\n";
    let dir = lab.scratch_dir("synproxy").unwrap();
    let file = dir.join("watch.nft");
    std::fs::write(&file, watch).unwrap();
    rs.exec("nft", &["-f", file.to_str().unwrap()]).unwrap();
    http::serve(&mut lab, &rs, "rs1", "198.19.0.11", 80, 1).unwrap();
    // 20 MB of pseudo-random bytes in place of the server's big.bin.
    let big = std::env::temp_dir().join(format!("{}-{}-rs1-80", lab.id(), rs.name())).join("big.bin");
    let bytes = http::random_bytes(20 * 1024 * 1024, 0x2545_f491_4f6c_dd1d);
    std::fs::write(&big, &bytes).unwrap();
    let want = sha256(&rs, big.to_str().unwrap());

    let proxied = |port: u16| {
        conf::service("tcp", VIP, port, "rr", &[Real { addr: "198.19.0.11", port: None, weight: 1, forward: "nat" }])
            .replace("scheduler = \"rr\"\n", "scheduler = \"rr\"\nsynproxy = true\n")
    };
    let toml = conf::dataplane(&[1])
        + &conf::port("out", 0, "p0", "198.18.0.1/16")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + "[control]\nmetrics = \"127.0.0.1:9390\"\n\n"
        + &proxied(80)
        + &proxied(81);
    let rvsd = lab.rvsd(&lb, &toml).unwrap();
    let s = rvsd.socket.clone();
    http::wait_ready(&client, &format!("http://{VIP}/")).unwrap();
    assert!(ok(&s, &["-S", "-n"]).contains("--synproxy on"), "-S keeps the proxy");

    // The flood, and clients served through it.
    let flood = lab
        .spawn(&client, "python3", &["-u", &script("syn_flood.py"), "20000", "5", "100.64.0.0", &format!("{VIP}:80")])
        .unwrap();
    lab.wait_for_line(flood, "flood: started", Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for src in &sources[1..4] {
        let out = client
            .run("curl", &["-s", "-m", "5", "--interface", src, &format!("http://{VIP}/")], Duration::from_secs(10))
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rs1", "{src} served during the flood");
    }
    let sent = lab.wait_for_line(flood, "flood: sent", Duration::from_secs(60)).unwrap();
    assert!(sent.contains("sent 20000 "), "{sent}");
    let cookies = proxy_figure(&s, "cookies_sent");
    assert!(cookies >= 19_000, "every spoofed SYN answered with a cookie: {cookies}");
    assert_eq!(counted(&rs, "spoofed"), 0, "no spoofed SYN reached the real server");
    assert!(counted(&rs, "clients") >= 4, "the clients' SYNs did");

    // Blind ACKs: guessed cookies make nothing.
    let before = proxy_figure(&s, "cookies_valid");
    let blind = lab
        .spawn(
            &client,
            "python3",
            &["-u", &script("syn_flood.py"), "--blind-ack", "3000", "2", "100.64.0.0", &format!("{VIP}:80")],
        )
        .unwrap();
    let sent = lab.wait_for_line(blind, "flood: sent", Duration::from_secs(60)).unwrap();
    assert!(sent.contains("sent 3000 "), "{sent}");
    std::thread::sleep(Duration::from_millis(300));
    let bad = proxy_figure(&s, "cookies_bad");
    assert!(bad >= 2_900, "blind ACKs refused: {bad}");
    assert_eq!(proxy_figure(&s, "cookies_valid"), before, "no blind ACK validated");
    let conns = ok(&s, &["-L", "-n", "-c"]);
    assert!(!conns.contains("100.64."), "no connection from a spoofed source:\n{conns}");
    assert_eq!(counted(&rs, "spoofed"), 0);

    // 20 MB through a proxied connection, the real server losing 1% both ways.
    let lossy = "add table inet lossy\n\
        add chain inet lossy rx { type filter hook input priority 0 ; }\n\
        add chain inet lossy tx { type filter hook output priority 0 ; }\n\
        add rule inet lossy rx numgen random mod 100 0 counter drop\n\
        add rule inet lossy tx numgen random mod 100 0 counter drop\n";
    let lf = dir.join("lossy.nft");
    std::fs::write(&lf, lossy).unwrap();
    rs.exec("nft", &["-f", lf.to_str().unwrap()]).unwrap();
    let dest = dir.join("got.bin");
    let started = Instant::now();
    let out = client
        .run(
            "curl",
            &[
                "-s",
                "-m",
                "120",
                "--interface",
                &sources[0],
                "-o",
                dest.to_str().unwrap(),
                &format!("http://{VIP}/big.bin"),
            ],
            Duration::from_secs(150),
        )
        .unwrap();
    assert!(out.status.success(), "download: {}", String::from_utf8_lossy(&out.stderr));
    println!("20 MB through the SYN proxy with 1% loss in {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(sha256(&client, dest.to_str().unwrap()), want, "byte-identical");
    let _ = std::fs::remove_file(&dest);
    let drops = rs.exec("nft", &["list", "table", "inet", "lossy"]).unwrap();
    let lost: u64 = drops
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.iter().position(|x| *x == "packets").and_then(|i| w.get(i + 1)?.parse::<u64>().ok())
        })
        .sum();
    assert!(lost > 0, "the loss happened: {drops}");
    println!("packets the real server lost: {lost}");
    rs.exec("nft", &["delete", "table", "inet", "lossy"]).unwrap();

    // A real server that never answers: the SYN again, then a reset to the client.
    let started = Instant::now();
    let out = client
        .run(
            "curl",
            &["-s", "-m", "20", "--interface", &sources[4], &format!("http://{VIP}:81/")],
            Duration::from_secs(30),
        )
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(56), "reset, not a timeout: {:?} after {took:?}", out.status);
    assert!(took < Duration::from_secs(10), "told within seconds: {took:?}");
    assert!(proxy_figure(&s, "syn_retries") >= 3);
    assert!(proxy_figure(&s, "rs_timeouts") >= 1);
    assert!(counted(&rs, "silent") >= 4, "the SYN and its retries reached the silent server");

    // Live: the proxy off on port 80 answers no more SYNs itself (the client's SYN reaches the
    // server); on again, it does.
    let get = |src: &str| {
        let out = client
            .run("curl", &["-s", "-m", "5", "--interface", src, &format!("http://{VIP}/")], Duration::from_secs(10))
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rs1");
    };
    ok(&s, &["-E", "-t", &format!("{VIP}:80"), "-s", "rr", "--synproxy", "off"]);
    let (cookies, syns) = (proxy_figure(&s, "cookies_sent"), counted(&rs, "clients"));
    get(&sources[5]);
    assert_eq!(proxy_figure(&s, "cookies_sent"), cookies, "no cookie with the proxy off");
    assert!(!ok(&s, &["-S", "-n"]).contains(&format!("-A -t {VIP}:80 -s rr --synproxy on")));
    ok(&s, &["-E", "-t", &format!("{VIP}:80",), "-j", "enable"]);
    get(&sources[5]);
    assert_eq!(proxy_figure(&s, "cookies_sent"), cookies + 1, "a cookie again");
    assert_eq!(counted(&rs, "clients"), syns + 2, "each connection's SYN reached the server once");

    let metrics = lb.exec("curl", &["-s", "-m", "5", "http://127.0.0.1:9390/metrics"]).unwrap();
    let line = metrics.lines().find(|l| l.contains("kind=\"synproxy_cookies_sent\"")).expect(&metrics);
    assert!(line.rsplit(' ').next().unwrap().parse::<u64>().unwrap() >= 19_000, "{line}");
    lab.stop_rvsd(rvsd).unwrap();
}
