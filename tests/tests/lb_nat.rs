//! Lab: rvsd in NAT mode, end to end, with real clients and servers.
//!
//! ```text
//! client 198.18.0.2 --veth-- [p0 198.18.0.1  rvsd  198.19.0.1 p1] --switch-- rs1 198.19.0.11
//!                                                                         \-- rs2 198.19.0.12
//! ```
//! The real servers route back through rvsd (default route 198.19.0.1). Real HTTP servers
//! (python http.server) answer with their name; a UDP echo server with its name too.

use rvs_lab::conf::Real;
use rvs_lab::{conf, http, lab_scripts, require_lab, Lab, Ns};
use std::time::Duration;

fn real_server(lab: &mut Lab, ns: &Ns, name: &str, addr: &str) {
    http::serve(lab, ns, name, addr, 80, 0).unwrap();
    http::serve(lab, ns, &format!("{name}-8080"), addr, 8080, 0).unwrap();
    let echo = lab_scripts().join("udp_echo.py");
    let h = lab.spawn(ns, "python3", &[echo.to_str().unwrap(), name, addr, "5353"]).unwrap();
    lab.wait_for_line(h, "listening", Duration::from_secs(10)).unwrap();
}

fn tally(client: &Ns, url: &str, n: usize) -> std::collections::BTreeMap<String, usize> {
    http::tally(client, url, n).unwrap()
}

#[test]
fn nat_http_udp_rr_and_wrr_through_rvsd() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let client = lab.host("c").unwrap();
    let lb = lab.host("lb").unwrap();
    let rs1 = lab.host("rs1").unwrap();
    let rs2 = lab.host("rs2").unwrap();
    let mut sw = lab.switch("sw").unwrap();
    lab.veth(&client, "eth0", &lb, "p0").unwrap();
    lab.plug(&mut sw, &lb, "p1").unwrap();
    lab.plug(&mut sw, &rs1, "eth0").unwrap();
    lab.plug(&mut sw, &rs2, "eth0").unwrap();
    client.addr("eth0", "198.18.0.2/24").unwrap();
    client.route(&["default", "via", "198.18.0.1"]).unwrap();
    for (ns, a, name) in [(&rs1, "198.19.0.11", "rs1"), (&rs2, "198.19.0.12", "rs2")] {
        ns.addr("eth0", &format!("{a}/24")).unwrap();
        ns.route(&["default", "via", "198.19.0.1"]).unwrap();
        real_server(&mut lab, ns, name, a);
    }
    let nat = |port| ["198.19.0.11", "198.19.0.12"].map(|addr| Real { addr, port, weight: 1, forward: "nat" });
    let config = conf::dataplane(&[1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + &conf::service("tcp", "198.18.0.100", 80, "rr", &nat(None))
        + &conf::service("tcp", "198.18.0.101", 80, "rr", &nat(Some(8080)))
        + &conf::service("udp", "198.18.0.100", 53, "rr", &nat(Some(5353)))
        + &conf::service(
            "tcp",
            "198.18.0.102",
            80,
            "wrr",
            &[
                Real { addr: "198.19.0.11", port: None, weight: 3, forward: "nat" },
                Real { addr: "198.19.0.12", port: None, weight: 1, forward: "nat" },
            ],
        );
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let warmup = http::wait_ready(&client, "http://198.18.0.100/").unwrap();

    // rr: both servers, evenly (one connection per request). The warm-up request went to one.
    let t = tally(&client, "http://198.18.0.100/", 20);
    assert_eq!(t.values().sum::<usize>(), 20, "{t:?}");
    assert_eq!((t.get("rs1"), t.get("rs2")), (Some(&10), Some(&10)), "rr splits evenly: {t:?}");

    // A second VIP whose real port differs from the virtual one.
    let t = tally(&client, "http://198.18.0.101/", 4);
    assert_eq!((t.get("rs1-8080"), t.get("rs2-8080")), (Some(&2), Some(&2)), "rport 8080 behind vport 80: {t:?}");

    // UDP through NAT, answered by both servers in turn.
    let mut seen = Vec::new();
    for k in 0..4 {
        let out = client
            .run("sh", &["-c", &format!("echo ping{k} | socat -T 3 - UDP:198.18.0.100:53")], Duration::from_secs(10))
            .unwrap();
        seen.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let rs1_udp = seen.iter().filter(|s| s.starts_with("rs1:ping")).count();
    let rs2_udp = seen.iter().filter(|s| s.starts_with("rs2:ping")).count();
    assert_eq!((rs1_udp, rs2_udp), (2, 2), "UDP echo through NAT: {seen:?}");

    // wrr 3:1 over a few hundred requests.
    let t = tally(&client, "http://198.18.0.102/", 200);
    assert_eq!((t.get("rs1"), t.get("rs2")), (Some(&150), Some(&50)), "wrr 3:1: {t:?}");

    let stats = lab.stop_rvsd(rvsd).unwrap();
    let svc = &stats["services"];
    assert_eq!(svc[0]["conns"], 20 + warmup, "warm-up + 20: {stats}");
    assert_eq!(
        svc[0]["reals"][0]["conns"].as_u64().unwrap() + svc[0]["reals"][1]["conns"].as_u64().unwrap(),
        20 + warmup
    );
    assert_eq!(svc[1]["conns"], 4);
    assert_eq!(svc[2]["conns"], 4, "UDP flows");
    assert_eq!(svc[3]["reals"][0]["conns"], 150);
    assert_eq!(svc[3]["reals"][1]["conns"], 50);
    assert!(svc[0]["pkts_out"].as_u64().unwrap() > 0, "replies came back through rvsd (NAT)");
    assert_eq!(stats["io"]["ring_full"], 0);
    assert!(stats["neighbours"].as_u64().unwrap() >= 3, "client and both servers learned by ARP: {stats}");
}
