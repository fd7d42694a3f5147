//! The soak's fault injector: faults picked at random times from a seed, each one logged with
//! when it began and ended and what it touched, so the report can tell which failures it
//! explains.

use super::topology::{SoakLab, VIP};
use crate::admin::rvsadm;
use crate::hold::script;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// A real server's serving processes killed (SIGKILL), started again 6 s later.
    KillServer,
    /// A real server's health checks fail for 6 s (nft refuses the directors' probes), then pass.
    FlapHealth,
    /// The NAT service's weights edited live, then set back.
    EditWeights,
    /// `rvsadm -S`, then `-C` and `-R` of what it saved.
    SaveClearRestore,
    /// rvs.toml reloaded (SIGHUP).
    Reload,
    /// The master's worker paused for 2 s (`--pause-worker`).
    PauseWorker,
    /// The VRRP master killed (rvsd and keepalived, SIGKILL), started again 10 s later.
    KillMaster,
    /// The master's sync daemon stopped and started again.
    RestartSync,
    /// 3,000 SYNs from spoofed sources at the NAT and SYN-proxied services over 3 s.
    SynFlood,
    /// 2,000 malformed and hostile frames at the master's port over 2 s.
    HostileFrames,
}

impl FaultKind {
    /// Every kind, in the order the report lists them.
    pub const ALL: [FaultKind; 10] = [
        FaultKind::KillServer,
        FaultKind::FlapHealth,
        FaultKind::EditWeights,
        FaultKind::SaveClearRestore,
        FaultKind::Reload,
        FaultKind::PauseWorker,
        FaultKind::KillMaster,
        FaultKind::RestartSync,
        FaultKind::SynFlood,
        FaultKind::HostileFrames,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillServer => "kill real server",
            FaultKind::FlapHealth => "flap health check",
            FaultKind::EditWeights => "edit weights",
            FaultKind::SaveClearRestore => "-S, -C, -R",
            FaultKind::Reload => "reload rvs.toml",
            FaultKind::PauseWorker => "pause worker",
            FaultKind::KillMaster => "kill VRRP master",
            FaultKind::RestartSync => "restart sync daemon",
            FaultKind::SynFlood => "SYN flood",
            FaultKind::HostileFrames => "hostile frames",
        }
    }
}

/// One fault as it happened.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What.
    pub kind: FaultKind,
    /// When it began and ended (Unix seconds).
    pub start: f64,
    /// When it ended: the server back, the master back, the pause over.
    pub end: f64,
    /// The real server it touched (`KillServer`, `FlapHealth`), or the director.
    pub target: String,
    /// What went wrong doing it, if anything (the run goes on).
    pub error: Option<String>,
    /// When it took effect (a killed master: once its rvsd was dead); `start` otherwise.
    pub effective: f64,
}

/// Unix time now, in seconds.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// A small seeded generator (xorshift64*): the run's faults follow from its seed alone.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Injects one fault of `kind` (blocking for its length) and returns what happened.
pub fn inject(s: &mut SoakLab, kind: FaultKind, rng: &mut Rng) -> Fault {
    let start = unix_now();
    let mut effective = start;
    let mut target = String::new();
    let result = match kind {
        FaultKind::KillServer => {
            let i = rng.below(s.servers.len() as u64) as usize;
            target = s.servers[i].name.clone();
            s.kill_server(i);
            std::thread::sleep(Duration::from_secs(6));
            s.start_server(i).map_err(|e| e.to_string())
        }
        FaultKind::FlapHealth => {
            let i = rng.below(s.servers.len() as u64) as usize;
            target = s.servers[i].name.clone();
            flap_health(s, i)
        }
        FaultKind::EditWeights => with_master(s, &mut target, |sock| {
            for (w, rs) in [(rng_weight(rng), "198.19.0.11:80"), (rng_weight(rng), "198.19.0.12:80")] {
                admin(sock, &["-e", "-t", &format!("{VIP}:80"), "-r", rs, "-m", "-w", &w.to_string()])?;
            }
            std::thread::sleep(Duration::from_secs(3));
            for rs in ["198.19.0.11:80", "198.19.0.12:80"] {
                admin(sock, &["-e", "-t", &format!("{VIP}:80"), "-r", rs, "-m", "-w", "1"])?;
            }
            Ok(())
        }),
        FaultKind::SaveClearRestore => with_master(s, &mut target, |sock| {
            let saved = admin(sock, &["-S", "-n"])?;
            admin(sock, &["-C"])?;
            let (code, _, err) = rvsadm(sock, &["-R"], &saved);
            if code != 0 {
                return Err(format!("-R: {err}"));
            }
            Ok(())
        }),
        FaultKind::Reload => match s.master() {
            Some(k) => {
                target = format!("lb{}", k + 1);
                let r = s.rvsd[k].as_ref().expect("a master runs");
                s.lab.signal(r, nix::sys::signal::Signal::SIGHUP).map_err(|e| e.to_string())
            }
            None => Err("no master".into()),
        },
        FaultKind::PauseWorker => with_master(s, &mut target, |sock| {
            admin(sock, &["--pause-worker", "0", "--for", "2000"])?;
            std::thread::sleep(Duration::from_millis(2200));
            Ok(())
        }),
        FaultKind::KillMaster => match s.master() {
            Some(k) => {
                target = format!("lb{}", k + 1);
                s.kill_director(k);
                effective = unix_now();
                std::thread::sleep(Duration::from_secs(10));
                s.start_director(k).map_err(|e| e.to_string())
            }
            None => Err("no master".into()),
        },
        FaultKind::RestartSync => with_master(s, &mut target, |sock| {
            admin(sock, &["--stop-daemon", "master"])?;
            std::thread::sleep(Duration::from_millis(500));
            admin(sock, &["--start-daemon", "master"])?;
            Ok(())
        }),
        FaultKind::SynFlood => {
            let args =
                ["-u", &script("syn_flood.py"), "3000", "3", "100.64.0.0", &format!("{VIP}:80"), &format!("{VIP}:84")];
            s.client.run("python3", &args, Duration::from_secs(30)).map(drop).map_err(|e| e.to_string())
        }
        FaultKind::HostileFrames => match s.master() {
            Some(k) => {
                target = format!("lb{}", k + 1);
                match s.lbs[k].mac("p0") {
                    Ok(mac) => {
                        let args = ["-u", &script("hostile_frames.py"), "eth0", &mac, "198.18.0.2", VIP, "2000", "2"];
                        s.client.run("python3", &args, Duration::from_secs(30)).map(drop).map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            None => Err("no master".into()),
        },
    };
    Fault { kind, start, end: unix_now(), target, error: result.err(), effective }
}

fn rng_weight(rng: &mut Rng) -> u64 {
    1 + rng.below(5)
}

/// Runs `f` with the master's control socket (its name in `target`).
fn with_master(
    s: &mut SoakLab,
    target: &mut String,
    f: impl FnOnce(&std::path::Path) -> Result<(), String>,
) -> Result<(), String> {
    let Some(k) = s.master() else { return Err("no master".into()) };
    *target = format!("lb{}", k + 1);
    let sock = s.rvsd[k].as_ref().expect("a master runs").socket.clone();
    f(&sock)
}

/// One rvsadm command that must succeed; its output.
fn admin(sock: &std::path::Path, args: &[&str]) -> Result<String, String> {
    let (code, out, err) = rvsadm(sock, args, "");
    if code != 0 {
        return Err(format!("rvsadm {}: {err}", args.join(" ")));
    }
    Ok(out)
}

/// Real server `i` refuses the directors' health probes for 6 s (a reset: their sources are the
/// directors' own addresses; clients' and local addresses' traffic passes). Refused, not
/// dropped: a dropped probe fails only at its 3 s timeout, and `fall = 3` of those outlast 6 s.
fn flap_health(s: &mut SoakLab, i: usize) -> Result<(), String> {
    let ns = s.servers[i].ns.clone();
    let rules = "add table inet flap\n\
        add chain inet flap in { type filter hook input priority 0 ; }\n\
        add rule inet flap in ip saddr { 198.18.0.1, 198.18.0.3, 198.19.0.1, 198.19.0.2 } tcp dport { 80, 82, 83 } reject with tcp reset\n";
    let path = std::env::temp_dir().join(format!("{}-flap.nft", s.lab.id()));
    std::fs::write(&path, rules).map_err(|e| e.to_string())?;
    ns.exec("nft", &["-f", &path.to_string_lossy()]).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(6));
    let _ = std::fs::remove_file(&path);
    ns.exec("nft", &["delete", "table", "inet", "flap"]).map(drop).map_err(|e| e.to_string())
}
