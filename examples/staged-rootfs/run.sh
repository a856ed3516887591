#!/usr/bin/env bash
# The staged rootfs, end to end: build it, boot it with systemd, check, stop.
set -eEuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
work="$(mktemp -d)"
name="staged-boot-$$"
trap '"$berth" rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

step "an injected folder: owner 1234, mode 0640, an ACL for uid 2000"
mkdir -p "$work/inject/srv-data"
echo "quarterly numbers" > "$work/inject/srv-data/report.txt"
chown -R 1234:1234 "$work/inject/srv-data"
chmod 0640 "$work/inject/srv-data/report.txt"
setfacl -m u:2000:r "$work/inject/srv-data/report.txt"

INJECT="$work/inject/srv-data:/srv/data" bash "$here/build.sh"

step "boot staged/appliance:candidate with systemd as PID 1"
"$berth" run -d --name "$name" --systemd --network none staged/appliance:candidate >/dev/null
state=""
for _ in $(seq 1 60); do
  state=$("$berth" exec "$name" systemctl is-system-running 2>/dev/null || true)
  case "$state" in running|degraded) break ;; esac
  sleep 0.5
done
echo "systemctl is-system-running: $state"
if [ "$state" != running ]; then
  "$berth" exec "$name" systemctl --failed --no-pager || true
  exit 1
fi
"$berth" exec "$name" cat /run/staged-hello
"$berth" exec "$name" getfacl -cn /srv/data/report.txt | grep -q '^user:2000:r--'

step "stop (SIGRTMIN+3)"
"$berth" stop "$name" >/dev/null
"$berth" inspect --format '{{.State.ExitCode}}' "$name"
echo "staged-rootfs example: ok"
