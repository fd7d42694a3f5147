//! Lab: the schedulers IPVS added last (fo, ovf, twos) through rvsd, over held connections
//! to two NAT real servers running the line echo service.
//!
//! ```text
//! client 198.18.0.2 (+ held sources .21-.60) --veth-- [p0  rvsd  p1] --switch-- rs1 198.19.0.11
//!                                                                        \-- rs2 198.19.0.12
//! ```
//! - fo over weights 1 and 2: every connection to rs2; rs2 set to weight 0 live: new ones to rs1.
//! - ovf over weights 2 and 3: rs2 takes connections while its active count is <= 3 (four),
//!   then rs1 (three), then nobody.
//! - twos over weights 10 and 30: 20 held connections end near 5 and 15.
//!
//! And one-packet scheduling (`-o`): the datagrams of one client socket to a UDP NAT service
//! alternate between the servers (rr), every answer from the VIP; without `-o` they all go to
//! one server; `-E --ops=off` turns it off live.

use rvs_lab::admin::ok;
use rvs_lab::conf::Real;
use rvs_lab::hold::{connect_once, Holder};
use rvs_lab::{conf, lab_scripts, require_lab, topo, Lab, Ns};
use std::time::Duration;

const VIP_FO: &str = "198.18.0.100";
const VIP_OVF: &str = "198.18.0.101";
const VIP_TWOS: &str = "198.18.0.102";

fn reals(w1: u32, w2: u32) -> [Real<'static>; 2] {
    [
        Real { addr: "198.19.0.11", port: None, weight: w1, forward: "nat" },
        Real { addr: "198.19.0.12", port: None, weight: w2, forward: "nat" },
    ]
}

/// The real server's name per held connection, in source order.
fn names(servers: &str) -> Vec<String> {
    servers.split(',').map(|x| x.rsplit(':').next().unwrap().to_owned()).collect()
}

#[test]
fn fo_ovf_and_twos_spread_held_connections_as_ipvs() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let sources: Vec<String> = (21..=60).map(|k| format!("198.18.0.{k}")).collect();
    let (client, lb) = topo::nat_echo_pair(&mut lab, &sources).unwrap();
    let config = conf::dataplane(&[1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + &conf::service("tcp", VIP_FO, 7, "fo", &reals(1, 2))
        + &conf::service("tcp", VIP_OVF, 7, "ovf", &reals(2, 3))
        + &conf::service("tcp", VIP_TWOS, 7, "twos", &reals(10, 30));
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let s = rvsd.socket.clone();

    // fo: the heaviest takes everything; weight 0 on it fails over to the next.
    let fo = Holder::start(&mut lab, &client, VIP_FO, 7, &sources[..4], 2, false);
    assert_eq!(names(&fo.round(&mut lab, 1, "fo")), ["rs2"; 4], "fo: all to the highest weight");
    ok(&s, &["-e", "-t", &format!("{VIP_FO}:7"), "-r", "198.19.0.12:7", "-m", "-w", "0"]);
    assert_eq!(connect_once(&client, VIP_FO, 7, &sources[4]).as_deref(), Ok("rs1"), "fo fails over to rs1");
    assert_eq!(names(&fo.round(&mut lab, 2, "fo after")), ["rs2"; 4], "held fo connections stay");

    // ovf: rs2 (weight 3) until its active count exceeds 3, then rs1 (weight 2), then none.
    let ovf = Holder::start(&mut lab, &client, VIP_OVF, 7, &sources[5..12], 2, false);
    let got = names(&ovf.round(&mut lab, 1, "ovf"));
    assert_eq!(got, ["rs2", "rs2", "rs2", "rs2", "rs1", "rs1", "rs1"], "ovf overflows in weight order");
    let full = connect_once(&client, VIP_OVF, 7, &sources[12]);
    assert!(full.is_err(), "ovf: every server past its weight, no server for a new connection: {full:?}");
    let listing = ok(&s, &["-L", "-n", "-t", &format!("{VIP_OVF}:7")]);
    assert!(listing.contains("TCP  198.18.0.101:7 ovf"), "{listing}");
    ovf.round(&mut lab, 2, "ovf held"); // the holder closes its connections after its last round

    // twos: held connections end in proportion to weight, 1:3.
    let twos = Holder::start(&mut lab, &client, VIP_TWOS, 7, &sources[13..33], 1, false);
    let got = names(&twos.round(&mut lab, 1, "twos"));
    let rs1 = got.iter().filter(|n| *n == "rs1").count();
    assert!((2..=8).contains(&rs1), "twos over 10:30 keeps 20 held connections near 5:15: {got:?}");

    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert_eq!(stats["services"][1]["conns"], 7, "ovf made seven connections, refused the eighth: {stats}");
}

/// Sends `n` datagrams from one connected socket (one source port) to `vip`:53; returns the
/// answering server of each ("-" for none). A connected socket takes answers from `vip`:53
/// only, so an answer proves the reply's source was translated back to the VIP.
fn one_socket(client: &Ns, vip: &str, n: usize) -> Vec<String> {
    let py = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(2)\n\
         s.bind(('198.18.0.2',0))\ns.connect(('{vip}',53))\nfor k in range({n}):\n\
         \ts.send(b'q%d' % k)\n\ttry:\n\t\tprint(s.recv(100).decode().split(':')[0])\n\
         \texcept OSError:\n\t\tprint('-')\n"
    );
    let out = client.run("python3", &["-c", &py], Duration::from_secs(30)).unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn ops_schedules_each_datagram_of_one_socket_on_its_own() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let (client, lb, mut inside) = topo::nat_front(&mut lab, &[]).unwrap();
    client.route(&["default", "via", "198.18.0.1"]).unwrap();
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let a = format!("198.19.0.{}", 11 + i);
        let rs = topo::real_server(&mut lab, &mut inside, name, &a, "198.19.0.1").unwrap();
        let echo = lab_scripts().join("udp_echo.py");
        let h = lab.spawn(&rs, "python3", &[echo.to_str().unwrap(), name, &a, "5353"]).unwrap();
        lab.wait_for_line(h, "listening", Duration::from_secs(10)).unwrap();
    }
    let reals = [
        Real { addr: "198.19.0.11", port: Some(5353), weight: 1, forward: "nat" },
        Real { addr: "198.19.0.12", port: Some(5353), weight: 1, forward: "nat" },
    ];
    let config = conf::dataplane(&[1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + &conf::service("udp", VIP_FO, 53, "rr", &reals)
            .replace("scheduler = \"rr\"\n", "scheduler = \"rr\"\nops = true\n")
        + &conf::service("udp", VIP_OVF, 53, "rr", &reals);
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let s = rvsd.socket.clone();
    assert!(ok(&s, &["-L", "-n"]).contains("UDP  198.18.0.100:53 rr ops\n"), "{}", ok(&s, &["-L", "-n"]));
    assert!(ok(&s, &["-S", "-n"]).contains("-A -u 198.18.0.100:53 -s rr -o\n"));

    let got = one_socket(&client, VIP_FO, 10);
    assert_eq!(got, ["rs1", "rs2"].repeat(5), "ops: each datagram scheduled (rr), answered from the VIP");
    let plain = one_socket(&client, VIP_OVF, 10);
    assert!(
        plain.iter().all(|n| *n == plain[0]) && plain[0] != "-",
        "without -o one socket is one connection: {plain:?}"
    );

    let json: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "-n", "--json"])).unwrap();
    assert_eq!(json["services"][0]["conns"], 10, "each datagram counts as a connection: {json}");
    assert_eq!(json["dataplane"]["one_packet"], 10, "{json}");
    assert_eq!(json["dataplane"]["one_packet_replies"], 10, "{json}");
    let conns = ok(&s, &["-L", "-n", "-c"]);
    assert!(!conns.contains("198.18.0.100"), "no entry for the ops service: {conns}");

    ok(&s, &["-E", "-u", &format!("{VIP_FO}:53"), "--ops=off"]);
    let got = one_socket(&client, VIP_FO, 4);
    assert!(got.iter().all(|n| *n == got[0]) && got[0] != "-", "--ops=off: one connection again: {got:?}");
    lab.stop_rvsd(rvsd).unwrap();
}
