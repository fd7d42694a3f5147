#!/usr/bin/env bash
# Before and after of every performance target in one sitting: builds BASE and HEAD (committed
# state) at one checkout path, so that their callgrind counts compare, then runs rvs-bench and
# the scheduler bench for both builds in turn, round after round (a shared VM's speed drifts:
# interleaving gives both builds the same drift), and writes docs/BENCHMARKS.md's `round_ab`
# section (rvs-bench-report --ab) with each build's medians judged against the targets. As
# root it also runs rvs-compare (HEAD's lab) on each build's rvsd, against nftables each round.
#
#   tools/bench-ab.sh [BASE [ROUNDS]]     BASE: default d1eeb2b (before performance round three)
#
# Needs root (DPDK's EAL for rvs-bench) and ~6 GiB of memory (the 10 M-connection runs); takes
# about 10 minutes a round plus two builds. Figures and binaries stay in target/bench-ab.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh tools/bench-packages.txt >/dev/null
export PATH="$HOME/.cargo/bin:$PATH"
base=$(git rev-parse --short "${1:-d1eeb2b}")
head=$(git rev-parse --short HEAD)
rounds=${2:-3}
out=$PWD/target/bench-ab
src=/tmp/rvs-bench-ab-src # the one checkout path both builds are made at
build_dir=/tmp/rvs-bench-ab-target

rm -rf "$out" && mkdir -p "$out"
git worktree remove --force "$src" 2>/dev/null || rm -rf "$src"
git worktree prune
git worktree add -q --detach "$src" "$base"
trap 'git worktree remove --force "$src" 2>/dev/null || true' EXIT

# build REV SIDE LABEL: rvs-bench, ipp and the scheduler bench of REV into $out/SIDE, and
# the callgrind counts of ipp (bench.sh's modes and packet counts).
build() {
  local rev=$1 dir=$out/$2
  mkdir -p "$dir"
  echo "$rev $3" >"$dir/label"
  git -C "$src" checkout -q --detach "$rev"
  (
    cd "$src"
    export CARGO_TARGET_DIR=$build_dir
    cargo build --release -q -p rvs-tools --bin rvs-bench
    cargo build --release -q -p rvsd --bin rvsd
    cargo build --release -q -p rvs-core --example ipp
    cargo bench -p rvs-core --bench sched --no-run 2>&1 |
      sed -n 's/.*Executable.*(\(.*\)).*/\1/p' | head -1 >"$dir/sched-path"
  )
  cp "$build_dir/release/rvs-bench" "$build_dir/release/rvsd" "$build_dir/release/examples/ipp" "$dir/"
  cp "$(cat "$dir/sched-path")" "$dir/sched"
  for mode in dr tun nat-in nat-out fnat-in fnat-out; do
    for n in 100000 200000; do
      printf '%s %s ' "$mode" "$n"
      valgrind --tool=callgrind --callgrind-out-file=/dev/null "$dir/ipp" "$mode" "$n" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    done
  done >"$dir/ipp.txt"
}
build "$base" before "(before)"
build "$head" after "(after, HEAD)"
# The lab and its traffic generator are HEAD's for both builds.
cargo build --release -q -p rvs-tools --bin rvs-compare --bin rvs-gen
cp target/release/rvs-gen "$out/before/"
cp target/release/rvs-gen "$out/after/"

# One round of one build: the targets' rvs-bench runs as bench.sh makes them, and the
# scheduler bench at 1,000 real servers (criterion writes under CARGO_TARGET_DIR).
round() {
  local dir=$out/$1 r=$2
  local bench=("$dir/rvs-bench" --json "$dir/rvs-bench.jsonl")
  "${bench[@]}" --section rvs_bench --modes dr,tun,nat-in,nat-out --flows 1000 --seconds 2
  "${bench[@]}" --section rvs_bench_newconn --modes dr,tun,nat-in,fnat-in --syn-percent 100 --flows 1000 --seconds 1
  "${bench[@]}" --section rvs_bench_scale --modes dr,nat-in --flows 1000,10000000 --seconds 2
  "${bench[@]}" --section rvs_bench_cores --modes dr,nat --cores 1,2 --flows 1000 --seconds 2
  CARGO_TARGET_DIR=$dir/criterion-$r "$dir/sched" --bench --noplot 'sched_new_conn/(lc|wlc|sed|nq)/1000$' |
    grep -E '^sched_new_conn|time:'
  # rvs-compare runs the build's rvsd (RVS_BIN_DIR) on af_packet and AF_XDP, and nftables.
  if [ "$(id -u)" = 0 ]; then
    RVS_BIN_DIR=$dir target/release/rvs-compare --only rvsd,rvsd-xdp,nftables --seconds 10 \
      --json "$dir/compare-$r.jsonl" | grep -E 'requests/s'
    cat "$dir/compare-$r.jsonl" >>"$dir/compare.jsonl"
  fi
}
for r in $(seq 1 "$rounds"); do
  echo "== round $r of $rounds"
  round before "$r"
  round after "$r"
done

cargo run --release -q -p rvs-tools --bin rvs-bench-report -- --write docs/BENCHMARKS.md \
  --command "tools/bench-ab.sh $base $rounds" --ab "$out/before,$out/after"
