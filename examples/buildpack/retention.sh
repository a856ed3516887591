#!/usr/bin/env bash
# retention.sh N: keep the newest N job images.
set -eEuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
keep="${1:?usage: retention.sh N}"
step "keep the newest $keep job images"
"$berth" image prune -f --keep "$keep" --filter label=example.buildpack=1
