//! Lab: a firewall-mark service (`ipvsadm -f 1`) through rvsd — the classic sticky set-up of
//! HTTP and a second port sharing one persistent service, so a client's connections to both
//! land on one real server.
//!
//! ```text
//! client 198.18.0.2 (+ sources .21-.28) --veth-- [p0  rvsd  p1] --switch-- rs1 198.19.0.11
//!                                                                      \-- rs2 198.19.0.12
//! ```
//! Each real server runs HTTP on 80 (its name as the page) and the line echo on 7. rvs.toml
//! marks tcp 198.18.0.100 ports 80 and 7 with 1 (`[[fwmark]]`); service `fwmark = 1` is rr,
//! persistent 300 s, over two NAT real servers without a port (each keeps the packet's port).
//! - The VIP is answered for by ARP (a rule's single address is a VIP): the client is on-link.
//! - From each of eight sources, an HTTP GET and an echo connection reach the same server,
//!   and the sources spread over both servers.
//! - `-L` shows `FWM  1 rr persistent 300`; `-S`, then `-C` and the rules deleted, `-R` and `-S`
//!   again give the same rules (services and classifier rules); the sticky pairs hold afterwards.
//! - `--del-mark-rule` of port 7 live: a new echo connection finds no service, HTTP still works.

use rvs_lab::admin::{ok, rvsadm};
use rvs_lab::hold::connect_once;
use rvs_lab::{require_lab, topo, Lab, Ns};
use std::time::Duration;

const VIP: &str = "198.18.0.100";

/// The name of the real server that answered an HTTP GET of the VIP from `src`.
fn http_from(client: &Ns, src: &str) -> Result<String, String> {
    let url = format!("http://{VIP}/");
    let out = client
        .run("curl", &["-s", "-m", "10", "--interface", src, "-H", "Connection: close", &url], Duration::from_secs(20))
        .map_err(|e| e.to_string())?;
    let body = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && !body.is_empty() {
        Ok(body)
    } else {
        Err(format!("curl from {src}: {} {}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

#[test]
fn a_firewall_mark_service_keeps_http_and_another_port_on_one_server() {
    require_lab!();
    let mut lab = Lab::new().unwrap();
    let sources: Vec<String> = (21..=28).map(|k| format!("198.18.0.{k}")).collect();
    let (client, lb, mut inside) = topo::nat_front(&mut lab, &sources).unwrap();
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let a = format!("198.19.0.{}", 11 + i);
        let rs = topo::real_server(&mut lab, &mut inside, name, &a, "198.19.0.1").unwrap();
        topo::echo_server(&mut lab, &rs, name, &a).unwrap();
        rvs_lab::http::serve(&mut lab, &rs, name, &a, 80, 1).unwrap();
    }
    let config = rvs_lab::conf::dataplane(&[1])
        + &rvs_lab::conf::port("out", 0, "p0", "198.18.0.1/24")
        + &rvs_lab::conf::port("in", 1, "p1", "198.19.0.1/24")
        + "[[fwmark]]\nmark = 1\nprotocol = \"tcp\"\ndestination = \"198.18.0.100\"\nports = [80, 7]\n\n\
           [[service]]\nfwmark = 1\nscheduler = \"rr\"\npersistence = 300\n\
             [[service.real]]\n  address = \"198.19.0.11\"\n  forward = \"nat\"\n\
             [[service.real]]\n  address = \"198.19.0.12\"\n  forward = \"nat\"\n";
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    let s = rvsd.socket.clone();
    let listing = ok(&s, &["-L", "-n"]);
    assert!(listing.contains("FWM  1 rr persistent 300\n"), "{listing}");
    assert!(listing.contains("  -> 198.19.0.11:0"), "{listing}");

    let pairs = |lab_note: &str| -> Vec<String> {
        let mut seen = Vec::new();
        for src in &sources {
            let web = http_from(&client, src).unwrap_or_else(|e| panic!("{lab_note}: {e}"));
            let echo =
                connect_once(&client, VIP, 7, src).unwrap_or_else(|e| panic!("{lab_note}: echo from {src}: {e}"));
            assert_eq!(web, echo, "{lab_note}: {src}'s HTTP and echo connections share its server");
            seen.push(web);
        }
        seen
    };
    let first = pairs("first round");
    assert!(first.contains(&"rs1".to_owned()) && first.contains(&"rs2".to_owned()), "sources spread: {first:?}");
    let json: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "-n", "--json"])).unwrap();
    assert_eq!(json["services"][0]["fwmark"], 1, "{json}");
    assert_eq!(json["services"][0]["conns"], 16, "every connection on the mark's service: {json}");

    // -S, -C, -R: the same rules come back, services and classifier rules alike.
    let saved = ok(&s, &["-S", "-n"]);
    assert!(saved.contains("-A -f 1 -s rr -p 300\n"), "{saved}");
    assert!(saved.contains("-a -f 1 -r 198.19.0.11:0 -m -w 1\n"), "{saved}");
    assert!(saved.contains("--add-mark-rule -f 1 --proto tcp --dst 198.18.0.100/32 --dports 80\n"), "{saved}");
    ok(&s, &["-C"]);
    for rule in ["80", "7"] {
        ok(&s, &["--del-mark-rule", "-f", "1", "--proto", "tcp", "--dst", VIP, "--dports", rule]);
    }
    assert_eq!(ok(&s, &["-S", "-n"]), "", "cleared");
    let (code, _, err) = rvsadm(&s, &["-R"], &saved);
    assert_eq!(code, 0, "-R: {err}");
    assert_eq!(ok(&s, &["-S", "-n"]), saved, "-S then -R round-trips");
    let again = pairs("after -R");
    assert!(again.contains(&"rs1".to_owned()) && again.contains(&"rs2".to_owned()), "{again:?}");

    // One rule deleted live: port 7 has no service any more, port 80 still has.
    ok(&s, &["--del-mark-rule", "-f", "1", "--proto", "tcp", "--dst", VIP, "--dports", "7"]);
    let rules = ok(&s, &["-L", "--mark-rules"]);
    assert!(rules.contains("198.18.0.100/32") && !rules.contains("ports 7 "), "{rules}");
    assert!(connect_once(&client, VIP, 7, &sources[0]).is_err(), "no rule, no service for port 7");
    assert_eq!(http_from(&client, &sources[0]).as_deref(), Ok(first[0].as_str()));

    lab.stop_rvsd(rvsd).unwrap();
}
