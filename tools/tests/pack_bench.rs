//! tools/pack-bench.sh packs rvs-bench with its libraries, DPDK's mempool driver and the loader
//! into one folder whose `run` wrapper starts it without the host's library paths: every
//! library resolves inside the folder, and the packed program benchmarks.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_packed_rvs_bench_resolves_every_library_inside_its_folder_and_runs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    // EAL loads no driver from a directory with a world-writable ancestor (DPDK's
    // verify_perms), and a checkout may sit under /tmp: pack under the user's cache directory.
    let home = std::env::var_os("HOME").map_or_else(|| root.join("target"), PathBuf::from);
    let out = home.join(".cache").join(format!("rvs-pack-test-{}", std::process::id()));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let packed = Command::new("bash")
        .arg(root.join("tools/pack-bench.sh"))
        .arg(env!("CARGO_BIN_EXE_rvs-bench"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(packed.status.success(), "{}", String::from_utf8_lossy(&packed.stderr));
    let result = std::panic::catch_unwind(|| {
        let lib = out.join("lib");
        // The packed loader's view: every dependency from the folder, none from the host.
        let list = Command::new(lib.join("ld-linux-x86-64.so.2"))
            .args(["--list", "--library-path"])
            .arg(&lib)
            .arg(out.join("rvs-bench"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&list.stdout).to_string();
        let resolved: Vec<&str> = text.lines().filter(|l| l.contains("=> /")).collect();
        assert!(resolved.iter().any(|l| l.contains("librte_eal")), "DPDK is among them:\n{text}");
        let outside: Vec<&&str> = resolved.iter().filter(|l| !l.contains(lib.to_str().unwrap())).collect();
        assert!(outside.is_empty(), "libraries from the host: {outside:?}");
        let run = Command::new(out.join("run"))
            .args(["--modes", "dr", "--seconds", "0.2", "--flows", "100"])
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success() && stdout.contains("Mpps"), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
        // The words of RVS_EAL_ARGS reach EAL (the wrapper's `-d` drivers travel that way).
        let bad = Command::new(out.join("run"))
            .args(["--modes", "dr", "--seconds", "0.2", "--flows", "100"])
            .env("RVS_EAL_ARGS", "--no-such-eal-option")
            .output()
            .unwrap();
        assert!(!bad.status.success(), "EAL refused the unknown option from RVS_EAL_ARGS");
        assert!(String::from_utf8_lossy(&bad.stderr).contains("EAL init"), "{}", String::from_utf8_lossy(&bad.stderr));
    });
    let _ = std::fs::remove_dir_all(&out);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
