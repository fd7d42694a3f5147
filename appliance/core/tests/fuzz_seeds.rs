//! The fuzz harness on stable, in CI: every committed seed (and a few mutations of each) runs
//! through `Pipeline::process` with the harness's invariants, and the committed seeds are the
//! ones `examples/fuzz_seeds.rs` generates.

mod common;

#[test]
fn committed_seeds_are_current_and_pass_the_harness() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/process");
    for (name, input) in common::seeds() {
        let on_disk = std::fs::read(dir.join(format!("{name}.bin"))).unwrap_or_default();
        assert!(on_disk == input, "seed {name} is stale: run `cargo run -p rvs-core --example fuzz_seeds`");
        common::harness::run(&input);
        // Cheap deterministic mutations: flip each byte in turn (bounded), truncate.
        for i in (0..input.len()).step_by(7) {
            let mut m = input.clone();
            m[i] ^= 0x5a;
            common::harness::run(&m);
        }
        for cut in (0..input.len()).step_by(13) {
            common::harness::run(&input[..cut]);
        }
    }
}
