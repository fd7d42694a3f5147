//! rvs-demo: the README's main job. Builds a throw-away network-namespace lab, starts rvsd (the
//! DPDK dataplane on net_af_packet) with a NAT, a DR and a TUN service, sends real HTTP
//! requests from a real client through each, prints which real server answered, rvsd's
//! counters, and tears the lab down (also on failure).
//!
//! ```text
//!   front switch: client 198.18.0.2, rvsd p0 198.18.0.1,
//!                 DR reals 198.18.0.21/.22 (VIP .110 on lo), TUN reals .31/.32 (VIP .120 on tun0)
//!   back switch:  rvsd p1 198.19.0.1, NAT reals 198.19.0.11/.12 (default route via rvsd)
//! ```

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use rvs_lab::{conf, http, lab_scripts, unavailable, Lab, Ns};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "Run the rvs demo (NAT, DR and TUN through rvsd) in a throw-away netns lab (needs root)")]
struct Args {
    /// Requests per service.
    #[arg(long, default_value_t = 6)]
    requests: usize,
}

/// rvsd's configuration for the demo: three services, one per forwarding method.
fn config() -> String {
    let two = |a: &'static str, b: &'static str, forward: &'static str| {
        [a, b].map(|addr| conf::Real { addr, port: None, weight: 1, forward })
    };
    conf::dataplane(&[1])
        + &conf::port("front", 0, "p0", "198.18.0.1/24")
        + &conf::port("back", 1, "p1", "198.19.0.1/24")
        + &conf::service("tcp", "198.18.0.100", 80, "rr", &two("198.19.0.11", "198.19.0.12", "nat"))
        + &conf::service("tcp", "198.18.0.110", 80, "rr", &two("198.18.0.21", "198.18.0.22", "dr"))
        + &conf::service("tcp", "198.18.0.120", 80, "rr", &two("198.18.0.31", "198.18.0.32", "tun"))
}

fn suppress_arp(rs: &Ns) -> Result<()> {
    for (k, v) in [
        ("net.ipv4.conf.all.arp_ignore", "1"),
        ("net.ipv4.conf.all.arp_announce", "2"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
    ] {
        rs.sysctl(k, v)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(why) = unavailable() {
        bail!("cannot run the demo: {why}");
    }
    let mut lab = Lab::new()?;
    println!("rvs demo: building lab {} (network namespaces, veth pairs, two switches)", lab.id());
    let client = lab.host("client")?;
    let lb = lab.host("rvs")?;
    let mut front = lab.switch("front")?;
    let mut back = lab.switch("back")?;
    lab.plug(&mut front, &client, "eth0")?;
    lab.plug(&mut front, &lb, "p0")?;
    lab.plug(&mut back, &lb, "p1")?;
    client.addr("eth0", "198.18.0.2/24")?;
    client.route(&["default", "via", "198.18.0.1"])?;

    for (name, addr) in [("nat-rs1", "198.19.0.11"), ("nat-rs2", "198.19.0.12")] {
        let rs = lab.host(name)?;
        lab.plug(&mut back, &rs, "eth0")?;
        rs.addr("eth0", &format!("{addr}/24"))?;
        rs.route(&["default", "via", "198.19.0.1"])?;
        http::serve(&mut lab, &rs, name, addr, 80, 0)?;
    }
    for (name, addr) in [("dr-rs1", "198.18.0.21"), ("dr-rs2", "198.18.0.22")] {
        let rs = lab.host(name)?;
        lab.plug(&mut front, &rs, "eth0")?;
        rs.addr("eth0", &format!("{addr}/24"))?;
        suppress_arp(&rs)?;
        rs.addr("lo", "198.18.0.110/32")?;
        http::serve(&mut lab, &rs, name, "0.0.0.0", 80, 0)?;
    }
    let decap = lab_scripts().join("ipip_decap.py");
    for (name, addr) in [("tun-rs1", "198.18.0.31"), ("tun-rs2", "198.18.0.32")] {
        let rs = lab.host(name)?;
        lab.plug(&mut front, &rs, "eth0")?;
        rs.addr("eth0", &format!("{addr}/24"))?;
        suppress_arp(&rs)?;
        let h = lab.spawn(&rs, "python3", &["-u", decap.to_str().context("path")?, "tun0"])?;
        lab.wait_for_line(h, "ready", Duration::from_secs(10))?;
        rs.ip(&["link", "set", "tun0", "up"])?;
        rs.addr("tun0", "198.18.0.120/32")?;
        rs.sysctl("net.ipv4.conf.tun0.rp_filter", "0")?;
        http::serve(&mut lab, &rs, name, "0.0.0.0", 80, 0)?;
    }
    println!("  client 198.18.0.2 | rvsd on DPDK net_af_packet (front 198.18.0.1, back 198.19.0.1)");
    println!("  NAT 198.18.0.100 -> 198.19.0.11/.12 | DR 198.18.0.110 -> .21/.22 | TUN 198.18.0.120 -> .31/.32");

    let rvsd = lab.rvsd(&lb, &config())?;
    println!("  rvsd up");
    let mut results = Vec::new();
    for (mode, vip) in [("NAT", "198.18.0.100"), ("DR ", "198.18.0.110"), ("TUN", "198.18.0.120")] {
        let url = format!("http://{vip}/");
        http::wait_ready(&client, &url)?;
        let mut answers = Vec::new();
        for _ in 0..args.requests {
            let out = client.run("curl", &["-s", "-m", "10", &url], Duration::from_secs(15))?;
            ensure!(out.status.success(), "{mode}: curl {url} failed");
            answers.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for a in &answers {
            *by.entry(a.as_str()).or_default() += 1;
        }
        println!("  {mode} curl {url} x{}: answered by {}", args.requests, answers.join(", "));
        ensure!(by.len() == 2, "{mode}: expected both real servers to answer, got {by:?}");
        results.push(mode);
    }
    let adm = rvs_lab::workspace_bin("rvsadm")?;
    let listing = std::process::Command::new(adm).arg("--socket").arg(&rvsd.socket).args(["-L", "-n"]).output()?;
    ensure!(listing.status.success(), "rvsadm -L -n failed: {}", String::from_utf8_lossy(&listing.stderr));
    println!("  rvsadm -L -n:");
    for l in String::from_utf8_lossy(&listing.stdout).lines() {
        println!("    {l}");
    }
    let stats = lab.stop_rvsd(rvsd)?;
    println!("  rvsd counters:");
    for p in stats["ports"].as_array().context("ports")? {
        println!(
            "    port {:<5} rx {:>5} packets {:>8} bytes | tx {:>5} packets {:>8} bytes",
            p["name"].as_str().unwrap_or("?"),
            p["rx_packets"],
            p["rx_bytes"],
            p["tx_packets"],
            p["tx_bytes"]
        );
    }
    for s in stats["services"].as_array().context("services")? {
        let reals: Vec<String> = s["reals"]
            .as_array()
            .context("reals")?
            .iter()
            .map(|r| {
                format!(
                    "{} ({}) {} conns",
                    r["address"].as_str().unwrap_or("?"),
                    r["forward"].as_str().unwrap_or("?"),
                    r["conns"]
                )
            })
            .collect();
        println!(
            "    {} {}:{} {}: {} conns, {} packets in, {} out | {}",
            s["protocol"].as_str().unwrap_or("?"),
            s["vip"].as_str().unwrap_or("?"),
            s["port"],
            s["scheduler"].as_str().unwrap_or("?"),
            s["conns"],
            s["pkts_in"],
            s["pkts_out"],
            reals.join(", ")
        );
    }
    println!("    dataplane {} | drops {}", stats["dataplane"], stats["drops"]);
    drop(lab);
    println!(
        "rvs demo: OK: real HTTP through {} (NAT replies through rvsd; DR and TUN replies straight to the client); lab torn down",
        results.join(", ").replace(' ', "")
    );
    Ok(())
}
