#!/usr/bin/env bash
# Installs prerequisites, then runs berth's whole test suite (unit and integration).
# Integration tests drive the real binary as root: namespaces, overlay, podman, skopeo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads=2
