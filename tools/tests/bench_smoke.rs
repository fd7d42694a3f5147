//! rvs-bench runs on real mbufs and reports every mode (a functional check, not a timing one:
//! speed figures belong in docs/BENCHMARKS.md, not in assertions).

#[test]
fn rvs_bench_runs_every_mode_on_real_mbufs() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rvs-bench"))
        .args(["--seconds", "0.05", "--flows", "64"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for mode in ["dr", "tun", "nat-in", "nat-out"] {
        let line = text.lines().find(|l| l.starts_with(mode)).unwrap_or_else(|| panic!("no {mode} line:\n{text}"));
        assert!(line.contains("Mpps") && line.contains("cycles/packet"), "{line}");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_rvs-bench"))
        .args(["--modes", "fullnat", "--seconds", "0.01"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown mode \"fullnat\""));
}
