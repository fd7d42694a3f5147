//! keepalived (Debian's, unmodified, VRRP only) in a lab namespace.

use super::{Lab, Ns};
use anyhow::Result;

/// Starts keepalived in `ns` with configuration text `conf` (its pid files in a scratch
/// directory of their own); returns its handle.
pub fn start(lab: &mut Lab, ns: &Ns, conf: &str) -> Result<usize> {
    let dir = lab.scratch_dir(&format!("keepalived-{}", ns.name()))?;
    let path = dir.join("keepalived.conf");
    std::fs::write(&path, conf)?;
    let (pid, vrrp_pid) = (dir.join("keepalived.pid"), dir.join("vrrp.pid"));
    // A killed keepalived leaves its pid files; a new one must not take them for a live daemon.
    let _ = std::fs::remove_file(&pid);
    let _ = std::fs::remove_file(&vrrp_pid);
    let s = |p: &std::path::Path| p.to_string_lossy().into_owned();
    lab.spawn(ns, "keepalived", &["-n", "-l", "-P", "-f", &s(&path), "-p", &s(&pid), "-r", &s(&vrrp_pid)])
}
