#!/usr/bin/env bash
# Peer of examples/rails-ci/ci.sh with buildah/podman: the same Dockerfile built with
# `buildah bud --layers` twice (the second after a code change, checking the dependency
# layer came from the cache), the container started with a published port, the same
# HTTP checks and test suite inside (`podman exec`), and a push to a local registry.
# Differs: the registry is docker-registry (distribution), not `berth registry serve`
# (berth-only); podman pushes to it the same way.
set -eEuo pipefail
. "$(dirname "$0")/lib.sh"
ex="$EXAMPLES/rails-ci"
base=examples/debian:bookworm
port="${PORT:-18180}" rport="${REGISTRY_PORT:-15100}"
image="rails-ci/notes:ci" name="rails-ci-notes"
work="$(mktemp -d)"
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  [ -n "${reg_pid:-}" ] && kill "$reg_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step "base image $base"
peer_base "$base"

step "build $image"
cp -r "$ex/." "$work/src"
bud --build-arg BASE="$base" -t "$image" "$work/src"

step "a code change rebuilds only the code layers (dependencies stay cached)"
echo "# touched by CI" >> "$work/src/app/notes.rb"
bud --build-arg BASE="$base" -t "$image" "$work/src" > "$work/build.log" 2>&1
grep -A1 "RUN apt-get update" "$work/build.log" | grep -q "Using cache"
# the steps that ran (berth's flow lists its cache misses; none on a second run)
awk '/^STEP/ { s = $0; c = 0 } /^--> Using cache/ { c = 1 }
  /^--> / && !/Using cache/ && s != "" { if (!c) print s " (ran)"; s = "" }' "$work/build.log" | head -3

step "start the container, publish port $port"
podman rm -f "$name" >/dev/null 2>&1 || true
peer_net
podman run -d --name "$name" --network "$PEER_NET" -p "127.0.0.1:$port:8080" "$image" >/dev/null
wait_http "http://127.0.0.1:$port/health" 60
curl -fsS -X POST --data "first note" "http://127.0.0.1:$port/notes"
curl -fsS "http://127.0.0.1:$port/" | grep -q "first note"

step "run the test suite inside the container"
podman exec -w /srv/app "$name" ruby test/notes_test.rb

step "push to a local registry (docker-registry on 127.0.0.1:$rport)"
cat > "$work/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$rport
YML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
reg_pid=$!
wait_http "http://127.0.0.1:$rport/v2/" 30
podman tag "$image" "127.0.0.1:$rport/rails-ci/notes:ci"
podman push -q --tls-verify=false "127.0.0.1:$rport/rails-ci/notes:ci"
curl -fsS "http://127.0.0.1:$rport/v2/rails-ci/notes/tags/list" | grep -q '"ci"'
podman rmi "127.0.0.1:$rport/rails-ci/notes:ci" >/dev/null
echo "rails-ci peer: ok"
