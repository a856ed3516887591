#!/usr/bin/env bash
# Stages 0-3 of the staged rootfs; success commits NAME:candidate. See README.md.
set -eEuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
NAME="${NAME:-staged/appliance}"
BASE_IMAGE="${BASE_IMAGE:-staged/debian-systemd:bookworm}"
SUITE="${SUITE:-bookworm}"
INCLUDE="${INCLUDE:-systemd,systemd-sysv,acl,ca-certificates}"
INJECT="${INJECT:-$here/inject/srv-data:/srv/data}"
OVERLAY="${OVERLAY:-$here/overlay}"
USER_SCRIPT="${USER_SCRIPT:-$here/user-script.sh}"
SELF_CHECK="${SELF_CHECK:-$here/self-check.sh}"
KEEP_FAILED="${KEEP_FAILED:-0}"
stage="$(echo "$NAME" | tr '/:' '--')-stages"

step "stage 0: base image $BASE_IMAGE"
bootstrapped "$BASE_IMAGE" "$SUITE" "$INCLUDE"

# Every stage runs in one container; its mounts are not part of what gets committed.
mounts=(-v "$OVERLAY:/stages/overlay:ro" -v "$USER_SCRIPT:/stages/user-script.sh:ro" -v "$SELF_CHECK:/stages/self-check.sh:ro")
copies=""
i=0
for spec in $INJECT; do
  src="${spec%%:*}" dst="${spec#*:}"
  [ -d "$src" ] || { echo "INJECT: $src is not a directory" >&2; exit 2; }
  mounts+=(-v "$src:/stages/inject/$i:ro")
  copies="$copies mkdir -p '$dst' && cp -a /stages/inject/$i/. '$dst'/ &&"
  i=$((i + 1))
done

step "stages 1-3 in container $stage"
"$berth" rm -f "$stage" >/dev/null 2>&1 || true
code=0
"$berth" run --name "$stage" --network host "${mounts[@]}" "$BASE_IMAGE" sh -ec "
  echo '--- stage 1: injected folders'; $copies true
  echo '--- stage 2: rootfs overlay'; cp -a /stages/overlay/. /
  echo '--- stage 3: user script'; sh -e /stages/user-script.sh
  echo '--- self-check'; sh -e /stages/self-check.sh
" || code=$?
if [ "$code" -ne 0 ]; then
  if [ "$KEEP_FAILED" = 1 ]; then
    echo "a stage failed (exit $code); container $stage kept: $berth logs $stage; $berth commit $stage debug/$stage" >&2
  else
    "$berth" rm -f "$stage" >/dev/null
  fi
  exit "$code"
fi

step "commit $NAME:candidate"
"$berth" commit -c 'CMD ["/sbin/init"]' -c 'STOPSIGNAL SIGRTMIN+3' -m "staged rootfs" "$stage" "$NAME:candidate" >/dev/null
"$berth" rm "$stage" >/dev/null
echo "built $NAME:candidate"
