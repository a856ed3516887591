#!/usr/bin/env bash
# build.sh [--python 3.11] [--source DIR]... PACKAGE==VERSION   three images: base,
#          compiler (the wheelhouse) and runner
# build.sh clean    remove the runner/compiler images and containers this made
# build.sh purge    clean, and the base image, the build cache and the registry data
set -eEuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
python=3.11
sources=("$here/demo-package")
case "${1:-}" in
  clean|purge)
    step "$1"
    for c in $("$berth" ps -a --filter label=example.bundle=1 -q); do "$berth" rm -f "$c" >/dev/null; done
    "$berth" images --format json | grep -o '"Repository":"bundle/[a-z]*"' | cut -d'"' -f4 | sort -u |
      while read -r repo; do
        [ "$1" = clean ] && [ "$repo" = bundle/base ] && continue
        "$berth" images --format json | grep "\"Repository\":\"$repo\"" | grep -o '"Tag":"[^"]*"' | cut -d'"' -f4 |
          while read -r tag; do "$berth" rmi -f "$repo:$tag" >/dev/null; done
      done
    if [ "$1" = purge ]; then
      "$berth" builder prune -f >/dev/null
      rm -rf "${REGISTRY_DIR:-/var/tmp/berth-bundle-registry}"
    fi
    "$berth" system prune -f >/dev/null
    echo "$1: done"
    exit 0 ;;
esac
while [ $# -gt 1 ]; do
  case "$1" in
    --python) python="$2"; shift 2 ;;
    --source) sources+=("$2"); shift 2 ;;
    *) break ;;
  esac
done
package="${1:?usage: build.sh [--python 3.11] PACKAGE==VERSION}"
case "$package" in *==*) ;; *) echo "give PACKAGE==VERSION, not $package" >&2; exit 64 ;; esac
tag="$(echo "${package%%==*}" | tr 'A-Z_' 'a-z-')-${package##*==}"
base_image "${BASE_IMAGE:-examples/debian:bookworm}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "base bundle: python $python (bundle/base:py$python)"
"$berth" build -q --build-arg BASE="${BASE_IMAGE:-examples/debian:bookworm}" --build-arg PYTHON="$python" \
  --label example.bundle=1 -t "bundle/base:py$python" "$here/bundles/base" >/dev/null

step "compiler bundle: the wheelhouse of $package (bundle/compiler:$tag)"
cp -r "$here/bundles/compiler" "$work/compiler"
mkdir -p "$work/compiler/packages"
for s in "${sources[@]}"; do cp -r "$s" "$work/compiler/packages/$(basename "$s")"; done
"$berth" build --build-arg BASE_BUNDLE="bundle/base:py$python" --build-arg PACKAGE="$package" \
  --label example.bundle=1 -t "bundle/compiler:$tag" "$work/compiler"

step "runner bundle (bundle/runner:$tag)"
"$berth" build --build-arg BASE_BUNDLE="bundle/base:py$python" --build-arg COMPILER="bundle/compiler:$tag" \
  --build-arg PACKAGE="$package" --label example.bundle=1 -t "bundle/runner:$tag" "$here/bundles/runner"
echo "built bundle/base:py$python bundle/compiler:$tag bundle/runner:$tag"
