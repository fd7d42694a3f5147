//! Binds the system DPDK found by `pkg-config libdpdk`.
//!
//! All of pkg-config's cflags go to both bindgen and the C shim: they carry
//! `-include rte_config.h -march=...`, which the `pkg-config` crate does not expose.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn pkg_config(arg: &str) -> Vec<String> {
    let out = Command::new("pkg-config").args([arg, "libdpdk"]).output().unwrap_or_else(|e| {
        panic!("cannot run pkg-config ({e}); install pkg-config and libdpdk-dev (tools/setup.sh does)")
    });
    if !out.status.success() {
        panic!(
            "pkg-config {arg} libdpdk failed: {}\ninstall libdpdk-dev (tools/setup.sh does)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).expect("pkg-config output is UTF-8").split_whitespace().map(str::to_owned).collect()
}

fn main() {
    println!("cargo:rerun-if-changed=src/shim.c");
    println!("cargo:rerun-if-changed=src/shim.h");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let cflags = pkg_config("--cflags");

    // The shim: real symbols for DPDK's static-inline burst and mbuf calls.
    let mut build = cc::Build::new();
    build.file("src/shim.c").opt_level(3).warnings(true);
    for flag in &cflags {
        build.flag(flag);
    }
    build.compile("rvs_dpdk_shim");

    // Dynamic link: each -l as a dylib; EAL loads the PMD plugins itself.
    for flag in pkg_config("--libs") {
        if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        } else if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        }
    }

    let bindings = bindgen::Builder::default()
        .header("src/shim.h")
        .clang_args(&cflags)
        .allowlist_function("rte_.*")
        .allowlist_function("rvs_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("SOCKET_ID_ANY")
        // Packed-and-aligned structs rustc refuses (E0588).
        .opaque_type("rte_arp_ipv4")
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_gtp_psc_.*")
        .blocklist_type("max_align_t")
        .derive_debug(false)
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen failed on the DPDK headers");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("bindings.rs");
    bindings.write_to_file(out).expect("write bindings.rs");
}
