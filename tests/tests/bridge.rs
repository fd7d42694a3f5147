//! Lab: rvs-bridge (rvsd's DPDK port layer on net_af_packet) joins two veths, and real kernel
//! stacks talk across it: ping, and a TCP echo exchange with socat.
//!
//! client[eth0 198.18.0.1] ==veth== [p0] bridge ns [p1] ==veth== [eth0 198.18.0.2]server

use rvs_lab::{require_lab, workspace_bin, Lab};
use std::time::Duration;

#[test]
fn l2_bridge_over_af_packet_carries_ping_and_tcp() {
    require_lab!();
    let bridge_bin = workspace_bin("rvs-bridge").unwrap();
    let mut lab = Lab::new().unwrap();
    let client = lab.host("c").unwrap();
    let mid = lab.host("b").unwrap();
    let server = lab.host("s").unwrap();
    lab.veth(&client, "eth0", &mid, "p0").unwrap();
    lab.veth(&mid, "p1", &server, "eth0").unwrap();
    client.addr("eth0", "198.18.0.1/24").unwrap();
    server.addr("eth0", "198.18.0.2/24").unwrap();

    // Before the bridge runs, nothing crosses: the two veths are not connected.
    let out = client.run("ping", &["-c", "1", "-W", "1", "198.18.0.2"], Duration::from_secs(5)).unwrap();
    assert!(!out.status.success(), "ping must fail without the bridge");

    let prefix = format!("{}-bridge", lab.id());
    let h = lab
        .spawn(
            &mid,
            bridge_bin.to_str().unwrap(),
            &[
                "--port",
                "net_af_packet0,iface=p0",
                "--port",
                "net_af_packet1,iface=p1",
                "--eal-arg=--no-huge",
                "--eal-arg=--no-pci",
                "--eal-arg=--no-shconf",
                "--eal-arg=--no-telemetry",
                "--eal-arg=-m",
                "--eal-arg=128",
                "--eal-arg=-l",
                "--eal-arg=0",
                "--eal-arg=--file-prefix",
                &format!("--eal-arg={prefix}"),
            ],
        )
        .unwrap();
    lab.wait_for_line(h, "rvs-bridge: forwarding", Duration::from_secs(20)).unwrap();

    // Real ICMP echo across the DPDK bridge (a few tries while ARP settles).
    let out = client.run("ping", &["-c", "3", "-i", "0.2", "-W", "2", "198.18.0.2"], Duration::from_secs(15)).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ping across rvs-bridge failed:\n{text}");
    assert!(text.contains("3 received"), "{text}");

    // A real TCP exchange: socat echo server, 256 KiB through it and back unchanged.
    let echo = lab.spawn(&server, "socat", &["TCP-LISTEN:7000,reuseaddr", "EXEC:cat"]).unwrap();
    let payload: String = (0..256 * 1024).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let path = std::env::temp_dir().join(format!("{}-payload", lab.id()));
    std::fs::write(&path, &payload).unwrap();
    let mut reply = String::new();
    for _ in 0..50 {
        let out = client
            .run(
                "socat",
                &["-t", "5", "-T", "10", &format!("OPEN:{},rdonly!!STDOUT", path.display()), "TCP:198.18.0.2:7000"],
                Duration::from_secs(20),
            )
            .unwrap();
        reply = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100)); // the listener may not be up yet
    }
    let _ = std::fs::remove_file(&path);
    lab.stop(echo, Duration::from_secs(2)).unwrap();
    assert_eq!(reply.len(), payload.len(), "echo length");
    assert!(reply == payload, "echoed bytes differ");

    let lines = lab.stop(h, Duration::from_secs(10)).unwrap();
    let all = lines.join("\n");
    assert!(all.contains("rvs-bridge: stopped cleanly"), "no clean stop:\n{all}");
    // The bridge's own counters saw the traffic in both directions.
    for port in ["port0", "port1"] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("rvs-bridge: {port} ")))
            .unwrap_or_else(|| panic!("no {port} line:\n{all}"));
        let fwd: u64 = field(line, "forwarded_to_peer");
        assert!(fwd > 100, "{port} forwarded only {fwd} frames: {line}");
    }
}

fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}
