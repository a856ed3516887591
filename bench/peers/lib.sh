# Shared helpers for the podman/buildah/podman-compose peers of the examples
# (bench/examples.sh times them against the berth flows). Source it.
# PEER_ROOT: the peer's own containers/storage (default /var/tmp/berth-peer), so a
# "cold" run starts from an empty store, like berth's fresh BERTH_ROOT.
PEER_ROOT="${PEER_ROOT:-/var/tmp/berth-peer}"
EXAMPLES="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../examples" && pwd)"
EXAMPLES_CACHE="${BERTH_EXAMPLES_CACHE:-/var/tmp/berth-examples}"
HOST_CA=/etc/ssl/certs/ca-certificates.crt
# buildah keeps RUN --mount=type=cache contents under $TMPDIR/buildah-cache*: per store too.
export TMPDIR="$PEER_ROOT/tmp"
mkdir -p "$TMPDIR"
store_args="--root $PEER_ROOT/storage --runroot $PEER_ROOT/run --storage-driver overlay"
podman() { command podman $store_args --events-backend none "$@"; }
buildah() { command buildah $store_args "$@"; }
# Build the way `berth build --host-certs` does: the host's CA bundle readable in RUN
# steps. Debian's pip and apt read /etc/ssl/certs/ca-certificates.crt, so it is mounted
# over the image's own (berth mounts it at /run/berth/host-ca.crt and sets SSL_CERT_FILE,
# PIP_CERT, ...; buildah 1.28 has no option to set environment for RUN steps only).
# --format docker keeps HEALTHCHECK (OCI image configs have no field for it); RUN steps
# use the host network, as berth build's default does.
bud() { buildah bud --layers --format docker --network host -v "$HOST_CA:$HOST_CA:ro" "$@"; }
# Containers go on their own bridge: podman's default network (10.88.0.0/16, made on first
# use) can collide with bridges already on the host (berth's own networks take /24s
# from 10.88.0.0 up), and then published ports do not answer.
PEER_NET=berth-bench
peer_net() {
  podman network exists "$PEER_NET" ||
    podman network create --subnet 10.200.77.0/24 "$PEER_NET" >/dev/null
}
CURRENT_STEP=""
step() { CURRENT_STEP="$*"; printf '\n==> %s\n' "$*"; }
on_error() {
  local code=$?
  [ "$BASH_SUBSHELL" -gt 0 ] && exit "$code"
  printf '\n!! %s: step failed (exit %s): %s\n' "$(basename "$0")" "$code" "$CURRENT_STEP" >&2
  exit "$code"
}
trap on_error ERR

# peer_base NAME: the Debian base berth's examples use, loaded into podman from the same
# cached archive (saved by berth; examples/lib.sh makes it with debootstrap once).
peer_base() {
  local name="$1" cache="$EXAMPLES_CACHE/$(echo "$1" | tr '/:' '__').tar"
  podman image exists "localhost/$name" && return 0
  [ -s "$cache" ] || { echo "no $cache: run the berth example first" >&2; return 1; }
  podman load -q -i "$cache" >/dev/null
  podman image exists "localhost/$name"
}

wait_http() {
  local url="$1" deadline=$((SECONDS + ${2:-60}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "no answer from $url" >&2; return 1; fi
    sleep 0.5
  done
}
