//! The rvsd binary's command line: `--check` accepts the example configuration and refuses a
//! bad one with the file, line and key named, and a non-zero exit.

use std::process::Command;

fn rvsd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rvsd"))
}

#[test]
fn check_accepts_the_example_configuration() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rvs.example.toml");
    let out = rvsd().args(["--check", "--config", example]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("is valid: 2 port(s), 4 service(s), 6 real server(s), 1 worker(s)"), "{text}");
}

#[test]
fn check_refuses_a_bad_file_naming_line_and_key() {
    let dir = std::env::temp_dir().join(format!("rvsd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\n\n[[service]]\nprotocol = \"icmp\"\nvip = \"10.0.0.100\"\nport = 80\n",
    )
    .unwrap();
    let out = rvsd().args(["--check", "--config", bad.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}:7:", bad.display())), "line 7 named: {err}");
    assert!(err.contains("service[0].protocol") && err.contains("expected tcp, udp or sctp"), "{err}");
    let missing = rvsd().args(["--check", "--config", "/nonexistent/rvs.toml"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/rvs.toml"));
    let _ = std::fs::remove_dir_all(&dir);
}
