#!/usr/bin/env bash
# deploy.sh JOB_ID APP_DIR: run APP_DIR/buildpack.sh in a throw-away container from the
# job's image, with APP_DIR mounted at /app. DEBUG=1 keeps a failed container.
set -eEuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
job="${1:?usage: deploy.sh JOB_ID APP_DIR}"
app="$(cd "${2:?usage: deploy.sh JOB_ID APP_DIR}" && pwd)"
name="deploy-$job-$$"

step "buildpack of $app in a container from buildpack/os:job-$job"
code=0
"$berth" run --name "$name" --network host -v "$app:/app" -w /app \
  "buildpack/os:job-$job" sh -e /app/buildpack.sh || code=$?
if [ "$code" -ne 0 ] && [ "${DEBUG:-0}" = 1 ]; then
  echo "buildpack failed (exit $code); container $name kept for debugging:" >&2
  echo "  $berth --root $BERTH_ROOT logs $name" >&2
  echo "  $berth --root $BERTH_ROOT commit $name debug/$name && $berth --root $BERTH_ROOT run --rm -it -v $app:/app debug/$name bash" >&2
  echo "  $berth --root $BERTH_ROOT rm $name    # when done" >&2
  exit "$code"
fi
"$berth" rm -f "$name" >/dev/null
[ "$code" -eq 0 ] || { echo "buildpack failed (exit $code); run with DEBUG=1 to keep the container" >&2; exit "$code"; }
echo "deployed $app with job $job"
