//! Lab: rvsd in DR and TUN modes. One L2 segment (a switch) joins the client, rvsd and two
//! real servers; the real servers carry the VIP themselves and answer the client directly.
//!
//! ```text
//!  client 198.18.0.2 ---+
//!  rvsd p0 198.18.0.1 --+-- switch
//!  rs1 198.18.0.11 -----+     DR: VIP on lo;  TUN: VIP on tun0 fed by a user-space IPIP decapsulator
//!  rs2 198.18.0.12 -----+     (arp_ignore=1, arp_announce=2, rp_filter=0: only rvsd answers ARP for the VIP)
//! ```
//! The proof that replies bypass rvsd: the client downloads far more than rvsd ever sends.

use rvs_lab::conf::Real;
use rvs_lab::{conf, http, lab_scripts, require_lab, Lab, Ns};
use std::time::Duration;

const BIG: usize = 200_000;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Dr,
    Tun,
}

fn lab_for(mode: Mode) -> (Lab, Ns, Ns) {
    let mut lab = Lab::new().unwrap();
    let (client, lb, mut sw) = rvs_lab::topo::one_segment(&mut lab, "198.18.0.2/24").unwrap();
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let rs = lab.host(name).unwrap();
        lab.plug(&mut sw, &rs, "eth0").unwrap();
        rs.addr("eth0", &format!("198.18.0.{}/24", 11 + i)).unwrap();
        rvs_lab::topo::quiet_about_the_vip(&rs).unwrap();
        match mode {
            Mode::Dr => rs.addr("lo", "198.18.0.100/32").unwrap(),
            Mode::Tun => {
                let decap = lab_scripts().join("ipip_decap.py");
                let h = lab.spawn(&rs, "python3", &["-u", decap.to_str().unwrap(), "tun0"]).unwrap();
                lab.wait_for_line(h, "ready", Duration::from_secs(10)).unwrap();
                rs.ip(&["link", "set", "tun0", "up"]).unwrap();
                rs.addr("tun0", "198.18.0.100/32").unwrap();
                rs.sysctl("net.ipv4.conf.tun0.rp_filter", "0").unwrap();
            }
        }
        http::serve(&mut lab, &rs, name, "0.0.0.0", 80, BIG).unwrap();
    }
    (lab, client, lb)
}

fn config(forward: &str) -> String {
    conf::dataplane(&[1])
        + &conf::port("lan", 0, "p0", "198.18.0.1/24")
        + &conf::service(
            "tcp",
            "198.18.0.100",
            80,
            "rr",
            &["198.18.0.11", "198.18.0.12"].map(|addr| Real { addr, port: None, weight: 1, forward }),
        )
}

fn run(mode: Mode) {
    let (mut lab, client, lb) = lab_for(mode);
    let rvsd = lab.rvsd(&lb, &config(if mode == Mode::Dr { "dr" } else { "tun" })).unwrap();
    let warmup = http::wait_ready(&client, "http://198.18.0.100/").unwrap();
    let t = http::tally(&client, "http://198.18.0.100/", 10).unwrap();
    assert_eq!((t.get("rs1"), t.get("rs2")), (Some(&5), Some(&5)), "both servers answer, rr: {t:?}");

    // Downloads: 10 x 200 kB come straight from the real servers.
    let mut args = vec!["-s", "-m", "60", "-w", "%{size_download}\n"];
    for _ in 0..10 {
        args.extend(["-o", "/dev/null", "http://198.18.0.100/big.bin"]);
    }
    let out = client.run("curl", &args, Duration::from_secs(90)).unwrap();
    let sizes: Vec<u64> = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert_eq!(sizes, vec![BIG as u64; 10], "every download complete");
    let downloaded: u64 = sizes.iter().sum();

    let stats = lab.stop_rvsd(rvsd).unwrap();
    let port = &stats["ports"][0];
    let (tx_bytes, rx_bytes) = (port["tx_bytes"].as_u64().unwrap(), port["rx_bytes"].as_u64().unwrap());
    // rvsd only ever carried the client's half: requests and ACKs, a small fraction of the data.
    assert!(
        tx_bytes * 10 < downloaded,
        "rvsd sent {tx_bytes} bytes for {downloaded} downloaded: replies must bypass it"
    );
    assert!(rx_bytes * 10 < downloaded, "rvsd received {rx_bytes} bytes: replies must not reach it");
    let svc = &stats["services"][0];
    assert_eq!(svc["pkts_out"], 0, "no reply direction seen: {stats}");
    assert_eq!(svc["conns"].as_u64().unwrap(), warmup + 10 + 10, "{stats}");
    // Every client packet of the service was forwarded at once, or held for ARP and then sent.
    let fwd = stats["dataplane"]["forwarded"].as_u64().unwrap();
    let held = stats["dataplane"]["pending"].as_u64().unwrap();
    assert_eq!(fwd + held, svc["pkts_in"].as_u64().unwrap(), "{stats}");
    assert_eq!(stats["io"]["neigh_dropped"], 0, "{stats}");
    if mode == Mode::Tun {
        // Every forwarded frame grew by the 20-byte outer header.
        assert!(tx_bytes >= svc["bytes_in"].as_u64().unwrap() + 20 * svc["pkts_in"].as_u64().unwrap(), "{stats}");
    }
}

#[test]
fn dr_replies_go_straight_to_the_client() {
    require_lab!();
    run(Mode::Dr);
}

#[test]
fn tun_encapsulates_and_replies_go_straight_to_the_client() {
    require_lab!();
    run(Mode::Tun);
}
