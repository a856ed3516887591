#!/usr/bin/env bash
# Peer of examples/staged-rootfs/run.sh with podman: the same stages 1-3 in one container
# from the systemd base (injected folder with owner, mode and ACL; the rootfs overlay; the
# user script; the self-check), committed as NAME:candidate, then booted with systemd as
# PID 1 (`podman run --systemd=always`) and checked with `systemctl is-system-running`.
# Differs: the ACL check on the booted image fails with podman (its commit drops POSIX
# ACLs); it is reported as PEER-DIFF and the flow goes on. Stage 0 loads the same cached
# base (berth's build.sh would bootstrap it when absent; podman has no debootstrap).
set -eEuo pipefail
. "$(dirname "$0")/lib.sh"
ex="$EXAMPLES/staged-rootfs"
base=staged/debian-systemd:bookworm
image=staged/appliance:candidate
stage=staged-appliance-stages
work="$(mktemp -d)"
name="staged-boot-$$"
trap 'podman rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

step "an injected folder: owner 1234, mode 0640, an ACL for uid 2000"
mkdir -p "$work/inject/srv-data"
echo "quarterly numbers" > "$work/inject/srv-data/report.txt"
chown -R 1234:1234 "$work/inject/srv-data"
chmod 0640 "$work/inject/srv-data/report.txt"
setfacl -m u:2000:r "$work/inject/srv-data/report.txt"

step "stage 0: base image $base"
peer_base "$base"

step "stages 1-3 in container $stage"
podman rm -f "$stage" >/dev/null 2>&1 || true
podman run --name "$stage" --network host \
  -v "$ex/overlay:/stages/overlay:ro" -v "$ex/user-script.sh:/stages/user-script.sh:ro" \
  -v "$ex/self-check.sh:/stages/self-check.sh:ro" -v "$work/inject/srv-data:/stages/inject/0:ro" \
  "$base" sh -ec "
  echo '--- stage 1: injected folders'; mkdir -p '/srv/data' && cp -a /stages/inject/0/. '/srv/data'/
  echo '--- stage 2: rootfs overlay'; cp -a /stages/overlay/. /
  echo '--- stage 3: user script'; sh -e /stages/user-script.sh
  echo '--- self-check'; sh -e /stages/self-check.sh
"

step "commit $image"
podman commit -q --format docker -c 'CMD ["/sbin/init"]' -c 'STOPSIGNAL SIGRTMIN+3' -m "staged rootfs" "$stage" "$image" >/dev/null
podman rm "$stage" >/dev/null

step "boot $image with systemd as PID 1"
podman run -d --name "$name" --systemd=always --network none "$image" >/dev/null
state=""
for _ in $(seq 1 60); do
  state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
  case "$state" in running|degraded) break ;; esac
  sleep 0.5
done
echo "systemctl is-system-running: $state"
if [ "$state" != running ]; then
  podman exec "$name" systemctl --failed --no-pager || true
  exit 1
fi
podman exec "$name" cat /run/staged-hello
# podman 4.3 commit drops POSIX ACLs from the layer (the self-check saw the ACL inside the
# stage container; the committed image has only the mode bits): reported, not fatal, so
# the flow stays timed end to end.
if ! podman exec "$name" getfacl -cn /srv/data/report.txt | grep -q '^user:2000:r--'; then
  echo "PEER-DIFF: the ACL on /srv/data/report.txt is gone after podman commit"
fi

step "stop (SIGRTMIN+3)"
podman stop "$name" >/dev/null
podman inspect --format '{{.State.ExitCode}}' "$name"
echo "staged-rootfs peer: ok"
