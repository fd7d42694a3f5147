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
//! another sync group, a malformed one, and a valid one from outside lb2's `[sync] peers`
//! change nothing on lb2 and are counted. A persistent service (port 8, 5 s, /24) shows the
//! templates kept alive on the backup by their connections' packets: after the failover, 10 s
//! after the template was made, a new connection of the client network reaches the same real
//! server.

use rvs_lab::admin::ok;
use rvs_lab::conf::Real;
use rvs_lab::hold::{script, Holder};
use rvs_lab::{conf, require_lab, topo, Lab, Ns};
use std::time::{Duration, Instant};

const VIP: &str = "198.18.0.100";

/// `order8`: the persistent service's real servers in the order this director lists them (rr
/// picks the first first): the two directors list them differently, so a backup that lost the
/// template would pick another real server than the master's.
fn config(addr: &str, iface: &str, role: &str, order8: [&str; 2]) -> String {
    let reals = ["198.18.0.11", "198.18.0.12"].map(|addr| Real { addr, port: None, weight: 1, forward: "dr" });
    let reals8 = order8.map(|addr| Real { addr, port: None, weight: 1, forward: "dr" });
    conf::dataplane(&[1])
        + &conf::port("lan", 0, "p0", &format!("{addr}/24"))
            .replace("address = ", &format!("exception = true\nexception_iface = \"{iface}\"\naddress = "))
        + &conf::service("tcp", VIP, 7, "wlc", &reals)
        + &conf::service("tcp", VIP, 8, "rr", &reals8)
            .replace("scheduler = \"rr\"\n", "scheduler = \"rr\"\npersistence = 5\nnetmask = \"255.255.255.0\"\n")
        + &format!(
            "[sync]\ninterface = \"lan\"\nsyncid = 5\nrole = \"{role}\"\npeers = [\"198.18.0.1\", \"198.18.0.2\", \"198.18.0.3\"]\n\n"
        )
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

/// Waits (10 s at most) until the backup at `backup` holds `n` ESTABLISHED connections; the
/// failure shows both directors' sync counters.
fn learns(master: &std::path::Path, backup: &std::path::Path, n: usize, how: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let conns = json(backup, &["-L", "-n", "-c", "--json"]);
        let got = conns.as_array().unwrap().iter().filter(|c| c["state"] == "ESTABLISHED").count();
        if got == n {
            return;
        }
        if Instant::now() >= deadline {
            let (m, b) = (json(master, &["-L", "-n", "--json"]), json(backup, &["-L", "-n", "--json"]));
            panic!("the backup learnt {got} of {n} {how}: {conns}\nmaster {}\nbackup {}", m["sync"], b["sync"]);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The sync lab: a client (198.18.0.2 and each of `sources`), lb1 and lb2 (`p0`), and the DR
/// real servers rs1 and rs2 running the line echo service on port 7 (and on `more_ports`), on
/// one switch. Returns (client, lb1, lb2, switch).
fn sync_lab(lab: &mut Lab, sources: &[&str], more_ports: &[&str]) -> (Ns, Ns, Ns, rvs_lab::Switch) {
    let client = lab.host("c").unwrap();
    let lb1 = lab.host("lb1").unwrap();
    let lb2 = lab.host("lb2").unwrap();
    let mut sw = lab.switch("sw").unwrap();
    lab.plug(&mut sw, &client, "eth0").unwrap();
    lab.plug(&mut sw, &lb1, "p0").unwrap();
    lab.plug(&mut sw, &lb2, "p0").unwrap();
    client.addr("eth0", "198.18.0.2/24").unwrap();
    for a in sources {
        client.addr("eth0", &format!("{a}/24")).unwrap();
    }
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let rs = topo::dr_real_server(lab, &mut sw, name, &format!("198.18.0.{}/24", 11 + i), VIP).unwrap();
        topo::echo_server(lab, &rs, name, "0.0.0.0").unwrap();
        for port in more_ports {
            let h = lab.spawn(&rs, "python3", &["-u", &script("tcp_echo.py"), name, "0.0.0.0", port]).unwrap();
            lab.wait_for_line(h, "echo: listening", Duration::from_secs(10)).unwrap();
        }
    }
    (client, lb1, lb2, sw)
}

#[test]
fn a_backup_that_synced_takes_over_every_held_connection() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let sources: Vec<String> = (1..=20).map(|k| format!("198.18.0.{}", 100 + k)).collect();
    let extra = ["198.18.0.9", "198.18.0.150", "198.18.0.151"];
    let all: Vec<&str> = sources.iter().map(String::as_str).chain(extra).collect();
    let (client, lb1, lb2, _sw) = sync_lab(&mut lab, &all, &["8"]);
    // lb1 starts both roles (the default), then stops its backup role as ipvsadm would.
    let r1 = lab.rvsd(&lb1, &config("198.18.0.1", "sync1", "both", ["198.18.0.12", "198.18.0.11"])).unwrap();
    let r2 = lab.rvsd(&lb2, &config("198.18.0.3", "sync2", "backup", ["198.18.0.11", "198.18.0.12"])).unwrap();
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
    // One held connection of the persistent service: its template (5 s) on lb2 must live as
    // long as the connection does on lb1 (review defect 3).
    let sticky = Holder::start(&mut lab, &client, VIP, 8, &["198.18.0.150".to_owned()], 4, false);
    let pinned_to = sticky.round(&mut lab, 1, "persistent connection");
    assert!(pinned_to.ends_with(":rs2"), "lb1's rr picks its first listed: {pinned_to}");
    let template_made = Instant::now();

    // lb2 learns all 20 (a partly filled datagram waits at most a second).
    let deadline = Instant::now() + Duration::from_secs(10);
    let synced = loop {
        let conns = json(&r2.socket, &["-L", "-n", "-c", "--json"]);
        let n = conns.as_array().unwrap().iter().filter(|c| c["state"] == "ESTABLISHED").count();
        if n == 21 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(synced, 21, "lb2 holds the 20 + 1 connections it never saw");
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
    assert_eq!(after["conns"], 21, "nothing installed from them");
    // A valid record, but from an address outside lb2's [sync] peers: counted, not installed.
    let probe = client
        .run(
            "python3",
            &["-u", &script("sync_probe.py"), "198.18.0.9", "224.0.0.81", "8848", "--valid"],
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    let deadline = Instant::now() + Duration::from_secs(5);
    while json(&r2.socket, &["-L", "-n", "--json"])["sync"]["not_a_peer"] != 1 {
        assert!(Instant::now() < deadline, "{}", json(&r2.socket, &["-L", "-n", "--json"])["sync"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(json(&r2.socket, &["-L", "-n", "--json"])["conns"], 21, "nothing installed from a stranger");

    // The persistent connection talks now and then past its template's 5 s.
    for (r, at) in [(2, 6), (3, 9)] {
        std::thread::sleep(Duration::from_secs(at).saturating_sub(template_made.elapsed()));
        assert_eq!(sticky.round(&mut lab, r, "persistent connection"), pinned_to);
    }

    // Failover: lb1 dies; the client's traffic goes to lb2.
    lab.signal(&r1, nix::sys::signal::Signal::SIGKILL).unwrap();
    vip_to(&client, &lb2);
    assert_eq!(round(&mut lab, 2), servers, "every held connection carries on, to the same real server");
    assert_eq!(round(&mut lab, 3), servers);
    // 10 s after the template was made, a new connection of the client network follows it.
    let newcomer = rvs_lab::hold::connect_once(&client, VIP, 8, "198.18.0.151").expect("a new persistent connection");
    let pinned_name = pinned_to.split(':').nth(1).unwrap();
    assert_eq!(
        newcomer,
        pinned_name,
        "after failover the client network reaches the same real server ({:?} after the template was made)",
        template_made.elapsed()
    );
    assert_eq!(sticky.round(&mut lab, 4, "persistent connection"), pinned_to);
    let report = lab.stop_rvsd(r2).unwrap();
    assert!(report["dataplane"]["forwarded"].as_u64().unwrap() >= 40, "{report}");
    assert_eq!(report["drops"].get("no_connection"), None, "no packet of a held connection was dropped: {report}");
}

/// IPVS's `sync_version = 0` (kernels before 2.6.39): lb1's master role sends version 0,
/// switched live; lb2's backup reads it as IPVS does (the layout tells) and takes over.
#[test]
fn sync_version_0_is_sent_and_read() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let sources: Vec<String> = (1..=5).map(|k| format!("198.18.0.{}", 100 + k)).collect();
    let all: Vec<&str> = sources.iter().map(String::as_str).collect();
    let (client, lb1, lb2, _sw) = sync_lab(&mut lab, &all, &[]);
    let order = ["198.18.0.11", "198.18.0.12"];
    let r1 = lab.rvsd(&lb1, &config("198.18.0.1", "sync1", "master", order)).unwrap();
    let r2 = lab.rvsd(&lb2, &config("198.18.0.3", "sync2", "backup", order)).unwrap();
    ok(&r1.socket, &["--set-knob", "sync_version", "0"]);
    assert!(ok(&r1.socket, &["-L", "--knobs"]).contains("sync_version = 0\n"));
    vip_to(&client, &lb1);
    // A listener on the sync group in the client's namespace shows the datagrams' layout.
    let listen = "import socket,struct\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
        s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('',8848))\n\
        s.setsockopt(socket.IPPROTO_IP,socket.IP_ADD_MEMBERSHIP,struct.pack('4s4s',socket.inet_aton('224.0.0.81'),socket.inet_aton('198.18.0.2')))\n\
        print('listening',flush=True)\ns.settimeout(20)\nm=s.recv(2000)\nprint('msg',m.hex(),flush=True)\n";
    let l = lab.spawn(&client, "python3", &["-c", listen]).unwrap();
    lab.wait_for_line(l, "listening", Duration::from_secs(10)).unwrap();
    let holder = Holder::start(&mut lab, &client, VIP, 7, &sources, 3, false);
    let servers = holder.round(&mut lab, 1, "5 held DR connections");
    let line = lab.wait_for_line(l, "msg ", Duration::from_secs(20)).unwrap();
    let hex = line.split("msg ").nth(1).unwrap().trim();
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    assert!(bytes[0] > 0 && bytes.len() == 4 + 24 * usize::from(bytes[0]), "a version 0 datagram: {hex}");
    assert_eq!((bytes[1], usize::from(u16::from_be_bytes([bytes[2], bytes[3]]))), (5, bytes.len()), "syncid, size");
    learns(&r1.socket, &r2.socket, 5, "from version 0 records");
    lab.signal(&r1, nix::sys::signal::Signal::SIGKILL).unwrap();
    vip_to(&client, &lb2);
    assert_eq!(holder.round(&mut lab, 2, "after the failover"), servers, "carried on through lb2");
    holder.round(&mut lab, 3, "last");
    lab.stop_rvsd(r2).unwrap();
}

/// Sync over an IPv6 multicast group (ipvsadm's `--mcast-group ff02::81`): the datagrams leave
/// the master's exception interface from its link-local address, the backup accepts them from
/// its `peers` (here the link, fe80::/10), learns the held connections and carries them on
/// after the failover.
#[test]
fn sync_over_an_ipv6_multicast_group() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let sources: Vec<String> = (1..=5).map(|k| format!("198.18.0.{}", 100 + k)).collect();
    let all: Vec<&str> = sources.iter().map(String::as_str).collect();
    let (client, lb1, lb2, _sw) = sync_lab(&mut lab, &all, &[]);
    let order = ["198.18.0.11", "198.18.0.12"];
    let v6 = |c: String| {
        c.replace("[sync]\n", "[sync]\ngroup = \"ff02::81\"\n")
            .replace("peers = [\"198.18.0.1\", \"198.18.0.2\", \"198.18.0.3\"]", "peers = [\"fe80::/10\"]")
    };
    let r1 = lab.rvsd(&lb1, &v6(config("198.18.0.1", "sync1", "master", order))).unwrap();
    let r2 = lab.rvsd(&lb2, &v6(config("198.18.0.3", "sync2", "backup", order))).unwrap();
    assert!(
        ok(&r2.socket, &["-L", "--daemon"]).contains("group=ff02::81, port=8848"),
        "{}",
        ok(&r2.socket, &["-L", "--daemon"])
    );
    // The exception interfaces' link-local addresses must have passed duplicate address
    // detection: until then the kernel has no source for a datagram to ff02::81 (as on a host
    // whose interface just came up), and a record sent then is lost, as in IPVS.
    for (ns, dev) in [(&lb1, "sync1"), (&lb2, "sync2")] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = ns.run("ip", &["-6", "addr", "show", "dev", dev], Duration::from_secs(5)).unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if text.contains("fe80::") && !text.contains("tentative") {
                break;
            }
            assert!(Instant::now() < deadline, "{dev}'s link-local address never became usable: {text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    vip_to(&client, &lb1);
    let holder = Holder::start(&mut lab, &client, VIP, 7, &sources, 3, false);
    let servers = holder.round(&mut lab, 1, "5 held DR connections");
    learns(&r1.socket, &r2.socket, 5, "over ff02::81");
    lab.signal(&r1, nix::sys::signal::Signal::SIGKILL).unwrap();
    vip_to(&client, &lb2);
    assert_eq!(holder.round(&mut lab, 2, "after the failover"), servers, "carried on through lb2");
    holder.round(&mut lab, 3, "last");
    lab.stop_rvsd(r2).unwrap();
}
