//! rvsadm against a running rvsd, as an operator types it.

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
