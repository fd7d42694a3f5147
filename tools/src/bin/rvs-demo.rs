//! rvs-demo: the README's main job. Builds a netns lab, starts rvs's DPDK dataplane on
//! net_af_packet in the middle, sends real traffic through it, prints what it proved and the
//! dataplane's counters, and tears the lab down (also on failure).
//!
//! Today it runs rvs-bridge (the port layer, L2); the load-balancing demo replaces it when
//! rvsd lands.

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use rvs_lab::{unavailable, workspace_bin, Lab};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Run the rvs demo in a throw-away network-namespace lab (needs root)")]
struct Args {
    /// HTTP requests to send through the dataplane.
    #[arg(long, default_value_t = 20)]
    requests: u32,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(why) = unavailable() {
        bail!("cannot run the demo: {why}");
    }
    let bridge = workspace_bin("rvs-bridge")?;
    let mut lab = Lab::new()?;
    println!("rvs demo: lab {}", lab.id());
    let client = lab.host("client")?;
    let mid = lab.host("rvs")?;
    let server = lab.host("server")?;
    lab.veth(&client, "eth0", &mid, "p0")?;
    lab.veth(&mid, "p1", &server, "eth0")?;
    client.addr("eth0", "198.18.0.1/24")?;
    server.addr("eth0", "198.18.0.2/24")?;
    println!("  client 198.18.0.1 --veth-- [rvs: DPDK net_af_packet p0 <-> p1] --veth-- server 198.18.0.2");

    let h = lab.spawn(
        &mid,
        bridge.to_str().context("path")?,
        &["--port", "net_af_packet0,iface=p0", "--port", "net_af_packet1,iface=p1"],
    )?;
    lab.wait_for_line(h, "rvs-bridge: forwarding", Duration::from_secs(20))?;
    println!("  rvs-bridge up (EAL --no-huge, 2 af_packet ports)");

    let out = client.run("ping", &["-c", "3", "-i", "0.2", "-W", "2", "198.18.0.2"], Duration::from_secs(15))?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "ping through rvs failed:\n{text}");
    let summary = text.lines().find(|l| l.contains("received")).unwrap_or_default();
    println!("  ping client -> server through rvs: {summary}");

    // A real HTTP server on the far side, real curl on the near side.
    std::fs::create_dir_all(format!("/tmp/{}-www", lab.id()))?;
    let www = format!("/tmp/{}-www", lab.id());
    std::fs::write(format!("{www}/index.html"), "hello from the real server behind rvs\n")?;
    let _srv =
        lab.spawn(&server, "python3", &["-m", "http.server", "80", "--bind", "198.18.0.2", "--directory", &www])?;
    let started = Instant::now();
    let mut ok = 0;
    let mut body = String::new();
    while ok < args.requests && started.elapsed() < Duration::from_secs(60) {
        let out = client.run("curl", &["-sS", "-m", "5", "http://198.18.0.2/index.html"], Duration::from_secs(10))?;
        if out.status.success() {
            ok += 1;
            body = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let _ = std::fs::remove_dir_all(&www);
    ensure!(ok == args.requests, "only {ok} of {} HTTP requests succeeded", args.requests);
    println!("  curl http://198.18.0.2/ through rvs: {ok}/{} OK, body {body:?}", args.requests);

    let lines = lab.stop(h, Duration::from_secs(10))?;
    for l in lines.iter().filter(|l| l.starts_with("rvs-bridge: port")) {
        println!("  {}", l.trim_start_matches("rvs-bridge: "));
    }
    ensure!(
        lines.iter().any(|l| l.contains("stopped cleanly")),
        "rvs-bridge did not stop cleanly:\n{}",
        lines.join("\n")
    );
    drop(lab);
    println!("rvs demo: OK: real ICMP and HTTP crossed rvs's DPDK dataplane; lab torn down");
    Ok(())
}
