//! Lab: IPv6 through rvsd, dual-stack, with real clients and servers (curl -6, socat, python).
//!
//! NAT:
//! ```text
//! client 198.18.0.2    --veth-- [p0 198.18.0.1    rvsd  198.19.0.1    p1] --switch-- rs1 198.19.0.11  2001:db8:1::11
//!        2001:db8::2                2001:db8::1          2001:db8:1::1              \-- rs2 198.19.0.12  2001:db8:1::12
//! ```
//! DR and TUN, one segment: client 2001:db8::2, rvsd p0 2001:db8::1, rs1 2001:db8::11 (DR: the VIP
//! on `lo`), rs2 2001:db8::12 (TUN: the VIP on a TUN device fed by a user-space ip6ip6
//! decapsulator, this kernel having no ip6_tunnel). Neighbour discovery for the director's
//! addresses, the VIPs and the real servers is rvsd's own (the kernel of its namespace neither
//! sees nor sends on its ports).

use rvs_lab::conf::Real;
use rvs_lab::{admin, conf, http, lab_scripts, require_lab, Lab, Ns};
use std::time::Duration;

const VIP6: &str = "2001:db8::100";

fn curl_names(client: &Ns, url: &str, n: usize) -> std::collections::BTreeMap<String, usize> {
    http::tally(client, url, n).unwrap()
}

fn wait_ready6(client: &Ns, url: &str) {
    http::wait_ready(client, url).unwrap();
}

#[test]
fn ipv6_nat_http_and_udp_beside_ipv4_with_icmpv6_errors_translated() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let client = lab.host("c").unwrap();
    let lb = lab.host("lb").unwrap();
    let mut sw = lab.switch("sw").unwrap();
    lab.veth(&client, "eth0", &lb, "p0").unwrap();
    lab.plug(&mut sw, &lb, "p1").unwrap();
    client.addr("eth0", "198.18.0.2/24").unwrap();
    client.addr("eth0", "2001:db8::2/64").unwrap();
    client.route(&["default", "via", "198.18.0.1"]).unwrap();
    client.route(&["default", "via", "2001:db8::1"]).unwrap();
    let mut http6 = Vec::new();
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let rs = lab.host(name).unwrap();
        lab.plug(&mut sw, &rs, "eth0").unwrap();
        let (a4, a6) = (format!("198.19.0.{}", 11 + i), format!("2001:db8:1::{}", 11 + i));
        rs.addr("eth0", &format!("{a4}/24")).unwrap();
        rs.addr("eth0", &format!("{a6}/64")).unwrap();
        rs.route(&["default", "via", "198.19.0.1"]).unwrap();
        rs.route(&["default", "via", "2001:db8:1::1"]).unwrap();
        http::serve(&mut lab, &rs, name, &a4, 80, 0).unwrap();
        http6.push(http::serve(&mut lab, &rs, &format!("{name}-v6"), &a6, 8080, 0).unwrap());
        let echo = lab_scripts().join("udp_echo.py");
        let h = lab.spawn(&rs, "python3", &[echo.to_str().unwrap(), name, &a6, "5353"]).unwrap();
        lab.wait_for_line(h, "listening", Duration::from_secs(10)).unwrap();
    }
    let reals6 = |port| ["2001:db8:1::11", "2001:db8:1::12"].map(|addr| Real { addr, port, weight: 1, forward: "nat" });
    let reals4 = ["198.19.0.11", "198.19.0.12"].map(|addr| Real { addr, port: None, weight: 1, forward: "nat" });
    // The IPv6 HTTP service's real servers have TCP checks; they leave through the inside
    // port's exception device, which carries its IPv6 address too.
    let mut checked = String::new();
    for a in ["2001:db8:1::11", "2001:db8:1::12"] {
        checked += &format!(
            "  [[service.real]]\n  address = \"{a}\"\n  port = 8080\n  forward = \"nat\"\n  [service.real.check]\n  kind = \"tcp\"\n  interval = 1\n  timeout = 2\n  fall = 2\n  rise = 2\n"
        );
    }
    let config = conf::dataplane(&[1])
        + &conf::port_dual("out", 0, "p0", "198.18.0.1/24", "2001:db8::1/64")
        + &conf::port_dual("in", 1, "p1", "198.19.0.1/24", "2001:db8:1::1/64").replace("\n\n", "\nexception = true\nexception_iface = \"rvs-in6\"\n\n")
        + &format!("[[service]]\nprotocol = \"tcp\"\nvip = \"{VIP6}\"\nport = 80\nscheduler = \"rr\"\n{checked}\n")
        + &conf::service("udp", VIP6, 53, "rr", &reals6(Some(5353)))
        // Nobody listens on 5454: the real server's port unreachable must reach the client.
        + &conf::service("udp", VIP6, 54, "rr", &reals6(Some(5454)))
        + &conf::service("tcp", "198.18.0.100", 80, "rr", &reals4);
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    // Review defect 4: before any real server is resolved, one host on the client's link
    // solicits the director from 6,000 addresses (more than the 4,096-entry table). Entries made
    // by solicitations give way; the real servers, configured next hops, still get their places.
    let flood = lab_scripts().join("ns_flood.py");
    let out = client
        .run(
            "python3",
            &[flood.to_str().unwrap(), "eth0", "6000", "2001:db8:0:0", "2001:db8::1"],
            Duration::from_secs(40),
        )
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("sent 6000"), "{}", String::from_utf8_lossy(&out.stderr));
    let url = format!("http://[{VIP6}]/");
    wait_ready6(&client, &url);
    let report: serde_json::Value = serde_json::from_str(&admin::ok(&rvsd.socket, &["-L", "-n", "--json"])).unwrap();
    // Every solicitation that reached rvsd was answered (`replied`; a busy host's af_packet may
    // lose a few of the 6,000) and made an entry; past the 2,048 solicited entries may hold,
    // each gave way to the next.
    let answered = report["dataplane"]["replied"].as_u64().unwrap();
    assert!(answered >= 5000, "most solicitations arrived: {report}");
    assert!(
        report["neighbours_evicted"].as_u64().unwrap() + 2048 + 64 >= answered,
        "solicited entries gave way: {report}"
    );
    assert!(report["neighbours"].as_u64().unwrap() <= 4096 + 4096, "{report}");

    // curl -6 through NAT, the real port (8080) differing from the virtual one, rr over both.
    let t = curl_names(&client, &url, 10);
    assert_eq!((t.get("rs1-v6"), t.get("rs2-v6")), (Some(&5), Some(&5)), "rr over both, IPv6: {t:?}");

    // UDP through NAT.
    let mut seen = Vec::new();
    for k in 0..4 {
        let cmd = format!("echo ping{k} | socat -T 3 - UDP6:[{VIP6}]:53");
        let out = client.run("sh", &["-c", &cmd], Duration::from_secs(10)).unwrap();
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(line.ends_with(&format!(":ping{k}")), "UDP answer {k}: {line:?}");
        seen.push(line.split(':').next().unwrap().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["rs1", "rs1", "rs2", "rs2"], "UDP rr over both servers");

    // An ICMPv6 error from the real server's side (its port unreachable) reaches the client
    // translated: the client's kernel matches the quote to its socket and refuses it.
    // (The refusal surfaces at the socket's next call after the error arrived.)
    let probe = format!(
        "import socket, time\n\
         s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(3)\n\
         s.connect(('{VIP6}', 54))\n\
         try:\n    s.send(b'x'); time.sleep(0.5); s.send(b'y'); s.recv(100); print('answered')\n\
         except ConnectionRefusedError: print('refused')\n\
         except socket.timeout: print('timeout')"
    );
    let out = client.run("python3", &["-c", &probe], Duration::from_secs(10)).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "refused", "{}", String::from_utf8_lossy(&out.stderr));

    // IPv4 beside it, on the same ports.
    let t = http::tally(&client, "http://198.18.0.100/", 4).unwrap();
    assert_eq!((t.get("rs1"), t.get("rs2")), (Some(&2), Some(&2)), "IPv4 still served: {t:?}");

    // Echo for the VIP; the VIP is on the client's link (2001:db8::/64): its neighbour entry,
    // from rvsd's advertisement, is rvsd's port.
    let ping = client.run("ping", &["-6", "-c", "2", "-W", "2", VIP6], Duration::from_secs(10)).unwrap();
    assert!(ping.status.success(), "ping -6 the VIP: {}", String::from_utf8_lossy(&ping.stdout));
    let neigh = client.ip(&["-6", "neigh", "show"]).unwrap();
    let vip = neigh.lines().find(|l| l.starts_with(&format!("{VIP6} "))).unwrap_or_default();
    assert!(vip.contains(&lb.mac("p0").unwrap()), "NDP answered by rvsd: {neigh}");

    // ipvsadm's view of it.
    let list = admin::ok(&rvsd.socket, &["-L", "-n"]);
    assert!(list.contains(&format!("TCP  [{VIP6}]:80 rr")), "{list}");
    assert!(list.contains("  -> [2001:db8:1::11]:8080"), "{list}");
    admin::ok(&rvsd.socket, &["-a", "-t", &format!("[{VIP6}]:80"), "-r", "[2001:db8:1::13]:8080", "-m", "-w", "0"]);
    let list = admin::ok(&rvsd.socket, &["-L", "-n"]);
    assert!(list.contains("  -> [2001:db8:1::13]:8080        Masq    0"), "{list}");
    let (code, _, err) =
        admin::rvsadm(&rvsd.socket, &["-a", "-t", &format!("[{VIP6}]:80"), "-r", "198.19.0.13:80", "-m"], "");
    assert_eq!(code, 1, "an IPv4 real server under an IPv6 VIP is refused");
    assert!(err.contains("address family"), "{err}");
    let conns = admin::ok(&rvsd.socket, &["-L", "-n", "-c"]);
    assert!(conns.contains(&format!("[{VIP6}]:80")), "{conns}");

    // Health checks over IPv6: rs2's server killed, its weight goes to 0 and every request
    // lands on rs1.
    lab.stop(http6[1], Duration::from_secs(2)).unwrap();
    let t0 = std::time::Instant::now();
    loop {
        let l = admin::ok(&rvsd.socket, &["-L", "-n", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        let rs2 = v["services"].as_array().unwrap().iter().find(|s| s["vip"] == VIP6 && s["port"] == 80).unwrap()
            ["reals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == "2001:db8:1::12")
            .cloned()
            .unwrap();
        if rs2["health"] == "down" {
            assert_eq!(rs2["weight"], 0, "{rs2}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "rs2 never went down over IPv6: {rs2}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let t = curl_names(&client, &url, 4);
    assert_eq!(t.get("rs1-v6"), Some(&4), "all on rs1 while rs2 is down: {t:?}");

    let stats = lab.stop_rvsd(rvsd).unwrap();
    let drops = &stats["drops"];
    for reason in ["ipv6_truncated", "ipv6_ext_truncated", "nd_malformed", "icmp_unmatched", "no_route"] {
        assert_eq!(drops[reason].as_u64().unwrap_or(0), 0, "{reason}: {stats}");
    }
}

#[test]
fn ipv6_dr_and_tun_with_packet_too_big_learned_by_the_client() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let (client, lb, mut sw) = rvs_lab::topo::one_segment(&mut lab, "2001:db8::2/64").unwrap();
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let rs = lab.host(name).unwrap();
        lab.plug(&mut sw, &rs, "eth0").unwrap();
        rs.addr("eth0", &format!("2001:db8::{}/64", 11 + i)).unwrap();
        if i == 0 {
            // DR: the VIP on lo; IPv6 answers neighbour solicitations only for addresses of
            // the interface asked on, so only rvsd answers for the VIP on the segment.
            rs.addr("lo", "2001:db8::100/128").unwrap();
        } else {
            let decap = lab_scripts().join("ip6ip6_decap.py");
            let h = lab.spawn(&rs, "python3", &["-u", decap.to_str().unwrap(), "tun0"]).unwrap();
            lab.wait_for_line(h, "ready", Duration::from_secs(10)).unwrap();
            rs.ip(&["link", "set", "tun0", "up"]).unwrap();
            rs.addr("tun0", "2001:db8::101/128").unwrap();
        }
        http::serve(&mut lab, &rs, name, "::", 80, 0).unwrap();
        rvs_lab::topo::echo_server(&mut lab, &rs, name, "::").unwrap();
    }
    let real = |addr, forward| [Real { addr, port: None, weight: 1, forward }];
    let config = conf::dataplane(&[1])
        + &conf::port_dual("lan", 0, "p0", "198.18.0.1/24", "2001:db8::1/64")
        + &conf::service("tcp", "2001:db8::100", 80, "rr", &real("2001:db8::11", "dr"))
        + &conf::service("tcp", "2001:db8::101", 80, "rr", &real("2001:db8::12", "tun"))
        + &conf::service("tcp", "2001:db8::101", 7, "rr", &real("2001:db8::12", "tun"));
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    wait_ready6(&client, "http://[2001:db8::100]/");
    assert_eq!(curl_names(&client, "http://[2001:db8::100]/", 3).get("rs1"), Some(&3), "DR");
    wait_ready6(&client, "http://[2001:db8::101]/");
    assert_eq!(curl_names(&client, "http://[2001:db8::101]/", 3).get("rs2"), Some(&3), "TUN (ip6ip6)");

    // A full-size segment no longer fits once wrapped (1500 + 40): rvsd answers Packet Too Big
    // with 1460, the client's kernel lowers its path MTU to the VIP and the data goes through.
    let line = "z".repeat(30_000);
    let probe = format!(
        "import socket; s = socket.create_connection(('2001:db8::101', 7), timeout=10); \
         s.sendall(b'{line}\\n'); f = s.makefile('rb'); print(len(f.readline()))"
    );
    let out = client.run("python3", &["-c", &probe], Duration::from_secs(30)).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        (30_000 + "rs2 ".len() + 1).to_string(),
        "the whole line came back: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let route = client.ip(&["-6", "route", "get", "2001:db8::101"]).unwrap();
    assert!(route.contains("mtu 1460"), "the client learned the tunnel's MTU: {route}");

    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert!(stats["dataplane"]["too_big_sent"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(stats["drops"]["too_big"].as_u64().unwrap_or(0), 0, "{stats}");
}
