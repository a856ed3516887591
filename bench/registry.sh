#!/usr/bin/env bash
# Registry benchmarks (issue 6), two parts:
#  1. push and pull of a ~525 MB, 5-layer image (5 x 100 MiB of random data, gzip -1):
#     berth against skopeo and podman, each to and from a local docker-registry
#     (distribution) and `berth registry serve` on 127.0.0.1. The peers run interleaved,
#     round by round, and the median of ROUNDS rounds is printed.
#       - push: every push goes to a freshly started, empty registry (nothing to skip or
#         mount). berth pushes from its store, skopeo from an OCI layout holding the same
#         blobs, podman from its own storage (it keeps layers uncompressed, so it has to
#         compress them again while pushing).
#       - pull: the image berth pushed, into an empty destination each time. berth pulls
#         into its store (digest verified, every tar entry checked, diff ids computed, not
#         unpacked); skopeo copies to an OCI layout (digest verified, no unpacking); podman
#         pulls into its own storage (unpacks every layer onto the disk).
#  2. manifest GETs under concurrent load from loopback (wrk, 64 connections, 2 threads):
#     requests per second and p99 latency, both servers in turn, ROUNDS times.
# Usage: bench/registry.sh [path/to/berth]   (build with `cargo build --release`)
# Needs: skopeo, podman, docker-registry, wrk, bc, python3 (see scripts/apt-packages.txt).
set -euo pipefail
BERTH=${1:-target/release/berth}
BERTH=$(realpath "$BERTH")
ROUNDS=${ROUNDS:-5}
W=/tmp/berth-bench-$$; rm -rf "$W"; mkdir -p "$W"   # lowercase: podman names OCI-layout images after the path
cleanup() {
  for p in "$W"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
  wait 2>/dev/null || true
  umount -R "$W"/podman-*/overlay 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"
now() { date +%s.%N; }

echo "building a 5 x 100 MiB image (random data, gzip -1) ..."
make_layout_image "$W"; L=$W/layout
"$BERTH" --root $W/src load -q -i $W/bench.tar >/dev/null
PODMAN=(podman --root $W/podman-src --runroot $W/podman-src-run --storage-driver overlay)
"${PODMAN[@]}" tag "$("${PODMAN[@]}" pull -q oci:$L)" localhost/bench:1

# start KIND NAME: an empty registry of KIND (distribution|berth) in $W/NAME; sets R.
start() {
  local kind=$1 dir=$W/$2 p; p=$(port)
  rm -rf "$dir"; mkdir -p "$dir"
  if [ "$kind" = distribution ]; then
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n' "$dir/data" "$p" > "$dir.yml"
    docker-registry serve "$dir.yml" >/dev/null 2>&1 &
  else
    "$BERTH" --root "$dir/data" registry serve --addr 127.0.0.1:$p >/dev/null 2>&1 &
  fi
  echo $! > "$dir.pid"
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.05; done
  R=127.0.0.1:$p
}
stop() { local f=$W/$1.pid; kill "$(cat "$f")" 2>/dev/null || true; wait "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; }
# timed KEY CMD...: runs CMD (which must succeed), appends its wall time to $W/times/KEY.
mkdir -p $W/times
# Also appends the command's CPU time (user + system, children included) to KEY.cpu:
# on this shared 2-core machine wall times swing with the neighbours' load; CPU time less.
timed() {
  local key=$1; shift
  sync   # start each run without the previous one's dirty pages (berth fsyncs its blobs)
  /usr/bin/time -f '%e %U %S' -o $W/time "$@" >/dev/null 2>$W/err || { echo "FAILED: $*"; cat $W/err; exit 1; }
  awk '{print $1}' $W/time >> $W/times/$key
  awk '{print $2 + $3}' $W/time >> $W/times/$key.cpu
}
median() { sort -n "$W/times/$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
all() { sort -n "$W/times/$1" | awk '{printf "%s%.2f", (NR>1?" ":""), $1}'; }

for r in $(seq $ROUNDS); do
  for kind in distribution berth; do
    echo "round $r, $kind ..."
    start $kind push-b; timed push-berth-$kind "$BERTH" --root $W/src push -q --tls-verify=false localhost/bench:1 $R/bench/img:1; stop push-b
    start $kind push-s; timed push-skopeo-$kind skopeo copy -q --dest-tls-verify=false oci:$L docker://$R/bench/img:1; stop push-s
    start $kind push-p; timed push-podman-$kind "${PODMAN[@]}" push -q --tls-verify=false localhost/bench:1 docker://$R/bench/img:1; stop push-p
    start $kind pull; "$BERTH" --root $W/src push -q --tls-verify=false localhost/bench:1 $R/bench/img:1 >/dev/null
    rm -rf $W/dst; timed pull-berth-$kind "$BERTH" --root $W/dst pull -q --tls-verify=false $R/bench/img:1
    rm -rf $W/dst; timed pull-skopeo-$kind skopeo copy -q --src-tls-verify=false docker://$R/bench/img:1 oci:$W/dst
    rm -rf $W/dst
    umount -R $W/podman-dst/overlay 2>/dev/null || true; rm -rf $W/podman-dst $W/podman-dst-run
    timed pull-podman-$kind podman --root $W/podman-dst --runroot $W/podman-dst-run --storage-driver overlay pull -q --tls-verify=false $R/bench/img:1
    stop pull
  done
done

echo
for unit in "" .cpu; do
  if [ -z "$unit" ]; then what="wall time"; else what="client CPU time (user + system)"; fi
  echo "== push/pull, 5 x 100 MiB layers: $what, median of $ROUNDS rounds, seconds"
  printf '%-22s %-8s %-8s %-8s %9s %9s\n' "op / server" berth skopeo podman "skopeo/b" "podman/b"
  for op in push pull; do
    for kind in distribution berth; do
      b=$(median $op-berth-$kind$unit); s=$(median $op-skopeo-$kind$unit); p=$(median $op-podman-$kind$unit)
      printf '%-22s %-8s %-8s %-8s %8.2fx %8.2fx\n' "$op / $kind" "$b" "$s" "$p" "$(echo "$s / $b" | bc -l)" "$(echo "$p / $b" | bc -l)"
    done
  done
done
echo "all runs (sorted):"
for k in $(ls $W/times); do echo "  $k: $(all $k)"; done

echo
echo "== manifest GETs under load: wrk -t2 -c64 -d5s, $ROUNDS rounds each, interleaved"
start distribution load-d; RD=$R
start berth load-b; RB=$R
"$BERTH" --root $W/src push -q --tls-verify=false localhost/bench:1 $RD/bench/img:1 >/dev/null
"$BERTH" --root $W/src push -q --tls-verify=false localhost/bench:1 $RB/bench/img:1 >/dev/null
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
for r in $(seq $ROUNDS); do
  for kind in distribution berth; do
    [ $kind = distribution ] && R=$RD || R=$RB
    out=$(wrk -t2 -c64 -d5s --latency -H "$ACCEPT" http://$R/v2/bench/img/manifests/1)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    echo "  round $r $kind: $rps req/s, p99 $p99 $errs"
  done
done
