#!/usr/bin/env bash
# The whole buildpack flow, end to end.
set -eEuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$here/app" "$work/app"

for job in 101 102 103; do
  bash "$here/build-image.sh" "$job"
  sleep 1 # distinct creation times, so "newest" is well defined
done

bash "$here/deploy.sh" 103 "$work/app"
step "the artifact landed in the app folder, owned by the deploy user"
test -s "$work/app/dist/app.tar.gz"
[ "$(stat -c %u "$work/app/dist/app.tar.gz")" = 990 ]

step "a failing buildpack with DEBUG=1 keeps its container"
echo 'exit 3' >> "$work/app/buildpack.sh"
if DEBUG=1 bash "$here/deploy.sh" 103 "$work/app" 2> "$work/err"; then
  echo "the failing deploy should have failed" >&2; exit 1
fi
cat "$work/err"
grep -q "kept for debugging" "$work/err"
kept=$("$berth" ps -a --filter name=deploy-103 -q | head -1)
[ -n "$kept" ]
"$berth" rm -f "$kept" >/dev/null

bash "$here/retention.sh" 2
step "two job images left: 102 and 103"
left=$("$berth" images --filter label=example.buildpack=1 --format json | grep -o 'job-10[0-9]' | sort | tr '\n' ' ')
echo "$left"
[ "$left" = "job-102 job-103 " ]

step "clean up"
"$berth" rmi buildpack/os:job-102 buildpack/os:job-103 >/dev/null
echo "buildpack example: ok"
