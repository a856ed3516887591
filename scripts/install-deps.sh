#!/usr/bin/env bash
# Installs what berth and its tests need on Debian 12 (run as root). Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $(grep -v '^#' "$(dirname "$0")/apt-packages.txt") >/dev/null
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
