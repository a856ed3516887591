#!/usr/bin/env bash
# Installs what berth and its tests need on Debian 12 (run as root). Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential pkg-config libseccomp-dev \
  busybox-static debootstrap tar gzip zstd xz-utils ca-certificates \
  skopeo podman runc uidmap docker-registry apache2-utils \
  iproute2 util-linux nftables iptables hyperfine tini bc curl openssl >/dev/null
# podman (a peer in tests and benchmarks) needs these limits and runc on this machine kind.
mkdir -p /etc/containers
if ! grep -qs 'berth: podman peer settings' /etc/containers/containers.conf; then
  cat >> /etc/containers/containers.conf <<'CONF'
# berth: podman peer settings
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
CONF
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is not installed: install a current Rust toolchain (rustup) and run again" >&2
  exit 1
fi
