//! A host of the lab: one network namespace, and the commands, addresses and routes run in it.

use super::{check, ip, run_bounded};
use anyhow::{anyhow, Result};
use std::process::{Command, Output};
use std::time::Duration;

/// A host of the lab: one network namespace.
#[derive(Debug, Clone)]
pub struct Ns {
    pub(crate) name: String,
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

    /// Adds an address to a device here (an IPv6 one without duplicate address detection, so
    /// it is usable at once instead of tentative for a second).
    pub fn addr(&self, dev: &str, cidr: &str) -> Result<()> {
        if cidr.contains(':') {
            return self.ip(&["addr", "add", cidr, "dev", dev, "nodad"]).map(drop);
        }
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
        // Nor does the kernel send from it: no IPv6 link-local address, no duplicate address
        // detection, router solicitation or MLD of its own beside rvsd's NDP.
        self.sysctl(&format!("net.ipv6.conf.{dev}.disable_ipv6"), "1")?;
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
