//! Lab: a keepalived VRRP pair of rvsd (DR) with IPVS connection sync; failover and failback
//! without losing a connection.
//!
//! ```text
//!  client 198.18.0.2 (+ 20 held sources) --+
//!  lb1 p0 198.18.0.1   rvsd + keepalived 150 --+-- switch     DR service 198.18.0.100:7,
//!  lb2 p0 198.18.0.3   rvsd + keepalived 100 --+              [ha] mode = "vrrp", [sync]
//!  rs1 198.18.0.11, rs2 .12 (VIP on lo) -------+
//! ```
//! keepalived (Debian's, unmodified, only VRRP) runs on each rvsd's exception interface and puts
//! the VIP there when MASTER; rvsd serves the VIP only then, and its sync role follows (master
//! while it holds the VIP). lb1 wins, 20 connections are held through it and synced to lb2;
//! lb1's rvsd and keepalived are killed: lb2 takes the VIP, new connections succeed within 5 s
//! and the 20 carry on. lb1 comes back (rvsd first, as a backup that lb2's sync refills, then
//! keepalived): it takes the VIP back and the 20 still work.

use rvs_lab::admin::ok;
use rvs_lab::conf::Real;
use rvs_lab::hold::{connect_once, Holder};
use rvs_lab::{conf, lab_scripts, require_lab, topo, Lab, Ns, Rvsd};
use std::path::Path;
use std::time::{Duration, Instant};

const VIP: &str = "198.18.0.100";

fn config(addr: &str, iface: &str) -> String {
    conf::dataplane(&[1])
        + "[ha]\nmode = \"vrrp\"\n\n"
        + &conf::port("lan", 0, "p0", &format!("{addr}/24"))
            .replace("address = ", &format!("exception = true\nexception_iface = \"{iface}\"\naddress = "))
        + &conf::service(
            "tcp",
            VIP,
            7,
            "wlc",
            &["198.18.0.11", "198.18.0.12"].map(|addr| Real { addr, port: None, weight: 1, forward: "dr" }),
        )
        + "[sync]\ninterface = \"lan\"\nsyncid = 7\n\n"
}

/// Starts keepalived (VRRP only) in `ns` on `iface` with `priority`.
fn keepalived(lab: &mut Lab, ns: &Ns, iface: &str, priority: u32) -> usize {
    let conf = std::fs::read_to_string(lab_scripts().join("keepalived.conf.in"))
        .unwrap()
        .replace("@IFACE@", iface)
        .replace("@PRIO@", &priority.to_string())
        .replace("@ID@", ns.name())
        .replace("@VIP@", VIP);
    keepalived_with(lab, ns, &conf)
}

/// Starts keepalived (VRRP only) in `ns` with configuration text `conf`.
fn keepalived_with(lab: &mut Lab, ns: &Ns, conf: &str) -> usize {
    rvs_lab::keepalived::start(lab, ns, conf).unwrap()
}

/// Tries a new connection from `fresh[1..]` every 100 ms (bounded) until one succeeds after the
/// kill at `killed`; returns how long that took and the index of the source that made it.
fn first_connection_after(client: &Ns, fresh: &[String], killed: Instant) -> (Duration, usize) {
    for (k, src) in fresh.iter().enumerate().skip(1) {
        match connect_once(client, VIP, 7, src) {
            Ok(_) => return (killed.elapsed(), k),
            Err(e) => assert!(killed.elapsed() < Duration::from_secs(15), "no new connection after the kill: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no new connection after the kill from {} sources", fresh.len());
}

fn report(s: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(s, &["-L", "-n", "--json"])).unwrap()
}

/// Waits (bounded) until `r` serves the VIP (`held`) or not.
fn wait_held(r: &Rvsd, held: bool, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let h = report(&r.socket)["services"][0]["held"].as_bool().unwrap();
        if h == held {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < limit, "VIP held = {h} after {limit:?}: {}", report(&r.socket)["ha"]);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (bounded) until `r` holds `n` ESTABLISHED connections.
fn wait_synced(r: &Rvsd, n: usize, limit: Duration) {
    let t0 = Instant::now();
    loop {
        let conns: serde_json::Value = serde_json::from_str(&ok(&r.socket, &["-L", "-n", "-c", "--json"])).unwrap();
        let got = conns.as_array().unwrap().iter().filter(|c| c["state"] == "ESTABLISHED").count();
        if got >= n {
            return;
        }
        assert!(t0.elapsed() < limit, "{got} of {n} connections synced after {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_vrrp_pair_fails_over_and_back_without_losing_a_connection() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let client = lab.host("c").unwrap();
    let lb1 = lab.host("lb1").unwrap();
    let lb2 = lab.host("lb2").unwrap();
    let mut sw = lab.switch("sw").unwrap();
    lab.plug(&mut sw, &client, "eth0").unwrap();
    lab.plug(&mut sw, &lb1, "p0").unwrap();
    lab.plug(&mut sw, &lb2, "p0").unwrap();
    client.addr("eth0", "198.18.0.2/24").unwrap();
    let sources: Vec<String> = (1..=20).map(|k| format!("198.18.0.{}", 100 + k)).collect();
    let fresh: Vec<String> = (1..=40).map(|k| format!("198.18.0.{}", 150 + k)).collect();
    for a in sources.iter().chain(&fresh) {
        client.addr("eth0", &format!("{a}/24")).unwrap();
    }
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let rs = topo::dr_real_server(&mut lab, &mut sw, name, &format!("198.18.0.{}/24", 11 + i), VIP).unwrap();
        topo::echo_server(&mut lab, &rs, name, "0.0.0.0").unwrap();
    }
    let r1 = lab.rvsd(&lb1, &config("198.18.0.1", "vrrp1")).unwrap();
    let r2 = lab.rvsd(&lb2, &config("198.18.0.3", "vrrp2")).unwrap();
    wait_held(&r1, false, Duration::from_secs(1)); // no VIP before VRRP
    keepalived(&mut lab, &lb1, "vrrp1", 150);
    keepalived(&mut lab, &lb2, "vrrp2", 100);
    wait_held(&r1, true, Duration::from_secs(15));
    wait_held(&r2, false, Duration::from_secs(1));
    assert_eq!(
        ok(&r1.socket, &["-L", "--daemon"]).lines().next().unwrap_or(""),
        "master sync daemon (mcast=vrrp1, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)"
    );
    assert!(ok(&r2.socket, &["-L", "-n"]).contains("(VIP not held: VRRP backup)"));
    connect_once(&client, VIP, 7, &fresh[0]).expect("a connection through lb1");

    let holder = Holder::start(&mut lab, &client, VIP, 7, &sources, 5, false);
    let round = |lab: &mut Lab, r: u32| holder.round(lab, r, "20 held DR connections");
    let servers = round(&mut lab, 1);
    wait_synced(&r2, 20, Duration::from_secs(10));

    // lb1 dies: rvsd and keepalived at once.
    lab.kill_all_in(&lb1);
    let killed = Instant::now();
    let (first, k) = first_connection_after(&client, &fresh, killed);
    eprintln!("failover: first new connection through lb2 {:.2} s after lb1 was killed", first.as_secs_f64());
    assert!(first < Duration::from_secs(5), "{first:?}");
    assert_eq!(round(&mut lab, 2), servers, "the 20 held connections carry on through lb2");
    assert!(report(&r2.socket)["ha"]["held"].as_array().unwrap().iter().any(|v| v == VIP));

    // lb1 comes back: rvsd first (a backup: no VIP yet), refilled by lb2's sync, then keepalived.
    let r1 = lab.rvsd(&lb1, &config("198.18.0.1", "vrrp1")).unwrap();
    round(&mut lab, 3); // a few packets more on each connection: lb2 sends them to lb1
    wait_synced(&r1, 20, Duration::from_secs(10));
    let k1 = keepalived(&mut lab, &lb1, "vrrp1", 150);
    lab.wait_for_line(k1, "Entering MASTER STATE", Duration::from_secs(15)).unwrap();
    let back = wait_held(&r1, true, Duration::from_secs(15));
    wait_held(&r2, false, Duration::from_secs(5));
    eprintln!("failback: lb1 served the VIP {:.2} s after its keepalived entered MASTER", back.as_secs_f64());
    std::thread::sleep(Duration::from_millis(1500)); // the client's ARP entry follows the gratuitous ARPs
    assert_eq!(round(&mut lab, 4), servers, "after failback, through lb1");
    connect_once(&client, VIP, 7, &fresh[k + 1]).expect("a new connection through lb1 again");
    assert_eq!(round(&mut lab, 5), servers);
    let r1_report = report(&r1.socket);
    assert!(r1_report["dataplane"]["forwarded"].as_u64().unwrap() >= 20, "lb1 carried round 4: {r1_report}");
    assert!(r1_report["ha"]["vip_changes"].as_u64().unwrap() >= 1);
}

/// The NAT pair's rvs.toml for director `k`; with `fullnat`, its real servers are FULLNAT from
/// the floating local address 198.19.0.201 instead; with `synproxy`, behind the SYN proxy.
fn nat_config(out_addr: &str, in_addr: &str, k: u32, (fullnat, synproxy): (bool, bool)) -> String {
    let forward = if fullnat { "fullnat" } else { "nat" };
    let exc = |iface: &str| format!("exception = true\nexception_iface = \"{iface}\"\naddress = ");
    conf::dataplane(&[1])
        + "[ha]\nmode = \"vrrp\"\n\n"
        + &conf::port("out", 0, "p0", &format!("{out_addr}/24")).replace("address = ", &exc(&format!("vout{k}")))
        + &conf::port("in", 1, "p1", &format!("{in_addr}/24")).replace("address = ", &exc(&format!("vin{k}")))
        + &conf::service(
            "tcp",
            VIP,
            7,
            "wlc",
            &["198.19.0.11", "198.19.0.12"].map(|addr| Real { addr, port: None, weight: 1, forward }),
        )
        .replace(
            "scheduler = \"wlc\"\n",
            if fullnat { "scheduler = \"wlc\"\nladdrs = [\"198.19.0.201\"]\n" } else { "scheduler = \"wlc\"\n" },
        )
        .replace(
            "scheduler = \"wlc\"\n",
            if synproxy { "scheduler = \"wlc\"\nsynproxy = true\n" } else { "scheduler = \"wlc\"\n" },
        )
        + "[sync]\ninterface = \"out\"\nsyncid = 8\n\n"
}

/// keepalived for the NAT pair: the VIP and `inside` (the real servers' gateway, or FULLNAT's
/// local address) float together.
fn nat_keepalived(lab: &mut Lab, ns: &Ns, k: u32, priority: u32, inside: &str) -> usize {
    let conf = std::fs::read_to_string(lab_scripts().join("keepalived-nat.conf.in"))
        .unwrap()
        .replace("@OUT@", &format!("vout{k}"))
        .replace("@IN@", &format!("vin{k}"))
        .replace("@PRIO@", &priority.to_string())
        .replace("@ID@", ns.name())
        .replace("@VIP@", VIP)
        .replace("@GW@", inside);
    keepalived_with(lab, ns, &conf)
}

/// The NAT and FULLNAT pairs' lab: the client (198.18.0.2, 20 sources to hold connections from,
/// 40 for fresh ones) and both directors' `p0` on one switch; their `p1` on another, for the
/// real servers.
struct Pair {
    client: Ns,
    lb1: Ns,
    lb2: Ns,
    inside: rvs_lab::Switch,
    sources: Vec<String>,
    fresh: Vec<String>,
}

fn pair(lab: &mut Lab) -> Pair {
    let client = lab.host("c").unwrap();
    let lb1 = lab.host("lb1").unwrap();
    let lb2 = lab.host("lb2").unwrap();
    let mut out = lab.switch("out").unwrap();
    let mut inside = lab.switch("in").unwrap();
    lab.plug(&mut out, &client, "eth0").unwrap();
    for lb in [&lb1, &lb2] {
        lab.plug(&mut out, lb, "p0").unwrap();
        lab.plug(&mut inside, lb, "p1").unwrap();
    }
    client.addr("eth0", "198.18.0.2/24").unwrap();
    let sources: Vec<String> = (1..=20).map(|k| format!("198.18.0.{}", 100 + k)).collect();
    let fresh: Vec<String> = (1..=40).map(|k| format!("198.18.0.{}", 150 + k)).collect();
    for a in sources.iter().chain(&fresh) {
        client.addr("eth0", &format!("{a}/24")).unwrap();
    }
    Pair { client, lb1, lb2, inside, sources, fresh }
}

/// The pair fails over: both directors started on `p` (FULLNAT from the floating local address
/// 198.19.0.201 when `fullnat`, else NAT with the floating gateway 198.19.0.254), lb1 MASTER,
/// 20 connections held through it and synced to lb2 (`synced` checks lb2 then), lb1 killed:
/// new connections through lb2 within 5 s, and the 20 carry on, both directions through lb2.
/// Returns lb2's report.
fn fail_over(lab: &mut Lab, p: &Pair, mode: (bool, bool), synced: impl Fn(&Rvsd)) -> serde_json::Value {
    let (what, floating) = match mode {
        (true, _) => ("FULLNAT", "198.19.0.201"),
        (false, true) => ("SYN-proxied NAT", "198.19.0.254"),
        (false, false) => ("NAT", "198.19.0.254"),
    };
    let r1 = lab.rvsd(&p.lb1, &nat_config("198.18.0.1", "198.19.0.1", 1, mode)).unwrap();
    let r2 = lab.rvsd(&p.lb2, &nat_config("198.18.0.3", "198.19.0.2", 2, mode)).unwrap();
    nat_keepalived(lab, &p.lb1, 1, 150, floating);
    nat_keepalived(lab, &p.lb2, 2, 100, floating);
    wait_held(&r1, true, Duration::from_secs(15));
    wait_held(&r2, false, Duration::from_secs(1));
    connect_once(&p.client, VIP, 7, &p.fresh[0]).unwrap_or_else(|e| panic!("a {what} connection through lb1: {e}"));

    let holder = Holder::start(lab, &p.client, VIP, 7, &p.sources, 3, false);
    let note = format!("20 held {what} connections");
    let round = |lab: &mut Lab, r: u32| holder.round(lab, r, &note);
    let servers = round(lab, 1);
    wait_synced(&r2, 20, Duration::from_secs(10));
    synced(&r2);

    lab.kill_all_in(&p.lb1);
    let killed = Instant::now();
    let (first, _) = first_connection_after(&p.client, &p.fresh, killed);
    eprintln!("{what} failover: first new connection through lb2 {:.2} s after lb1 was killed", first.as_secs_f64());
    assert!(first < Duration::from_secs(5), "{first:?}");
    assert_eq!(round(lab, 2), servers, "the 20 held {what} connections carry on: both directions through lb2");
    assert_eq!(round(lab, 3), servers);
    let r2_report = report(&r2.socket);
    assert!(r2_report["services"][0]["pkts_out"].as_u64().unwrap() >= 40, "replies crossed lb2: {r2_report}");
    r2_report
}

/// The NAT pair's real servers, echo servers routing through the pair's floating gateway,
/// wherever it is.
fn nat_servers(lab: &mut Lab, p: &mut Pair) {
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let a = format!("198.19.0.{}", 11 + i);
        let rs = topo::real_server(lab, &mut p.inside, name, &a, "198.19.0.254").unwrap();
        topo::echo_server(lab, &rs, name, &a).unwrap();
    }
}

#[test]
fn a_nat_pair_moves_the_vip_and_the_real_servers_gateway_together() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let mut p = pair(&mut lab);
    nat_servers(&mut lab, &mut p);
    fail_over(&mut lab, &p, (false, false), |_| {});
}

/// The NAT pair with the SYN proxy: the held connections' records carry the proxy's shifts
/// (sequence numbers as IPVS's out_seq, timestamps and windows as rvs's option), so after the
/// master is killed lb2 moves every segment as lb1 did and the 20 carry on.
#[test]
fn a_synproxy_pair_keeps_proxied_connections_through_a_failover() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let mut p = pair(&mut lab);
    nat_servers(&mut lab, &mut p);
    let report = fail_over(&mut lab, &p, (false, true), |_| {});
    assert!(
        report["dataplane"]["synproxy_cookies_valid"].as_u64().unwrap() >= 1,
        "lb2 proxied: {}",
        report["dataplane"]
    );
}

/// FULLNAT pair: the real servers have no gateway at all (they answer the local address on
/// their own subnet); keepalived floats the VIP and the local address together; the 20 held
/// connections, synced with their local ends, survive SIGKILL of the master.
#[test]
fn a_fullnat_pair_keeps_its_connections_and_local_ports_through_a_failover() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let mut p = pair(&mut lab);
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let a = format!("198.19.0.{}", 11 + i);
        let rs = lab.host(name).unwrap();
        lab.plug(&mut p.inside, &rs, "eth0").unwrap();
        rs.addr("eth0", &format!("{a}/24")).unwrap(); // no route beyond its own subnet
        topo::echo_server(&mut lab, &rs, name, &a).unwrap();
    }
    let report = fail_over(&mut lab, &p, (true, false), |r2| {
        let on_lb2: Vec<serde_json::Value> =
            serde_json::from_str(&ok(&r2.socket, &["-L", "-n", "-c", "--json"])).unwrap();
        let local = |c: &&serde_json::Value| c["local"].as_str().is_some_and(|l| l.starts_with("198.19.0.201:"));
        assert!(on_lb2.iter().filter(local).count() >= 20, "the backup holds the local ends: {on_lb2:?}");
    });
    assert_eq!(report["drops"].get("laddr_exhausted"), None, "{}", report["drops"]);
}
