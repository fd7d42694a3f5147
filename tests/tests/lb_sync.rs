//! Lab: IPVS connection sync between two rvsd on one segment, then a failover.
//!
//! ```text
//!  client 198.18.0.2 (+ 20 held sources) --+
//!  lb1 p0 198.18.0.1 (master)  ------------+-- switch     both: DR service 198.18.0.100:7,
//!  lb2 p0 198.18.0.3 (backup)  ------------+              [sync] on p0's exception interface
//!  rs1 198.18.0.11, rs2 .12 (VIP on lo) ---+
//! ```
//! The client reaches the VIP through lb1 (a static neighbour entry stands in for VRRP, which
//! the keepalived lab adds). lb1 sends its connections in IPVS sync v1 datagrams to
//! 224.0.0.81:8848; lb2 installs them. lb1 is killed and the client's entry moved to lb2: the 20
//! held connections carry on through lb2, which never saw their handshakes. A datagram of
//! another sync group, and a malformed one, change nothing on lb2 and are counted.

use rvs_lab::admin::ok;
use rvs_lab::conf::Real;
use rvs_lab::hold::{script, Holder};
use rvs_lab::{conf, require_lab, topo, Lab, Ns};
use std::time::{Duration, Instant};

const VIP: &str = "198.18.0.100";

fn config(addr: &str, iface: &str, role: &str) -> String {
    conf::dataplane(&[1])
        + &conf::port("lan", 0, "p0", &format!("{addr}/24"))
            .replace("address = ", &format!("exception = true\nexception_iface = \"{iface}\"\naddress = "))
        + &conf::service(
            "tcp",
            VIP,
            7,
            "wlc",
            &["198.18.0.11", "198.18.0.12"].map(|addr| Real { addr, port: None, weight: 1, forward: "dr" }),
        )
        + &format!("[sync]\ninterface = \"lan\"\nsyncid = 5\nrole = \"{role}\"\n\n")
}

/// Points the client's neighbour entry for the VIP at `lb`'s port (what VRRP's gratuitous ARP
/// does on a takeover).
fn vip_to(client: &Ns, lb: &Ns) {
    let mac = lb.mac("p0").unwrap();
    client.ip(&["neigh", "replace", VIP, "lladdr", &mac, "dev", "eth0", "nud", "permanent"]).unwrap();
}

fn json(s: &std::path::Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(s, args)).unwrap()
}

#[test]
fn a_backup_that_synced_takes_over_every_held_connection() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let client = lab.host("c").unwrap();
    let lb1 = lab.host("lb1").unwrap();
    let lb2 = lab.host("lb2").unwrap();
    let mut sw = lab.switch("sw").unwrap();
    lab.plug(&mut sw, &client, "eth0").unwrap();
    lab.plug(&mut sw, &lb1, "p0").unwrap();
    lab.plug(&mut sw, &lb2, "p0").unwrap();
    client.addr("eth0", "198.18.0.2/24").unwrap();
    let sources: Vec<String> = (1..=20).map(|k| format!("198.18.0.{}", 100 + k)).collect();
    for a in &sources {
        client.addr("eth0", &format!("{a}/24")).unwrap();
    }
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let rs = topo::dr_real_server(&mut lab, &mut sw, name, &format!("198.18.0.{}/24", 11 + i), VIP).unwrap();
        topo::echo_server(&mut lab, &rs, name, "0.0.0.0").unwrap();
    }
    // lb1 starts both roles (the default), then stops its backup role as ipvsadm would.
    let r1 = lab.rvsd(&lb1, &config("198.18.0.1", "sync1", "both")).unwrap();
    let r2 = lab.rvsd(&lb2, &config("198.18.0.3", "sync2", "backup")).unwrap();
    ok(&r1.socket, &["--stop-daemon", "backup"]);
    assert_eq!(
        ok(&r1.socket, &["-L", "--daemon"]),
        "master sync daemon (mcast=sync1, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
    assert_eq!(
        ok(&r2.socket, &["-L", "--daemon"]),
        "backup sync daemon (mcast=sync2, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
    let (code, _, err) = rvs_lab::admin::rvsadm(&r2.socket, &["--start-daemon", "primary"], "");
    assert!(code == 1 && err.contains("expected master or backup"), "{err}");
    vip_to(&client, &lb1);

    let holder = Holder::start(&mut lab, &client, VIP, 7, &sources, 3, false);
    let round = |lab: &mut Lab, r: u32| holder.round(lab, r, "20 held DR connections");
    // SYN, ACK, then a line each: the third client packet sends the connection to the backup.
    let servers = round(&mut lab, 1);

    // lb2 learns all 20 (a partly filled datagram waits at most a second).
    let deadline = Instant::now() + Duration::from_secs(10);
    let synced = loop {
        let conns = json(&r2.socket, &["-L", "-n", "-c", "--json"]);
        let n = conns.as_array().unwrap().iter().filter(|c| c["state"] == "ESTABLISHED").count();
        if n == 20 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(synced, 20, "lb2 holds the 20 connections it never saw");
    let sent = json(&r1.socket, &["-L", "-n", "--json"]);
    assert!(sent["sync"]["sent_conns"].as_u64().unwrap() >= 20, "{}", sent["sync"]);
    let got = json(&r2.socket, &["-L", "-n", "--json"]);
    assert!(got["sync"]["recv_conns"].as_u64().unwrap() >= 20, "{}", got["sync"]);
    assert_eq!(got["dataplane"]["sync_installed"].as_u64().unwrap(), got["sync"]["recv_conns"].as_u64().unwrap());

    // Another group's datagram and a malformed one: counted, nothing installed.
    let probe = client
        .run("python3", &["-u", &script("sync_probe.py"), "198.18.0.2", "224.0.0.81", "8848"], Duration::from_secs(10))
        .unwrap();
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let r = json(&r2.socket, &["-L", "-n", "--json"]);
        if r["sync"]["other_syncid"] == 1 && r["sync"]["bad_size"] == 1 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        (after["sync"]["other_syncid"].as_u64(), after["sync"]["bad_size"].as_u64()),
        (Some(1), Some(1)),
        "{}",
        after["sync"]
    );
    assert_eq!(after["conns"], 20, "nothing installed from them");

    // Failover: lb1 dies; the client's traffic goes to lb2.
    lab.signal(&r1, nix::sys::signal::Signal::SIGKILL).unwrap();
    vip_to(&client, &lb2);
    assert_eq!(round(&mut lab, 2), servers, "every held connection carries on, to the same real server");
    assert_eq!(round(&mut lab, 3), servers);
    let report = lab.stop_rvsd(r2).unwrap();
    assert!(report["dataplane"]["forwarded"].as_u64().unwrap() >= 40, "{report}");
    assert_eq!(report["drops"].get("no_connection"), None, "no packet of a held connection was dropped: {report}");
}
