//! Lab: IP fragments through rvsd (shallow reassembly). The lab's usual `net_af_packet` ports
//! reassemble fragments in the kernel before rvsd sees them (DPDK sets PACKET_FANOUT_FLAG_DEFRAG),
//! so this lab runs rvsd on `net_af_xdp` ports, which hand it every fragment as it came.
//!
//! ```text
//! NAT: client 198.18.0.2 --veth-- [p0  rvsd  p1] --switch-- rs1 198.19.0.11:5353 (UDP echo)
//! DR:  client 198.18.0.2, rvsd p0 198.18.0.1, rs1 198.18.0.11 (VIP on lo) on one switch
//! ```
//! - `udp 198.18.0.100:53` NAT to rs1:5353: a 4,000-byte datagram (three fragments at MTU 1500)
//!   reaches the echo server whole, and its 4,004-byte answer (fragmented by rs1's kernel)
//!   reaches the client whole from the VIP; rvsd counted the later fragments it followed.
//! - The same service DR: every fragment reaches rs1, which reassembles and answers the client
//!   itself.

use rvs_lab::admin::ok;
use rvs_lab::conf::{self, Real};
use rvs_lab::{lab_scripts, require_lab, topo, Lab, Ns};
use std::time::Duration;

const VIP: &str = "198.18.0.100";

/// Sends three 4,000-byte datagrams from one socket to VIP:53; asserts each answered whole by
/// rs1 ("rs1:" + the datagram); returns rvsd's `-L --json`.
fn three_big_datagrams(client: &Ns, s: &std::path::Path) -> serde_json::Value {
    let py = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(3)\n\
         s.connect(('{VIP}',53))\nq=bytes(i*7%251 for i in range(4000))\nok=0\n\
         for k in range(3):\n\ts.send(q)\n\ttry:\n\t\ta=s.recv(65535)\n\t\tok+=a==b'rs1:'+q\n\
         \t\tprint(len(a))\n\texcept OSError as e:\n\t\tprint('-',e)\nprint('whole',ok)\n"
    );
    let out = client.run("python3", &["-c", &py], Duration::from_secs(30)).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let json: serde_json::Value = serde_json::from_str(&ok(s, &["-L", "-n", "--json"])).unwrap();
    assert!(text.contains("whole 3"), "three 4,000-byte datagrams answered whole: {text}\n{json}");
    json
}

fn echo_on(lab: &mut Lab, rs: &Ns, bind: &str, port: &str) {
    let echo = lab_scripts().join("udp_echo.py");
    let h = lab.spawn(rs, "python3", &[echo.to_str().unwrap(), "rs1", bind, port]).unwrap();
    lab.wait_for_line(h, "listening", Duration::from_secs(10)).unwrap();
}

#[test]
fn a_fragmented_datagram_crosses_nat_whole_both_ways() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let (client, lb, mut inside) = topo::nat_front(&mut lab, &[]).unwrap();
    let rs = topo::real_server(&mut lab, &mut inside, "rs1", "198.19.0.11", "198.19.0.1").unwrap();
    echo_on(&mut lab, &rs, "198.19.0.11", "5353");
    let reals = [Real { addr: "198.19.0.11", port: Some(5353), weight: 1, forward: "nat" }];
    let config = conf::dataplane(&[1])
        + &conf::port_xdp("out", 0, "p0", "198.18.0.1/24")
        + &conf::port_xdp("in", 1, "p1", "198.19.0.1/24")
        + &conf::service("udp", VIP, 53, "rr", &reals);
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let json = three_big_datagrams(&client, &rvsd.socket);
    let followed = json["dataplane"]["fragments_followed"].as_u64().unwrap_or(0);
    assert!(followed >= 12, "two later fragments each way per datagram: {json}");
    lab.stop_rvsd(rvsd).unwrap();
}

#[test]
fn a_fragmented_datagram_reaches_a_dr_real_server_whole() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let (client, lb, mut sw) = topo::one_segment(&mut lab, "198.18.0.2/24").unwrap();
    let rs = topo::dr_real_server(&mut lab, &mut sw, "rs1", "198.18.0.11/24", VIP).unwrap();
    echo_on(&mut lab, &rs, VIP, "53");
    let reals = [Real { addr: "198.18.0.11", port: None, weight: 1, forward: "dr" }];
    let config = conf::dataplane(&[1])
        + &conf::port_xdp("lan", 0, "p0", "198.18.0.1/24")
        + &conf::service("udp", VIP, 53, "rr", &reals);
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let json = three_big_datagrams(&client, &rvsd.socket);
    let followed = json["dataplane"]["fragments_followed"].as_u64().unwrap_or(0);
    assert!(followed >= 6, "two later fragments per datagram, the client's side only (DR): {json}");
    lab.stop_rvsd(rvsd).unwrap();
}
