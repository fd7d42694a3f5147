//! Lab: driving a running rvsd with rvsadm over its control socket, as an LVS operator would:
//! services and real servers added, changed and deleted live with traffic flowing; counters
//! zeroed and compared with the requests sent; rules saved and restored; bad command lines and
//! bad socket requests refused with their error, the state unchanged.

use rvs_lab::admin::{ok, rvsadm};
use rvs_lab::conf::Real;
use rvs_lab::{conf, http, require_lab, topo, Lab, Ns};
use std::io::{BufRead, BufReader, Write};

fn split(client: &Ns, n: usize) -> (usize, usize) {
    let t = http::tally(client, "http://198.18.0.100/", n).unwrap();
    (t.get("rs1").copied().unwrap_or(0), t.get("rs2").copied().unwrap_or(0))
}

#[test]
fn rvsadm_drives_a_running_rvsd() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let topo::NatPair { client, lb, .. } = topo::nat_pair(&mut lab, 400_000).unwrap();
    // No services at start: everything comes through rvsadm.
    let socket = std::env::temp_dir().join(format!("{}-ctl.sock", lab.id()));
    let config = conf::dataplane(&[1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + &format!("[control]\nsocket = \"{}\"\nmetrics = \"127.0.0.1:9390\"\n", socket.display());
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let s = socket.clone();
    let meta = std::fs::metadata(&s).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "control socket mode");

    ok(&s, &["-A", "-t", "198.18.0.100:80", "-s", "rr"]);
    ok(&s, &["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80", "-m"]);
    ok(&s, &["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.12:80", "-m"]);
    let listing = ok(&s, &["-L", "-n"]);
    assert_eq!(
        listing,
        "IP Virtual Server version 1.2.1 (rvs)\n\
         Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  198.18.0.100:80 rr\n\
         \x20 -> 198.19.0.11:80               Masq    1      0          0         \n\
         \x20 -> 198.19.0.12:80               Masq    1      0          0         \n"
    );
    let warm = http::wait_ready(&client, "http://198.18.0.100/").unwrap() as usize;
    assert_eq!(split(&client, 20), (10, 10), "rr through a service added live");

    // Weights and scheduler changed live: wrr 3:1.
    ok(&s, &["-E", "-t", "198.18.0.100:80", "-s", "wrr"]);
    ok(&s, &["-e", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80", "-m", "-w", "3"]);
    assert_eq!(split(&client, 40), (30, 10), "3:1 after the live weight change");

    // Counters: zero, send a known number of requests, compare.
    ok(&s, &["-Z"]);
    assert_eq!(split(&client, 8), (6, 2));
    let stats = ok(&s, &["-L", "-n", "--stats"]);
    let svc_line = stats.lines().find(|l| l.starts_with("TCP  198.18.0.100:80")).unwrap();
    let conns: u64 = svc_line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(conns, 8, "--stats counts exactly the connections sent since -Z:\n{stats}");
    let json = ok(&s, &["-L", "-n", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["services"][0]["reals"][0]["conns"], 6);
    assert_eq!(v["services"][0]["reals"][1]["conns"], 2);
    assert!(v["services"][0]["pkts_in"].as_u64().unwrap() >= 8 * 5, "SYN, ACK, request, ACKs, FIN per connection");

    // Connections, as -L -c lists them: the 8 just made, in TIME_WAIT at the director.
    let conns = ok(&s, &["-L", "-n", "-c"]);
    assert!(conns.starts_with("IPVS connection entries\npro expire state"), "{conns}");
    let tw = conns
        .lines()
        .filter(|l| l.starts_with("TCP") && l.contains("TIME_WAIT") && l.contains("198.18.0.100:80"))
        .count();
    assert!(tw >= 8, "{conns}");
    let j: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "-c", "--json"])).unwrap();
    assert!(j
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["destination"] == "198.19.0.12:80" && c["source"].as_str().unwrap().starts_with("198.18.0.2:")));

    // Rates: sampled every 2 s and smoothed as IPVS does; traffic shows up as connections/s.
    assert_eq!(split(&client, 40), (30, 10));
    std::thread::sleep(std::time::Duration::from_millis(4500));
    let v: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "-n", "--rate", "--json"])).unwrap();
    assert!(v["services"][0]["rates"]["cps"].as_u64().unwrap() > 0, "{v}");
    assert!(v["services"][0]["rates"]["inbps"].as_u64().unwrap() > 0, "{v}");
    let table = ok(&s, &["-L", "-n", "--rate"]);
    assert!(table.contains("CPS    InPPS   OutPPS    InBPS   OutBPS"), "{table}");

    // The Prometheus endpoint (in the director's namespace) tells the same story.
    let m = lb.exec("curl", &["-s", "-m", "5", "http://127.0.0.1:9390/metrics"]).unwrap();
    assert!(m.contains("# TYPE rvs_real_connections_total counter"), "{m}");
    assert!(m.contains("rvs_real_weight{protocol=\"tcp\",vip=\"198.18.0.100\",port=\"80\",real=\"198.19.0.11:80\",forward=\"nat\"} 3"), "{m}");
    assert!(m.lines().any(|l| l.starts_with("rvs_port_rx_packets_total{port=\"out\"} ") && !l.ends_with(" 0")), "{m}");

    // -S | -C | -R gives back the same table.
    ok(&s, &["-A", "-u", "198.18.0.100:53", "-s", "sh", "-p", "600", "-M", "255.255.255.0"]);
    ok(&s, &["-a", "-u", "198.18.0.100:53", "-r", "198.19.0.11:5353", "-m", "-w", "2"]);
    let before = ok(&s, &["-L", "-n"]);
    let rules = ok(&s, &["-S", "-n"]);
    assert_eq!(
        rules,
        "-A -t 198.18.0.100:80 -s wrr\n-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 3\n-a -t 198.18.0.100:80 -r 198.19.0.12:80 -m -w 1\n\
         -A -u 198.18.0.100:53 -s sh -p 600 -M 255.255.255.0\n-a -u 198.18.0.100:53 -r 198.19.0.11:5353 -m -w 2\n"
    );
    ok(&s, &["-C"]);
    assert!(!ok(&s, &["-L", "-n"]).contains("TCP"), "cleared");
    let (code, _, err) = rvsadm(&s, &["-R"], &rules);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ok(&s, &["-L", "-n"]), before, "-S | -R round-trips");
    assert!(ok(&s, &["-L", "-n"]).contains("persistent 600 mask 255.255.255.0"));

    // Every option this round added survives -S | -C | -R too: one-packet scheduling, fo, ovf
    // and twos, scheduler flags, an SCTP service, a firewall-mark service (IPv4 and IPv6) and
    // its classifier rules, GUE and GRE real servers, thresholds and slow start.
    let more: &[&[&str]] = &[
        &["-A", "-u", "198.18.0.101:53", "-s", "twos", "-o"],
        &["-a", "-u", "198.18.0.101:53", "-r", "198.19.0.11:5353", "-m", "-x", "40", "-y", "10"],
        &["-A", "--sctp-service", "198.18.0.101:3868", "-s", "ovf"],
        &["-a", "--sctp-service", "198.18.0.101:3868", "-r", "198.19.0.12:3868", "-m", "-w", "4", "--slow-start", "30"],
        &["-A", "-f", "7", "-s", "sh", "-b", "sh-port", "-p", "120"],
        &["-a", "-f", "7", "-r", "198.19.0.11", "-m"],
        &["-a", "-f", "7", "-r", "198.19.0.12:8443", "-m", "-w", "2"],
        &["-A", "-f", "8", "-6", "-s", "fo"],
        &["--add-mark-rule", "-f", "7", "--proto", "tcp", "--dst", "198.18.0.102", "--dports", "80,443"],
        &["--add-mark-rule", "-f", "8", "--dst", "2001:db8::/64"],
        &["-A", "-t", "198.18.0.103:80", "-s", "rr"],
        &[
            "-a",
            "-t",
            "198.18.0.103:80",
            "-r",
            "198.19.0.21",
            "-i",
            "--tun-type",
            "gue",
            "--tun-port",
            "6080",
            "--tun-csum",
        ],
        &["-a", "-t", "198.18.0.103:80", "-r", "198.19.0.22", "-i", "--tun-type", "gre", "--tun-nocsum"],
    ];
    for args in more {
        ok(&s, args);
    }
    let rules2 = ok(&s, &["-S", "-n"]);
    for want in [
        "-A -u 198.18.0.101:53 -s twos -o\n",
        "-x 40 -y 10",
        "-A --sctp-service 198.18.0.101:3868 -s ovf\n",
        "--slow-start 30",
        "-A -f 7 -s sh -b sh-port -p 120\n",
        "-a -f 7 -r 198.19.0.11:0 -m -w 1\n",
        "-A -f 8 -6 -s fo\n",
        "--add-mark-rule -f 7 --proto tcp --dst 198.18.0.102/32 --dports 443\n",
        "--add-mark-rule -f 8 --dst 2001:db8::/64\n",
        "--tun-type gue --tun-port 6080 --tun-csum",
        "--tun-type gre --tun-nocsum",
    ] {
        assert!(rules2.contains(want), "{want:?} in\n{rules2}");
    }
    ok(&s, &["-C"]);
    for rule in [&more[8], &more[9]] {
        let del: Vec<&str> = rule.iter().map(|a| if *a == "--add-mark-rule" { "--del-mark-rule" } else { a }).collect();
        ok(&s, &del);
    }
    assert_eq!(ok(&s, &["-S", "-n"]), "", "cleared, rules too");
    let (code, _, err) = rvsadm(&s, &["-R"], &rules2);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ok(&s, &["-S", "-n"]), rules2, "-S | -R round-trips every option");
    // Back to the first round's table for what follows.
    ok(&s, &["-C"]);
    for rule in [&more[8], &more[9]] {
        let del: Vec<&str> = rule.iter().map(|a| if *a == "--add-mark-rule" { "--del-mark-rule" } else { a }).collect();
        ok(&s, &del);
    }
    let (code, _, err) = rvsadm(&s, &["-R"], &rules);
    assert_eq!(code, 0, "{err}");

    // Bad inputs: each refused with its error, nothing changed.
    let cases: &[(&[&str], &str)] = &[
        (&["-A", "-t", "198.18.0.100:80"], "service already exists: tcp 198.18.0.100:80"),
        (&["-A", "-t", "198.18.0.300:80"], "is not an IPv4 or IPv6 address"),
        (&["-A", "-t", "[2001:db8::100:80"], "needs its closing ]"),
        (&["-a", "-t", "198.18.0.100:80", "-r", "[2001:db8::13]:80", "-g"], "not of the VIP's address family"),
        (&["-A", "-t", "198.18.0.101"], "expected VIP:PORT"),
        (&["-A", "-t", "198.18.0.101:80", "-s", "fastest"], "unknown scheduler \"fastest\""),
        (&["-A", "-t", "198.18.0.101:80", "-M", "255.0.255.0", "-p"], "is not a netmask"),
        (&["-E", "-t", "198.18.0.101:80"], "no such service: tcp 198.18.0.101:80"),
        (&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80", "-m"], "real server already exists"),
        (
            &["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.13:8080", "-g"],
            "dr and tun real servers use the virtual port",
        ),
        (&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.13:80", "-w", "70000"], "weight: 70000 is not 0..=65535"),
        (&["-a", "-t", "198.18.0.100:80"], "a real server is needed"),
        (&["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.99"], "no such real server: 198.19.0.99:80"),
        (&["-D", "-u", "198.18.0.100:80"], "no such service: udp 198.18.0.100:80"),
        (&["-L", "-u", "198.18.0.100:99"], "no such service: udp 198.18.0.100:99"),
        (&["-L", "--output", "yaml"], "the only output format is json"),
        (&["-L", "-o"], "-o/--ops: only with -A or -E"),
        (
            &["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.13:80", "-x", "3000000000"],
            "u_threshold: 3000000000 is above 2147483647",
        ),
        (&["--set", "0", "0", "99999999"], "udp: 99999999 is not 1..=2678400 seconds"),
    ];
    let rules_before = ok(&s, &["-S", "-n"]);
    for (args, want) in cases {
        let (code, out, err) = rvsadm(&s, args, "");
        assert_eq!(code, 1, "rvsadm {args:?} must fail: {out}{err}");
        assert!(err.starts_with("rvsadm: ") && err.contains(want), "rvsadm {args:?}: {err:?} should say {want:?}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err:?}");
        assert_eq!(ok(&s, &["-S", "-n"]), rules_before, "state unchanged after {args:?}");
    }
    let (code, _, _) = rvsadm(&s, &["-A", "--bogus"], "");
    assert_eq!(code, 2, "a command line clap cannot parse exits 2");

    // The socket itself: malformed requests get an error line, and change nothing.
    let mut sock = std::os::unix::net::UnixStream::connect(&s).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    for (req, want) in [
        ("not json", "bad request"),
        (r#"{"op":"explode"}"#, "unknown variant `explode`"),
        (r#"{"op":"add_service","service":{"protocol":"icmp","address":"1.2.3.4:5"}}"#, "expected tcp, udp or sctp"),
        (
            r#"{"op":"del_service","service":{"protocol":"tcp","address":"198.18.0.100:80"},"extra":1}"#,
            "unknown field `extra`",
        ),
    ] {
        writeln!(sock, "{req}").unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], false, "{req}");
        assert!(v["error"].as_str().unwrap().contains(want), "{req}: {line}");
    }
    assert_eq!(ok(&s, &["-S", "-n"]), rules_before);

    // Timeouts, then deleting a real server: new connections go to the other one only.
    ok(&s, &["--set", "600", "0", "0"]);
    assert_eq!(ok(&s, &["-L", "--timeout"]), "Timeout (tcp tcpfin udp): 600 120 300\n");
    ok(&s, &["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.12:80"]);
    assert_eq!(split(&client, 6), (6, 0), "rs2 deleted: everything to rs1");
    ok(&s, &["-e", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80", "-m", "-w", "0"]);
    let out =
        client.run("curl", &["-s", "-m", "3", "http://198.18.0.100/"], std::time::Duration::from_secs(10)).unwrap();
    assert!(!out.status.success(), "weight 0: no new connections");

    // Reload: the file becomes the truth again, by the socket verb and by SIGHUP.
    let base_conf = std::fs::read_to_string(&rvsd.config).unwrap();
    let with = |extra: &str| format!("{base_conf}\n{extra}");
    let nat2 = conf::service(
        "tcp",
        "198.18.0.100",
        80,
        "rr",
        &[
            Real { addr: "198.19.0.11", port: None, weight: 1, forward: "nat" },
            Real { addr: "198.19.0.12", port: None, weight: 1, forward: "nat" },
        ],
    );
    // The socket section rvsd added at start must stay last-free: put services before [control].
    let place = |svcs: &str| with("").replacen("[control]", &format!("{svcs}\n[control]"), 1);
    std::fs::write(&rvsd.config, place(&nat2)).unwrap();
    assert_eq!(ok(&s, &["--reload"]), "reloaded: 0 service(s) added, 1 changed, 1 removed\n");
    assert_eq!(ok(&s, &["-S", "-n"]), "-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 1\n-a -t 198.18.0.100:80 -r 198.19.0.12:80 -m -w 1\n");
    assert_eq!(split(&client, 10), (5, 5), "the reloaded service serves");
    let udp = conf::service(
        "udp",
        "198.18.0.100",
        53,
        "rr",
        &[Real { addr: "198.19.0.11", port: Some(5353), weight: 1, forward: "nat" }],
    );
    std::fs::write(&rvsd.config, place(&(nat2.clone() + &udp))).unwrap();
    lab.signal(&rvsd, nix::sys::signal::Signal::SIGHUP).unwrap();
    let t0 = std::time::Instant::now();
    while !ok(&s, &["-L", "-n"]).contains("UDP  198.18.0.100:53") {
        assert!(t0.elapsed() < std::time::Duration::from_secs(5), "SIGHUP reload not applied");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A broken file is refused, naming where; nothing changes.
    let rules = ok(&s, &["-S", "-n"]);
    std::fs::write(&rvsd.config, place("[[service]]\nprotocol = \"tcp\"\nvip = \"not-an-ip\"\nport = 80\n")).unwrap();
    let (code, _, err) = rvsadm(&s, &["--reload"], "");
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{}:", rvsd.config.display())) && err.contains("service[0].vip"), "{err}");
    assert_eq!(ok(&s, &["-S", "-n"]), rules);

    // Deleting a real server drains its connections: two slow downloads (rr puts one on each
    // server), rs2 deleted mid-transfer, both finish whole; new connections go to rs1 only.
    let downloads: Vec<_> = (0..2)
        .map(|_| {
            let c = client.clone();
            let h = std::thread::spawn(move || {
                let out = c
                    .run(
                        "curl",
                        &[
                            "-s",
                            "-m",
                            "30",
                            "--limit-rate",
                            "100k",
                            "-o",
                            "/dev/null",
                            "-w",
                            "%{size_download}",
                            "http://198.18.0.100/big.bin",
                        ],
                        std::time::Duration::from_secs(40),
                    )
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            h
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(700));
    ok(&s, &["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.12:80"]);
    let conns = ok(&s, &["-L", "-n", "-c"]);
    // Still listed and alive: ESTABLISHED, or FIN_WAIT when rs2 has already written the whole
    // file into the client's (autotuned) receive window and closed while curl reads slowly.
    assert!(
        conns.lines().any(|l| (l.contains("ESTABLISHED") || l.contains("FIN_WAIT")) && l.ends_with("198.19.0.12:80")),
        "the deleted server's connection is still listed:\n{conns}"
    );
    assert_eq!(split(&client, 4), (4, 0), "new connections avoid the deleted server");
    for h in downloads {
        assert_eq!(h.join().unwrap(), "400000", "a download finished whole");
    }

    let stats = lab.stop_rvsd(rvsd).unwrap();
    assert!(stats["dataplane"]["new_conns"].as_u64().unwrap() >= (warm + 20 + 40 + 8 + 40 + 6) as u64);
}
