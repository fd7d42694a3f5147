#!/usr/bin/env bash
# Packs a DPDK program (e.g. target/release/rvs-bench) with every shared library it needs, the dynamic
# loader and DPDK's mempool drivers into one folder that runs on any x86-64 Linux, also one without DPDK
# or this glibc installed (such as a borrowed many-core machine).
#
#   tools/pack-bench.sh target/release/rvs-bench target/pack
#   target/pack/run --modes dr --cores 1,2,4,8,14 ...      # on the other machine
#
# The wrapper `run` starts the program through the packed loader and exports RVS_EAL_ARGS with a
# `-d FILE` for each packed DPDK driver: the program appends the words of RVS_EAL_ARGS to its EAL
# arguments (EAL cannot find drivers in a plugin directory that does not exist there). EAL refuses to
# load a driver from under a world-writable directory (such as /tmp): keep OUTDIR inside the checkout.
# rvs-bench pins its workers to the CPUs its affinity mask allows (`taskset -c 2-15 run ...` works).
# Copy the folder over (`tar czf pack.tgz -C target pack`) and run `pack/run --help` there.
set -euo pipefail
bin=${1:?usage: pack-bench.sh BINARY OUTDIR}
out=${2:?usage: pack-bench.sh BINARY OUTDIR}
[ -x "$bin" ] || { echo "pack-bench: $bin is not an executable" >&2; exit 1; }
case "$(realpath -m "$out")" in /tmp/*|/var/tmp/*|/dev/shm/*) echo "pack-bench: EAL will not load drivers from under $(dirname "$out"); pack inside the checkout (e.g. target/pack)" >&2; exit 1;; esac
rm -rf "$out"; mkdir -p "$out/lib"
cp "$bin" "$out/"
libs() { ldd "$1" | awk '/=> \//{print $3} /^\s*\/lib.*ld-linux/{print $1}'; }
for l in $(libs "$bin"); do cp -L "$l" "$out/lib/"; done
cp -L /lib64/ld-linux-x86-64.so.2 "$out/lib/"
drivers=()
for d in /usr/lib/x86_64-linux-gnu/librte_mempool_ring.so.*; do
  [ -e "$d" ] || continue
  case "$d" in *.so.*.*) continue;; esac          # the soname link only
  cp -L "$d" "$out/lib/"; drivers+=("$(basename "$d")")
  for l in $(libs "$d"); do cp -nL "$l" "$out/lib/"; done
done
name=$(basename "$bin")
{
  echo '#!/bin/sh'
  echo 'here=$(cd "$(dirname "$0")" && pwd)'
  printf 'RVS_EAL_ARGS="${RVS_EAL_ARGS:-}'
  for d in "${drivers[@]}"; do printf ' -d $here/lib/%s' "$d"; done
  echo '"; export RVS_EAL_ARGS'
  echo "exec \"\$here/lib/ld-linux-x86-64.so.2\" --library-path \"\$here/lib\" \"\$here/$name\" \"\$@\""
} > "$out/run"
chmod +x "$out/run"
echo "pack-bench: $out ($(du -sh "$out" | cut -f1)): run it as $out/run ARGS"
