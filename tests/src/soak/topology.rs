//! The soak's lab: a keepalived VRRP pair of rvsd (one worker each, connection sync) in front of
//! real servers of every forwarding method.
//!
//! ```text
//!  switch "out" 198.18.0.0/24                         switch "in" 198.19.0.0/24
//!   client c  198.18.0.2 (+ sources)                   rs1 198.19.0.11, rs2 .12: http :80,
//!   lb1 p0 .1, lb2 p0 .3 (VIP .100 floats)               echo :7, udp :53 (gateway .254 floats)
//!   rs3 .13, rs4 .14: DR http :82 (VIP on lo)          lb1 p1 .1, lb2 p1 .2 (FULLNAT's .201 floats)
//!   rs5 .15, rs6 .16: TUN http :83 (IPIP decapsulated)
//! ```
//! Services on VIP 198.18.0.100: NAT :80 (and behind the SYN proxy :84), FULLNAT :81, DR :82,
//! TUN :83 (HTTP, health-checked); NAT :7 (line echo, the long-lived connections); NAT udp :53.

use crate::{conf, http, lab_scripts, topo, Lab, Ns, Rvsd};
use anyhow::{Context, Result};
use std::time::{Duration, Instant};

/// The VIP.
pub const VIP: &str = "198.18.0.100";
/// The HTTP services' ports and what they are.
pub const HTTP_SERVICES: [(u16, &str); 5] = [(80, "nat"), (81, "fullnat"), (82, "dr"), (83, "tun"), (84, "synproxy")];
/// The long-lived connections' (echo) port.
pub const ECHO_PORT: u16 = 7;
/// The UDP service's port.
pub const UDP_PORT: u16 = 53;
/// Bytes of the file the load downloads again and again (through NAT :80).
pub const DOWNLOAD_BYTES: usize = 4 << 20;

/// A real server: its namespace and address, and the processes that serve.
#[derive(Debug)]
pub struct RealServer {
    /// Its name (what it answers with).
    pub name: String,
    /// Its namespace.
    pub ns: Ns,
    /// Its address.
    pub addr: String,
    /// The ports it serves HTTP on.
    pub http_ports: Vec<u16>,
    /// It serves echo (:7) and UDP (:53) too (the inside servers).
    pub inside: bool,
    /// Its serving processes (stopped and started again by faults).
    pub procs: Vec<usize>,
}

impl RealServer {
    /// Real server `name` at `addr` in `ns`, serving HTTP on `port` (and echo and UDP when
    /// `inside`); its processes are started later.
    fn new(name: &str, ns: Ns, addr: String, port: u16, inside: bool) -> Self {
        RealServer { name: name.into(), ns, addr, http_ports: vec![port], inside, procs: vec![] }
    }
}

/// The soak's lab.
pub struct SoakLab {
    /// The lab (namespaces and processes).
    pub lab: Lab,
    /// The client.
    pub client: Ns,
    /// The two directors.
    pub lbs: [Ns; 2],
    /// Their rvsd, when running.
    pub rvsd: [Option<Rvsd>; 2],
    /// Every rvsd started: (director, process handle), so the report reads every start's log.
    pub rvsd_starts: Vec<(usize, usize)>,
    /// Their keepalived, when running.
    pub keepalived: [Option<usize>; 2],
    /// The real servers.
    pub servers: Vec<RealServer>,
    /// The client's source addresses for requests, and for the long-lived connections.
    pub sources: Vec<String>,
    /// The same, for the long-lived connections.
    pub long_sources: Vec<String>,
    /// The download's bytes (rs1's and rs2's `big.bin`) and sha256.
    pub download: Vec<u8>,
    /// Its sha256.
    pub download_sha: String,
}

impl std::fmt::Debug for SoakLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoakLab").field("lab", &self.lab.id()).finish()
    }
}

/// Director `k`'s rvs.toml.
pub fn director_config(k: usize) -> String {
    let (out, inside) = (["198.18.0.1", "198.18.0.3"][k], ["198.19.0.1", "198.19.0.2"][k]);
    let exc = |iface: String| format!("exception = true\nexception_iface = \"{iface}\"\naddress = ");
    let check = "  [service.real.check]\n  kind = \"http\"\n  path = \"/index.html\"\n  interval = 1\n  timeout = 3\n  fall = 3\n  rise = 2\n";
    let http = |port: u16, sched: &str, forward: &str, extra: &str, reals: &[&str]| {
        let mut s = format!(
            "[[service]]\nprotocol = \"tcp\"\nvip = \"{VIP}\"\nport = {port}\nscheduler = \"{sched}\"\n{extra}"
        );
        for a in reals {
            let rport = if forward == "nat" || forward == "fullnat" { "  port = 80\n" } else { "" };
            s += &format!(
                "  [[service.real]]\n  address = \"{a}\"\n{rport}  weight = 1\n  forward = \"{forward}\"\n{check}"
            );
        }
        s + "\n"
    };
    let inside_reals = ["198.19.0.11", "198.19.0.12"];
    conf::dataplane(&[1])
        + "[ha]\nmode = \"vrrp\"\n\n"
        + "[timeouts]\ntcp = 60\ntcpfin = 10\nudp = 10\n\n"
        + &conf::port("out", 0, "p0", &format!("{out}/24")).replace("address = ", &exc(format!("vout{k}")))
        + &conf::port("in", 1, "p1", &format!("{inside}/24")).replace("address = ", &exc(format!("vin{k}")))
        + &http(80, "rr", "nat", "", &inside_reals)
        + &http(81, "rr", "fullnat", "laddrs = [\"198.19.0.201\"]\n", &inside_reals)
        + &http(82, "rr", "dr", "", &["198.18.0.13", "198.18.0.14"])
        + &http(83, "rr", "tun", "", &["198.18.0.15", "198.18.0.16"])
        + &http(84, "rr", "nat", "synproxy = true\n", &inside_reals)
        + &conf::service(
            "tcp",
            VIP,
            ECHO_PORT,
            "wlc",
            &inside_reals.map(|addr| conf::Real { addr, port: None, weight: 1, forward: "nat" }),
        )
        + &conf::service(
            "udp",
            VIP,
            UDP_PORT,
            "rr",
            &inside_reals.map(|addr| conf::Real { addr, port: None, weight: 1, forward: "nat" }),
        )
        // Every connection is sent again at least each 10 s: a director that comes back learns
        // the held ones before the next failover needs them.
        + "[sync]\ninterface = \"out\"\nsyncid = 28\nrefresh_period = 10\n\n"
}

/// keepalived for director `k`: the VIP outside, the real servers' gateway and FULLNAT's local
/// address inside, one sync group; equal priorities and `nopreempt`, so a director that comes
/// back stays the backup.
fn keepalived_config(k: usize, id: &str) -> String {
    format!(
        "global_defs {{\n    router_id {id}\n    vrrp_garp_master_delay 1\n    vrrp_garp_master_repeat 3\n}}\n\
         vrrp_sync_group VG_SOAK {{\n    group {{\n        VI_VIP\n        VI_IN\n    }}\n}}\n\
         vrrp_instance VI_VIP {{\n    state BACKUP\n    nopreempt\n    interface vout{k}\n    virtual_router_id 71\n    priority 100\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/32 dev vout{k}\n    }}\n}}\n\
         vrrp_instance VI_IN {{\n    state BACKUP\n    nopreempt\n    interface vin{k}\n    virtual_router_id 72\n    priority 100\n    advert_int 1\n    virtual_ipaddress {{\n        198.19.0.254/24 dev vin{k}\n        198.19.0.201/32 dev vin{k}\n    }}\n}}\n"
    )
}

impl SoakLab {
    /// Builds the lab, starts the real servers, both directors and keepalived; returns once a
    /// director holds the VIP and serves.
    pub fn build() -> Result<SoakLab> {
        let mut lab = Lab::new()?;
        let client = lab.host("c")?;
        let lbs = [lab.host("lb1")?, lab.host("lb2")?];
        let mut out = lab.switch("out")?;
        let mut inside = lab.switch("in")?;
        lab.plug(&mut out, &client, "eth0")?;
        for lb in &lbs {
            lab.plug(&mut out, lb, "p0")?;
            lab.plug(&mut inside, lb, "p1")?;
        }
        client.addr("eth0", "198.18.0.2/24")?;
        let sources: Vec<String> = (20..60).map(|k| format!("198.18.0.{k}")).collect();
        let long_sources: Vec<String> = (101..201).map(|k| format!("198.18.0.{k}")).collect();
        for a in sources.iter().chain(&long_sources) {
            client.addr("eth0", &format!("{a}/24"))?;
        }
        let mut servers = Vec::new();
        for (i, name) in ["rs1", "rs2"].iter().enumerate() {
            let addr = format!("198.19.0.{}", 11 + i);
            let ns = topo::real_server(&mut lab, &mut inside, name, &addr, "198.19.0.254")?;
            servers.push(RealServer::new(name, ns, addr, 80, true));
        }
        for (i, name) in ["rs3", "rs4"].iter().enumerate() {
            let addr = format!("198.18.0.{}", 13 + i);
            let ns = topo::dr_real_server(&mut lab, &mut out, name, &format!("{addr}/24"), VIP)?;
            servers.push(RealServer::new(name, ns, addr, 82, false));
        }
        for (i, name) in ["rs5", "rs6"].iter().enumerate() {
            let addr = format!("198.18.0.{}", 15 + i);
            let rs = lab.host(name)?;
            lab.plug(&mut out, &rs, "eth0")?;
            rs.addr("eth0", &format!("{addr}/24"))?;
            topo::quiet_about_the_vip(&rs)?;
            let decap = lab_scripts().join("ipip_decap.py");
            let h = lab.spawn(&rs, "python3", &["-u", decap.to_str().context("path")?, "tun0"])?;
            lab.wait_for_line(h, "ready", Duration::from_secs(10))?;
            rs.ip(&["link", "set", "tun0", "up"])?;
            rs.addr("tun0", &format!("{VIP}/32"))?;
            rs.sysctl("net.ipv4.conf.tun0.rp_filter", "0")?;
            servers.push(RealServer::new(name, rs, addr, 83, false));
        }
        let mut s = SoakLab {
            lab,
            client,
            lbs,
            rvsd: [None, None],
            rvsd_starts: Vec::new(),
            keepalived: [None, None],
            servers,
            sources,
            long_sources,
            download: Vec::new(),
            download_sha: String::new(),
        };
        // The download: pseudo-random bytes in rs1's and rs2's big.bin.
        s.download = crate::http::random_bytes(DOWNLOAD_BYTES, 0x9e37_79b9_7f4a_7c15);
        let tmp = std::env::temp_dir().join(format!("{}-soak-big.bin", s.lab.id()));
        std::fs::write(&tmp, &s.download)?;
        s.download_sha = sha256_of(&tmp)?;
        let _ = std::fs::remove_file(&tmp);
        for i in 0..s.servers.len() {
            s.start_server(i)?;
        }
        for k in 0..2 {
            s.start_director(k)?;
        }
        let t0 = Instant::now();
        while s.master().is_none() {
            anyhow::ensure!(t0.elapsed() < Duration::from_secs(20), "no director took the VIP");
            std::thread::sleep(Duration::from_millis(200));
        }
        http::wait_ready(&s.client, &format!("http://{VIP}/"))?;
        Ok(s)
    }

    /// Starts real server `i`'s serving processes.
    pub fn start_server(&mut self, i: usize) -> Result<()> {
        let (ns, name, addr) = (self.servers[i].ns.clone(), self.servers[i].name.clone(), self.servers[i].addr.clone());
        let mut procs = Vec::new();
        for port in self.servers[i].http_ports.clone() {
            let bind = if self.servers[i].inside { addr.clone() } else { "0.0.0.0".into() };
            procs.push(http::serve(&mut self.lab, &ns, &name, &bind, port, 1)?);
            if self.servers[i].inside {
                // The download (http::serve wrote a placeholder).
                let dir = std::env::temp_dir().join(format!("{}-{}-{name}-{port}", self.lab.id(), ns.name()));
                std::fs::write(dir.join("big.bin"), &self.download)?;
            }
        }
        if self.servers[i].inside {
            procs.push(topo::echo_server(&mut self.lab, &ns, &name, &addr)?);
            let udp = lab_scripts().join("udp_echo.py");
            procs.push(self.lab.spawn(&ns, "python3", &["-u", udp.to_str().context("path")?, &name, &addr, "53"])?);
        }
        self.servers[i].procs = procs;
        Ok(())
    }

    /// Stops real server `i`'s serving processes (SIGKILL: a crash).
    pub fn kill_server(&mut self, i: usize) {
        for h in std::mem::take(&mut self.servers[i].procs) {
            let _ = self.lab.stop(h, Duration::ZERO);
        }
    }

    /// Starts director `k`: rvsd, then keepalived.
    pub fn start_director(&mut self, k: usize) -> Result<()> {
        let ns = self.lbs[k].clone();
        let r = self.lab.rvsd(&ns, &director_config(k))?;
        self.rvsd_starts.push((k, r.handle));
        self.rvsd[k] = Some(r);
        let conf = keepalived_config(k, ns.name());
        self.keepalived[k] = Some(crate::keepalived::start(&mut self.lab, &ns, &conf)?);
        Ok(())
    }

    /// Kills director `k` (SIGKILL to everything in it: a power cut); returns once its rvsd is
    /// dead (bounded), so what comes after is the failover's.
    pub fn kill_director(&mut self, k: usize) {
        let pid = self.rvsd[k].as_ref().and_then(|r| self.lab.pid(r.handle));
        self.lab.kill_all_in(&self.lbs[k]);
        if let Some(pid) = pid {
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(2) {
                let state = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                if state.is_empty() || state.lines().any(|l| l.starts_with("State:") && l.contains('Z')) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.rvsd[k] = None;
        self.keepalived[k] = None;
    }

    /// The director that holds the VIP, if one does.
    pub fn master(&self) -> Option<usize> {
        (0..2).find(|&k| self.report(k).is_some_and(|r| r["services"][0]["held"].as_bool() == Some(true)))
    }

    /// Director `k`'s `-L -n --json` report, when its rvsd runs and answers.
    pub fn report(&self, k: usize) -> Option<serde_json::Value> {
        let r = self.rvsd[k].as_ref()?;
        let (code, out, _) = crate::admin::rvsadm(&r.socket, &["-L", "-n", "--json"], "");
        if code != 0 {
            return None;
        }
        serde_json::from_str(&out).ok()
    }
}

/// The sha256 of a file, by `sha256sum`.
fn sha256_of(path: &std::path::Path) -> Result<String> {
    let out = std::process::Command::new("sha256sum").arg(path).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_owned())
}
