#!/usr/bin/env bash
# Peer of examples/buildpack/run.sh with podman: the same three job images (run the hooks
# and features in a container, commit it with the labels), the same deploy and failing
# DEBUG deploy, the same retention result.
# Differs: podman has no `image prune --keep N`; retention lists the labelled images by
# creation time and removes all but the newest N with `podman rmi`.
set -eEuo pipefail
. "$(dirname "$0")/lib.sh"
ex="$EXAMPLES/buildpack"
base=examples/debian:bookworm
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$ex/app" "$work/app"

build_image() {
  local job="$1" name="buildimage-$1"
  step "job $job: hooks and features in container $name, commit buildpack/os:job-$job"
  peer_base "$base"
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman run --name "$name" --network host -e JOB_ID="$job" \
    -v "$ex/hooks:/buildimage/hooks:ro" -v "$ex/features:/buildimage/features:ro" \
    "$base" sh -ec '
      /buildimage/hooks/pre_buildimage.sh
      for f in /buildimage/features/*.sh; do echo "feature $(basename "$f")"; sh -e "$f"; done
      /buildimage/hooks/post_buildimage.sh'
  podman commit -q --format docker -c "LABEL example.buildpack=1" -c "LABEL example.job=$job" \
    -c 'CMD ["bash"]' -m "buildimage job $job" "$name" "buildpack/os:job-$job" >/dev/null
  podman rm "$name" >/dev/null
}

deploy() {
  local job="$1" app="$2" name="deploy-$1-$$" code=0
  step "buildpack of $app in a container from buildpack/os:job-$job"
  podman run --name "$name" --network host -v "$app:/app" -w /app \
    "buildpack/os:job-$job" sh -e /app/buildpack.sh || code=$?
  if [ "$code" -ne 0 ] && [ "${DEBUG:-0}" = 1 ]; then
    echo "buildpack failed (exit $code); container $name kept for debugging" >&2
    return "$code"
  fi
  podman rm -f "$name" >/dev/null
  return "$code"
}

for job in 101 102 103; do
  build_image "$job"
  sleep 1
done

deploy 103 "$work/app"
step "the artifact landed in the app folder, owned by the deploy user"
test -s "$work/app/dist/app.tar.gz"
[ "$(stat -c %u "$work/app/dist/app.tar.gz")" = 990 ]

step "a failing buildpack with DEBUG=1 keeps its container"
echo 'exit 3' >> "$work/app/buildpack.sh"
if DEBUG=1 deploy 103 "$work/app" 2> "$work/err"; then
  echo "the failing deploy should have failed" >&2; exit 1
fi
grep -q "kept for debugging" "$work/err"
kept=$(podman ps -a --filter name=deploy-103 -q | head -1)
[ -n "$kept" ]
podman rm -f "$kept" >/dev/null

step "keep the newest 2 job images (no --keep in podman: list by creation time, rmi the rest)"
podman images --filter label=example.buildpack=1 --format '{{.CreatedAt}}|{{.Repository}}:{{.Tag}}' |
  sort -r | tail -n +3 | cut -d'|' -f2 | while read -r img; do podman rmi "$img" >/dev/null; done
left=$(podman images --filter label=example.buildpack=1 --format '{{.Tag}}' | sort | tr '\n' ' ')
echo "$left"
[ "$left" = "job-102 job-103 " ]

step "clean up"
podman rmi buildpack/os:job-102 buildpack/os:job-103 >/dev/null
echo "buildpack peer: ok"
