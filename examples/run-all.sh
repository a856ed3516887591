#!/usr/bin/env bash
# Runs every example end to end (CI runs this after the test suite). Each uses the store
# at $BERTH_ROOT (default: a fresh temporary one) and the cached Debian bases.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export BERTH_ROOT="${BERTH_ROOT:-$(mktemp -d /var/tmp/berth-examples-root.XXXX)}"
times=()
for ex in buildpack rails-ci staged-rootfs python-bundle django-compose; do
  script="$here/$ex/run.sh"
  [ "$ex" = rails-ci ] && script="$here/$ex/ci.sh"
  printf '\n######## example %s\n' "$ex"
  start=$SECONDS
  if ! bash "$script"; then
    echo "example $ex FAILED (store: $BERTH_ROOT)" >&2
    exit 1
  fi
  times+=("$ex $((SECONDS - start))s")
done
printf '\nall examples passed:\n'
printf '  %s\n' "${times[@]}"
