//! Lab: TUN real servers that want GUE or GRE instead of IP-in-IP (`--tun-type`). One L2
//! segment joins the client, rvsd and two real servers; rs1 takes GUE on UDP 6080 with UDP
//! checksums (`--tun-csum`), rs2 GRE with its checksum. This kernel has neither fou nor gre,
//! so each real server decapsulates in user space (`lab/tunnel_decap.py`, which checks every
//! header and GRE checksum; the kernel's UDP socket checks GUE's UDP checksum) into a TUN
//! device carrying the VIP, and answers the client directly.
//!
//! ```text
//!  client 198.18.0.2 ---+
//!  rvsd p0 198.18.0.1 --+-- switch
//!  rs1 198.18.0.11 -----+     GUE :6080, csum -> tun0 (VIP)
//!  rs2 198.18.0.12 -----+     GRE, csum        -> tun0 (VIP)
//! ```

use rvs_lab::admin::ok;
use rvs_lab::conf::Real;
use rvs_lab::{conf, http, lab_scripts, require_lab, Lab, Ns};
use std::time::Duration;

const BIG: usize = 300_000;

/// Udp InCsumErrors in `ns` (/proc/net/snmp).
fn udp_csum_errors(ns: &Ns) -> u64 {
    let snmp = ns.exec("cat", &["/proc/net/snmp"]).unwrap();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    let i = names.split_whitespace().position(|n| n == "InCsumErrors").unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

#[test]
fn gue_and_gre_real_servers_decapsulate_what_rvsd_sends() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let (client, lb, mut sw) = rvs_lab::topo::one_segment(&mut lab, "198.18.0.2/24").unwrap();
    let decap = lab_scripts().join("tunnel_decap.py");
    let mut decaps = Vec::new();
    let mut servers = Vec::new();
    for (i, (name, args)) in
        [("rs1", vec!["gue", "6080", "tun0"]), ("rs2", vec!["gre", "tun0"])].into_iter().enumerate()
    {
        let rs = lab.host(name).unwrap();
        lab.plug(&mut sw, &rs, "eth0").unwrap();
        rs.addr("eth0", &format!("198.18.0.{}/24", 11 + i)).unwrap();
        rvs_lab::topo::quiet_about_the_vip(&rs).unwrap();
        let mut a = vec!["-u", decap.to_str().unwrap()];
        a.extend(args);
        let h = lab.spawn(&rs, "python3", &a).unwrap();
        lab.wait_for_line(h, "ready", Duration::from_secs(10)).unwrap();
        rs.ip(&["link", "set", "tun0", "up"]).unwrap();
        rs.addr("tun0", "198.18.0.100/32").unwrap();
        rs.sysctl("net.ipv4.conf.tun0.rp_filter", "0").unwrap();
        http::serve(&mut lab, &rs, name, "0.0.0.0", 80, BIG).unwrap();
        decaps.push(h);
        servers.push(rs);
    }
    let tun = |addr| Real { addr, port: None, weight: 1, forward: "tun" };
    let config = conf::dataplane(&[1])
        + &conf::port("lan", 0, "p0", "198.18.0.1/24")
        + &conf::service("tcp", "198.18.0.100", 80, "rr", &[tun("198.18.0.11"), tun("198.18.0.12")]).replacen(
            "forward = \"tun\"\n",
            "forward = \"tun\"\n  tun_type = \"gue\"\n  tun_port = 6080\n  tun_csum = true\n",
            1,
        );
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let s = rvsd.socket.clone();
    ok(&s, &["-e", "-t", "198.18.0.100:80", "-r", "198.18.0.12", "-i", "--tun-type", "gre", "--tun-csum"]);
    let info = ok(&s, &["-L", "-n", "--tun-info"]);
    assert!(info.contains(&format!("  -> {:<28} Tunnel  gue:6080:+c   1 ", "198.18.0.11:80")), "{info}");
    assert!(info.contains(&format!("  -> {:<28} Tunnel  gre:+c        1 ", "198.18.0.12:80")), "{info}");
    let saved = ok(&s, &["-S", "-n"]);
    assert!(saved.contains("-r 198.18.0.11:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n"), "{saved}");

    http::wait_ready(&client, "http://198.18.0.100/").unwrap();
    let t = http::tally(&client, "http://198.18.0.100/", 10).unwrap();
    assert_eq!((t.get("rs1"), t.get("rs2")), (Some(&5), Some(&5)), "both tunnels carry requests: {t:?}");
    let mut args = vec!["-s", "-m", "60", "-w", "%{size_download}\n"];
    for _ in 0..4 {
        args.extend(["-o", "/dev/null", "http://198.18.0.100/big.bin"]);
    }
    let out = client.run("curl", &args, Duration::from_secs(90)).unwrap();
    let sizes: Vec<u64> = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert_eq!(sizes, vec![BIG as u64; 4], "every download complete through GUE and GRE");

    assert_eq!(udp_csum_errors(&servers[0]), 0, "every GUE UDP checksum verified by rs1's kernel");
    std::thread::sleep(Duration::from_millis(1200)); // the decapsulators' last counts
    for (h, kind) in decaps.into_iter().zip(["gue", "gre"]) {
        let lines = lab.stop(h, Duration::from_secs(2)).unwrap();
        let last = lines.iter().rev().find(|l| l.starts_with("decap ")).cloned().unwrap_or_default();
        let okc: u64 =
            last.split("ok=").nth(1).and_then(|x| x.split(' ').next()).and_then(|x| x.parse().ok()).unwrap_or(0);
        assert!(last.starts_with(&format!("decap {kind} ")) && last.ends_with(" bad=0"), "{kind}: {last}");
        assert!(okc > 20, "{kind}: packets decapsulated: {last}");
    }
    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert_eq!(stats["services"][0]["pkts_out"], 0, "replies bypass rvsd: {stats}");
}
