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

/// The workspace's root directory (docs/, tools/, target/).
pub fn workspace_root() -> PathBuf {
    let lab = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    lab.parent().map_or(lab.clone(), PathBuf::from)
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
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<Output> {
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

pub(crate) fn check(out: Output, what: &str) -> Result<String> {
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
pub(crate) fn ip(args: &[&str]) -> Result<String> {
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
    dirs: Vec<PathBuf>,
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
    /// Its process handle in the lab ([`Lab::pid`], [`Lab::stop`]).
    pub handle: usize,
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
        Ok(Lab { id, namespaces: Vec::new(), procs: Vec::new(), files: Vec::new(), dirs: Vec::new() })
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
        self.rvsd_env(ns, toml, &[])
    }

    /// [`Lab::rvsd`] with environment variables `env` (systemd's `NOTIFY_SOCKET`, ...).
    pub fn rvsd_env(&mut self, ns: &Ns, toml: &str, env: &[(&str, &str)]) -> Result<Rvsd> {
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
        let h =
            self.spawn_env(ns, bin.to_str().context("path")?, &["--config", path.to_str().context("path")?], env)?;
        self.wait_for_line(h, "rvsd: ready", Duration::from_secs(30))?;
        Ok(Rvsd { handle: h, socket, config: path, ns: ns.clone() })
    }

    /// The process id of `h` (rvsd's own: `ip netns exec` execs it), while it runs.
    pub fn pid(&self, h: usize) -> Option<u32> {
        self.procs.get(h)?.child.as_ref().map(Child::id)
    }

    /// Waits (bounded) until rvsd logs a line containing `needle`; returns that line.
    pub fn rvsd_line(&mut self, r: &Rvsd, needle: &str, limit: Duration) -> Result<String> {
        self.wait_for_line(r.handle, needle, limit)
    }

    /// A fresh directory `/tmp/LABID-NAME` for this run's files, removed with the lab.
    pub fn scratch_dir(&mut self, name: &str) -> Result<PathBuf> {
        let dir = std::env::temp_dir().join(format!("{}-{name}", self.id));
        std::fs::create_dir_all(&dir)?;
        if !self.dirs.contains(&dir) {
            self.dirs.push(dir.clone());
        }
        Ok(dir)
    }

    /// Kills (SIGKILL) every process in `ns`, as a power cut would: rvsd, keepalived, anything.
    pub fn kill_all_in(&self, ns: &Ns) {
        kill_ns_processes(ns.name());
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
        self.spawn_env(ns, program, args, &[])
    }

    /// [`Lab::spawn`] with environment variables `env` added.
    pub fn spawn_env(&mut self, ns: &Ns, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<usize> {
        let mut cmd = ns.command(program, args);
        cmd.envs(env.iter().copied());
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

    /// Everything process `h` printed so far (stdout and stderr, by line), without waiting.
    pub fn lines(&mut self, h: usize) -> Vec<String> {
        let p = &mut self.procs[h];
        while let Ok(line) = p.lines.try_recv() {
            p.seen.push(line);
        }
        p.seen.clone()
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
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
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

pub mod hold;
pub mod http;

pub mod conf;

pub mod topo;

pub mod admin;
pub mod keepalived;
mod ns;
pub mod soak;
pub use ns::Ns;
