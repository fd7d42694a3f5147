//! The rvs netns lab: real kernel stacks in network namespaces, joined by veth pairs and
//! bridges, with rvs's DPDK programs on `net_af_packet` in the middle.
//!
//! The shape follows the Linux kernel's own IPVS selftest: one namespace per host (client,
//! load balancer, real servers). Rules every lab here keeps:
//! - names are unique per run (`rvs<pid>x<n>-<host>`), so parallel runs never collide;
//! - TX checksum offload is off on every veth end (with it on, frames cross af_packet with
//!   partial checksums and TCP fails);
//! - every command and wait is bounded in time;
//! - everything built is torn down by `Drop`, also when a test panics, and a new lab first
//!   sweeps namespaces left behind by runs whose process is gone (killed by a timeout).
//!
//! Addresses come from 198.18.0.0/15 (RFC 2544's benchmarking range) and exist only inside
//! the lab's namespaces.

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why lab tests cannot run here, or `None` when they can (root, with `ip`, `ethtool`, `nft`).
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root: the lab needs network namespaces (run the test suite as root)".into());
    }
    for tool in ["ip", "ethtool", "nft"] {
        if Command::new(tool).arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            return Some(format!("`{tool}` is not installed (tools/setup.sh installs it)"));
        }
    }
    None
}

/// Skips the calling test, saying why, when the lab cannot run; use at the top of a lab test.
#[macro_export]
macro_rules! require_lab {
    () => {
        if let Some(why) = $crate::unavailable() {
            // Straight to stderr: libtest captures eprintln!, and a skip must be seen.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "SKIPPED {}: {}", module_path!(), why);
            return;
        }
    };
}

/// The interfaces of the `net_af_packet` devices a configuration names (`iface=...`).
pub fn af_packet_ifaces(toml: &str) -> Vec<String> {
    toml.lines()
        .filter(|l| l.contains("net_af_packet"))
        .filter_map(|l| l.split("iface=").nth(1))
        .map(|rest| rest.chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect())
        .collect()
}

/// Path of a binary of this workspace built in the same profile as the running test
/// (`target/<profile>/<name>`), or `$RVS_BIN_DIR/<name>`.
pub fn workspace_bin(name: &str) -> Result<PathBuf> {
    let dir = match std::env::var_os("RVS_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            // A test binary lives in target/<profile>/deps/.
            let exe = std::env::current_exe()?;
            let deps = exe.parent().ok_or_else(|| anyhow!("test binary has no parent dir"))?;
            let profile = if deps.ends_with("deps") { deps.parent().unwrap_or(deps) } else { deps };
            profile.to_path_buf()
        }
    };
    let path = dir.join(name);
    if !path.exists() {
        bail!("{} is not built: run `cargo build --workspace --bins` first (tools/test.sh does)", path.display());
    }
    Ok(path)
}

/// Runs a command with a time limit; an error if it cannot start or runs over.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<Output> {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {desc}"))?;
    let out = read_pipes(&mut child);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            let (stdout, stderr) = out.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
            return Ok(Output { status, stdout, stderr });
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{desc} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Collects a child's stdout and stderr on a thread, so a chatty child never blocks on a pipe.
fn read_pipes(child: &mut Child) -> mpsc::Receiver<(Vec<u8>, Vec<u8>)> {
    let (tx, rx) = mpsc::channel();
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    std::thread::spawn(move || {
        let e = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(s) = se.as_mut() {
                let _ = s.read_to_end(&mut b);
            }
            b
        });
        let mut o = Vec::new();
        if let Some(s) = so.as_mut() {
            let _ = s.read_to_end(&mut o);
        }
        let _ = tx.send((o, e.join().unwrap_or_default()));
    });
    rx
}

fn check(out: Output, what: &str) -> Result<String> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip ARGS` in the root namespace; fails with ip's message.
fn ip(args: &[&str]) -> Result<String> {
    check(run_bounded(Command::new("ip").args(args), Duration::from_secs(10))?, &format!("ip {}", args.join(" ")))
}

static LAB_SEQ: AtomicU32 = AtomicU32::new(0);
const NS_PREFIX: &str = "rvs";

/// A lab: namespaces and the processes running in them, all removed on drop.
#[derive(Debug)]
pub struct Lab {
    id: String,
    namespaces: Vec<String>,
    procs: Vec<Proc>,
    files: Vec<PathBuf>,
}

/// A host of the lab: one network namespace.
#[derive(Debug, Clone)]
pub struct Ns {
    name: String,
}

impl Ns {
    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program args` inside this namespace.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]).args(args);
        c
    }

    /// Runs a command here with a time limit; returns its output whatever its exit status.
    pub fn run(&self, program: &str, args: &[&str], limit: Duration) -> Result<Output> {
        run_bounded(&mut self.command(program, args), limit)
    }

    /// Runs a command here with a time limit and returns its stdout; fails on a non-zero exit.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        let out = self.run(program, args, Duration::from_secs(30))?;
        check(out, &format!("[{}] {program} {}", self.name, args.join(" ")))
    }

    /// Runs `ip ARGS` here.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// Sets a sysctl here (`net.ipv4.conf.all.arp_ignore`, ...).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.exec("sysctl", &["-qw", &format!("{key}={value}")]).map(drop)
    }

    /// Adds an address to a device here.
    pub fn addr(&self, dev: &str, cidr: &str) -> Result<()> {
        self.ip(&["addr", "add", cidr, "dev", dev]).map(drop)
    }

    /// Adds a route here (`["default", "via", "198.18.0.1"]`).
    pub fn route(&self, args: &[&str]) -> Result<()> {
        let mut full = vec!["route", "add"];
        full.extend_from_slice(args);
        self.ip(&full).map(drop)
    }

    /// Makes `dev` behave as a NIC that DPDK owns: its frames no longer reach this namespace's
    /// kernel (an nftables netdev ingress chain drops them), while DPDK's af_packet socket,
    /// whose taps see frames before that hook, still receives and sends them. Without this the
    /// kernel also answers what rvsd answers, and the exception path (TAP) is never proven.
    pub fn own_by_dpdk(&self, dev: &str) -> Result<()> {
        self.exec("nft", &["add", "table", "netdev", "lab"])?;
        let chain = format!("in_{}", dev.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
        let spec = format!("{{ type filter hook ingress device {dev} priority 0 ; policy drop ; }}");
        self.exec("nft", &["add", "chain", "netdev", "lab", &chain, &spec]).map(drop)
    }

    /// The MAC address of a device here.
    pub fn mac(&self, dev: &str) -> Result<String> {
        let out = self.ip(&["-o", "link", "show", dev])?;
        out.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no MAC for {dev} in {}", self.name))
    }
}

/// An L2 switch: a namespace holding one bridge; hosts are plugged into it by veth pairs.
#[derive(Debug)]
pub struct Switch {
    ns: Ns,
    ports: usize,
}

/// A running rvsd, started by [`Lab::rvsd`]: its process and its control socket.
#[derive(Debug, Clone)]
pub struct Rvsd {
    handle: usize,
    /// The control socket (unique per lab run).
    pub socket: PathBuf,
    /// The configuration file rvsd runs on (rewrite it, then reload).
    pub config: PathBuf,
    /// Its namespace, whose af_packet interfaces the kernel no longer sees while it runs.
    ns: Ns,
}

/// The directory of the lab's helper scripts (`tests/lab`).
pub fn lab_scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lab")
}

impl Lab {
    /// A new, empty lab. First removes namespaces of earlier labs whose process is gone.
    pub fn new() -> Result<Lab> {
        sweep_stale();
        let id = format!("{NS_PREFIX}{}x{}", std::process::id(), LAB_SEQ.fetch_add(1, Ordering::Relaxed));
        Ok(Lab { id, namespaces: Vec::new(), procs: Vec::new(), files: Vec::new() })
    }

    /// This lab's unique id (the prefix of its namespace names).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Creates a host (namespace) with loopback up.
    pub fn host(&mut self, short: &str) -> Result<Ns> {
        let name = format!("{}-{short}", self.id);
        ip(&["netns", "add", &name])?;
        self.namespaces.push(name.clone());
        // No DNS in the lab: `ip netns exec` bind-mounts this over /etc/resolv.conf, so lookups
        // (python's getfqdn, curl) fail at once instead of sending queries anywhere.
        let etc = PathBuf::from("/etc/netns").join(&name);
        std::fs::create_dir_all(&etc)?;
        std::fs::write(etc.join("resolv.conf"), "# rvs lab: no name service\noptions timeout:1 attempts:1\n")?;
        let ns = Ns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Joins two hosts with a veth pair (`a_dev` in `a`, `b_dev` in `b`), both ends up, with
    /// TX checksum offload off and an MTU that fits af_packet's 2048-byte frames.
    pub fn veth(&self, a: &Ns, a_dev: &str, b: &Ns, b_dev: &str) -> Result<()> {
        ip(&["link", "add", a_dev, "netns", a.name(), "type", "veth", "peer", "name", b_dev, "netns", b.name()])?;
        for (ns, dev) in [(a, a_dev), (b, b_dev)] {
            ns.ip(&["link", "set", dev, "mtu", "1500", "up"])?;
            ns.exec("ethtool", &["-K", dev, "tx", "off"])?;
        }
        Ok(())
    }

    /// Creates a bridge device in `ns` and enslaves `ports` (devices already in `ns`).
    pub fn bridge(&self, ns: &Ns, name: &str, ports: &[&str]) -> Result<()> {
        ns.ip(&["link", "add", name, "type", "bridge"])?;
        ns.ip(&["link", "set", name, "up"])?;
        for p in ports {
            ns.ip(&["link", "set", p, "master", name])?;
        }
        Ok(())
    }

    /// Creates a switch (a namespace with bridge `br0`).
    pub fn switch(&mut self, short: &str) -> Result<Switch> {
        let ns = self.host(short)?;
        ns.ip(&["link", "add", "br0", "type", "bridge"])?;
        // Forward at once: no STP listening delay in a lab.
        ns.ip(&["link", "set", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0"])?;
        ns.ip(&["link", "set", "br0", "up"])?;
        Ok(Switch { ns, ports: 0 })
    }

    /// Plugs `dev` of `host` into the switch.
    pub fn plug(&self, sw: &mut Switch, host: &Ns, dev: &str) -> Result<()> {
        sw.ports += 1;
        let sp = format!("sp{}", sw.ports);
        self.veth(host, dev, &sw.ns, &sp)?;
        sw.ns.ip(&["link", "set", &sp, "master", "br0"])?;
        Ok(())
    }

    /// Starts rvsd in `ns` with the configuration `toml` and waits until it is ready.
    pub fn rvsd(&mut self, ns: &Ns, toml: &str) -> Result<Rvsd> {
        let bin = workspace_bin("rvsd")?;
        let path = std::env::temp_dir().join(format!("{}-{}-rvs.toml", self.id, ns.name()));
        let socket = std::env::temp_dir().join(format!("{}-{}.sock", self.id, ns.name()));
        let mut text = toml.to_owned();
        if !text.contains("[control]") {
            text += &format!("\n[control]\nsocket = \"{}\"\n", socket.display());
        } else if !text.contains("socket =") {
            text = text.replacen("[control]\n", &format!("[control]\nsocket = \"{}\"\n", socket.display()), 1);
        }
        std::fs::write(&path, text)?;
        self.files.push(path.clone());
        self.files.push(socket.clone());
        for dev in af_packet_ifaces(toml) {
            ns.own_by_dpdk(&dev)?;
        }
        let h = self.spawn(ns, bin.to_str().context("path")?, &["--config", path.to_str().context("path")?])?;
        self.wait_for_line(h, "rvsd: ready", Duration::from_secs(30))?;
        Ok(Rvsd { handle: h, socket, config: path, ns: ns.clone() })
    }

    /// Sends `sig` to rvsd.
    pub fn signal(&self, r: &Rvsd, sig: nix::sys::signal::Signal) -> Result<()> {
        let child = self.procs[r.handle].child.as_ref().ok_or_else(|| anyhow!("rvsd is not running"))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig)?;
        Ok(())
    }

    /// Stops rvsd (SIGTERM) and returns its final statistics (the `rvsd: stats` JSON).
    pub fn stop_rvsd(&mut self, r: Rvsd) -> Result<serde_json::Value> {
        let lines = self.stop(r.handle, Duration::from_secs(15))?;
        // The interfaces go back to the kernel (a kernel balancer may use them next).
        let _ = r.ns.run("nft", &["delete", "table", "netdev", "lab"], Duration::from_secs(10));
        if !lines.iter().any(|l| l.contains("rvsd: stopped cleanly")) {
            bail!("rvsd did not stop cleanly:\n{}", lines.join("\n"));
        }
        let json = lines
            .iter()
            .find_map(|l| l.strip_prefix("rvsd: stats "))
            .ok_or_else(|| anyhow!("no stats line:\n{}", lines.join("\n")))?;
        Ok(serde_json::from_str(json)?)
    }

    /// Starts a long-running program in `ns`; it is stopped when the lab is dropped (or by
    /// [`Lab::stop`]). Returns its handle index.
    pub fn spawn(&mut self, ns: &Ns, program: &str, args: &[&str]) -> Result<usize> {
        let mut cmd = ns.command(program, args);
        let desc = format!("[{}] {program} {}", ns.name(), args.join(" "));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawn {desc}"))?;
        let (tx, rx) = mpsc::channel();
        for pipe in [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        self.procs.push(Proc { desc, child: Some(child), lines: rx, seen: Vec::new() });
        Ok(self.procs.len() - 1)
    }

    /// Waits (bounded) until process `h` prints a line containing `needle`; returns that line.
    /// Fails early, with what it printed, if the process exits.
    pub fn wait_for_line(&mut self, h: usize, needle: &str, limit: Duration) -> Result<String> {
        let p = &mut self.procs[h];
        let deadline = Instant::now() + limit;
        if let Some(l) = p.seen.iter().find(|l| l.contains(needle)) {
            return Ok(l.clone());
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("{} did not print {needle:?} within {limit:?}; it printed:\n{}", p.desc, p.seen.join("\n"));
            }
            match p.lines.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    p.seen.push(line);
                    if hit {
                        return Ok(p.seen.last().cloned().unwrap_or_default());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(c) = p.child.as_mut() {
                        if let Some(st) = c.try_wait()? {
                            p.drain();
                            bail!("{} exited ({st}) before printing {needle:?}:\n{}", p.desc, p.seen.join("\n"));
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("{} closed its output before printing {needle:?}:\n{}", p.desc, p.seen.join("\n"));
                }
            }
        }
    }

    /// Stops process `h` with SIGTERM (SIGKILL after `grace`) and returns everything it
    /// printed, stdout and stderr interleaved by line.
    pub fn stop(&mut self, h: usize, grace: Duration) -> Result<Vec<String>> {
        let p = &mut self.procs[h];
        p.terminate(grace)?;
        p.drain();
        Ok(std::mem::take(&mut p.seen))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.terminate(Duration::from_secs(3));
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        for ns in self.namespaces.iter().rev() {
            kill_ns_processes(ns);
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("lab teardown: {e}");
            }
            let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(ns));
        }
    }
}

/// A process the lab started.
#[derive(Debug)]
struct Proc {
    desc: String,
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn terminate(&mut self, grace: Duration) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_none() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + grace;
            while child.try_wait()?.is_none() {
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Collects lines still in flight after the process ended (bounded).
    fn drain(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Ok(l) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            self.seen.push(l);
        }
    }
}

/// Kills whatever still runs inside namespace `ns` (e.g. a server a test forgot).
fn kill_ns_processes(ns: &str) {
    if let Ok(out) = run_bounded(Command::new("ip").args(["netns", "pids", ns]), Duration::from_secs(5)) {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Removes lab namespaces whose creating process no longer exists.
fn sweep_stale() {
    let Ok(out) = ip(&["netns", "list"]) else {
        return;
    };
    for line in out.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('x') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            kill_ns_processes(name);
            let _ = ip(&["netns", "del", name]);
            let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(name));
        }
    }
}

/// Real servers and clients for the lab: python's http.server answering with the server's name,
/// curl as the client.
pub mod http {
    use super::{Lab, Ns};
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// Serves `name` (as `index.html`, plus `big.bin` of `big` bytes) on `bind:port` in `ns`,
    /// and waits until it listens; returns the server's handle (for [`Lab::stop`]).
    pub fn serve(lab: &mut Lab, ns: &Ns, name: &str, bind: &str, port: u16, big: usize) -> anyhow::Result<usize> {
        let dir = std::env::temp_dir().join(format!("{}-{}-{name}-{port}", lab.id(), ns.name()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("index.html"), format!("{name}\n"))?;
        std::fs::write(dir.join("big.bin"), vec![b'x'; big])?;
        lab.files.push(dir.join("index.html"));
        lab.files.push(dir.join("big.bin"));
        let (p, d) = (port.to_string(), dir.to_string_lossy().into_owned());
        let h = lab.spawn(ns, "python3", &["-u", "-m", "http.server", &p, "--bind", bind, "--directory", &d])?;
        lab.wait_for_line(h, "Serving HTTP", Duration::from_secs(10))?;
        Ok(h)
    }

    /// `n` GETs of `url` from `client`, one connection each (HTTP/1.0 servers close); returns
    /// body line -> count.
    pub fn tally(client: &Ns, url: &str, n: usize) -> anyhow::Result<BTreeMap<String, usize>> {
        let mut args = vec!["-s", "-m", "60", "-H", "Connection: close"];
        args.extend(std::iter::repeat_n(url, n));
        let out = client.run("curl", &args, Duration::from_secs(120))?;
        anyhow::ensure!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut t = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            *t.entry(line.to_owned()).or_insert(0) += 1;
        }
        Ok(t)
    }

    /// Requests `url` until it answers; returns how many requests (connections) that took.
    pub fn wait_ready(client: &Ns, url: &str) -> anyhow::Result<u64> {
        for attempt in 1..=100 {
            let out = client.run("curl", &["-s", "-m", "2", "-o", "/dev/null", url], Duration::from_secs(5))?;
            if out.status.success() {
                return Ok(attempt);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("{url} never answered")
    }
}

/// Building rvs.toml text for lab runs.
pub mod conf {
    /// `[dataplane]` for the lab: no hugepages, no PCI, quiet EAL; workers on `lcores`.
    pub fn dataplane(lcores: &[u32]) -> String {
        let l: Vec<String> = lcores.iter().map(u32::to_string).collect();
        format!(
            "[dataplane]\neal_args = [\"--no-huge\", \"--no-pci\", \"-m\", \"256\", \"--no-telemetry\", \"--log-level\", \"lib.eal:error\"]\nlcores = [{}]\n\n",
            l.join(", ")
        )
    }

    /// A `[[port]]` on `net_af_packet<index>` over veth `iface`, owning `address` (CIDR).
    pub fn port(name: &str, index: usize, iface: &str, address: &str) -> String {
        format!(
            "[[port]]\nname = \"{name}\"\ndevice = \"net_af_packet{index},iface={iface}\"\naddress = \"{address}\"\n\n"
        )
    }

    /// A real server: address, real port (None = the virtual port), weight, forward method.
    pub type Real<'a> = (&'a str, Option<u16>, u32, &'a str);

    /// A `[[service]]` with its `[[service.real]]` entries.
    pub fn service(protocol: &str, vip: &str, port: u16, scheduler: &str, reals: &[Real<'_>]) -> String {
        let mut s = format!(
            "[[service]]\nprotocol = \"{protocol}\"\nvip = \"{vip}\"\nport = {port}\nscheduler = \"{scheduler}\"\n"
        );
        for (addr, rport, weight, fwd) in reals {
            s += &format!("  [[service.real]]\n  address = \"{addr}\"\n  weight = {weight}\n  forward = \"{fwd}\"\n");
            if let Some(p) = rport {
                s += &format!("  port = {p}\n");
            }
        }
        s + "\n"
    }
}

/// Topologies more than one lab test uses.
pub mod topo {
    use super::{http, Lab, Ns, Switch};

    /// The NAT lab: a client (198.18.0.2, default route via the director's 198.18.0.1) on veth
    /// `p0` of the director's namespace; the director's `p1` on a switch with real servers rs1
    /// (198.19.0.11) and rs2 (198.19.0.12), whose default route is the director's 198.19.0.1.
    /// Each real server runs an HTTP server answering its name (and `big.bin` of `big` bytes).
    #[derive(Debug)]
    pub struct NatPair {
        /// The client.
        pub client: Ns,
        /// The director's namespace (rvsd runs here).
        pub lb: Ns,
        /// (namespace, address, HTTP server handle) of rs1 and rs2.
        pub servers: Vec<(Ns, String, usize)>,
    }

    /// A real server `name` at `addr` (/24) on switch `sw`, routing through the director's
    /// `gateway` (NAT replies must cross it).
    pub fn real_server(lab: &mut Lab, sw: &mut Switch, name: &str, addr: &str, gateway: &str) -> anyhow::Result<Ns> {
        let rs = lab.host(name)?;
        lab.plug(sw, &rs, "eth0")?;
        rs.addr("eth0", &format!("{addr}/24"))?;
        rs.route(&["default", "via", gateway])?;
        Ok(rs)
    }

    /// Builds [`NatPair`] in `lab`.
    pub fn nat_pair(lab: &mut Lab, big: usize) -> anyhow::Result<NatPair> {
        let client = lab.host("c")?;
        let lb = lab.host("lb")?;
        let mut sw = lab.switch("sw")?;
        lab.veth(&client, "eth0", &lb, "p0")?;
        lab.plug(&mut sw, &lb, "p1")?;
        client.addr("eth0", "198.18.0.2/24")?;
        client.route(&["default", "via", "198.18.0.1"])?;
        let mut servers = Vec::new();
        for (i, name) in ["rs1", "rs2"].iter().enumerate() {
            let a = format!("198.19.0.{}", 11 + i);
            let rs = real_server(lab, &mut sw, name, &a, "198.19.0.1")?;
            let h = http::serve(lab, &rs, name, &a, 80, big)?;
            servers.push((rs, a, h));
        }
        Ok(NatPair { client, lb, servers })
    }
}

/// rvsadm against a running rvsd, as an operator types it.
pub mod admin {
    use super::workspace_bin;
    use std::io::Write;
    use std::path::Path;
    use std::process::{Command, Stdio};

    /// Runs rvsadm with `args` (and `stdin`) on the control socket `socket`; returns (exit
    /// code, stdout, stderr).
    pub fn rvsadm(socket: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut child = Command::new(workspace_bin("rvsadm").expect("rvsadm is built"))
            .arg("--socket")
            .arg(socket)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rvsadm starts");
        let _ = child.stdin.take().map(|mut i| i.write_all(stdin.as_bytes()));
        let out = child.wait_with_output().expect("rvsadm ends");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// rvsadm that must succeed; its stdout.
    pub fn ok(socket: &Path, args: &[&str]) -> String {
        let (code, out, err) = rvsadm(socket, args, "");
        assert_eq!(code, 0, "rvsadm {args:?}: {err}");
        out
    }
}
