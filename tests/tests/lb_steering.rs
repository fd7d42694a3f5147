//! Lab: live persistence edits on a two-worker daemon never strand established connections.
//!
//! With more than one worker, a NAT connection lives on its owner core, computed from the
//! client address masked by the steering prefix (so both directions, and all of a persistent
//! client network, meet on one core). That prefix must not move while connections live: it is
//! fixed at start (`[dataplane] steer_prefix`), and a persistence netmask coarser than it is
//! refused. 20 clients in 20 /24 networks hold connections through NAT while persistence is
//! turned on with -M /24, narrowed to /25, and a /16 is refused; every connection keeps
//! working, answered by the same real server.

use rvs_lab::admin::{ok, rvsadm};
use rvs_lab::conf::Real;
use rvs_lab::hold::Holder;
use rvs_lab::{conf, require_lab, topo, Lab};
use std::collections::BTreeSet;
use std::time::Duration;

const VIP: &str = "198.18.0.100";

#[test]
fn persistence_edits_on_two_workers_keep_every_held_nat_connection() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let client = lab.host("c").unwrap();
    let lb = lab.host("lb").unwrap();
    let mut inside = lab.switch("in").unwrap();
    lab.veth(&client, "eth0", &lb, "p0").unwrap();
    lab.plug(&mut inside, &lb, "p1").unwrap();
    let sources: Vec<String> = (1..=20).map(|k| format!("198.18.{k}.10")).collect();
    for s in &sources {
        client.addr("eth0", &format!("{s}/16")).unwrap();
    }
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let a = format!("198.19.0.{}", 11 + i);
        let rs = topo::real_server(&mut lab, &mut inside, name, &a, "198.19.0.1").unwrap();
        topo::echo_server(&mut lab, &rs, name, &a).unwrap();
    }
    let config = conf::dataplane(&[0, 1]).replace("lcores = [0, 1]\n", "lcores = [0, 1]\nsteer_prefix = 24\n")
        + &conf::port("out", 0, "p0", "198.18.0.1/16")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + &conf::service(
            "tcp",
            VIP,
            7,
            "wlc",
            &[
                Real { addr: "198.19.0.11", port: None, weight: 1, forward: "nat" },
                Real { addr: "198.19.0.12", port: None, weight: 1, forward: "nat" },
            ],
        );
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let s = rvsd.socket.clone();

    let holder = Holder::start(&mut lab, &client, VIP, 7, &sources, 5, false);
    let round = |lab: &mut Lab, r: u32| holder.round(lab, r, "20 held NAT connections");
    let servers = round(&mut lab, 1);

    // The 20 connections are spread over both workers (the owner rule on 20 /24s).
    let conns: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "-c", "--json"])).unwrap();
    let cores: BTreeSet<u64> = conns.as_array().unwrap().iter().map(|c| c["core"].as_u64().unwrap()).collect();
    assert_eq!(cores.len(), 2, "connections on both workers: {conns}");

    ok(&s, &["-E", "-t", &format!("{VIP}:7"), "-s", "wlc", "-p", "300", "-M", "255.255.255.0"]);
    assert_eq!(round(&mut lab, 2), servers, "persistence /24 turned on: same connections, same servers");
    ok(&s, &["-E", "-t", &format!("{VIP}:7"), "-M", "255.255.255.128"]);
    assert_eq!(round(&mut lab, 3), servers, "netmask narrowed to /25");
    let (code, _, err) = rvsadm(&s, &["-E", "-t", &format!("{VIP}:7"), "-M", "255.255.0.0"], "");
    assert_ne!(code, 0, "a /16 is coarser than the steering prefix");
    assert!(err.contains("steer_prefix"), "the refusal names the setting: {err}");
    assert!(ok(&s, &["-L", "-n"]).contains("mask 255.255.255.128"), "the refusal changed nothing");
    assert_eq!(round(&mut lab, 4), servers, "after the refusal");
    // A config reload with the same service keeps them too.
    ok(&s, &["--reload"]);
    assert_eq!(round(&mut lab, 5), servers, "after a reload");
    lab.wait_for_line(holder.handle, "done", Duration::from_secs(10)).unwrap();
    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert_eq!(stats["io"]["ring_full"], 0, "{stats}");
}
