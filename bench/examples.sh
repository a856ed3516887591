#!/usr/bin/env bash
# Issue 9 benchmark: each example end to end, cold and warm, with berth and with its
# podman/buildah/podman-compose peer (bench/peers/EXAMPLE.sh, the same flow; each peer
# script says where it differs).
#
#   cold  a fresh, empty store (berth: a new BERTH_ROOT; peer: a new podman/buildah root
#         and cache-mount dir). The Debian bases come from the archive cache
#         (/var/tmp/berth-examples, made once by debootstrap): loading them into the empty
#         store is part of the time (berth load / podman load of the same archive).
#         COLD_BASES=1: berth's cold run starts from an empty archive cache too, so it
#         includes debootstrap (berth bootstrap) of the bases; the peer then loads the
#         archive that run made (podman has no bootstrap), so its cold time never
#         includes debootstrap.
#   warm  the same flow again on the same store: bases loaded, build cache hot (what the
#         flow leaves: python-bundle's own `purge` step drops its images and build cache
#         at the end, so its warm run rebuilds; the others keep their images or caches).
#
# Runs interleave per example (berth cold, peer cold, berth warm, peer warm), so both
# tools see the same load on a shared machine; the 1-minute load average is recorded
# before each run. Raw logs and the table go to bench/results/ (not committed).
#
# Usage: bash bench/examples.sh [EXAMPLE...]     (as root; default: all five)
#        ROUNDS=N repeats it all N times (fresh stores each round; the table gives the
#        median); PEERS=0 skips the peers; COLD_BASES=1 as above.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
all=(buildpack rails-ci staged-rootfs python-bundle django-compose)
[ $# -gt 0 ] && examples=("$@") || examples=("${all[@]}")

# podman on this machine kind: crun fails on cgroup v1 hybrids, and the default ulimits
# are too high for runc here.
if ! grep -qs 'runtime *= *"runc"' /etc/containers/containers.conf; then
  if [ -s /etc/containers/containers.conf ]; then
    echo "/etc/containers/containers.conf exists without runtime = \"runc\": add it (see bench/README.md)" >&2
    exit 1
  fi
  mkdir -p /etc/containers
  cat > /etc/containers/containers.conf <<'CONF'
# berth: podman peer settings
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
CONF
fi
missing=()
for t in podman buildah podman-compose docker-registry runc debootstrap setfacl curl; do
  command -v "$t" >/dev/null || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  pkgs=$(printf '%s\n' "${missing[@]}" | sed 's/^setfacl$/acl/')
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkgs
fi

cargo build --release --bin berth -q
berth="${CARGO_TARGET_DIR:-$repo/target}/release/berth"
export BERTH="$berth"
mkdir -p bench/results
# Short: podman refuses a runroot path longer than 50 characters.
work=$(mktemp -d /var/tmp/bbx.XXXX)
stamp=$(date -u +%Y%m%dT%H%M%S)
tsv="bench/results/examples-$stamp.tsv"
printf 'example\ttool\trun\tseconds\tstatus\tload1\tround\n' > "$tsv"
export BERTH_EXAMPLES_CACHE="${BERTH_EXAMPLES_CACHE:-/var/tmp/berth-examples}"

script_of() { # berth's script for an example
  case "$1" in rails-ci) echo "examples/rails-ci/ci.sh" ;; *) echo "examples/$1/run.sh" ;; esac
}

# timed EXAMPLE TOOL RUN CMD...: run CMD, log it (each line stamped with the time of day,
# to see where the time goes), record seconds and pass/fail.
timed() {
  local ex="$1" tool="$2" run="$3"; shift 3
  local log="bench/results/examples-$stamp-$ex-$tool-$run-$round.log" load t0 t1 rc status=ok
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s%N)
  set +e
  "$@" 2>&1 | while IFS= read -r l; do printf '%(%T)T %s\n' -1 "$l"; done > "$log"
  rc=${PIPESTATUS[0]}
  set -e
  t1=$(date +%s%N)
  [ "$rc" -eq 0 ] || status="FAILED($rc)"
  local ms=$(((t1 - t0) / 1000000))
  if grep -q ' PEER-DIFF' "$log"; then status="$status,$(grep -c ' PEER-DIFF' "$log")diff"; fi
  printf '%s\t%s\t%s\t%d.%d\t%s\t%s\t%s\n' "$ex" "$tool" "$run" $((ms / 1000)) $((ms % 1000 / 100)) \
    "$status" "$load" "$round" | tee -a "$tsv"
}

# Stores are removed between examples (disk), after their containers are gone.
drop_peer_store() {
  local r="$1" a="--root $1/storage --runroot $1/run --storage-driver overlay --events-backend none"
  podman $a rm -af >/dev/null 2>&1 || true
  podman $a volume prune -f >/dev/null 2>&1 || true
  podman $a rmi -af >/dev/null 2>&1 || true
  buildah --root "$r/storage" --runroot "$r/run" --storage-driver overlay rm -a >/dev/null 2>&1 || true
  umount -R "$r/storage/overlay" 2>/dev/null || true
  rm -rf "$r"
}
drop_berth_store() {
  # reset also removes the bridges and nftables rules the store made on the host.
  "$berth" --root "$1" system reset --force >/dev/null 2>&1 || true
  { grep -o " $1/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount "$m" 2>/dev/null || true; done
  rm -rf "$1"
}

for round in $(seq "${ROUNDS:-1}"); do
  for ex in "${examples[@]}"; do
    echo "######## $ex (round $round)"
    broot="$work/b-$ex" proot="$work/p-$ex"
    if [ "${COLD_BASES:-0}" = 1 ]; then
      export BERTH_EXAMPLES_CACHE="$work/bases-$ex"
      mkdir -p "$BERTH_EXAMPLES_CACHE"
    fi
    for run in cold warm; do
      timed "$ex" berth "$run" env BERTH_ROOT="$broot" bash "$(script_of "$ex")"
      if [ "${PEERS:-1}" = 1 ]; then
        timed "$ex" peer "$run" env PEER_ROOT="$proot" bash "bench/peers/$ex.sh"
      fi
    done
    drop_berth_store "$broot"
    drop_peer_store "$proot"
    if [ "${COLD_BASES:-0}" = 1 ]; then rm -rf "$BERTH_EXAMPLES_CACHE"; fi
  done
done
rmdir "$work" 2>/dev/null || true

# The table (bench/examples-table.py): median seconds over the rounds, each run's seconds,
# and peer/berth ratios (>1: berth is faster).
cb=(); [ "${COLD_BASES:-0}" = 1 ] && cb=(--cold-bases)
python3 bench/examples-table.py "${cb[@]}" "$tsv" > "bench/results/examples-$stamp.md"
cat "bench/results/examples-$stamp.md"
