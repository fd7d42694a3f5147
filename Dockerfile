# rvs on Debian 12. Installs exactly tools/packages.txt (the README's list), builds release.
# DPDK wants the host's NICs and hugepages: run with --privileged --network host (and mount
# /dev/hugepages) on a real box.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY tools/packages.txt tools/packages.txt
RUN apt-get update \
 && grep -v '^\s*#' tools/packages.txt | grep -v '^\s*$' \
    | xargs env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --workspace --bins

FROM debian:bookworm-slim
COPY tools/packages.txt /tmp/packages.txt
RUN apt-get update \
 && grep -v '^\s*#' /tmp/packages.txt | grep -v '^\s*$' \
    | xargs env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/rvsd /src/target/release/rvsadm /src/target/release/rvs-bridge /src/target/release/rvs-demo /usr/local/bin/
COPY docs/rvs.example.toml /etc/rvs/rvs.example.toml
# Mount the real configuration at /etc/rvs/rvs.toml.
ENTRYPOINT ["rvsd", "--config", "/etc/rvs/rvs.toml"]
