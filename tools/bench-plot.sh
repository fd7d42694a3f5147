#!/usr/bin/env bash
# Plots rvs-bench's figures (JSON lines, as tools/bench.sh collects them) with gnuplot:
#   DIR/bench-flows.png  Mpps per core against concurrent connections (section rvs_bench_scale)
#   DIR/bench-cores.png  Mpps in total against worker cores (section rvs_bench_cores)
# Usage: tools/bench-plot.sh FILE.jsonl DIR
set -euo pipefail
json="$1"
dir="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 - "$json" "$tmp" <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = sys.argv[2]
flows = collections.defaultdict(dict)
cores = collections.defaultdict(dict)
for r in rows:
    if r["size"] != "64" or r["syn_percent"] != 0:
        continue
    if r["section"] == "rvs_bench_scale" and r["cores"] == 1:
        flows[r["mode"]][r["flows"]] = r["mpps_per_core"]
    if r["section"] == "rvs_bench_cores":
        cores[(r["mode"], r["flows"])][r["cores"]] = r["mpps"]
for mode, pts in flows.items():
    if len(pts) > 1:
        with open(f"{out}/flows-{mode}.dat", "w") as f:
            for k in sorted(pts):
                f.write(f"{k} {pts[k]}\n")
for (mode, n), pts in cores.items():
    if len(pts) > 1:
        with open(f"{out}/cores-{mode}-{n}.dat", "w") as f:
            for k in sorted(pts):
                f.write(f"{k} {pts[k]}\n")
PY
plot() { # output, xlabel, logscale?, files...
  local png="$1" xlabel="$2" log="$3"; shift 3
  local series=()
  for f in "$@"; do
    local t; t="$(basename "$f" .dat)"
    series+=("'$f' using 1:2 with linespoints lw 2 pt 7 title '${t#*-}'")
  done
  gnuplot <<GP
set terminal pngcairo size 900,500 noenhanced
set output '$png'
set xlabel '$xlabel'
set ylabel 'Mpps'
set yrange [0:*]
set grid
set key outside right
$log
plot $(IFS=,; echo "${series[*]}")
GP
}
shopt -s nullglob
f=("$tmp"/flows-*.dat)
[ ${#f[@]} -gt 0 ] && plot "$dir/bench-flows.png" 'concurrent connections (1 worker core, 64-byte frames)' 'set logscale x; set format x "%.0s%c"' "${f[@]}"
c=("$tmp"/cores-*.dat)
[ ${#c[@]} -gt 0 ] && plot "$dir/bench-cores.png" 'worker cores (64-byte frames; series: mode-flows)' 'set xtics 1' "${c[@]}"
echo "bench-plot: wrote $(ls "$dir"/bench-*.png 2>/dev/null | tr '\n' ' ')"
