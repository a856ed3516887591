#!/usr/bin/env bash
# The CI job: build, start, wait for HTTP, test inside, push to a local registry.
set -eEuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
base="${BASE_IMAGE:-examples/debian:bookworm}"
port="${PORT:-18080}"
rport="${REGISTRY_PORT:-15000}"
image="rails-ci/notes:ci"
name="rails-ci-notes"
work="$(mktemp -d)"
cleanup() {
  "$berth" rm -f "$name" >/dev/null 2>&1 || true
  [ -n "${reg_pid:-}" ] && kill "$reg_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step "base image $base"
base_image "$base"

step "build $image"
cp -r "$here/." "$work/src"
"$berth" build --build-arg BASE="$base" -t "$image" "$work/src"

step "a code change rebuilds only the code layers (dependencies stay cached)"
echo "# touched by CI" >> "$work/src/app/notes.rb"
"$berth" build --progress plain --build-arg BASE="$base" -t "$image" "$work/src" 2> "$work/build.log"
grep -q "RUN apt-get update" "$work/build.log"
apt_step=$(grep -m1 "RUN apt-get update" "$work/build.log" | cut -d' ' -f1)
grep -q "^$apt_step CACHED" "$work/build.log"
# (none on a second run of this script: the touched code was built by the first)
{ grep "cache miss" "$work/build.log" || true; } | head -3

step "start the container, publish port $port"
"$berth" rm -f "$name" >/dev/null 2>&1 || true
"$berth" run -d --name "$name" -p "127.0.0.1:$port:8080" "$image" >/dev/null
wait_http "http://127.0.0.1:$port/health" 60
curl -fsS -X POST --data "first note" "http://127.0.0.1:$port/notes"
curl -fsS "http://127.0.0.1:$port/" | grep -q "first note"

step "run the test suite inside the container"
"$berth" exec -w /srv/app "$name" ruby test/notes_test.rb

step "push to a local registry (berth registry serve on 127.0.0.1:$rport)"
"$berth" registry serve --addr "127.0.0.1:$rport" --root "$work/registry" > "$work/registry.log" 2>&1 &
reg_pid=$!
wait_http "http://127.0.0.1:$rport/v2/" 30
"$berth" tag "$image" "127.0.0.1:$rport/rails-ci/notes:ci"
"$berth" push --tls-verify=false "127.0.0.1:$rport/rails-ci/notes:ci"
curl -fsS "http://127.0.0.1:$rport/v2/rails-ci/notes/tags/list" | grep -q '"ci"'
"$berth" rmi "127.0.0.1:$rport/rails-ci/notes:ci" >/dev/null
echo "rails-ci example: ok"
