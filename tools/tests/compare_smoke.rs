//! rvs-compare sets up each contender in the lab and measures it (a functional check: every
//! balancer answers, spreads new connections over both real servers, wrk's report is read, and
//! rvs-gen's UDP reaches the real servers through the UDP balancers;
//! the figures themselves belong in docs/BENCHMARKS.md).

#[test]
fn rvs_compare_measures_every_contender() {
    rvs_lab::require_lab!();
    let md = std::env::temp_dir().join(format!("rvs-compare-smoke-{}.md", std::process::id()));
    std::fs::write(&md, "# c\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rvs-compare"))
        .args([
            "--seconds",
            "1",
            "--pps-seconds",
            "1",
            "--connections",
            "8",
            "--threads",
            "1",
            "--write",
            md.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for name in ["rvsd", "nftables", "haproxy", "nginx"] {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} line:\n{text}"));
        assert!(line.contains("errors 0") && line.contains("split 10:10"), "{line}");
        let rps: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(rps > 0.0, "{line}");
        // The UDP balancers also carry rvs-gen's 64-byte datagrams to the real servers.
        if matches!(name, "rvsd" | "nftables") {
            let reached: f64 =
                line.split(" pps, ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().parse().unwrap();
            assert!(reached > 1000.0, "{line}");
        }
    }
    let doc = std::fs::read_to_string(&md).unwrap();
    std::fs::remove_file(&md).unwrap();
    assert!(doc.contains("<!-- BEGIN compare -->") && doc.contains("| rvsd |") && doc.contains("| 1.00x |"), "{doc}");
}
