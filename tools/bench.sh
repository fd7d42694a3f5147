#!/usr/bin/env bash
# Reproduces every figure in docs/BENCHMARKS.md: runs the benches, then writes their results
# into the generated sections of that file (and the plots beside it). Benches are separate
# from `cargo test`. Takes about ten minutes on a 2-core VM; needs ~6 GiB of memory (the
# 10 M-connection run and the new-connection runs size their tables up front).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/install-deps.sh tools/bench-packages.txt
export PATH="$HOME/.cargo/bin:$PATH"
doc=docs/BENCHMARKS.md

# The pure core on frames in plain memory (criterion), and the schedulers.
cargo bench -p rvs-core --bench pipeline --bench sched
cargo run --release -q -p rvs-tools --bin rvs-bench-report -- --write "$doc" --command tools/bench.sh

# Maglev disruption (deterministic: printed by the scheduler test).
mh=$(cargo test -q -p rvs-core --test sched -- --nocapture maglev 2>&1 | grep '^mh: removing')
cargo run --release -q -p rvs-tools --bin rvs-bench-report -- --write "$doc" --section mh_disruption \
  --body "\`cargo test -p rvs-core --test sched -- --nocapture maglev\`: ${mh#mh: }"

# rvsd's worker loop on real mbufs (rvs-bench); every run appends its figures to $json.
cargo build --release -q -p rvs-tools --bin rvs-bench
mkdir -p target/bench
json=target/bench/rvs-bench.jsonl
rm -f "$json"
run() { target/release/rvs-bench --write "$doc" --json "$json" "$@"; }
run --section rvs_bench --modes dr,tun,nat-in,nat-out,nat,fnat-in,fnat-out,fnat --sizes 64,imix --flows 1000 --seconds 3
run --section rvs_bench_newconn --modes dr,tun,nat-in,fnat-in --syn-percent 100 --flows 1000 --seconds 1
# A million-prefix deny list: new connections without it, then with it.
run --section rvs_bench_access_off --modes nat-in --syn-percent 100 --flows 1000 --seconds 2
run --section rvs_bench_access_on --modes nat-in --syn-percent 100 --flows 1000 --seconds 2 --deny-prefixes 1000000
run --section rvs_bench_blackhole --modes nat-in --flows 1000,1000000 --seconds 2 --deny-prefixes 1000000 --blackhole
run --section rvs_bench_scale --modes dr,nat-in --flows 1000,100000,1000000,10000000 --seconds 2
run --section rvs_bench_cores --modes dr,nat --cores 1,2 --flows 1000,1000000 --seconds 2
# A SYN flood (10% of the frames) on a full table: established packets' rate with and without it.
run --section rvs_bench_flood --modes dr,nat-in --flood --syn-percent 10 --scheduler mh --flows 1000 --seconds 2
# The loop's latency while the control thread lists 1 M connections (rvsadm -L -c), and without.
run --section rvs_bench_listing_idle --modes dr --flows 1000000 --seconds 4
run --section rvs_bench_listing --modes dr --flows 1000000 --seconds 4 --listing
# IPv6: the same forwarding on IPv6 flows (their own table, two cache lines an entry).
run --section rvs_bench_ipv6 --modes dr6,tun6,nat-in6,nat-out6,fnat-in6,fnat-out6 --flows 1000,1000000 --seconds 2

# Instructions per packet under callgrind (repeatable where timings are not).
cargo build --release -q -p rvs-core --example ipp --example ipp6 --example ipp_flood
run_ipp() { valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/ipp "$@" 2>&1; }
run_ipp6() { valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/ipp6 "$@" 2>&1; }
run_ipp_flood() { valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/ipp_flood "$@" 2>&1; }
ipp=target/bench/ipp.txt
{
  for mode in dr tun nat-in nat-out fnat-in fnat-out; do
    for n in 100000 200000; do
      printf '%s %s ' "$mode" "$n"
      run_ipp "$mode" "$n" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    done
  done
  # As from a NIC that verified the IPv4 header checksum (RTE_MBUF_F_RX_IP_CKSUM_GOOD).
  for mode in dr nat-in nat-out fnat-in; do
    for n in 100000 200000; do
      printf '%s-nic-checksum %s ' "$mode" "$n"
      run_ipp "$mode" "$n" --rx-checksum | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    done
  done
  for mode in dr tun nat-in nat-out; do
    for n in 100000 200000; do
      printf '%s6 %s ' "$mode" "$n"
      run_ipp6 "$mode" "$n" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    done
  done
  for mode in dr nat-in; do
    for n in 100000 200000; do
      printf 'flood-%s %s ' "$mode" "$n"
      run_ipp_flood "$mode" "$n" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    done
  done
} > "$ipp"
cargo run --release -q -p rvs-tools --bin rvs-bench-report -- --write "$doc" --ipp-from "$ipp"

# rvsd against nftables, HAProxy and nginx stream in one lab (needs root for namespaces).
cargo build --release -q -p rvsd -p rvs-tools --bins
compare=target/bench/compare.jsonl
rm -f "$compare"
if [ "$(id -u)" -eq 0 ]; then
  target/release/rvs-compare --seconds 10 --write "$doc" --json "$compare"
else
  echo "bench.sh: not root: the comparison section (rvs-compare) is left as it was"
fi

# The targets table: each target against this run's figures, with tools/bench-targets.toml's
# reason and next step for those not met.
cargo run --release -q -p rvs-tools --bin rvs-bench-report -- --write "$doc" --targets tools/bench-targets.toml \
  --bench-json "$json" --ipp-file "$ipp" --compare-json "$compare"

tools/bench-plot.sh "$json" docs
echo "bench.sh: docs/BENCHMARKS.md and docs/bench-*.png regenerated"
