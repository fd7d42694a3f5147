//! Lab: rvsd with two workers (`qpairs=2` on each af_packet port) in NAT mode under many
//! parallel connections. af_packet fans flows out over the two queues by hash, so a NAT reply
//! (RIP -> CIP) often lands on the other worker than its request (CIP -> VIP): it must be handed
//! to the owning core through the ring, and every request must still succeed.

use rvs_lab::conf::Real;
use rvs_lab::{conf, http, require_lab, topo, Lab};
use std::time::Duration;

#[test]
fn two_workers_nat_under_parallel_load_with_replies_crossing_cores() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let lb = lab.host("lb").unwrap();
    let mut outside = lab.switch("out").unwrap();
    let mut inside = lab.switch("in").unwrap();
    lab.plug(&mut outside, &lb, "p0").unwrap();
    lab.plug(&mut inside, &lb, "p1").unwrap();
    // Several clients, so that flows spread over both cores.
    let mut clients = Vec::new();
    for k in 0..4 {
        let c = lab.host(&format!("c{k}")).unwrap();
        lab.plug(&mut outside, &c, "eth0").unwrap();
        c.addr("eth0", &format!("198.18.0.{}/24", 10 + k)).unwrap();
        c.route(&["default", "via", "198.18.0.1"]).unwrap();
        clients.push(c);
    }
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let a = format!("198.19.0.{}", 11 + i);
        let rs = topo::real_server(&mut lab, &mut inside, name, &a, "198.19.0.1").unwrap();
        http::serve(&mut lab, &rs, name, &a, 80, 0).unwrap();
    }
    let config = conf::dataplane(&[0, 1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + &conf::service(
            "tcp",
            "198.18.0.100",
            80,
            "wlc",
            &[
                Real { addr: "198.19.0.11", port: None, weight: 1, forward: "nat" },
                Real { addr: "198.19.0.12", port: None, weight: 1, forward: "nat" },
            ],
        );
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let mut warm = 0;
    for c in &clients {
        warm += http::wait_ready(c, "http://198.18.0.100/").unwrap();
    }
    // 4 clients x 100 requests, 10 in parallel per client.
    let per = 100;
    let handles: Vec<_> = clients
        .iter()
        .map(|c| {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut args = vec!["-s", "-m", "60", "-Z", "--parallel-max", "10", "-H", "Connection: close"];
                args.extend(std::iter::repeat_n("http://198.18.0.100/", per));
                let out = c.run("curl", &args, Duration::from_secs(120)).unwrap();
                assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
                String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect::<Vec<_>>()
            })
        })
        .collect();
    let bodies: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(bodies.len(), 4 * per, "every request answered");
    let rs1 = bodies.iter().filter(|b| *b == "rs1").count();
    let rs2 = bodies.iter().filter(|b| *b == "rs2").count();
    assert_eq!(rs1 + rs2, 4 * per);
    assert!(rs1 > 100 && rs2 > 100, "both servers used: {rs1}/{rs2}");

    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert_eq!(stats["workers"], 2);
    let per_core: Vec<u64> = stats["per_core_rx"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(per_core.iter().all(|&n| n > 100), "both workers received traffic: {per_core:?}");
    assert!(stats["dataplane"]["redirected"].as_u64().unwrap() > 0, "replies crossed cores: {stats}");
    assert_eq!(stats["io"]["ring_in"], stats["dataplane"]["redirected"], "every handoff arrived: {stats}");
    assert_eq!(stats["io"]["ring_full"], 0);
    assert_eq!(stats["services"][0]["conns"].as_u64().unwrap(), warm + 4 * per as u64, "{stats}");
}
