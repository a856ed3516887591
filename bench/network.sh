#!/usr/bin/env bash
# Issue 7 benchmark: container start on a user bridge network, berth vs podman (netavark +
# aardvark-dns), in the same run; then throughput through a published port from the host
# (127.0.0.1 and the host's own address), berth vs podman, interleaved rounds, medians.
# Usage: bash bench/network.sh   (as root; writes bench/results/network.md)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin berth -q
berth="${CARGO_TARGET_DIR:-$PWD/target}/release/berth"
work=$(mktemp -d /var/tmp/berth-bench.XXXX)
B="$berth --root $work/berth"
P="podman --root $work/podman --runroot $work/podman-run --storage-driver overlay --events-backend none --cgroup-manager cgroupfs"
cleanup() {
  $B system reset --force >/dev/null 2>&1 || true
  $P rm -af -t 0 >/dev/null 2>&1 || true
  $P network rm -f benchnet >/dev/null 2>&1 || true
  umount -R "$work"/berth/containers/*/rootfs 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p bench/results

mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/proc" "$work/rootfs/dev" "$work/rootfs/sys" "$work/rootfs/tmp" "$work/www"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep httpd; do ln -s busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/bb.tar" .
$B import -q "$work/bb.tar" bb >/dev/null
$P import -q "$work/bb.tar" localhost/bb >/dev/null
# 1 GiB served from a bind mount (page cache), so the disk is out of the measurement.
head -c 1G /dev/zero > "$work/www/big"

$B network create benchnet >/dev/null
$P network create benchnet >/dev/null
$B run --rm --network benchnet bb true   # unpack the layer once
$P run --rm --network benchnet localhost/bb true

hyperfine --warmup 3 --runs 30 -N --export-markdown "$work/run.md" \
  -n "berth run --rm --network benchnet" "$B run --rm --network benchnet bb true" \
  -n "podman run --rm --network benchnet" "$P run --rm --network benchnet localhost/bb true" \
  -n "berth run --rm --network none" "$B run --rm --network none bb true"

$B run -d --name web --network benchnet -p 18071:80 -v "$work/www:/www:ro" bb httpd -f -p 80 -h /www >/dev/null
$P run -d --name web --network benchnet -p 18072:80 -v "$work/www:/www:ro" localhost/bb httpd -f -p 80 -h /www >/dev/null
sleep 1
host=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | grep -v '^10\.8[89]\.' | head -1)
get() { curl -sf -o /dev/null -w '%{speed_download}\n' "http://$1/big"; }
for a in "127.0.0.1:18071" "127.0.0.1:18072" "$host:18071" "$host:18072"; do get "$a" >/dev/null; done
# Interleaved (berth, podman, berth, podman... per round) so load from other jobs on the
# machine hits both alike; the median of the rounds is reported.
rounds=15
: > "$work/tput.txt"
for r in $(seq 1 $rounds); do
  for a in "127.0.0.1:18071 berth 127.0.0.1" "127.0.0.1:18072 podman 127.0.0.1" "$host:18071 berth host-address" "$host:18072 podman host-address"; do
    set -- $a
    echo "$2 $3 $(get "$1")" >> "$work/tput.txt"
  done
done
median() { sort -n | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.0f", m/1e6}'; }
{
  echo "| 1 GiB over HTTP through -p | berth MB/s | podman MB/s |"
  echo "|:---|---:|---:|"
  for via in 127.0.0.1 host-address; do
    b=$(awk -v v=$via '$1=="berth" && $2==v {print $3}' "$work/tput.txt" | median)
    p=$(awk -v v=$via '$1=="podman" && $2==v {print $3}' "$work/tput.txt" | median)
    echo "| via $via (median of $rounds interleaved rounds) | $b | $p |"
  done
} > "$work/tput.md"
{
  echo "busybox image, $(nproc) cores, $(date -u +%F); -N: no shell in the timing"
  echo
  cat "$work/run.md"; echo; cat "$work/tput.md"
} > bench/results/network.md
cat bench/results/network.md
