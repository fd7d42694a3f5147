//! The Debian package (`tools/package.sh`, cargo-deb): built, unpacked into a clean directory
//! tree, and checked as dpkg would install it — the binaries, the conffile that the installed
//! `rvsd --check` accepts, the unit (`systemd-analyze verify` where systemd is present), the
//! tmpfiles entry, the manual pages and completions, and the DPDK libraries among its
//! dependencies.

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Builds the package (incremental after the first time) and returns its path.
fn build() -> PathBuf {
    let root = rvs_lab::workspace_root();
    let listing = run(Command::new("bash").arg(root.join("tools/package.sh")).current_dir(&root));
    let deb = listing.lines().rev().find(|l| l.ends_with(".deb")).expect("package.sh names the .deb");
    root.join(deb.trim())
}

#[test]
fn the_package_installs_a_checked_config_a_unit_and_the_manuals() {
    let deb = build();
    let info = run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert!(info.contains("Package: rvs"), "{info}");
    let depends = info.lines().find(|l| l.trim_start().starts_with("Depends:")).unwrap_or("").to_owned();
    assert!(depends.contains("librte-"), "DPDK's runtime libraries are dependencies: {depends}");
    let tree = std::env::temp_dir().join(format!("rvs-package-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(&tree).unwrap();
    let result = std::panic::catch_unwind(|| check_tree(&deb, &tree));
    let _ = std::fs::remove_dir_all(&tree);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn check_tree(deb: &Path, tree: &Path) {
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(tree));
    let control = tree.join("DEBIAN");
    run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).expect("a conffiles list");
    assert!(conffiles.lines().any(|l| l == "/etc/rvs/rvs.toml"), "{conffiles}");
    for f in [
        "usr/sbin/rvsd",
        "usr/sbin/rvsadm",
        "usr/bin/rvs-bench",
        "usr/lib/systemd/system/rvsd.service",
        "usr/lib/tmpfiles.d/rvs.conf",
        "usr/share/man/man8/rvsd.8.gz",
        "usr/share/man/man8/rvsadm.8.gz",
        "usr/share/bash-completion/completions/rvsadm",
    ] {
        assert!(tree.join(f).exists(), "{f} is installed");
    }
    // The installed rvsd accepts the shipped configuration.
    let conf = tree.join("etc/rvs/rvs.toml");
    let check = run(Command::new(tree.join("usr/sbin/rvsd")).arg("--check").arg("--config").arg(&conf));
    assert!(check.contains("is valid"), "{check}");
    let tmpfiles = std::fs::read_to_string(tree.join("usr/lib/tmpfiles.d/rvs.conf")).unwrap();
    assert!(tmpfiles.lines().any(|l| l.starts_with("d /run/rvs ")), "{tmpfiles}");
    let man = run(Command::new("sh")
        .arg("-c")
        .arg(format!("zcat {} | head -20", tree.join("usr/share/man/man8/rvsadm.8.gz").display())));
    assert!(man.contains(".TH rvsadm 8"), "a roff manual page in section 8:\n{man}");
    let unit = tree.join("usr/lib/systemd/system/rvsd.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for k in ["Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID"] {
        assert!(text.contains(k), "{k} in the unit");
    }
    match Command::new("systemd-analyze").arg("--version").output() {
        Ok(o) if o.status.success() => {
            // Verify the unit as installed: its ExecStart must point at the tree's rvsd.
            let staged = tree.join("rvsd.service");
            let sbin = tree.join("usr/sbin");
            std::fs::write(&staged, text.replace("/usr/sbin", sbin.to_str().unwrap())).unwrap();
            // --man=no: the manual pages are in the tree (checked above), not yet on this host.
            let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&staged).output().unwrap();
            let msg = String::from_utf8_lossy(&out.stderr).to_string();
            // Only lines about this unit count (the host's other units may have their own issues).
            let ours: Vec<&str> = msg.lines().filter(|l| l.contains("rvsd.service")).collect();
            assert!(out.status.success() && ours.is_empty(), "systemd-analyze verify:\n{msg}");
        }
        _ => eprintln!("package: systemd-analyze verify skipped: systemd-analyze is not installed here"),
    }
}
