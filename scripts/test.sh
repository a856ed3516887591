#!/usr/bin/env bash
# Installs prerequisites, then runs berth's whole test suite (unit and integration) and
# the five examples end to end. Integration tests drive the real binary as root:
# namespaces, overlay, bridges, podman, skopeo, buildah, docker-registry, debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads=2
BERTH="$PWD/target/debug/berth" bash examples/run-all.sh
