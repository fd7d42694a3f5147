//! Lab: the kernel exception port. Traffic for the director itself (not a VIP, not a
//! connection) goes to the kernel through a TAP device that rvsd creates with the port's MAC;
//! what the kernel sends (answers, its own ARP) leaves through the DPDK port. So a daemon of the
//! host (here socat, standing in for sshd or a BGP speaker) serves on the director's address
//! while rvsd owns the NIC.

use rvs_lab::{require_lab, Lab};
use std::time::Duration;

#[test]
fn a_kernel_service_on_the_director_address_answers_through_the_tap_port() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let client = lab.host("c").unwrap();
    let lb = lab.host("lb").unwrap();
    lab.veth(&client, "eth0", &lb, "p0").unwrap();
    client.addr("eth0", "198.18.0.2/24").unwrap();
    let config = r#"
[dataplane]
eal_args = ["--no-huge", "--no-pci", "-m", "256", "--no-telemetry", "--log-level", "lib.eal:error"]
lcores = [1]

[[port]]
name = "out"
device = "net_af_packet0,iface=p0"
address = "198.18.0.1/24"
exception = true
exception_iface = "rvs-out"
"#;
    let rvsd = lab.rvsd(&lb, config).unwrap();
    // rvsd gave the host's side of the exception port the director's address.
    let addrs = lb.ip(&["-o", "addr", "show", "dev", "rvs-out"]).unwrap();
    assert!(addrs.contains("198.18.0.1/24"), "{addrs}");
    let mac_tap = lb.mac("rvs-out").unwrap();
    let server = lab
        .spawn(&lb, "socat", &["TCP-LISTEN:2222,bind=198.18.0.1,reuseaddr,fork", "SYSTEM:echo from-kernel"])
        .unwrap();
    let mut answer = String::new();
    for _ in 0..50 {
        let out = client.run("socat", &["-T", "5", "-", "TCP:198.18.0.1:2222"], Duration::from_secs(10)).unwrap();
        answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !answer.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    lab.stop(server, Duration::from_secs(2)).unwrap();
    assert_eq!(answer, "from-kernel", "the kernel's TCP service answered through rvsd");
    // The client sees one MAC for the director: rvsd's ARP answer and the kernel's frames agree.
    let neigh = client.exec("ip", &["neigh", "show", "198.18.0.1"]).unwrap();
    assert!(neigh.contains(&mac_tap), "client's neighbour entry {neigh:?} vs the TAP's MAC {mac_tap}");

    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert!(stats["io"]["to_kernel"].as_u64().unwrap() >= 3, "handshake and data to the kernel: {stats}");
    assert!(stats["io"]["from_kernel"].as_u64().unwrap() >= 3, "answers from the kernel: {stats}");
    assert_eq!(stats["io"]["to_kernel_dropped"], 0, "{stats}");
}
