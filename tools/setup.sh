#!/usr/bin/env bash
# The main job: installs what is missing, builds rvs (release), and runs the demo in its own
# netns lab with real traffic through rvs's DPDK dataplane. Needs root (apt, namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --workspace --bins
exec target/release/rvs-demo "$@"
