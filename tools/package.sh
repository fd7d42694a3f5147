#!/usr/bin/env bash
# Builds the Debian package (target/debian/rvs_VERSION_ARCH.deb) with cargo-deb: the release
# binaries, their manual pages and shell completions (generated from the binaries' own option
# definitions), /etc/rvs/rvs.toml as a conffile, rvsd.service and the /run/rvs tmpfiles entry
# (packaging/). Installs cargo-deb into ~/.cargo/bin first when it is missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo deb --version >/dev/null 2>&1; then
  echo "package: installing cargo-deb"
  cargo install cargo-deb --locked --quiet
fi
cargo build --release --workspace --bins --quiet
gen=target/release/package-docs
rm -rf "$gen" && mkdir -p "$gen/man" "$gen/completions"
for b in rvsd rvsadm; do
  "target/release/$b" --man-page > "$gen/man/$b.8"
  "target/release/$b" --completions bash > "$gen/completions/$b.bash"
  "target/release/$b" --completions zsh > "$gen/completions/_$b"
  "target/release/$b" --completions fish > "$gen/completions/$b.fish"
done
gzip -9n "$gen"/man/*.8
cargo deb -p rvsd --no-build --output target/debian/ "$@"
ls -1 target/debian/*.deb
