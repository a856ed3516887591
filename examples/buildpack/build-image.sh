#!/usr/bin/env bash
# build-image.sh JOB_ID: base OS image + features (with pre/post hooks) -> buildpack/os:job-JOB_ID
set -eEuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
job="${1:?usage: build-image.sh JOB_ID}"
base="${BASE_IMAGE:-examples/debian:bookworm}"
name="buildimage-$job"

step "base image $base"
base_image "$base"

step "apply hooks and features in container $name"
"$berth" rm -f "$name" >/dev/null 2>&1 || true
"$berth" run --name "$name" --network host -e JOB_ID="$job" \
  -v "$here/hooks:/buildimage/hooks:ro" -v "$here/features:/buildimage/features:ro" \
  "$base" sh -ec '
    /buildimage/hooks/pre_buildimage.sh
    for f in /buildimage/features/*.sh; do echo "feature $(basename "$f")"; sh -e "$f"; done
    /buildimage/hooks/post_buildimage.sh'

step "snapshot the container as buildpack/os:job-$job"
"$berth" commit -c "LABEL example.buildpack=1" -c "LABEL example.job=$job" \
  -c 'CMD ["bash"]' -m "buildimage job $job" "$name" "buildpack/os:job-$job" >/dev/null
"$berth" rm "$name" >/dev/null
echo "built buildpack/os:job-$job"
