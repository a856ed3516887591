#!/usr/bin/env bash
# Installs prerequisites, builds the release binary, then shows berth's main path:
# a base image made from nothing, listed, saved, loaded elsewhere, checked.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release --bin berth
berth="$PWD/target/release/berth"
export BERTH_ROOT="${BERTH_ROOT:-/var/lib/berth}"
step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\n!! demo step failed: %s\n   look inside with: %s --root %s system check; %s --root %s images\n' "$1" "$berth" "$BERTH_ROOT" "$berth" "$BERTH_ROOT" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "bootstrap a Debian bookworm base image with debootstrap (a few minutes)"
"$berth" bootstrap debian:bookworm --include ca-certificates -t demo/debian:bookworm || fail "bootstrap"

step "import a tiny busybox image from a rootfs tarball"
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" && cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
"$berth" import -c 'CMD ["sh"]' "$work/busybox.tar" demo/busybox:latest || fail "import"

step "list images"
"$berth" images

step "save both as an OCI archive, load it into a second store"
"$berth" save --format oci-archive -o "$work/demo.tar" demo/debian:bookworm demo/busybox:latest || fail "save"
"$berth" --root "$work/second-store" load -i "$work/demo.tar" || fail "load"
"$berth" --root "$work/second-store" images

step "run containers from them"
"$berth" run --rm demo/debian:bookworm sh -c 'echo "Debian $(cat /etc/debian_version) in a berth container, pid $$"' || fail "run"
"$berth" run -d --name demo-web --restart on-failure demo/busybox:latest sh -c 'while true; do date; sleep 1; done' >/dev/null || fail "run -d"
sleep 2
"$berth" ps
"$berth" logs --tail 2 demo-web
"$berth" rm -f demo-web >/dev/null

step "history and disk usage"
"$berth" history demo/debian:bookworm
"$berth" system df

step "verify every blob and reference"
"$berth" system check || fail "system check"
printf '\nDone: images live in %s. Try: %s image inspect demo/debian:bookworm\n' "$BERTH_ROOT" "$berth"
