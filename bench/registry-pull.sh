#!/usr/bin/env bash
# Pull-only variant of bench/registry.sh, for iterating on `berth pull` (issue 6): the same
# 5 x 100 MiB image (random data, gzip -1) is pushed once to a docker-registry and to a
# `berth registry serve`, then berth and skopeo pull it ROUNDS times, interleaved, each
# into an empty destination with `sync` before every run. Prints wall and CPU medians.
# Usage: bench/registry-pull.sh [path/to/berth]   (ROUNDS=7, SERVERS="distribution berth")
set -euo pipefail
BERTH=$(realpath "${1:-target/release/berth}")
ROUNDS=${ROUNDS:-7}
SERVERS=${SERVERS:-distribution berth}
W=/tmp/berth-pullbench-$$; rm -rf "$W"; mkdir -p "$W"
cleanup() {
  for p in "$W"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"

make_layout_image "$W"; L=$W/layout
"$BERTH" --root $W/src load -q -i $W/bench.tar >/dev/null

declare -A REG
for kind in $SERVERS; do
  p=$(port); dir=$W/$kind; mkdir -p $dir
  if [ $kind = distribution ]; then
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$dir/data" "$p" > "$dir.yml"
    docker-registry serve "$dir.yml" >/dev/null 2>&1 &
  else
    "$BERTH" --root "$dir/data" registry serve --addr 127.0.0.1:$p >/dev/null 2>&1 &
  fi
  echo $! > $W/$kind.pid
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.05; done
  REG[$kind]=127.0.0.1:$p
  "$BERTH" --root $W/src push -q --tls-verify=false localhost/bench:1 127.0.0.1:$p/bench/img:1 >/dev/null
done

mkdir -p $W/times
timed() {
  local key=$1; shift
  sync
  /usr/bin/time -f '%e %U %S' -o $W/time "$@" >/dev/null 2>$W/err || { echo "FAILED: $*"; cat $W/err; exit 1; }
  read -r e u s < $W/time
  echo "$e" >> $W/times/$key; echo "$u + $s" | bc >> $W/times/$key.cpu
  printf '  %-24s %5.2f s  (user %s, sys %s)\n' "$key" "$e" "$u" "$s"
}
median() { sort -n "$W/times/$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
for r in $(seq $ROUNDS); do
  echo "round $r (load $(cut -d' ' -f1 /proc/loadavg))"
  for kind in $SERVERS; do
    R=${REG[$kind]}
    rm -rf $W/dst; timed berth-$kind "$BERTH" --root $W/dst pull -q --tls-verify=false $R/bench/img:1
    rm -rf $W/dst; timed skopeo-$kind skopeo copy -q --src-tls-verify=false docker://$R/bench/img:1 oci:$W/dst
    rm -rf $W/dst
  done
done
for kind in $SERVERS; do
  for u in "" .cpu; do
    b=$(median berth-$kind$u); s=$(median skopeo-$kind$u)
    printf '%-14s %-5s berth %s  skopeo %s  ratio %.2fx\n' "$kind" "${u:-wall}" "$b" "$s" "$(echo "$s / $b" | bc -l)"
  done
done
