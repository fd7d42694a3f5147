//! Lab: allow and deny lists. The director's deny list is a file of a million prefixes (a
//! threat list) plus one attacker /27, with `blackhole` on; the NAT service allows only its
//! customers' /27 and denies one of them.
//!
//! ```text
//! client 198.18.0.2, .33, .40, .66 --veth-- [p0 198.18.0.1  rvsd  198.19.0.1 p1] --veth-- rs1 198.19.0.11
//! ```
//! - .2 (allowed) is served; .33 (the service's deny list) is refused (`access_denied`); .40
//!   (outside the service's allow list) is refused (`access_not_allowed`); .66 (the director's
//!   deny list) gets nothing at all, not even an answer to ping (`blackholed`).
//! - Per-client limit (tcp VIP:81, 10 connections, resets over it): .2 tries 50 and holds 10;
//!   .3 is served meanwhile; `-L --clients` shows .2 first with its 10.
//! - Live: `--add-deny` refuses .2 at once, `--del-deny` serves it again; deleting a prefix the
//!   list does not hold is refused and changes nothing.
//! - `-L --access` shows each list's size and refusals; the million-prefix list loads at start
//!   (the time it took is printed, not asserted).

use rvs_lab::admin::{ok, rvsadm};
use rvs_lab::conf::Real;
use rvs_lab::{conf, http, require_lab, Lab};
use std::time::{Duration, Instant};

const VIP: &str = "198.18.0.100";

#[test]
fn lists_refuse_whom_they_name_and_serve_the_rest() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let client = lab.host("c").unwrap();
    let lb = lab.host("lb").unwrap();
    let rs = lab.host("rs").unwrap();
    lab.veth(&client, "eth0", &lb, "p0").unwrap();
    lab.veth(&rs, "eth0", &lb, "p1").unwrap();
    for a in ["198.18.0.2", "198.18.0.3", "198.18.0.33", "198.18.0.40", "198.18.0.66"] {
        client.addr("eth0", &format!("{a}/24")).unwrap();
    }
    client.route(&["default", "via", "198.18.0.1"]).unwrap();
    rs.addr("eth0", "198.19.0.11/24").unwrap();
    rs.route(&["default", "via", "198.19.0.1"]).unwrap();
    http::serve(&mut lab, &rs, "rs1", "198.19.0.11", 80, 0).unwrap();

    // A threat list: a million single addresses that do not merge (every other one).
    let dir = lab.scratch_dir("access").unwrap();
    let threats = dir.join("threats.txt");
    let mut text = String::from("# generated threat list\n198.18.0.64/27   # the attacker's /27\n");
    for i in 0..1_000_000u32 {
        let a = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(100, 64, 0, 0)) + 2 * i);
        text += &format!("{a}\n");
    }
    std::fs::write(&threats, text).unwrap();
    let toml = conf::dataplane(&[1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + &format!("[access]\ndeny_files = [\"{}\"]\nblackhole = true\n\n", threats.display())
        + &conf::service("tcp", VIP, 80, "rr", &[Real { addr: "198.19.0.11", port: None, weight: 1, forward: "nat" }])
            .replace(
                "scheduler = \"rr\"\n",
                "scheduler = \"rr\"\nallow = [\"198.18.0.0/27\", \"198.18.0.33\"]\ndeny = [\"198.18.0.33\"]\n",
            )
        + &conf::service(
            "tcp",
            VIP,
            81,
            "rr",
            &[Real { addr: "198.19.0.11", port: Some(80), weight: 1, forward: "nat" }],
        )
        .replace("scheduler = \"rr\"\n", "scheduler = \"rr\"\nclient_limit = { max_conns = 10, over = \"rst\" }\n");
    let started = Instant::now();
    let rvsd = lab.rvsd(&lb, &toml).unwrap();
    println!("rvsd with a 1,000,001-prefix deny list ready in {:.2} s", started.elapsed().as_secs_f64());
    let s = rvsd.socket.clone();
    let get = |src: &str| {
        client
            .run("curl", &["-s", "-m", "2", "--interface", src, &format!("http://{VIP}/")], Duration::from_secs(10))
            .unwrap()
    };
    http::wait_ready(&client, &format!("http://{VIP}/")).unwrap();
    assert_eq!(String::from_utf8_lossy(&get("198.18.0.2").stdout).trim(), "rs1", "an allowed client is served");
    for src in ["198.18.0.33", "198.18.0.40", "198.18.0.66"] {
        assert_eq!(get(src).status.code(), Some(28), "{src}: refused, so curl timed out");
    }
    let ping = |src: &str| {
        client.run("ping", &["-c", "1", "-W", "1", "-I", src, VIP], Duration::from_secs(5)).unwrap().status.success()
    };
    assert!(ping("198.18.0.2"), "the VIP answers ping");
    assert!(!ping("198.18.0.66"), "a blackholed source gets nothing, not even an echo reply");

    // Per-client limit: .2 tries 50 connections to :81 and holds 10 (the rest get resets);
    // .3 is served meanwhile.
    let hold = "import socket,sys,time\nok=0\nsocks=[]\nfor i in range(50):\n    s=socket.socket()\n    s.settimeout(2)\n    s.bind((sys.argv[1],0))\n    try:\n        s.connect((sys.argv[2],81))\n        socks.append(s)\n        ok+=1\n    except Exception:\n        s.close()\nprint(f'held {ok}',flush=True)\ntime.sleep(10)\n";
    let h = lab.spawn(&client, "python3", &["-c", hold, "198.18.0.2", VIP]).unwrap();
    let line = lab.wait_for_line(h, "held", Duration::from_secs(60)).unwrap();
    assert_eq!(line.trim(), "held 10", "a client holds its limit");
    let other = client
        .run(
            "curl",
            &["-s", "-m", "3", "--interface", "198.18.0.3", &format!("http://{VIP}:81/")],
            Duration::from_secs(10),
        )
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&other.stdout).trim(), "rs1", "another client is unaffected");
    let top: Vec<serde_json::Value> = serde_json::from_str(&ok(&s, &["-L", "--clients", "--json"])).unwrap();
    assert_eq!((top[0]["client"].as_str(), top[0]["conns"].as_u64()), (Some("198.18.0.2/32"), Some(10)), "{top:?}");
    assert!(ok(&s, &["-L", "--clients"]).contains("198.18.0.2/32"));
    lab.stop(h, Duration::from_secs(3)).unwrap();
    let lists: Vec<serde_json::Value> = serde_json::from_str(&ok(&s, &["-L", "--access", "--json"])).unwrap();
    let find = |scope: &str, list: &str| {
        lists.iter().find(|l| l["scope"].as_str().unwrap().contains(scope) && l["list"] == list).cloned().unwrap()
    };
    assert_eq!(find("director", "deny")["prefixes"], 1_000_001);
    assert!(find(VIP, "allow")["refused"].as_u64().unwrap() >= 1, "{lists:?}");
    assert!(find(VIP, "deny")["refused"].as_u64().unwrap() >= 1, "{lists:?}");
    // Live: the service denies .2 too, then takes it back; a bad edit changes nothing.
    let svc = format!("{VIP}:80");
    ok(&s, &["--add-deny", "198.18.0.2", "-t", &svc]);
    assert_eq!(get("198.18.0.2").status.code(), Some(28), "denied live");
    let (code, _, err) = rvsadm(&s, &["--del-deny", "198.18.0.2,198.18.0.99", "-t", &svc], "");
    assert!(code != 0 && err.contains("198.18.0.99/32 is not in the list"), "{err}");
    assert_eq!(get("198.18.0.2").status.code(), Some(28), "the refused edit changed nothing");
    ok(&s, &["--del-deny", "198.18.0.2", "-t", &svc]);
    assert_eq!(String::from_utf8_lossy(&get("198.18.0.2").stdout).trim(), "rs1", "served again");
    let listed = ok(&s, &["-L", "--access"]);
    assert!(listed.contains("director") && listed.contains("1000001"), "{listed}");
    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert!(stats["dataplane"]["client_resets"].as_u64().unwrap_or(0) >= 40, "{}", stats["dataplane"]);
    for reason in ["access_denied", "access_not_allowed", "blackholed"] {
        assert!(stats["drops"][reason].as_u64().unwrap_or(0) >= 1, "{reason}: {}", stats["drops"]);
    }
}
