#!/usr/bin/env bash
# Reproduces every figure in docs/BENCHMARKS.md: runs the benches, then writes their results
# into the generated sections of that file. Benches are separate from `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo bench -p rvs-core --bench pipeline --bench sched
cargo run --release -q -p rvs-tools --bin rvs-bench-report -- --write docs/BENCHMARKS.md --command tools/bench.sh
cargo run --release -q -p rvs-tools --bin rvs-bench -- --seconds 3 --write docs/BENCHMARKS.md
