//! Writes the fuzz seeds (real frames of every path, in the harness's format) to
//! `appliance/core/fuzz/seeds/process/`: `cargo run -p rvs-core --example fuzz_seeds`.

#[path = "../tests/common/mod.rs"]
mod common;

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/process");
    std::fs::create_dir_all(&dir)?;
    for (name, input) in common::seeds() {
        std::fs::write(dir.join(format!("{name}.bin")), input)?;
    }
    println!("wrote seeds to {}", dir.display());
    Ok(())
}
