use super::*;
use rvsd::stats::{RealReport, ServiceReport};

fn parse(args: &str) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("rvsadm").chain(args.split_whitespace()))
}

/// Every option of ipvsadm 1.31 that takes a short letter, with the meaning ipvsadm gives it.
#[test]
fn short_options_mean_what_ipvsadm_s_mean() {
    let c = parse("-A -t 10.0.0.1:80 -s rr -p 60 -M 255.255.255.0").unwrap();
    assert!(c.add_service && c.tcp.is_some() && c.scheduler.as_deref() == Some("rr"));
    assert_eq!((c.persistent, c.netmask.as_deref()), (Some(60), Some("255.255.255.0")));
    assert_eq!(parse("-E -u 10.0.0.1:53 -p").unwrap().persistent, Some(300), "-p alone: 300 s");
    assert!(parse("-D -t 10.0.0.1:80").unwrap().delete_service);
    assert!(parse("-C").unwrap().clear);
    let r = parse("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3 -x 50 -y 20").unwrap();
    assert!(r.add_server && r.masquerading && r.weight == Some(3));
    assert_eq!((r.u_threshold, r.l_threshold), (Some(50), Some(20)), "-x/-y are the thresholds");
    assert!(parse("-e -t 10.0.0.1:80 -r 10.0.1.1 -g").unwrap().gatewaying);
    assert!(parse("-d -t 10.0.0.1:80 -r 10.0.1.1 -i").unwrap().ipip);
    for l in ["-L", "-l"] {
        assert!(parse(l).unwrap().list);
    }
    let l = parse("-L -n -c -X").unwrap();
    assert!(l.numeric && l.connection && l.exact, "-X is --exact");
    assert!(parse("-Z").unwrap().zero);
    assert!(parse("-S -n").unwrap().save);
    assert!(parse("-R").unwrap().restore);
    assert!(parse("-v").unwrap().version, "-v is --version");
    assert_eq!(parse("-A -u 10.0.0.1:53 -o").unwrap().ops.as_deref(), Some("on"), "-o is --ops, not an output format");
    assert_eq!(parse("-A -u 10.0.0.1:53 -o -s rr").unwrap().scheduler.as_deref(), Some("rr"), "-o takes no value");
    assert!(parse("-L -o json").is_err(), "-o takes no value");
    assert_eq!(parse("-E -u 10.0.0.1:53 --ops=off").unwrap().ops.as_deref(), Some("off"), "rvs: -E can turn it off");
    assert_eq!(parse("-A -f 1").unwrap().fwmark.as_deref(), Some("1"));
    assert!(parse("-A -f 1 -6").unwrap().ipv6);
    assert_eq!(parse("-A -t 10.0.0.1:80 -s mh -b mh-port").unwrap().sched_flags.as_deref(), Some("mh-port"));
    assert!(parse("-h").is_err_and(|e| e.kind() == clap::error::ErrorKind::DisplayHelp));
}

#[test]
fn long_only_options_of_ipvsadm() {
    assert_eq!(parse("--set 900 120 300").unwrap().set, Some(vec![900, 120, 300]));
    let l = parse("-L --stats --rate --timeout --nosort --sort --exact").unwrap();
    assert!(l.stats && l.rate && l.timeout && l.nosort && l.sort && l.exact);
    assert!(parse("-L --json").unwrap().json);
    assert_eq!(parse("-L --output json").unwrap().output.as_deref(), Some("json"));
    // Every long option of ipvsadm 1.31's man page parses, each with its meaning.
    assert_eq!(parse("-A --sctp-service 10.0.0.1:3868").unwrap().sctp.as_deref(), Some("10.0.0.1:3868"));
    assert_eq!(parse("-A --fwmark-service 1 --ipv6").unwrap().fwmark.as_deref(), Some("1"));
    let d = parse("--start-daemon master --mcast-interface eth0 --syncid 3 --sync-maxlen 1000 --mcast-group 224.0.0.81 --mcast-port 8848 --mcast-ttl 2").unwrap();
    assert_eq!(d.start_daemon.as_deref(), Some("master"));
    assert_eq!((d.syncid, d.sync_maxlen, d.mcast_port, d.mcast_ttl), (Some(3), Some(1000), Some(8848), Some(2)));
    assert_eq!((d.mcast_interface.as_deref(), d.mcast_group.as_deref()), (Some("eth0"), Some("224.0.0.81")));
    assert_eq!(parse("--stop-daemon backup").unwrap().stop_daemon.as_deref(), Some("backup"));
    let l = parse("-L --thresholds --persistent-conn --daemon --tun-info").unwrap();
    assert!(l.thresholds && l.persistent_conn && l.daemon && l.tun_info);
    let t = parse("-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 6080 --tun-remcsum").unwrap();
    assert_eq!((t.tun_type.as_deref(), t.tun_port, t.tun_remcsum), (Some("gue"), Some(6080), true));
    assert!(parse("-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gre --tun-nocsum").unwrap().tun_nocsum);
    assert!(parse("-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gre --tun-csum").unwrap().tun_csum);
    let long = parse("--add-service --tcp-service 10.0.0.1:80 --scheduler rr --persistent 60 --netmask 255.255.255.0 --sched-flags sh-port --ops").unwrap();
    assert!(long.add_service && long.ops.as_deref() == Some("on") && long.sched_flags.as_deref() == Some("sh-port"));
    let real = parse("--add-server --udp-service 10.0.0.1:53 --real-server 10.0.1.1 --masquerading --weight 2 --u-threshold 9 --l-threshold 3").unwrap();
    assert!(real.add_server && real.masquerading && real.weight == Some(2) && real.u_threshold == Some(9));
    let (svc, real, list) = (" -t 10.0.0.1:80", " -t 10.0.0.1:80 -r 10.0.1.1", "-L ");
    for (long, short, before, after) in [
        ("--edit-service", "-E", "", svc),
        ("--delete-service", "-D", "", svc),
        ("--clear", "-C", "", ""),
        ("--edit-server", "-e", "", real),
        ("--delete-server", "-d", "", real),
        ("--list", "-L", "", ""),
        ("--zero", "-Z", "", ""),
        ("--save", "-S", "", ""),
        ("--restore", "-R", "", ""),
        ("--version", "-v", "", ""),
        ("--numeric", "-n", list, ""),
        ("--connection", "-c", list, ""),
        ("--exact", "-X", list, ""),
        ("--gatewaying", "-g", "-a", real),
        ("--ipip", "-i", "-a", real),
    ] {
        let a = format!("{:?}", parse(&format!("{before} {long}{after}")).unwrap());
        let b = format!("{:?}", parse(&format!("{before} {short}{after}")).unwrap());
        assert_eq!(a, b, "{long} is {short}");
    }
    assert!(parse("-A -t 10.0.0.1:80 --pe sip").unwrap().pe.is_some(), "--pe parses");
}

/// `--pe sip` as ipvsadm takes it: with -A/-E, listed after the persistence, saved and parsed
/// back; elsewhere refused.
#[test]
fn the_sip_persistence_engine_parses_lists_and_saves() {
    let mut s = svc("udp", "10.0.0.1", &[]);
    (s.persistence, s.pe, s.ops) = (60, "sip".into(), true);
    let t = table(std::slice::from_ref(&s));
    assert!(t.contains("UDP  10.0.0.1:80 wlc persistent 60 ops pe sip\n"), "{t}");
    let saved = save(&[s]);
    assert_eq!(saved, "-A -u 10.0.0.1:80 -s wlc -p 60 -o --pe sip\n");
    match request(&parse(saved.trim()).unwrap()).unwrap() {
        Some(Request::AddService { pe, .. }) => assert_eq!(pe.as_deref(), Some("sip")),
        other => panic!("{other:?}"),
    }
    let e = run(&parse("-L --pe sip").unwrap()).unwrap_err().to_string();
    assert!(e.starts_with("--pe: only with -A or -E"), "{e}");
}

fn svc(protocol: &str, vip: &str, reals: &[(&str, u16)]) -> ServiceReport {
    let real = |(address, port): &(&str, u16)| RealReport {
        address: (*address).into(),
        port: *port,
        forward: "dr".into(),
        weight: 1,
        configured_weight: 1,
        health: "unchecked".into(),
        last_check: None,
        u_threshold: 0,
        l_threshold: 0,
        overloaded: false,
        draining: false,
        drain_deadline_s: None,
        slow_start: 0,
        ramp_left_s: None,
        tun_type: String::new(),
        tun_port: 0,
        tun_csum: String::new(),
        persist_conns: 0,
        active: 0,
        inactive: 0,
        conns: 0,
        pkts_in: 0,
        pkts_out: 0,
        bytes_in: 0,
        bytes_out: 0,
        rates: Default::default(),
    };
    ServiceReport {
        protocol: protocol.into(),
        vip: vip.into(),
        port: 80,
        scheduler: "wlc".into(),
        sched_flags: String::new(),
        persistence: 0,
        netmask: 32,
        ops: false,
        fwmark: 0,
        pe: String::new(),
        laddrs: vec![],
        lports: String::new(),
        toa: false,
        proxy_protocol: String::new(),
        uoa: false,
        synproxy: false,
        conns: 0,
        pkts_in: 0,
        pkts_out: 0,
        bytes_in: 0,
        bytes_out: 0,
        rates: Default::default(),
        held: true,
        reals: reals.iter().map(real).collect(),
    }
}

#[test]
fn scheduler_flags_list_and_save_as_ipvsadm() {
    let mut s = svc("tcp", "10.0.0.1", &[]);
    s.scheduler = "mh".into();
    s.sched_flags = "mh-fallback,mh-port".into();
    assert!(table(&[s.clone()]).contains("TCP  10.0.0.1:80 mh (mh-fallback,mh-port)\n"), "{}", table(&[s.clone()]));
    assert!(
        save(&[s.clone()]).starts_with("-A -t 10.0.0.1:80 -s mh -b mh-fallback,mh-port\n"),
        "{}",
        save(&[s.clone()])
    );
    s.persistence = 300;
    assert!(table(&[s.clone()]).contains("mh (mh-fallback,mh-port) persistent 300\n"));
    let c = parse("-A -t 10.0.0.1:80 -s sh -b sh-fallback,sh-port").unwrap();
    match request(&c).unwrap() {
        Some(Request::AddService { sched_flags, .. }) => {
            assert_eq!(sched_flags.as_deref(), Some("sh-fallback,sh-port"))
        }
        other => panic!("{other:?}"),
    }
}

/// ipvsadm prints " ops" after the persistence in -L and " -o" at the end of -S's -A line.
#[test]
fn one_packet_scheduling_lists_and_saves_as_ipvsadm() {
    let mut s = svc("udp", "10.0.0.1", &[]);
    s.port = 53;
    s.scheduler = "rr".into();
    s.ops = true;
    assert!(table(&[s.clone()]).contains("UDP  10.0.0.1:53 rr ops\n"), "{}", table(&[s.clone()]));
    s.persistence = 60;
    assert!(table(&[s.clone()]).contains("UDP  10.0.0.1:53 rr persistent 60 ops\n"), "{}", table(&[s.clone()]));
    assert!(save(&[s.clone()]).starts_with("-A -u 10.0.0.1:53 -s rr -p 60 -o\n"), "{}", save(&[s.clone()]));
    for (line, want) in [("-A -u 10.0.0.1:53 -o", Some(true)), ("-E -u 10.0.0.1:53 --ops=off", Some(false))] {
        match request(&parse(line).unwrap()).unwrap() {
            Some(Request::AddService { ops, .. } | Request::EditService { ops, .. }) => assert_eq!(ops, want, "{line}"),
            other => panic!("{other:?}"),
        }
    }
    match request(&parse("-E -u 10.0.0.1:53 -s wlc").unwrap()).unwrap() {
        Some(Request::EditService { ops, .. }) => assert_eq!(ops, None, "-E without -o leaves it"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn listings_sort_as_ipvsadm_unless_nosort() {
    let mut l = vec![
        svc("udp", "10.0.0.1", &[]),
        svc("tcp", "10.0.0.9", &[]),
        svc("tcp", "10.0.0.10", &[("10.0.1.12", 80), ("10.0.1.2", 81), ("10.0.1.2", 80)]),
    ];
    sort_listing(&mut l);
    let order: Vec<String> = l.iter().map(|s| format!("{} {}", s.protocol, s.vip)).collect();
    assert_eq!(order, ["tcp 10.0.0.9", "tcp 10.0.0.10", "udp 10.0.0.1"], "numeric order, TCP before UDP");
    let reals: Vec<String> = l[1].reals.iter().map(|r| format!("{}:{}", r.address, r.port)).collect();
    assert_eq!(reals, ["10.0.1.2:80", "10.0.1.2:81", "10.0.1.12:80"]);
}

#[test]
fn ipv6_services_list_save_and_sort_as_ipvsadm() {
    let mut v6 = svc("tcp", "2001:db8::100", &[("2001:db8:1::12", 8080), ("2001:db8:1::11", 8080)]);
    v6.netmask = 128;
    let mut l = vec![v6.clone(), svc("udp", "10.0.0.1", &[])];
    sort_listing(&mut l);
    assert_eq!(l[0].vip, "10.0.0.1", "IPv4 before IPv6, as ipvsadm sorts by family first");
    let t = table(&l);
    assert!(t.contains("TCP  [2001:db8::100]:80 wlc\n"), "{t}");
    assert!(t.contains("  -> [2001:db8:1::11]:8080"), "{t}");
    assert!(t.find("[2001:db8:1::11]") < t.find("[2001:db8:1::12]"), "reals sorted: {t}");
    v6.persistence = 300;
    v6.netmask = 64;
    assert!(table(&[v6.clone()]).contains("wlc persistent 300 mask 64\n"));
    let saved = save(&[v6.clone()]);
    assert!(saved.starts_with("-A -t [2001:db8::100]:80 -s wlc -p 300 -M 64\n"), "{saved}");
    assert!(saved.contains("-a -t [2001:db8::100]:80 -r [2001:db8:1::12]:8080 -g -w 1\n"), "{saved}");
    // What -S writes, -R reads.
    for line in saved.lines() {
        let c = Cli::try_parse_from(std::iter::once("rvsadm").chain(line.split_whitespace())).unwrap();
        assert!(request(&c).unwrap().is_some(), "{line}");
    }
    let c = parse("-A -t [2001:db8::100]:80 -s wlc -p 300 -M 64").unwrap();
    match request(&c).unwrap() {
        Some(Request::AddService { service, netmask, .. }) => {
            assert_eq!(service.key().unwrap().vip, "2001:db8::100".parse::<std::net::IpAddr>().unwrap());
            assert_eq!(netmask.as_deref(), Some("64"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn thresholds_and_persistent_conn_listings_as_ipvsadm_with_the_real_marks() {
    let mut s = svc("tcp", "172.25.116.175", &[("192.168.1.180", 80), ("192.168.1.182", 80)]);
    s.scheduler = "rr".into();
    s.reals[1].u_threshold = 10000;
    s.reals[1].l_threshold = 100;
    s.reals[1].active = 7;
    s.reals[1].persist_conns = 3;
    let t = real_columns_table(std::slice::from_ref(&s), "Uthreshold Lthreshold ActiveConn InActConn", |r| {
        format!("{:<10} {:<10} {:<10} {:<10}", r.u_threshold, r.l_threshold, r.active, r.inactive)
    });
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[1], "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn");
    assert_eq!(lines[3], "TCP  172.25.116.175:80 rr");
    assert_eq!(lines[4], "  -> 192.168.1.180:80             0          0          0          0         ");
    assert_eq!(lines[5], "  -> 192.168.1.182:80             10000      100        7          0         ");
    s.reals[1].overloaded = true;
    let plain = table(std::slice::from_ref(&s));
    assert!(plain.lines().nth(5).unwrap().ends_with(" overloaded"), "{plain}");
    assert!(!plain.lines().nth(4).unwrap().contains("overloaded"), "{plain}");
    let saved = save(std::slice::from_ref(&s));
    assert!(saved.contains("-a -t 172.25.116.175:80 -r 192.168.1.182:80 -g -w 1 -x 10000 -y 100\n"), "{saved}");
    let p = parse("-a -t 10.0.0.1:80 -r 10.0.1.1 -x 5 -y 2").unwrap();
    assert_eq!((p.u_threshold, p.l_threshold), (Some(5), Some(2)));
    assert!(parse("-L -n --thresholds").unwrap().thresholds);
    assert!(parse("-L -n --persistent-conn").unwrap().persistent_conn);
}

/// rvs's own real-server options: --drain [--deadline], --slow-start; listed after the row,
/// saved by -S so that -R brings them back.
#[test]
fn drain_and_slow_start_parse_list_and_save() {
    let c = parse("-e -t 10.0.0.1:80 -r 10.0.1.1 --drain --deadline 30").unwrap();
    match request(&c).unwrap() {
        Some(Request::EditReal { drain, deadline, .. }) => assert_eq!((drain, deadline), (true, Some(30))),
        other => panic!("{other:?}"),
    }
    assert!(parse("-e -t 10.0.0.1:80 -r 10.0.1.1 --deadline 30").is_err(), "--deadline needs --drain");
    match request(&parse("-a -t 10.0.0.1:80 -r 10.0.1.1 -w 5 --slow-start 20").unwrap()).unwrap() {
        Some(Request::AddReal { slow_start, weight, .. }) => assert_eq!((slow_start, weight), (Some(20), Some(5))),
        other => panic!("{other:?}"),
    }
    let mut s = svc("tcp", "10.0.0.1", &[("10.0.1.1", 80), ("10.0.1.2", 80)]);
    s.reals[0].draining = true;
    s.reals[0].drain_deadline_s = Some(25);
    s.reals[0].weight = 0;
    s.reals[0].configured_weight = 3;
    s.reals[0].active = 4;
    s.reals[1].slow_start = 20;
    s.reals[1].ramp_left_s = Some(15);
    s.reals[1].weight = 26;
    s.reals[1].configured_weight = 100;
    let t = table(&[s.clone()]);
    assert!(t.contains(" draining (4 conns, deadline in 25s)\n"), "{t}");
    assert!(t.contains(" slow-start (15s left of 20s, weight 26 of 100)\n"), "{t}");
    let saved = save(&[s]);
    assert!(saved.contains("-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 3 --drain --deadline 25\n"), "{saved}");
    assert!(saved.contains("-a -t 10.0.0.1:80 -r 10.0.1.2:80 -g -w 100 --slow-start 20\n"), "{saved}");
    for line in saved.lines() {
        assert!(request(&parse(line).unwrap()).is_ok(), "-R takes back {line}");
    }
}

/// ipvsadm's tunnel options: parsed into the request, listed with --tun-info in ipvsadm's
/// columns, saved by -S as ipvsadm's print_tunnel_rule writes them.
#[test]
fn tunnel_options_parse_list_and_save_as_ipvsadm() {
    let c = parse("-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 6080 --tun-csum").unwrap();
    match request(&c).unwrap() {
        Some(Request::AddReal { tun_type, tun_port, tun_csum, .. }) => {
            assert_eq!((tun_type.as_deref(), tun_port, tun_csum.as_deref()), (Some("gue"), Some(6080), Some("csum")))
        }
        other => panic!("{other:?}"),
    }
    assert!(parse("-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-csum --tun-nocsum").is_err(), "one checksum option");
    let mut s = svc("tcp", "10.0.0.1", &[("10.0.1.1", 80), ("10.0.1.2", 80), ("10.0.1.3", 80), ("10.0.1.4", 80)]);
    for (r, (t, p, c)) in s.reals.iter_mut().zip([("gue", 6080, "nocsum"), ("gre", 0, "csum"), ("ipip", 0, "nocsum")]) {
        r.forward = "tun".into();
        (r.tun_type, r.tun_port, r.tun_csum) = (t.into(), p, c.into());
    }
    let t = tunnel_table(&[s.clone()]);
    assert!(t.contains("  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"), "{t}");
    assert!(
        t.contains("  -> 10.0.1.1:80                  Tunnel  gue:6080:-c   1      0          0         \n"),
        "{t}"
    );
    assert!(t.contains("  -> 10.0.1.2:80                  Tunnel  gre:+c        1 "), "{t}");
    assert!(t.contains("  -> 10.0.1.3:80                  Tunnel  ipip          1 "), "{t}");
    assert!(t.contains("  -> 10.0.1.4:80                  Route   n/a           1 "), "{t}");
    let saved = save(&[s]);
    for want in [
        "-r 10.0.1.1:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum\n",
        "-r 10.0.1.2:80 -i -w 1 --tun-type gre --tun-csum\n",
        "-r 10.0.1.3:80 -i -w 1 --tun-type ipip\n",
        "-r 10.0.1.4:80 -g -w 1\n",
    ] {
        assert!(saved.contains(want), "{want}: {saved}");
    }
    for line in saved.lines() {
        assert!(request(&parse(line).unwrap()).is_ok(), "-R takes back {line}");
    }
}

/// IPVS's knobs: `--set-knob NAME VALUE` and `-L --knobs`.
#[test]
fn knobs_are_set_by_name_and_listed() {
    match request(&parse("--set-knob conn_reuse_mode 2").unwrap()).unwrap() {
        Some(Request::SetKnob { name, value }) => assert_eq!((name.as_str(), value.as_str()), ("conn_reuse_mode", "2")),
        other => panic!("{other:?}"),
    }
    assert!(parse("--set-knob conn_reuse_mode").is_err(), "a name and a value");
    assert!(parse("-L --knobs").unwrap().knobs);
}

/// Firewall-mark services as ipvsadm lists and saves them (`FWM  1`, `-A -f 1 -6`), real
/// servers of port 0 restored as written, and the classifier's rules as `--add-mark-rule`
/// lines that parse back to the same request.
#[test]
fn firewall_mark_services_and_rules_list_save_and_parse_back() {
    let mut s = svc("fwmark", "0.0.0.0", &[("10.0.0.11", 0)]);
    s.port = 0;
    s.fwmark = 1;
    s.persistence = 300;
    s.reals[0].forward = "nat".into();
    let t = table(&[s.clone()]);
    assert!(t.contains("FWM  1 wlc persistent 300\n"), "{t}");
    assert!(t.contains("  -> 10.0.0.11:0 "), "{t}");
    let saved = save(&[s.clone()]);
    assert_eq!(saved, "-A -f 1 -s wlc -p 300\n-a -f 1 -r 10.0.0.11:0 -m -w 1\n");
    for line in saved.lines() {
        let req = request(&parse(line).unwrap()).unwrap();
        match req {
            Some(Request::AddService { service, .. }) => assert_eq!(service.key().unwrap().fwmark, 1, "{line}"),
            Some(Request::AddReal { service, address, .. }) => {
                assert_eq!(service.key().unwrap().fwmark, 1);
                assert_eq!(rvsd::control::proto::parse_real_addr(&address).unwrap().1, Some(0), "{line}");
            }
            other => panic!("{line}: {other:?}"),
        }
    }
    let mut v6 = s.clone();
    v6.vip = "::".into();
    v6.netmask = 128;
    assert!(table(&[v6.clone()]).contains("FWM  1 IPv6 wlc"), "{}", table(&[v6.clone()]));
    assert!(save(&[v6]).starts_with("-A -f 1 -6 -s wlc"));
    match request(&parse("-A -f 1 -6").unwrap()).unwrap() {
        Some(Request::AddService { service, .. }) => assert!(service.ipv6),
        other => panic!("{other:?}"),
    }
    let e = run(&parse("-A -t 10.0.0.1:80 -6").unwrap()).unwrap_err().to_string();
    assert!(e.starts_with("-6/--ipv6: only with -f"), "{e}");
    assert!(parse("-A -t 10.0.0.1:80 -f 1").is_err(), "one service");

    let rules = vec![
        MarkRuleSpec {
            mark: 1,
            protocol: Some("tcp".into()),
            destination: "10.0.0.100/32".into(),
            ports: Some("443".into()),
        },
        MarkRuleSpec { mark: 2, protocol: None, destination: "10.0.1.0/24".into(), ports: None },
    ];
    let saved = save_mark_rules(&rules);
    assert_eq!(
        saved,
        "--add-mark-rule -f 1 --proto tcp --dst 10.0.0.100/32 --dports 443\n--add-mark-rule -f 2 --dst 10.0.1.0/24\n"
    );
    for (line, want) in saved.lines().zip(&rules) {
        match request(&parse(line).unwrap()).unwrap() {
            Some(Request::AddMarkRule { rule }) => assert_eq!(&rule, want),
            other => panic!("{line}: {other:?}"),
        }
    }
    let listed = mark_rule_lines(&rules);
    assert!(listed.contains("1   tcp  10.0.0.100/32") && listed.contains("-> FWM 2"), "{listed}");
    let e = run(&parse("-L --dst 10.0.0.1").unwrap()).unwrap_err().to_string();
    assert!(e.starts_with("--dst/--dports"), "{e}");
}

/// SNAT rules: `--add-snat` lines parse to the request, `-S` writes what parses back, `-L
/// --snat` shows each rule with its counts; misplaced options are refused.
#[test]
fn snat_rules_parse_list_and_save() {
    use rvsd::control::snat_rules::{SnatPoolReport, SnatReport, SnatRuleSpec};
    let line = "--add-snat --source 10.1.0.0/24 --pool 198.18.0.50,198.18.0.51 --proto udp -F out --lports 2000-2999 --mapping address-and-port-dependent";
    let want = SnatRuleSpec {
        source: "10.1.0.0/24".into(),
        protocol: Some("udp".into()),
        out_port: Some("out".into()),
        pool: vec!["198.18.0.50".into(), "198.18.0.51".into()],
        ports: Some("2000-2999".into()),
        mapping: Some("address-and-port-dependent".into()),
        filtering: None,
    };
    match request(&parse(line).unwrap()).unwrap() {
        Some(Request::AddSnat { rule }) => assert_eq!(rule, want),
        other => panic!("{other:?}"),
    }
    let report = SnatReport {
        rule: want.clone(),
        conns: 3,
        pkts_out: 10,
        pkts_in: 8,
        bytes_out: 1000,
        bytes_in: 900,
        pool: vec![SnatPoolReport { address: "198.18.0.50".into(), ports_in_use: 2, exhausted: 0 }],
    };
    let saved = save_snat(std::slice::from_ref(&report));
    match request(&parse(saved.trim()).unwrap()).unwrap() {
        Some(Request::AddSnat { rule }) => assert_eq!(rule, want, "{saved}"),
        other => panic!("{other:?}"),
    }
    let listed = snat_lines(&[report]);
    assert!(listed.contains("  1  10.1.0.0/24 udp -> out  mapping address-and-port-dependent"), "{listed}");
    assert!(listed.contains("conns 3  out 10 pkts 1000 bytes  in 8 pkts 900 bytes"), "{listed}");
    assert!(listed.contains("pool 198.18.0.50  ports 2000-2999  in use 2  exhausted 0"), "{listed}");
    match request(&parse("--del-snat --source 10.1.0.0/24").unwrap()).unwrap() {
        Some(Request::DelSnat { rule }) => assert_eq!((rule.source.as_str(), rule.pool.len()), ("10.1.0.0/24", 0)),
        other => panic!("{other:?}"),
    }
    assert!(parse("--add-snat --source 10.1.0.0/24").is_err(), "a pool is needed");
    let e = run(&parse("-L --pool 198.18.0.50").unwrap()).unwrap_err().to_string();
    assert!(e.starts_with("--pool/--mapping/--filtering: only with --add-snat"), "{e}");
    assert!(parse("-L --snat").unwrap().snat);
}

/// SCTP services as ipvsadm writes them: `--sctp-service` (no letter), `SCTP` in -L, and -S
/// lines that parse back.
#[test]
fn sctp_services_parse_list_and_save_as_ipvsadm() {
    let s = svc("sctp", "10.0.0.1", &[("10.0.0.11", 80)]);
    let t = table(std::slice::from_ref(&s));
    assert!(t.contains("SCTP  10.0.0.1:80 wlc\n"), "{t}");
    let saved = save(&[s]);
    assert!(
        saved.starts_with("-A --sctp-service 10.0.0.1:80 -s wlc\n-a --sctp-service 10.0.0.1:80 -r 10.0.0.11:80 -g"),
        "{saved}"
    );
    for line in saved.lines() {
        match request(&parse(line).unwrap()).unwrap() {
            Some(Request::AddService { service, .. } | Request::AddReal { service, .. }) => {
                assert_eq!(service.key().unwrap().protocol, Protocol::Sctp, "{line}")
            }
            other => panic!("{line}: {other:?}"),
        }
    }
    let e = request(&parse("-A -t 10.0.0.1:80 --sctp-service 10.0.0.1:80").unwrap()).unwrap_err().to_string();
    assert!(e.contains("give one service"), "{e}");
}

/// FULLNAT: `--fullnat` on -a, DPVS's laddr verbs, `--lports`; -S writes the local addresses
/// before the real servers that need them; -L -c shows the local end.
#[test]
fn fullnat_verbs_parse_save_and_list() {
    let c = parse("-a -t 10.0.0.1:80 -r 10.1.0.11:8080 --fullnat -w 2").unwrap();
    match request(&c).unwrap() {
        Some(Request::AddReal { forward, .. }) => assert_eq!(forward.as_deref(), Some("fullnat")),
        other => panic!("{other:?}"),
    }
    assert!(parse("-a -t 10.0.0.1:80 -r 10.1.0.11 --fullnat -m").is_err(), "one method");
    let c = parse("--add-laddr -t 10.0.0.1:80 -z 10.0.0.201 -F p0").unwrap();
    match request(&c).unwrap() {
        Some(Request::AddLaddr { laddr, ifname, .. }) => {
            assert_eq!((laddr.as_str(), ifname.as_deref()), ("10.0.0.201", Some("p0")))
        }
        other => panic!("{other:?}"),
    }
    assert!(parse("--add-laddr -t 10.0.0.1:80").is_err(), "-z is needed");
    assert!(matches!(
        request(&parse("--del-laddr -t 10.0.0.1:80 -z 10.0.0.201").unwrap()).unwrap(),
        Some(Request::DelLaddr { .. })
    ));
    assert!(misplaced(&parse("-L -z 10.0.0.201").unwrap()).is_some());
    assert!(misplaced(&parse("-a -t 10.0.0.1:80 -r 10.1.0.11 --lports 1-2").unwrap()).is_some());
    match request(&parse("-A -t 10.0.0.1:80 --lports 40000-40999").unwrap()).unwrap() {
        Some(Request::AddService { lports, .. }) => assert_eq!(lports.as_deref(), Some("40000-40999")),
        other => panic!("{other:?}"),
    }
    let mut s = svc("tcp", "10.0.0.1", &[("10.1.0.11", 8080)]);
    s.reals[0].forward = "fullnat".into();
    s.laddrs = vec!["10.0.0.201".into()];
    s.lports = "40000-40999".into();
    s.toa = true;
    let saved = save(&[s.clone()]);
    assert!(
        saved.starts_with("-A -t 10.0.0.1:80 -s wlc --lports 40000-40999 --toa on\n--add-laddr -t 10.0.0.1:80 -z 10.0.0.201\n-a -t 10.0.0.1:80 -r 10.1.0.11:8080 --fullnat"),
        "{saved}"
    );
    assert!(table(&[s]).contains("FullNat"));
    let conn = |local: Option<&str>| ConnEntry {
        protocol: "tcp".into(),
        source: "203.0.113.7:40000".into(),
        virtual_: "10.0.0.1:80".into(),
        local: local.map(Into::into),
        destination: "10.1.0.11:8080".into(),
        state: "ESTABLISHED".into(),
        expires_in: 899,
        core: 0,
    };
    let plain = conn_lines(&[conn(None)]);
    assert!(plain.lines().nth(1).unwrap().ends_with("virtual               destination"), "{plain}");
    let both = conn_lines(&[conn(Some("10.0.0.201:1025")), conn(None)]);
    let rows: Vec<&str> = both.lines().collect();
    assert!(rows[1].ends_with("local                 destination"), "{both}");
    assert!(rows[2].contains("10.0.0.1:80           10.0.0.201:1025       10.1.0.11:8080"), "{both}");
    assert!(rows[3].contains("10.0.0.1:80           -                     10.1.0.11:8080"), "{both}");
    let l = laddr_lines(&[
        LaddrReport {
            service: "TCP 10.0.0.1:80".into(),
            address: "10.0.0.201".into(),
            draining: false,
            ports_in_use: 4,
            exhausted: 1,
        },
        LaddrReport {
            service: String::new(),
            address: "10.0.0.202".into(),
            draining: true,
            ports_in_use: 2,
            exhausted: 0,
        },
    ]);
    assert!(l.contains("TCP 10.0.0.1:80\n  -> 10.0.0.201                   4          1\n"), "{l}");
    assert!(l.contains("deleted, draining\n  -> 10.0.0.202"), "{l}");
}

/// Allow and deny lists: one edit at a time, prefixes given or read from a file (its bad line
/// named), for a service or the director.
#[test]
fn access_list_edits_parse_to_their_request() {
    match request(&parse("--add-deny 192.0.2.0/24,198.51.100.7 -t 10.0.0.1:80").unwrap()).unwrap() {
        Some(Request::EditAccess { service, list, add, prefixes }) => {
            assert!(service.is_some() && list == "deny" && add);
            assert_eq!(prefixes, ["192.0.2.0/24", "198.51.100.7"]);
        }
        other => panic!("{other:?}"),
    }
    let dir = std::env::temp_dir().join(format!("rvsadm-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("list.txt");
    std::fs::write(&f, "# list\n10.0.0.0/8\n2001:db8::1\n").unwrap();
    match request(&parse(&format!("--del-allow --from-file {}", f.display())).unwrap()).unwrap() {
        Some(Request::EditAccess { service, list, add, prefixes }) => {
            assert!(service.is_none() && list == "allow" && !add);
            assert_eq!(prefixes, ["10.0.0.0/8", "2001:db8::1/128"]);
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&f, "10.0.0.0/8\nbogus\n").unwrap();
    let e = request(&parse(&format!("--add-deny --from-file {}", f.display())).unwrap()).unwrap_err().to_string();
    assert!(e.contains("list.txt:2:") && e.contains("bogus"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(parse("--add-deny 1.2.3.4 --del-deny 1.2.3.4").is_err(), "one at a time");
    assert!(request(&parse("--add-deny").unwrap()).unwrap_err().to_string().contains("no prefix given"));
}

#[test]
fn the_syn_proxy_parses_as_dpvs_and_saves() {
    for (arg, want) in [("--synproxy on", true), ("-j enable", true), ("--synproxy off", false), ("-j disable", false)]
    {
        match request(&parse(&format!("-E -t 10.0.0.1:80 {arg}")).unwrap()).unwrap() {
            Some(Request::EditService { synproxy, .. }) => assert_eq!(synproxy, Some(want), "{arg}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(request(&parse("-A -t 10.0.0.1:80 --synproxy maybe").unwrap()).is_err());
    assert!(misplaced(&parse("-a -t 10.0.0.1:80 -r 10.1.0.11 --synproxy on").unwrap()).is_some());
    let mut s = svc("tcp", "10.0.0.1", &[("10.1.0.11", 8080)]);
    s.synproxy = true;
    assert!(save(&[s]).starts_with("-A -t 10.0.0.1:80 -s wlc --synproxy on\n"));
}
