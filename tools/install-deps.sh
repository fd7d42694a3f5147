#!/usr/bin/env bash
# Installs the Debian packages in tools/packages.txt (or the list file given as $1, e.g.
# tools/bench-packages.txt) that are missing. Idempotent: with all of them present it changes
# nothing and touches no network.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
list="${1:-$here/packages.txt}"
mapfile -t wanted < <(grep -v '^\s*#' "$list" | grep -v '^\s*$')
missing=()
for p in "${wanted[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # Packages with a daemon (nginx, haproxy) must not start it on the host: they only run
  # inside lab namespaces. policy-rc.d is Debian's switch for that (kept if one exists).
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    guard=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$guard" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || {
  echo "install-deps: no Rust toolchain (cargo) found; install one with rustup (Rust >= 1.80)" >&2
  exit 1
}
pkg-config --exists libdpdk || { echo "install-deps: libdpdk not visible to pkg-config" >&2; exit 1; }
# cargo-deb builds the Debian package (tools/package.sh; the test suite checks the package).
if [ "$list" = "$here/packages.txt" ] && ! cargo deb --version >/dev/null 2>&1; then
  echo "install-deps: installing cargo-deb"
  cargo install cargo-deb --locked --quiet
fi
echo "install-deps: all packages present (DPDK $(pkg-config --modversion libdpdk), $(cargo --version))"
