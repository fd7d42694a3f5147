#!/usr/bin/env bash
# The whole test suite: installs what is missing, checks formatting and lints, builds the
# binaries the lab tests run, and runs every test. Lab tests skip (saying why) when not root.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo build --workspace --bins
cargo test --workspace --no-fail-fast
