//! rvs-bench drives rvsd's worker loop on real mbufs in every mode, on one and two cores, with
//! new connections and IMIX, and reports consistent figures (a functional check, not a timing
//! one: speed figures belong in docs/BENCHMARKS.md, not in assertions).

use std::process::Command;

fn bench(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rvs-bench")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn rvs_bench_runs_rvsds_worker_loop_in_every_mode() {
    let dir = std::env::temp_dir().join(format!("rvs-bench-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("runs.jsonl");
    let md = dir.join("b.md");
    std::fs::write(&md, "# b\n").unwrap();
    let j = json.to_str().unwrap();
    let (ok, out, err) = bench(&[
        "--seconds",
        "0.2",
        "--flows",
        "200",
        "--sizes",
        "64,imix",
        "--cores",
        "1,2",
        "--json",
        j,
        "--write",
        md.to_str().unwrap(),
        "--section",
        "smoke",
    ]);
    assert!(ok, "{out}{err}");
    let (ok, out2, err) = bench(&[
        "--seconds",
        "0.2",
        "--flows",
        "100",
        "--modes",
        "dr,nat-in,fnat-in",
        "--syn-percent",
        "50",
        "--json",
        j,
    ]);
    assert!(ok, "{out2}{err}");
    // FULLNAT's replies go to local ports, on the worker whose share each port is.
    let (ok, out3, err) = bench(&[
        "--seconds",
        "0.2",
        "--flows",
        "200",
        "--modes",
        "fnat-out,fnat,fnat-out6",
        "--cores",
        "1,2",
        "--json",
        j,
    ]);
    assert!(ok, "{out3}{err}");

    let runs: Vec<serde_json::Value> =
        std::fs::read_to_string(&json).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        runs.len(),
        5 * 2 * 2 + 3 + 3 * 2,
        "every mode x size x cores, the SYN runs, FULLNAT's:\n{out}{out2}{out3}"
    );
    for r in &runs {
        assert_eq!(r["drops"], 0, "{r}");
        assert!(r["mpps"].as_f64().unwrap() > 0.0 && r["ns"].as_f64().unwrap() > 0.0, "{r}");
        let parts = r["dataplane_ns"].as_f64().unwrap() + r["port_ns"].as_f64().unwrap();
        assert!(
            (parts - r["ns"].as_f64().unwrap()).abs() < 0.01 * r["ns"].as_f64().unwrap(),
            "ns = dataplane + port: {r}"
        );
        let v6 = r["mode"].as_str().unwrap().ends_with('6');
        assert_eq!(r["conn_entry_bytes"], if v6 { 128 } else { 64 }, "{r}");
        let syn = r["syn_percent"].as_u64().unwrap() > 0;
        assert_eq!(r["new_conns_per_s"].as_f64().unwrap() > 0.0, syn, "{r}");
        if r["size"] == "imix" {
            assert!(r["gbps"].as_f64().unwrap() / r["mpps"].as_f64().unwrap() > 2.8, "IMIX averages 362 bytes: {r}");
        }
    }
    let doc = std::fs::read_to_string(&md).unwrap();
    assert!(doc.contains("<!-- BEGIN smoke -->") && doc.contains("| nat-out | IMIX | 200 | 2 |"), "{doc}");
    std::fs::remove_dir_all(&dir).unwrap();

    for (args, want) in [
        (&["--modes", "fullnat"][..], "invalid value 'fullnat'"),
        (&["--sizes", "9000"][..], "--sizes: 9000 is outside 64..=1518"),
        (
            &["--modes", "nat-out", "--syn-percent", "10", "--seconds", "0.01"][..],
            "--syn-percent needs a mode with client traffic",
        ),
    ] {
        let (ok, _, err) = bench(args);
        assert!(!ok && err.contains(want), "{args:?}: {err}");
    }
}
