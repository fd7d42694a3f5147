//! Lab: ICMP errors through NAT as client sockets see them, and a live rvsd under hostile input.
//!
//! - A UDP client of a NAT service whose real port is closed gets ECONNREFUSED: the real
//!   server's port unreachable (quoting CIP -> RIP:rport) reaches it from the VIP.
//! - A frag-needed sent from the real-server side about a TCP connection reaches the client
//!   translated, and the client's kernel lowers the connection's path MTU.
//! - 100,000 malformed frames from a raw socket: rvsd stays up, keeps serving, its control
//!   socket answers, and the drops show by reason in /metrics.

use rvs_lab::admin::ok;
use rvs_lab::conf::Real;
use rvs_lab::{conf, http, lab_scripts, require_lab, topo, Lab};
use std::time::Duration;

const VIP: &str = "198.18.0.100";

fn probe() -> String {
    lab_scripts().join("icmp_probe.py").to_string_lossy().into_owned()
}

#[test]
fn icmp_errors_through_nat_and_a_flood_of_malformed_frames() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let topo::NatPair { client, lb, servers } = topo::nat_pair(&mut lab, 0).unwrap();
    let (rs1, rs1_addr) = (servers[0].0.clone(), servers[0].1.clone());
    let echo = lab_scripts().join("tcp_echo.py");
    let h = lab.spawn(&rs1, "python3", &["-u", echo.to_str().unwrap(), "rs1", &rs1_addr, "7"]).unwrap();
    lab.wait_for_line(h, "echo: listening", Duration::from_secs(10)).unwrap();
    let config = conf::dataplane(&[1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + "[control]\nmetrics = \"127.0.0.1:9390\"\n"
        + &conf::service("tcp", VIP, 80, "rr", &[Real { addr: &rs1_addr, port: None, weight: 1, forward: "nat" }])
        + &conf::service("tcp", VIP, 7, "rr", &[Real { addr: &rs1_addr, port: None, weight: 1, forward: "nat" }])
        // Nothing listens on rs1's UDP port 5353.
        + &conf::service("udp", VIP, 53, "rr", &[Real { addr: &rs1_addr, port: Some(5353), weight: 1, forward: "nat" }]);
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let s = rvsd.socket.clone();
    http::wait_ready(&client, &format!("http://{VIP}/")).unwrap();

    // UDP: the closed real port is reported to the client's connected socket.
    let out = client.exec("python3", &[&probe(), "udp-refused", VIP, "53"]).unwrap();
    assert_eq!(out.trim(), "refused", "the client's UDP socket saw the port unreachable");

    // TCP: frag-needed from the real-server side lowers the client's path MTU to the VIP.
    let sniffer =
        lab.spawn(&rs1, "python3", &["-u", &probe(), "frag-needed", "eth0", "198.18.0.2", "7", "1200"]).unwrap();
    lab.wait_for_line(sniffer, "sniffing", Duration::from_secs(10)).unwrap();
    let tcp = lab.spawn(&client, "python3", &["-u", &probe(), "tcp-mtu", VIP, "7"]).unwrap();
    lab.wait_for_line(tcp, "echoed", Duration::from_secs(10)).unwrap();
    lab.wait_for_line(sniffer, "sent", Duration::from_secs(15)).unwrap();
    let mtu = lab.wait_for_line(tcp, "mtu ", Duration::from_secs(15)).unwrap();
    assert_eq!(mtu.trim(), "mtu 1200", "the client's kernel learned the path MTU through rvsd");

    // Hostile input: 100,000 malformed frames at rvsd's outside port.
    let before = metrics(&lb);
    let mac = lb.mac("p0").unwrap();
    let flood = lab_scripts().join("hostile_frames.py");
    let out = client
        .run(
            "python3",
            &[flood.to_str().unwrap(), "eth0", &mac, "198.18.0.2", VIP, "100000", "60"],
            Duration::from_secs(90),
        )
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "flood: {report} {}", String::from_utf8_lossy(&out.stderr));
    let sent: u64 = report.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(sent >= 100_000, "at least 100,000 frames sent: {report}");
    // Still serving, and the control socket answers.
    assert_eq!(http::tally(&client, &format!("http://{VIP}/"), 5).unwrap().get("rs1"), Some(&5), "still serving");
    assert!(ok(&s, &["-L", "-n"]).contains(&format!("{VIP}:80")));
    let after = metrics(&lb);
    let grew = |reason: &str| drops(&after, reason) > drops(&before, reason);
    // Not "fragment": DPDK's af_packet PMD joins its fanout group with
    // PACKET_FANOUT_FLAG_DEFRAG, so this kernel reassembles (or holds and expires) fragments
    // before rvsd sees them; on a NIC they arrive and are dropped as "fragment" (fixtures).
    for reason in [
        "ipv4_bad_version",
        "ipv4_bad_header_len",
        "ipv4_bad_total_len",
        "ipv4_bad_checksum",
        "ipv4_truncated",
        "l4_truncated",
        "tcp_bad_header_len",
        "udp_bad_length",
        "icmp_truncated",
        "icmp_unmatched",
        "arp_malformed",
        "unsupported_ethertype",
        "unsupported_protocol",
    ] {
        assert!(grew(reason), "drops by reason {reason} counted:\n{after}");
    }
    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert!(stats["dataplane"]["rx"].as_u64().unwrap() >= 50_000, "rvsd received the flood: {stats}");
}

/// rvsd's /metrics, fetched inside its namespace.
fn metrics(lb: &rvs_lab::Ns) -> String {
    lb.exec("curl", &["-s", "-m", "5", "http://127.0.0.1:9390/metrics"]).unwrap()
}

/// The value of `rvs_drops_total{reason="REASON"}` summed over its series.
fn drops(metrics: &str, reason: &str) -> u64 {
    let needle = format!("reason=\"{reason}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("rvs_drops_total") && l.contains(&needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
