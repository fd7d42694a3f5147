#!/usr/bin/env bash
# The whole test suite: installs what is missing, checks formatting and lints, builds the
# binaries the lab tests run, and runs every test. Lab tests skip (saying why) when not root.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/install-deps.sh tools/bench-packages.txt # the comparison's balancers, for its smoke test
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo build --workspace --bins
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The seqlock under loom's model checker (its own cfg, so its own target directory).
RUSTFLAGS="--cfg loom" cargo test -p rvs-core --release --test seqlock_loom --target-dir target/loom 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
set -e
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i; if ($(i+1) ~ /^ignored;?$/) s += $i } }
     END { printf "summary: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
skipped=$(grep -c '^SKIPPED' "$log" || true)
[ "$skipped" -eq 0 ] || echo "($skipped lab tests skipped: not root)"
exit "$status"
