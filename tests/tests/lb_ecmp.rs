//! Lab: scale-out behind a BGP/ECMP router. N rvsd nodes (`[ha] mode = "ecmp"`, an mh service
//! in DR mode) each announce the VIP from their own BIRD over their exception interface; the
//! router (a Linux namespace running BIRD, `merge paths on`, L4 multipath hash) spreads the
//! client's flows over them. Losing, regaining and adding a node rehashes flows at the router;
//! identical mh tables and sloppy pick-up keep every connection on its real server. A wlc
//! service beside it survives a node's loss through multi-master connection sync (every node
//! sends and receives IPVS sync), since a moved flow of a non-hash scheduler cannot be picked
//! up; a node that joins has only what sync sent it since it started.
//!
//! ```text
//!  client 198.18.1.2 (+ 60 held sources) -- router 198.18.1.254 / 198.18.0.254 (BIRD, AS 65000)
//!                                                     |
//!                 switch: n1 198.18.0.1, n2 .2, n3 .3, (n4 .4)   rvsd + BIRD (AS 65001) each
//!                         rs1 198.18.0.11, rs2 .12, rs3 .13      VIP 198.19.100.10 on lo
//! ```

use rvs_lab::admin::ok;
use rvs_lab::hold::{connect_once, Holder};
use rvs_lab::{conf, lab_scripts, require_lab, topo, Lab, Ns, Rvsd, Switch};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const VIP: &str = "198.19.100.10";
const VIP_NET: &str = "198.19.100.0/24";
const ROUTER_LAN: &str = "198.18.0.254";
const REALS: [&str; 3] = ["198.18.0.11", "198.18.0.12", "198.18.0.13"];

/// The router, the client behind it, and the nodes' switch.
struct Fabric {
    router: Ns,
    /// The router's BIRD control socket.
    birdc: std::path::PathBuf,
    client: Ns,
    sw: Switch,
}

/// Builds the router (kernel forwarding, L4 ECMP hash), the client behind it and the nodes'
/// switch, and starts the router's BIRD with a BGP session for each of `nodes` node addresses.
fn fabric(lab: &mut Lab, nodes: usize) -> Fabric {
    let router = lab.host("r").unwrap();
    let client = lab.host("c").unwrap();
    let mut sw = lab.switch("sw").unwrap();
    lab.plug(&mut sw, &router, "lan").unwrap();
    lab.veth(&router, "cl", &client, "eth0").unwrap();
    router.addr("lan", &format!("{ROUTER_LAN}/24")).unwrap();
    router.addr("cl", "198.18.1.254/24").unwrap();
    for (k, v) in [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.fib_multipath_hash_policy", "1"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
    ] {
        router.sysctl(k, v).unwrap();
    }
    client.addr("eth0", "198.18.1.2/24").unwrap();
    client.route(&["default", "via", "198.18.1.254"]).unwrap();
    let neighbors: String = (1..=nodes)
        .map(|k| format!("protocol bgp n{k} from rvs_node {{ neighbor 198.18.0.{k} as 65001; }}\n"))
        .collect();
    let conf = std::fs::read_to_string(lab_scripts().join("bird-router.conf.in"))
        .unwrap()
        .replace("@ROUTER_ID@", ROUTER_LAN)
        .replace("@ROUTER_ADDR@", ROUTER_LAN)
        .replace("@NEIGHBORS@", &neighbors);
    let birdc = bird(lab, &router, &conf);
    Fabric { router, birdc, client, sw }
}

/// Starts BIRD in `ns` with configuration text `conf` (foreground, its own socket and pid
/// file); returns its control socket.
fn bird(lab: &mut Lab, ns: &Ns, conf: &str) -> std::path::PathBuf {
    let dir = lab.scratch_dir(&format!("bird-{}", ns.name())).unwrap();
    let path = dir.join("bird.conf");
    std::fs::write(&path, conf).unwrap();
    let (sock, pid) = (dir.join("bird.ctl"), dir.join("bird.pid"));
    let _ = std::fs::remove_file(&pid);
    let args = ["-f", "-c", path.to_str().unwrap(), "-s", sock.to_str().unwrap(), "-P", pid.to_str().unwrap()];
    let h = lab.spawn(ns, "bird", &args).unwrap();
    lab.wait_for_line(h, "Started", Duration::from_secs(10)).unwrap();
    sock
}

/// DR real servers rs1..rs3 on the switch (VIP on lo, replies straight to the router), each
/// running the line echo service on ports 7 and 8; returns their namespaces.
fn real_servers(lab: &mut Lab, sw: &mut Switch, n: usize) -> Vec<Ns> {
    (0..n)
        .map(|i| {
            let name = format!("rs{}", i + 1);
            let rs = topo::dr_real_server(lab, sw, &name, &format!("{}/24", REALS[i]), VIP).unwrap();
            rs.route(&["default", "via", ROUTER_LAN]).unwrap();
            topo::echo_server(lab, &rs, &name, "0.0.0.0").unwrap();
            let h = lab.spawn(&rs, "python3", &["-u", &rvs_lab::hold::script("tcp_echo.py"), &name, "0.0.0.0", "8"]);
            lab.wait_for_line(h.unwrap(), "echo: listening", Duration::from_secs(10)).unwrap();
            rs
        })
        .collect()
}

/// Node `k`'s rvs.toml: port p0 at 198.18.0.k with its exception interface `bgpK`, the mh
/// service on port 7 over `reals` (with a TCP check each when `checks`); without checks also
/// a wlc service on port 8 and multi-master sync.
fn node_config(k: usize, reals: &[&str], checks: bool) -> String {
    let port = conf::port("lan", 0, "p0", &format!("198.18.0.{k}/24")).replace(
        "address = ",
        &format!("exception = true\nexception_iface = \"bgp{k}\"\ngateway = \"{ROUTER_LAN}\"\naddress = "),
    );
    let mut svc = format!("[[service]]\nprotocol = \"tcp\"\nvip = \"{VIP}\"\nport = 7\nscheduler = \"mh\"\n");
    for r in reals {
        svc += &format!("  [[service.real]]\n  address = \"{r}\"\n  weight = 1\n  forward = \"dr\"\n");
        if checks {
            svc += "  [service.real.check]\n  kind = \"tcp\"\n  interval = 1\n  timeout = 1\n  fall = 2\n  rise = 2\n";
        }
    }
    if !checks {
        svc += &format!("\n[[service]]\nprotocol = \"tcp\"\nvip = \"{VIP}\"\nport = 8\nscheduler = \"wlc\"\n");
        for r in reals {
            svc += &format!("  [[service.real]]\n  address = \"{r}\"\n  weight = 1\n  forward = \"dr\"\n");
        }
        svc += "\n[sync]\ninterface = \"lan\"\nsyncid = 9\nrole = \"both\"\n";
    }
    conf::dataplane(&[1]) + "[ha]\nmode = \"ecmp\"\n\n" + &port + &svc + "\n"
}

/// Plugs node `k` into the switch (once) and starts its rvsd, then (when `with_bird`) its BIRD.
fn start_node(lab: &mut Lab, f: &mut Fabric, ns: &Ns, k: usize, reals: &[&str], checks: bool, with_bird: bool) -> Rvsd {
    if with_bird {
        lab.plug(&mut f.sw, ns, "p0").unwrap();
    }
    let r = lab.rvsd(ns, &node_config(k, reals, checks)).unwrap();
    if with_bird {
        let conf = std::fs::read_to_string(lab_scripts().join("bird-node.conf.in"))
            .unwrap()
            .replace("@DIP@", &format!("198.18.0.{k}"))
            .replace("@TAP@", &format!("bgp{k}"))
            .replace("@VIP_NET@", VIP_NET)
            .replace("@ROUTER_ADDR@", ROUTER_LAN);
        bird(lab, ns, &conf);
    }
    r
}

/// The router's next hops for the VIP now.
fn next_hops(router: &Ns) -> BTreeSet<String> {
    let out = router.run("ip", &["-4", "route", "show", VIP], Duration::from_secs(5)).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace().collect::<Vec<_>>().windows(2).filter(|w| w[0] == "via").map(|w| w[1].to_owned()).collect()
}

/// Waits (bounded) until the router's next hops for the VIP are exactly nodes `ks`; returns
/// how long that took.
fn wait_hops(f: &Fabric, ks: &[usize], limit: Duration) -> Duration {
    let router = &f.router;
    let want: BTreeSet<String> = ks.iter().map(|k| format!("198.18.0.{k}")).collect();
    let t0 = Instant::now();
    loop {
        let got = next_hops(router);
        if got == want {
            return t0.elapsed();
        }
        if t0.elapsed() >= limit {
            let sock = f.birdc.to_str().unwrap();
            let bgp = router.run("birdc", &["-s", sock, "show", "protocols", "all"], Duration::from_secs(5));
            let bgp =
                bgp.map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)));
            let bgp = bgp.unwrap_or_else(|e| e.to_string());
            panic!("router's next hops for {VIP} after {limit:?}: {got:?}, wanted {want:?}; its BIRD:\n{bgp}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (bounded) until every running node holds at least `n` connections: its own and
/// those the others' sync sent it.
fn wait_synced(nodes: &[Option<Rvsd>], n: usize) {
    let t0 = Instant::now();
    for r in nodes.iter().flatten() {
        loop {
            let got = report(r)["conns"].as_u64().unwrap() as usize;
            if got >= n {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "{got} of {n} connections on a node: {}",
                report(r)["sync"]
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn report(r: &Rvsd) -> serde_json::Value {
    serde_json::from_str(&ok(&r.socket, &["-L", "-n", "--json"])).unwrap()
}

/// Runs round `r` and checks it against round 1's servers: returns how many connections were
/// answered, each by its first real server (a connection answered by another counts as lost).
fn kept(lab: &mut Lab, holder: &Holder, r: u32, first: &[Option<String>], what: &str) -> usize {
    let now = holder.round_answers(lab, r);
    let same = now.iter().zip(first).filter(|(a, b)| a.is_some() && a == b).count();
    let moved: Vec<_> = now.iter().zip(first).filter(|(a, b)| a.is_some() && a != b).collect();
    eprintln!("ecmp: {what}: {same} of {} connections kept their real server; moved: {moved:?}", first.len());
    assert!(moved.is_empty(), "{what}: connections answered by another real server: {moved:?}");
    same
}

#[test]
fn nodes_lost_regained_and_added_keep_established_connections_on_their_servers() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let mut f = fabric(&mut lab, 4);
    let sources: Vec<String> = (1..=60).map(|k| format!("198.18.1.{}", 100 + k)).collect();
    let wlc_sources: Vec<String> = (1..=20).map(|k| format!("198.18.1.{}", 10 + k)).collect();
    for a in sources.iter().chain(&wlc_sources) {
        f.client.addr("eth0", &format!("{a}/24")).unwrap();
    }
    f.client.addr("eth0", "198.18.1.200/24").unwrap();
    real_servers(&mut lab, &mut f.sw, 3);
    let nodes: Vec<Ns> = (1..=4).map(|k| lab.host(&format!("n{k}")).unwrap()).collect();
    let mut rvsd: Vec<Option<Rvsd>> =
        (1..=3).map(|k| Some(start_node(&mut lab, &mut f, &nodes[k - 1], k, &REALS, false, true))).collect();
    let up = wait_hops(&f, &[1, 2, 3], Duration::from_secs(60));
    eprintln!("ecmp: the router has 3 next hops {:.1} s after the nodes started", up.as_secs_f64());
    connect_once(&f.client, VIP, 7, "198.18.1.200").expect("a connection through the fabric");

    let holder = Holder::start(&mut lab, &f.client, VIP, 7, &sources, 4, false);
    let first = holder.round_answers(&mut lab, 1);
    assert!(first.iter().all(Option::is_some), "round 1: {first:?}");
    let wlc = Holder::start(&mut lab, &f.client, VIP, 8, &wlc_sources, 4, false);
    let wlc_first = wlc.round_answers(&mut lab, 1);
    assert!(wlc_first.iter().all(Option::is_some), "wlc round 1: {wlc_first:?}");
    // IPVS's sync_threshold [3, 50]: a DR connection is sent once its third packet passed.
    wait_synced(&rvsd, 60 + 20);
    let carried: Vec<u64> =
        rvsd.iter().map(|r| report(r.as_ref().unwrap())["dataplane"]["forwarded"].as_u64().unwrap()).collect();
    eprintln!("ecmp: packets forwarded per node after round 1: {carried:?}");
    assert!(carried.iter().all(|&n| n > 0), "the router spread the connections over the 3 nodes: {carried:?}");

    // Node 2's rvsd is killed: its TAP, its BGP session and its BFD go with it.
    let r2 = rvsd[1].take().unwrap();
    lab.signal(&r2, nix::sys::signal::Signal::SIGKILL).unwrap();
    let gone = wait_hops(&f, &[1, 3], Duration::from_secs(10));
    eprintln!("ecmp: node 2's route withdrawn {:.2} s after its rvsd was killed", gone.as_secs_f64());
    assert!(gone <= Duration::from_secs(3), "withdrawn within 3 s: {gone:?}");
    let n = kept(&mut lab, &holder, 2, &first, "node 2 lost");
    assert!(n >= 59, "{n} of 60");
    let n = kept(&mut lab, &wlc, 2, &wlc_first, "node 2 lost, wlc with sync");
    assert!(n >= 19, "{n} of 20");

    // Node 2 comes back: its BIRD (still running) sees the TAP again and reconnects.
    rvsd[1] = Some(start_node(&mut lab, &mut f, &nodes[1], 2, &REALS, false, false));
    let back = wait_hops(&f, &[1, 2, 3], Duration::from_secs(30));
    eprintln!("ecmp: node 2's route back {:.2} s after its rvsd was ready", back.as_secs_f64());
    let n = kept(&mut lab, &holder, 3, &first, "node 2 back");
    assert!(n >= 59, "{n} of 60");
    // A node that (re)joins knows only what sync sent it since: wlc flows the router moves
    // to it may break (sync sends on traffic, which now reaches the joining node); reported.
    kept(&mut lab, &wlc, 3, &wlc_first, "node 2 back, wlc with sync");

    // A fourth node joins.
    rvsd.push(Some(start_node(&mut lab, &mut f, &nodes[3], 4, &REALS, false, true)));
    let added = wait_hops(&f, &[1, 2, 3, 4], Duration::from_secs(30));
    eprintln!("ecmp: node 4's route in {:.2} s after its rvsd was ready", added.as_secs_f64());
    let n = kept(&mut lab, &holder, 4, &first, "node 4 added");
    assert!(n >= 59, "{n} of 60");
    // A node that (re)joins knows only what sync sent it since: wlc flows the router moves
    // to it may break (sync sends on traffic, which now reaches the joining node); reported.
    kept(&mut lab, &wlc, 4, &wlc_first, "node 4 added, wlc with sync");
    let r4 = report(rvsd[3].as_ref().unwrap());
    eprintln!("ecmp: node 4 after round 4: {} connections, dataplane {}", r4["conns"], r4["dataplane"]);
    assert!(r4["dataplane"]["forwarded"].as_u64().unwrap() > 0, "node 4 carries part of the held flows");
    assert_eq!(r4["ha"]["held"], serde_json::json!([VIP]), "{}", r4["ha"]);
    assert_eq!(r4["ha"]["mode"], "ecmp");
    for r in rvsd.iter().flatten() {
        let rep = report(r);
        assert_eq!(rep["dataplane"]["stateless_forwarded"], 0, "flows were picked up with entries: {rep}");
    }
}

#[test]
fn a_vip_whose_real_servers_all_fail_is_withdrawn_and_announced_again_on_recovery() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let mut f = fabric(&mut lab, 1);
    let reals = real_servers(&mut lab, &mut f.sw, 2);
    let node = lab.host("n1").unwrap();
    let r = start_node(&mut lab, &mut f, &node, 1, &REALS[..2], true, true);
    wait_hops(&f, &[1], Duration::from_secs(60));
    assert_eq!(report(&r)["ha"]["held"], serde_json::json!([VIP]));

    // Both real servers stop answering: the checks (1 s interval, 1 s timeout, fall 2) take
    // them out, the VIP leaves the exception interface, BIRD withdraws it.
    let t0 = Instant::now();
    for rs in &reals {
        lab.kill_all_in(rs);
    }
    wait_hops(&f, &[], Duration::from_secs(15));
    let withdrawn = t0.elapsed();
    eprintln!("ecmp: VIP withdrawn {:.2} s after both real servers stopped (fall 2 x 1 s)", withdrawn.as_secs_f64());
    assert!(withdrawn <= Duration::from_secs(5), "fall time (2 s) plus a probe's timeout and BGP: {withdrawn:?}");
    let rep = report(&r);
    assert_eq!(rep["ha"]["held"], serde_json::json!([]), "{}", rep["ha"]);

    // They recover: rise 2 brings them back and the VIP is announced again.
    let t1 = Instant::now();
    for (i, rs) in reals.iter().enumerate() {
        topo::echo_server(&mut lab, rs, &format!("rs{}", i + 1), "0.0.0.0").unwrap();
    }
    wait_hops(&f, &[1], Duration::from_secs(15));
    let announced = t1.elapsed();
    eprintln!(
        "ecmp: VIP announced again {:.2} s after the real servers came back (rise 2 x 1 s)",
        announced.as_secs_f64()
    );
    assert!(announced <= Duration::from_secs(6), "{announced:?}");
    assert!(report(&r)["ha"]["vip_changes"].as_u64().unwrap() >= 3, "announced, withdrawn, announced");
    connect_once(&f.client, VIP, 7, "198.18.1.2").expect("a connection after recovery");

    // Hardening: rvsd restarts while its real servers are dead. It announces nothing before a
    // check passed (it used to announce at once, and withdraw only once the checks failed twice).
    for rs in &reals {
        lab.kill_all_in(rs);
    }
    lab.stop_rvsd(r).unwrap();
    let r = lab.rvsd(&node, &node_config(1, &REALS[..2], true)).unwrap();
    let t2 = Instant::now();
    while t2.elapsed() < Duration::from_secs(4) {
        let rep = report(&r);
        assert_eq!(rep["ha"]["held"], serde_json::json!([]), "announced before a check passed: {}", rep["ha"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    lab.stop_rvsd(r).unwrap();
}
