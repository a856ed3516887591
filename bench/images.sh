#!/usr/bin/env bash
# Issue 3 benchmark: import, save and load of a ~300 MB rootfs tarball, berth vs podman,
# in the same run (hyperfine), plus the throughput of the layer primitives.
# Usage: bash bench/images.sh   (as root; writes bench/results/images.md)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin berth -q
cargo build --release -p berth-image --example throughput -q
berth="$PWD/target/release/berth"
work=$(mktemp -d /var/tmp/berth-bench.XXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p bench/results
B="$berth --root $work/berth"
P="podman --root $work/podman --runroot $work/podman-run --storage-driver overlay --events-backend none"

# ~300 MB of real files: the host's /usr/bin.
tar -C / -cf "$work/rootfs.tar" usr/bin 2>/dev/null
size=$(stat -c %s "$work/rootfs.tar")
echo "rootfs tarball: $((size / 1000000)) MB"

$B import "$work/rootfs.tar" bench:1 >/dev/null
$P import "$work/rootfs.tar" bench:1 >/dev/null
$B save -o "$work/berth-saved.tar" bench:1
$P save -q -o "$work/podman-saved.tar" bench:1

hyperfine --warmup 1 --runs 5 --export-markdown "$work/import.md" \
  --prepare "$B rmi -f bench:1 >/dev/null 2>&1; $B system prune -f >/dev/null" \
  -n "berth import" "$B import $work/rootfs.tar bench:1" \
  --prepare "$P rmi -f bench:1 >/dev/null 2>&1 || true" \
  -n "podman import" "$P import $work/rootfs.tar bench:1"
$B import "$work/rootfs.tar" bench:1 >/dev/null 2>&1 || true
$P import "$work/rootfs.tar" bench:1 >/dev/null 2>&1 || true

hyperfine --warmup 1 --runs 5 --export-markdown "$work/save.md" \
  --prepare "rm -f $work/out-b.tar" -n "berth save" "$B save -o $work/out-b.tar bench:1" \
  --prepare "rm -f $work/out-p.tar" -n "podman save" "$P save -q -o $work/out-p.tar bench:1"

hyperfine --warmup 1 --runs 5 --export-markdown "$work/load.md" \
  --prepare "$B rmi -f bench:1 >/dev/null 2>&1; $B system prune -f >/dev/null" \
  -n "berth load" "$B load -q -i $work/podman-saved.tar" \
  --prepare "$P rmi -f bench:1 >/dev/null 2>&1 || true" \
  -n "podman load" "$P load -q -i $work/podman-saved.tar"

{
  echo "rootfs tarball: $((size / 1000000)) MB (host /usr/bin), $(nproc) cores, $(date -u +%F)"
  echo
  cat "$work/import.md"; echo; cat "$work/save.md"; echo; cat "$work/load.md"; echo
  echo '```'; ./target/release/examples/throughput; echo '```'
} > bench/results/images.md
cat bench/results/images.md
