//! rvs-compare: rvsd (NAT) side by side with what users would pick instead, in one lab, under
//! the same load, in one run: the kernel's nftables NAT (`dnat to numgen inc mod 2 map`),
//! HAProxy in TCP mode, and nginx's stream proxy.
//!
//! The lab is the NAT lab of the tests (`rvs_lab::topo::nat_pair`): a client, the director's
//! namespace, two real servers running nginx (answering a short body, keep-alive). Each
//! contender in turn owns the director's namespace; `wrk` on the client drives
//! `http://VIP/` over keep-alive connections for the same time with the same connections, so
//! what differs is only the balancer. Everything shares this machine's CPUs. rvsd runs twice:
//! on `net_af_packet` ports (`rvsd`: each packet is copied through the kernel's TPACKET rings
//! both ways, where nftables stays in the kernel) and on `net_af_xdp` ports (`rvsd-xdp`: an XDP
//! program hands frames to rvsd's socket, no skb), as a host without a DPDK NIC would run it.
//! The figures compare set-ups on this lab, not rvs on a NIC. rvsd's worker polls, so it holds
//! one of the machine's CPUs whatever the load, where nftables works in the softirq of whichever
//! CPU the packet came on; `nftables-cpu` runs nftables again with a busy loop holding rvsd's
//! worker CPU, the same CPU budget for the client, servers and kernel. Needs root.

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use rvs_lab::conf::Real;
use rvs_lab::{conf, http, topo, Lab, Ns};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "rvsd (NAT) against nftables, HAProxy and nginx stream: requests/s and latency in one lab")]
struct Args {
    /// Seconds of load per contender.
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Concurrent keep-alive connections (wrk -c).
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Contenders, in order (rvsd first: ratios are against it).
    #[arg(long, value_delimiter = ',', default_value = "rvsd,rvsd-xdp,nftables,nftables-cpu,haproxy,nginx")]
    only: Vec<String>,
    /// Seconds of 64-byte UDP from `rvs-gen` per contender that balances UDP (0: none).
    #[arg(long, default_value_t = 5.0)]
    pps_seconds: f64,
    /// Write the results as the `compare` section of this markdown file.
    #[arg(long)]
    write: Option<PathBuf>,
    /// Also write each contender's figures as a JSON line to this file (for the targets table).
    #[arg(long)]
    json: Option<PathBuf>,
}

const VIP: &str = "198.18.0.100";
/// The CPU rvsd's one worker polls on (`conf::dataplane(&[WORKER_CPU])`).
const WORKER_CPU: u32 = 1;
const RS: [&str; 2] = ["198.19.0.11", "198.19.0.12"];

#[derive(Debug, Clone, serde::Serialize)]
struct Figures {
    name: String,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// Requests each real server answered (from a check run after the load).
    split: (usize, usize),
    /// 64-byte UDP: what the generator sent and what reached the real servers (packets/s).
    pps: Option<(f64, f64)>,
}

/// Packets both real servers' interfaces have received.
fn rs_rx(t: &topo::NatPair) -> Result<u64> {
    let mut n = 0;
    for (ns, _, _) in &t.servers {
        let v: serde_json::Value = serde_json::from_str(&ns.ip(&["-j", "-s", "link", "show", "eth0"])?)?;
        n += v[0]["stats64"]["rx"]["packets"].as_u64().context("ip -s -j: no rx packets")?;
    }
    Ok(n)
}

/// 64-byte UDP to VIP:53 from rvs-gen on the client's veth for `--pps-seconds`: (sent/s,
/// reached the real servers/s).
fn pps(args: &Args, t: &topo::NatPair) -> Result<Option<(f64, f64)>> {
    if args.pps_seconds <= 0.0 {
        return Ok(None);
    }
    let gen = rvs_lab::workspace_bin("rvs-gen")?;
    let mac = t.lb.mac("p0")?;
    let secs = args.pps_seconds.to_string();
    let before = rs_rx(t)?;
    let out = t.client.run(
        gen.to_str().context("path")?,
        &[
            "--device",
            "net_af_packet0,iface=eth0",
            "--src",
            "198.18.0.2",
            "--dst",
            VIP,
            "--dport",
            "53",
            "--dst-mac",
            &mac,
            "--flows",
            "1000",
            "--seconds",
            &secs,
            "--cpu",
            "0",
        ],
        Duration::from_secs_f64(args.pps_seconds + 60.0),
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "rvs-gen failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(Duration::from_millis(300)); // what is still in flight
    let reached = rs_rx(t)? - before;
    let line = text.lines().find_map(|l| l.strip_prefix("rvs-gen: ")).context("no rvs-gen report")?;
    let r: serde_json::Value = serde_json::from_str(line)?;
    let secs = r["seconds"].as_f64().context("seconds")?;
    Ok(Some((r["pps"].as_f64().context("pps")?, reached as f64 / secs)))
}

/// A busy loop pinned to [`WORKER_CPU`], as rvsd's polling worker holds it; killed on drop.
struct Spinner(std::process::Child);

impl Drop for Spinner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spin_on_worker_cpu() -> Result<Spinner> {
    let child = std::process::Command::new("taskset")
        .args(["-c", &WORKER_CPU.to_string(), "sh", "-c", "while :; do :; done"])
        .spawn()
        .context("taskset (util-linux) for the busy loop")?;
    Ok(Spinner(child))
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// wrk's duration text (`850.00us`, `1.20ms`, `2.01s`) in ms.
fn ms(t: &str) -> Option<f64> {
    let (num, mul) = if let Some(v) = t.strip_suffix("us") {
        (v, 1e-3)
    } else if let Some(v) = t.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = t.strip_suffix('s') {
        (v, 1e3)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|x| x * mul)
}

/// Requests/s, p50 and p99 latency (ms) and errors from wrk's `--latency` report.
fn parse_wrk(out: &str) -> Result<(f64, f64, f64, u64)> {
    let mut rps = None;
    let (mut p50, mut p99, mut errors) = (None, None, 0u64);
    for line in out.lines().map(str::trim) {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["Requests/sec:", v] => rps = v.parse::<f64>().ok(),
            ["50%", v] => p50 = ms(v),
            ["99%", v] => p99 = ms(v),
            ["Non-2xx", "or", "3xx", "responses:", v] => errors += v.parse::<u64>().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                errors += rest.iter().filter_map(|x| x.trim_end_matches(',').parse::<u64>().ok()).sum::<u64>();
            }
            _ => {}
        }
    }
    match (rps, p50, p99) {
        (Some(r), Some(a), Some(b)) => Ok((r, a, b, errors)),
        _ => bail!("could not read wrk's report:\n{out}"),
    }
}

fn wrk(args: &Args, client: &Ns) -> Result<(f64, f64, f64, u64)> {
    let (t, c, d) = (args.threads.to_string(), args.connections.to_string(), format!("{}s", args.seconds));
    let url = format!("http://{VIP}/");
    let out = client.run(
        "wrk",
        &["-t", &t, "-c", &c, "-d", &d, "--timeout", "5s", "--latency", &url],
        Duration::from_secs(u64::from(args.seconds) + 60),
    )?;
    ensure!(out.status.success(), "wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    parse_wrk(&String::from_utf8_lossy(&out.stdout))
}

/// nginx answering `name` on `addr:80` in `ns`, keep-alive, no logs; returns its handle.
fn nginx_server(lab: &mut Lab, dir: &Path, ns: &Ns, name: &str, addr: &str) -> Result<usize> {
    let d = dir.join(name);
    std::fs::create_dir_all(&d)?;
    let dp = d.display();
    let cfg = format!(
        "worker_processes 1;\ndaemon off;\npid {dp}/nginx.pid;\nerror_log stderr warn;\nevents {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {dp}; proxy_temp_path {dp}; fastcgi_temp_path {dp};\n  \
         uwsgi_temp_path {dp}; scgi_temp_path {dp};\n  keepalive_requests 1000000;\n  \
         server {{ listen {addr}:80; location / {{ return 200 \"{name}\\n\"; }} }}\n}}\n"
    );
    std::fs::write(d.join("nginx.conf"), cfg)?;
    let conf = d.join("nginx.conf");
    let h = lab.spawn(ns, "nginx", &["-p", &dp.to_string(), "-e", "stderr", "-c", conf.to_str().context("path")?])?;
    for _ in 0..100 {
        let out = ns.run("curl", &["-s", "-m", "1", &format!("http://{addr}/")], Duration::from_secs(3))?;
        if String::from_utf8_lossy(&out.stdout).trim() == name {
            return Ok(h);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nginx on {addr} never answered")
}

/// How many of `n` fresh connections each real server answered.
fn split(client: &Ns, n: usize) -> Result<(usize, usize)> {
    let t = http::tally(client, &format!("http://{VIP}/"), n)?;
    Ok((t.get("rs1").copied().unwrap_or(0), t.get("rs2").copied().unwrap_or(0)))
}

/// Gives the director's namespace the addresses a kernel balancer needs (rvsd owns the ports
/// itself when it runs): the two networks' DIPs and the VIP.
fn kernel_addresses(lb: &Ns, on: bool) -> Result<()> {
    let verb = if on { "add" } else { "del" };
    for (dev, cidr) in [("p0", "198.18.0.1/24"), ("p0", &format!("{VIP}/32")), ("p1", "198.19.0.1/24")] {
        lb.ip(&["addr", verb, cidr, "dev", dev])?;
    }
    Ok(())
}

/// The load on whichever balancer holds the VIP now: wrk, the split of fresh connections, and
/// (for the UDP balancers) rvs-gen's datagrams.
fn measure(args: &Args, t: &topo::NatPair, name: &str) -> Result<Figures> {
    http::wait_ready(&t.client, &format!("http://{VIP}/"))?;
    let (rps, p50_ms, p99_ms, errors) = wrk(args, &t.client)?;
    let split = split(&t.client, 20)?;
    let pps = if matches!(name, "rvsd" | "rvsd-xdp" | "nftables" | "nftables-cpu") { pps(args, t)? } else { None };
    Ok(Figures { name: name.to_owned(), rps, p50_ms, p99_ms, errors, split, pps })
}

fn run_one(args: &Args, lab: &mut Lab, t: &topo::NatPair, dir: &Path, name: &str) -> Result<Figures> {
    match name {
        "rvsd" | "rvsd-xdp" => {
            let port = if name == "rvsd" { conf::port } else { conf::port_xdp };
            let toml = conf::dataplane(&[WORKER_CPU])
                + &port("out", 0, "p0", "198.18.0.1/24")
                + &port("in", 1, "p1", "198.19.0.1/24")
                + &conf::service(
                    "tcp",
                    VIP,
                    80,
                    "rr",
                    &[
                        Real { addr: RS[0], port: None, weight: 1, forward: "nat" },
                        Real { addr: RS[1], port: None, weight: 1, forward: "nat" },
                    ],
                )
                + &conf::service(
                    "udp",
                    VIP,
                    53,
                    "rr",
                    &[
                        Real { addr: RS[0], port: None, weight: 1, forward: "nat" },
                        Real { addr: RS[1], port: None, weight: 1, forward: "nat" },
                    ],
                );
            let r = lab.rvsd(&t.lb, &toml)?;
            let f = measure(args, t, name);
            let stats = lab.stop_rvsd(r)?;
            let f = f?;
            let fwd = stats["dataplane"]["forwarded"].as_u64().unwrap_or(0);
            ensure!(fwd as f64 >= f.rps * f64::from(args.seconds) * 0.5, "rvsd forwarded only {fwd} packets");
            Ok(f)
        }
        "nftables" | "nftables-cpu" => {
            // A busy loop on rvsd's worker CPU for `nftables-cpu`: killed when dropped.
            let _spinner = (name == "nftables-cpu").then(spin_on_worker_cpu).transpose()?;
            kernel_addresses(&t.lb, true)?;
            t.lb.sysctl("net.ipv4.ip_forward", "1")?;
            let rules = format!(
                "table ip rvs_compare {{\n  chain pre {{\n    type nat hook prerouting priority dstnat;\n    \
                 ip daddr {VIP} tcp dport 80 dnat to numgen inc mod 2 map {{ 0 : {0}, 1 : {1} }}\n    \
                 ip daddr {VIP} udp dport 53 dnat to numgen inc mod 2 map {{ 0 : {0}, 1 : {1} }}\n  }}\n}}\n",
                RS[0], RS[1]
            );
            let path = dir.join("rules.nft");
            std::fs::write(&path, rules)?;
            let out = t.lb.run("nft", &["-f", path.to_str().context("path")?], Duration::from_secs(10))?;
            ensure!(out.status.success(), "nft: {}", String::from_utf8_lossy(&out.stderr));
            let f = measure(args, t, name);
            let _ = t.lb.run("nft", &["delete", "table", "ip", "rvs_compare"], Duration::from_secs(10));
            t.lb.sysctl("net.ipv4.ip_forward", "0")?;
            kernel_addresses(&t.lb, false)?;
            f
        }
        "haproxy" | "nginx" => {
            kernel_addresses(&t.lb, true)?;
            let h = if name == "haproxy" {
                let cfg = format!(
                    "global\n  maxconn 8000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
                     frontend f\n  bind {VIP}:80\n  default_backend b\nbackend b\n  balance roundrobin\n  server rs1 {}:80\n  server rs2 {}:80\n",
                    RS[0], RS[1]
                );
                let path = dir.join("haproxy.cfg");
                std::fs::write(&path, cfg)?;
                lab.spawn(&t.lb, "haproxy", &["-db", "-f", path.to_str().context("path")?])?
            } else {
                let d = dir.join("stream");
                std::fs::create_dir_all(&d)?;
                let dp = d.display();
                let cfg = format!(
                    "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\nworker_processes 1;\ndaemon off;\npid {dp}/nginx.pid;\n\
                     error_log stderr warn;\nevents {{ worker_connections 8192; }}\n\
                     stream {{ upstream b {{ server {}:80; server {}:80; }} server {{ listen {VIP}:80; proxy_pass b; }} }}\n",
                    RS[0], RS[1]
                );
                let path = d.join("nginx.conf");
                std::fs::write(&path, cfg)?;
                lab.spawn(
                    &t.lb,
                    "nginx",
                    &["-p", &dp.to_string(), "-e", "stderr", "-c", path.to_str().context("path")?],
                )?
            };
            let f = measure(args, t, name);
            lab.stop(h, Duration::from_secs(5))?;
            kernel_addresses(&t.lb, false)?;
            f
        }
        other => bail!("--only: unknown contender {other:?} (rvsd, rvsd-xdp, nftables, nftables-cpu, haproxy, nginx)"),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(why) = rvs_lab::unavailable() {
        bail!("rvs-compare needs the lab: {why}");
    }
    for tool in ["wrk", "nft", "haproxy", "nginx"] {
        ensure!(
            std::process::Command::new("sh").args(["-c", &format!("command -v {tool}")]).output()?.status.success(),
            "`{tool}` is not installed (tools/install-deps.sh tools/bench-packages.txt installs it)"
        );
    }
    let machine = rvs_tools::machine();
    let mut lab = Lab::new()?;
    let scratch = Scratch(std::env::temp_dir().join(format!("{}-compare", lab.id())));
    std::fs::create_dir_all(&scratch.0)?;
    println!(
        "rvs-compare: lab {} (client, director, 2 nginx real servers), wrk -t{} -c{} -d{}s, {machine}",
        lab.id(),
        args.threads,
        args.connections,
        args.seconds
    );
    let t = topo::nat_pair(&mut lab, 0)?;
    // Faster real servers than the lab's python ones, so the balancer is what is measured.
    for (i, (ns, addr, h)) in t.servers.iter().enumerate() {
        lab.stop(*h, Duration::from_secs(5))?;
        nginx_server(&mut lab, &scratch.0, ns, &format!("rs{}", i + 1), addr)?;
    }
    let mut rows: Vec<Figures> = Vec::new();
    for name in &args.only {
        let f = run_one(&args, &mut lab, &t, &scratch.0, name).with_context(|| format!("contender {name}"))?;
        let pps = f
            .pps
            .map(|(s, r)| format!("  udp 64 B: sent {s:.0} pps, {r:.0} pps reached the servers"))
            .unwrap_or_default();
        println!(
            "{:<9} {:>9.0} requests/s  p50 {:.2} ms  p99 {:.2} ms  errors {}  split {}:{}{pps}",
            f.name, f.rps, f.p50_ms, f.p99_ms, f.errors, f.split.0, f.split.1
        );
        rows.push(f);
    }
    let base = rows.first().map(|f| f.rps).unwrap_or(1.0);
    if let Some(path) = &args.json {
        let lines: Vec<String> = rows.iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
        std::fs::write(path, lines.join("\n") + "\n").with_context(|| format!("write {}", path.display()))?;
    }
    if let Some(path) = &args.write {
        let mut s = String::from("<!-- BEGIN compare -->\n");
        let _ = writeln!(
            s,
            "{}",
            rvs_tools::generated_by(
                &format!("rvs-compare {}", rvs_tools::command_line(&["--write", "--json"])),
                &machine
            )
        );
        let first = rows.first();
        let base_pps = first.and_then(|f| f.pps).map_or(1.0, |p| p.1);
        let _ = writeln!(
            s,
            "| balancer | HTTP requests/s | vs {0} | latency p50 | p99 | errors | split rs1:rs2 (20 new connections) | UDP 64 B pps reaching the servers (generator sent) | vs {0} |",
            first.map_or("", |f| f.name.as_str())
        );
        s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for f in &rows {
            let (pps, ratio) = match f.pps {
                Some((sent, got)) => (format!("{got:.0} ({sent:.0})"), format!("{:.2}x", got / base_pps)),
                None => ("- (no UDP)".into(), "-".into()),
            };
            let _ = writeln!(
                s,
                "| {} | {:.0} | {:.2}x | {:.2} ms | {:.2} ms | {} | {}:{} | {pps} | {ratio} |",
                f.name,
                f.rps,
                f.rps / base,
                f.p50_ms,
                f.p99_ms,
                f.errors,
                f.split.0,
                f.split.1
            );
        }
        s += "<!-- END compare -->\n";
        let mut doc = std::fs::read_to_string(path).unwrap_or_default();
        rvs_tools::replace_section(&mut doc, "compare", &s);
        std::fs::write(path, doc).with_context(|| format!("write {}", path.display()))?;
        println!("updated {}", path.display());
    }
    drop(lab);
    drop(scratch);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_reports() {
        let out = "Running 1s test @ http://198.18.0.100/\n  2 threads and 8 connections\n  Latency Distribution\n     50%  850.00us\n     75%    1.10ms\n     90%    1.50ms\n     99%    2.01s\n  1000 requests in 1.00s, 150.00KB read\n  Socket errors: connect 1, read 2, write 0, timeout 3\n  Non-2xx or 3xx responses: 4\nRequests/sec:   1000.50\nTransfer/sec:    150.00KB\n";
        let (rps, p50, p99, err) = parse_wrk(out).unwrap();
        assert_eq!((rps, err), (1000.5, 10));
        assert!((p50 - 0.85).abs() < 1e-9 && (p99 - 2010.0).abs() < 1e-9);
        assert!(parse_wrk("nothing").is_err());
    }
}
