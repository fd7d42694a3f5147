use super::*;
use rvs_core::service::Forward;
use rvsd::config::{Check, Config};

/// Where Debian's keepalived package (in tools/packages.txt) puts keepalived's own samples.
const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

/// rvs.toml with a dual-stack port in front of `imported`, parsed as rvsd parses it.
fn parse(imported: &Imported) -> Config {
    let cfg = format!(
        "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = [\"10.10.10.1/24\", \"ae00::2/64\"]\nexception = true\nexception_iface = \"x\"\n{}",
        imported.toml
    );
    Config::parse("imported.toml", &cfg).unwrap_or_else(|e| panic!("{e}\n{cfg}"))
}

fn sample(name: &str) -> Imported {
    let path = format!("{SAMPLES}/{name}");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (keepalived's samples: tools/install-deps.sh installs keepalived)"));
    import(&text)
}

fn check_of<'a>(c: &'a Config, addr: &str) -> &'a Check {
    let id = c.services.iter().flat_map(|s| &s.dests).find(|d| d.addr.to_string() == addr).expect(addr).id;
    &c.checks.iter().find(|(i, _)| *i == id).expect("a check").1
}

fn named(r: &Imported, what: &str) -> bool {
    r.skipped.iter().any(|l| l.contains(what))
}

/// Review defect 8, against keepalived's own sample files: each becomes services that rvsd
/// accepts, with keepalived's meaning (defaults, `retry` + 1 failures, inhibit_on_failure,
/// IPv6), and everything rvs cannot carry over is named with its line.
#[test]
fn keepalived_sample_files_import_with_their_meaning() {
    let mut files: Vec<_> = std::fs::read_dir(SAMPLES)
        .unwrap_or_else(|e| panic!("{SAMPLES}: {e} (tools/install-deps.sh installs keepalived)"))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("keepalived.conf."))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    for f in &files {
        let r = sample(f);
        let c = parse(&r);
        assert_eq!(c.services.len(), r.services, "{f}");
        assert!(r.skipped.iter().all(|l| l.starts_with("line ")), "{f}: {:?}", r.skipped);
    }

    // keepalived.conf.sample: HTTP_GET, connect_timeout 3, retry 3, delay_loop 6, no status_code.
    let r = sample("keepalived.conf.sample");
    let c = parse(&r);
    let s = &c.services[0];
    assert_eq!((s.vip.to_string(), s.port, s.scheduler.as_str(), s.persistence), ("10.10.10.2".into(), 1358, "rr", 50));
    assert_eq!((s.dests[0].forward, s.dests[0].port), (Forward::Nat, 1358));
    let ch = check_of(&c, "192.168.200.2");
    assert!(ch.http && ch.path == "/testurl3/test.jsp");
    assert_eq!(
        (ch.interval, ch.timeout, ch.fall, ch.rise, ch.remove),
        (6, 3, 4, 1, true),
        "retry 3: down at the 4th failure"
    );
    for what in ["sorry_server", "digest", "delay_before_retry", "no status_code"] {
        assert!(named(&r, what), "{what}: {:?}", r.skipped);
    }

    // keepalived.conf.inhibit: the same, but a failed server keeps its place at weight 0.
    let c = parse(&sample("keepalived.conf.inhibit"));
    assert!(!check_of(&c, "192.168.200.2").remove, "inhibit_on_failure quiesces");

    // keepalived.conf.IPv6: an IPv6 virtual server (its SMTP check named).
    let r = sample("keepalived.conf.IPv6");
    let c = parse(&r);
    assert_eq!((c.services[0].vip.to_string(), c.services[0].port), ("ae00::1".into(), 80));
    assert_eq!((c.services[0].dests[0].addr.to_string(), c.services[0].dests[0].port), ("ae00::10".into(), 25));
    assert!(named(&r, "SMTP_CHECK") && named(&r, "virtual_server_group"), "{:?}", r.skipped);

    // keepalived.conf.fwmark: a firewall-mark service (NAT, rr, persistence 900); its reals
    // keep each packet's port, and the note says the marks must become [[fwmark]] rules.
    let r = sample("keepalived.conf.fwmark");
    let c = parse(&r);
    let s = &c.services[0];
    assert_eq!((s.fwmark, s.vip.is_ipv4(), s.scheduler.as_str(), s.persistence), (1, true, "rr", 900));
    assert_eq!((s.dests[0].forward, s.dests[0].port), (Forward::Nat, 0));
    assert_eq!(check_of(&c, "192.168.201.100").port, Some(80), "connect_port kept");
    assert!(named(&r, "[[fwmark]] rules"), "{:?}", r.skipped);

    // Services rvs has no equivalent for are named, not imported.
    assert!(named(&sample("keepalived.conf.virtual_server_group"), "virtual_server group VSG_1"));
    let r = sample("keepalived.conf.status_code");
    assert!(named(&r, "SSL_GET"), "{:?}", r.skipped);
}

/// Review defect 8: what keepalived inherits and defaults, carried over exactly.
#[test]
fn inheritance_and_keepalived_defaults() {
    let r = import(
        r#"
virtual_server 10.10.10.3 80 {
    lb_algo wlc
    lvs_method DR
    retry 2
    connect_timeout 7
    inhibit_on_failure
    real_server 10.10.10.11 80 {
        lvs_method NAT          ! its own method
        retry 0
        TCP_CHECK {
            connect_timeout 2.5 ! fractions round up
        }
    }
    real_server 10.10.10.12 80 {
        inhibit_on_failure false
        HTTP_GET {
            url {
                path /health
                status_code 204
            }
        }
    }
    real_server 10.10.10.13 80 {
    }
}
virtual_server 10.10.10.4 81 {
    real_server 10.10.10.14 8081 {
        TCP_CHECK {
        }
    }
}
virtual_server 10.10.10.5 {
}
"#,
    );
    let c = parse(&r);
    assert_eq!(c.services.len(), 2, "{}", r.toml);
    let d = &c.services[0].dests;
    assert_eq!((d[0].forward, d[1].forward, d[2].forward), (Forward::Nat, Forward::DirectRoute, Forward::DirectRoute));
    let a = check_of(&c, "10.10.10.11");
    assert_eq!(
        (a.timeout, a.fall, a.rise, a.remove, a.http),
        (3, 1, 1, false, false),
        "retry 0 of its own, inhibit inherited"
    );
    let b = check_of(&c, "10.10.10.12");
    assert_eq!(
        (b.timeout, b.fall, b.remove, b.expect),
        (7, 3, true, 204),
        "inherited timeout and retry 2; inhibit off"
    );
    assert_eq!(b.interval, 60, "keepalived's delay_loop default");
    assert!(!c.checks.iter().any(|(id, _)| *id == d[2].id), "no checker, no check");
    let e = check_of(&c, "10.10.10.14");
    assert_eq!((e.interval, e.timeout, e.fall, e.rise, e.remove), (60, 5, 2, 1, true), "keepalived's defaults");
    assert!(named(&r, "connect_timeout 2.5: rounded to 3 s"), "{:?}", r.skipped);
    assert!(named(&r, "virtual_server 10.10.10.5 : rvs needs a port"), "{:?}", r.skipped);
}

/// keepalived's `ops` keyword: one-packet scheduling for a UDP service, ignored (and named)
/// for TCP as keepalived itself ignores it.
#[test]
fn ops_is_one_packet_scheduling_for_udp_services() {
    let r = import(
        "virtual_server 10.10.10.3 53 {\n    protocol UDP\n    ops\n    real_server 10.10.10.11 53 {\n    }\n}\n\
         virtual_server 10.10.10.3 80 {\n    ops\n    real_server 10.10.10.11 80 {\n    }\n}\n",
    );
    let c = parse(&r);
    assert!(c.services[0].ops && !c.services[1].ops, "{}", r.toml);
    assert!(named(&r, "line 8: ops: for UDP services only"), "{:?}", r.skipped);
}

/// A fwmark virtual server of the IPv6 family: from `ip_family inet6`, or from its real servers.
#[test]
fn an_ipv6_fwmark_service_takes_its_family() {
    for (conf, real) in [
        ("virtual_server fwmark 7 {\n ip_family inet6\n lb_kind DR\n}\n", None),
        (
            "virtual_server fwmark 7 {\n lb_kind DR\n real_server 2001:db8::11 {\n weight 2\n }\n}\n",
            Some("2001:db8::11"),
        ),
    ] {
        let r = import(conf);
        let c = parse(&r);
        assert_eq!((c.services[0].fwmark, c.services[0].vip.is_ipv6()), (7, true), "{}", r.toml);
        if let Some(a) = real {
            assert_eq!(c.services[0].dests[0].addr.to_string(), a);
        }
    }
}
