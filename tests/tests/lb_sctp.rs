//! Lab: an SCTP NAT service through rvsd, with real SCTP endpoints. This kernel has no SCTP
//! module, so the client and the servers are `lab/sctp_peer.py`: RFC 9260 over raw sockets of
//! protocol 132 (handshake with a state cookie, DATA and SACK, shutdown), checking every CRC32c.
//!
//! ```text
//! client 198.18.0.2 --veth-- [p0  rvsd  p1] --switch-- rs1 198.19.0.11:3869
//!                                                   \-- rs2 198.19.0.12:3869
//! ```
//! - `sctp 198.18.0.100:3868` rr over two NAT real servers on port 3869: four associations
//!   alternate rs1, rs2, each one's every packet rewritten (address, port, CRC32c) both ways;
//!   the servers see the client's own address and never a bad checksum.
//! - `-L` lists `SCTP  198.18.0.100:3868 rr`; `-L -c` shows the associations CLOSED after their
//!   shutdown; the service counted four connections.

use rvs_lab::admin::ok;
use rvs_lab::conf::{self, Real};
use rvs_lab::{lab_scripts, require_lab, topo, Lab, Ns};
use std::time::Duration;

const VIP: &str = "198.18.0.100";

/// One association from 198.18.0.2 to VIP:3868: the server that answered, or why not.
fn associate(client: &Ns, message: &str) -> Result<String, String> {
    let peer = lab_scripts().join("sctp_peer.py");
    let out = client
        .run(
            "python3",
            &[peer.to_str().unwrap(), "client", VIP, "3868", "198.18.0.2", message],
            Duration::from_secs(20),
        )
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match text.strip_prefix("sctp: ") {
        Some(name) if out.status.success() => Ok(name.to_owned()),
        _ => Err(format!("{text} {}", String::from_utf8_lossy(&out.stderr))),
    }
}

#[test]
fn an_sctp_nat_service_balances_real_associations() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let (client, lb, mut inside) = topo::nat_front(&mut lab, &[]).unwrap();
    let mut servers = Vec::new();
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let a = format!("198.19.0.{}", 11 + i);
        let rs = topo::real_server(&mut lab, &mut inside, name, &a, "198.19.0.1").unwrap();
        let peer = lab_scripts().join("sctp_peer.py");
        let h = lab.spawn(&rs, "python3", &["-u", peer.to_str().unwrap(), "server", name, &a, "3869"]).unwrap();
        lab.wait_for_line(h, "sctp: listening", Duration::from_secs(10)).unwrap();
        servers.push(h);
    }
    let reals = [
        Real { addr: "198.19.0.11", port: Some(3869), weight: 1, forward: "nat" },
        Real { addr: "198.19.0.12", port: Some(3869), weight: 1, forward: "nat" },
    ];
    let config = conf::dataplane(&[1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + &conf::service("sctp", VIP, 3868, "rr", &reals);
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let s = rvsd.socket.clone();
    assert!(ok(&s, &["-L", "-n"]).contains("SCTP  198.18.0.100:3868 rr\n"), "{}", ok(&s, &["-L", "-n"]));

    let got: Vec<String> = (0..4)
        .map(|k| associate(&client, &format!("hello {k}")).unwrap_or_else(|e| panic!("association {k}: {e}")))
        .collect();
    assert_eq!(got, ["rs1", "rs2", "rs1", "rs2"], "rr over real SCTP associations");

    let conns = ok(&s, &["-L", "-n", "-c"]);
    let closed = conns.lines().filter(|l| l.starts_with("SCTP") && l.contains("CLOSED")).count();
    assert_eq!(closed, 4, "each association CLOSED after its shutdown:\n{conns}");
    let json: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "-n", "--json"])).unwrap();
    assert_eq!(json["services"][0]["conns"], 4, "{json}");
    lab.stop_rvsd(rvsd).unwrap();

    for h in servers {
        let lines = lab.stop(h, Duration::from_secs(2)).unwrap();
        let assocs = lines.iter().filter(|l| l.starts_with("sctp: association from 198.18.0.2:")).count();
        assert_eq!(assocs, 2, "two associations each, from the client's own address: {lines:?}");
        assert!(!lines.iter().any(|l| l.contains("bad checksum")), "every rewritten CRC32c right: {lines:?}");
    }
}
