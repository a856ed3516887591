# Shared helpers for the examples: the berth binary, step reporting, and the Debian base
# image (bootstrapped once, then kept as an archive so every example and CI run reuses it).
# Source it: . "$(dirname "$0")/../lib.sh"

# $BERTH, else the binary built in this repository (release, then debug), else PATH's.
berth="${BERTH:-}"
if [ -z "$berth" ]; then
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  for b in "$repo/target/release/berth" "$repo/target/debug/berth" "$(command -v berth || true)"; do
    [ -n "$b" ] && [ -x "$b" ] && berth="$b" && break
  done
fi
[ -n "$berth" ] || { echo "no berth binary: cargo build --release first" >&2; exit 1; }
export BERTH_ROOT="${BERTH_ROOT:-/var/lib/berth}"
EXAMPLES_CACHE="${BERTH_EXAMPLES_CACHE:-/var/tmp/berth-examples}"
CURRENT_STEP=""

step() {
  CURRENT_STEP="$*"
  printf '\n==> %s\n' "$*"
}

# On any failure: which step, and how to look inside.
on_error() {
  local code=$?
  # Subshells ($(...)) end quietly; the script itself reports.
  [ "$BASH_SUBSHELL" -gt 0 ] && exit "$code"
  printf '\n!! %s: step failed (exit %s): %s\n' "$(basename "$0")" "$code" "$CURRENT_STEP" >&2
  printf '   look inside: %s --root %s ps -a; %s --root %s logs CONTAINER; %s --root %s images\n' \
    "$berth" "$BERTH_ROOT" "$berth" "$BERTH_ROOT" "$berth" "$BERTH_ROOT" >&2
  exit "$code"
}
trap on_error ERR

# bootstrapped NAME SUITE INCLUDE: a Debian image made with debootstrap the first time
# (a few minutes) and loaded from $EXAMPLES_CACHE afterwards.
bootstrapped() {
  local name="$1" suite="$2" include="$3"
  local cache="$EXAMPLES_CACHE/$(echo "$name" | tr '/:' '__').tar"
  if "$berth" image inspect "$name" >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p "$EXAMPLES_CACHE"
  if [ ! -s "$cache" ]; then
    echo "bootstrapping debian:$suite with $include once (cached in $cache)"
    "$berth" bootstrap "debian:$suite" --include "$include" -t "$name"
    "$berth" save -o "$cache.partial" "$name"
    mv "$cache.partial" "$cache"
  else
    "$berth" load -q -i "$cache" >/dev/null
  fi
}

# base_image NAME: the examples' Debian bookworm base, tagged NAME too.
base_image() {
  bootstrapped examples/debian:bookworm bookworm ca-certificates
  [ "$1" = examples/debian:bookworm ] || "$berth" tag examples/debian:bookworm "$1"
}

# wait_http URL [SECONDS]: until URL answers (curl), or fail.
wait_http() {
  local url="$1" deadline=$((SECONDS + ${2:-60}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "no answer from $url" >&2
      return 1
    fi
    sleep 0.5
  done
}
