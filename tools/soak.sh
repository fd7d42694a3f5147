#!/bin/bash
# The soak-and-chaos run (issue 28): a keepalived VRRP pair of rvsd in front of NAT, FULLNAT, DR,
# TUN and SYN-proxied services under steady load, faults injected at random times from a seed;
# writes docs/RELIABILITY.md. As root, after tools/setup.sh.
#   tools/soak.sh [--minutes N (10)] [--seed S] [--no-faults] [--out FILE|-]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --bin rvsd --bin rvsadm
cargo run --release -q -p rvs-lab --bin soak -- "$@"
