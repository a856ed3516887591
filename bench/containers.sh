#!/usr/bin/env bash
# Issue 4 benchmark: container start/exec latency, berth (built-in runtime and runc) vs
# podman and bare runc, in the same run; then 50 containers started, listed, removed.
# Usage: bash bench/containers.sh   (as root; writes bench/results/containers.md)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin berth -q
berth="$PWD/target/release/berth"
work=$(mktemp -d /var/tmp/berth-bench.XXXX)
cleanup() { $B rm -f $($B ps -aq 2>/dev/null) >/dev/null 2>&1 || true; $P rm -af >/dev/null 2>&1 || true; umount -R "$work"/berth/containers/*/rootfs 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p bench/results
B="$berth --root $work/berth"
P="podman --root $work/podman --runroot $work/podman-run --storage-driver overlay --events-backend none --cgroup-manager cgroupfs"

# A busybox rootfs, imported into both engines and unpacked as a runc bundle.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/proc" "$work/rootfs/dev" "$work/rootfs/sys" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/bb.tar" .
$B import -q "$work/bb.tar" bb >/dev/null
$P import -q "$work/bb.tar" localhost/bb >/dev/null
mkdir -p "$work/bundle" && cp -a "$work/rootfs" "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' config.json)
$B run --rm --network none bb true  # unpack the layer once

hyperfine --warmup 3 --runs 30 -N --export-markdown "$work/run.md" \
  -n "berth run --rm (built-in runtime)" "$B run --rm --network none bb true" \
  -n "berth run --rm --runtime runc" "$B run --rm --network none --runtime runc bb true" \
  -n "runc run (prepared bundle)" "runc --root $work/runc run -b $work/bundle bench" \
  -n "berth oci run (prepared bundle, built-in executor alone)" "$berth oci --root $work/oci run -b $work/bundle bench" \
  -n "podman run --rm --network none" "$P run --rm --network none localhost/bb true"

$B run -d --name ex --network none bb sleep 600 >/dev/null
$P run -d --name ex --network none localhost/bb sleep 600 >/dev/null
hyperfine --warmup 3 --runs 30 -N --export-markdown "$work/exec.md" \
  -n "berth exec" "$B exec ex true" \
  -n "podman exec" "$P exec ex true"
$B rm -f ex >/dev/null; $P rm -f ex >/dev/null

loop() {
  local start end
  start=$(date +%s.%N)
  for i in $(seq 1 50); do $1 run -d $3 --name "c$i" $2 sleep 600 >/dev/null; done
  $1 ps >/dev/null
  $1 rm -f $4 $(seq -f 'c%g' 1 50) >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
tb=$(loop "$B" bb "--network none" "")
leaks=$(grep -c "$work/berth" /proc/self/mountinfo || true)
# podman's rm -f waits for the stop signal first; -t 0 kills at once, as berth's rm -f does.
tp=$(loop "$P" localhost/bb "--network none" "-t 0")
{
  echo "busybox image, $(nproc) cores, $(date -u +%F); -N: no shell in the timing"
  echo
  cat "$work/run.md"; echo; cat "$work/exec.md"; echo
  echo "| 50 containers: run -d each, ps, rm -f all | seconds |"
  echo "|:---|---:|"
  echo "| berth | $tb |"
  echo "| podman | $tp |"
  echo
  echo "berth mounts left after the loop: $leaks"
} > bench/results/containers.md
cat bench/results/containers.md
