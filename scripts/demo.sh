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

step "build a two-stage web image on the Debian base (berth build)"
mkdir -p "$work/web"
cat > "$work/web/Dockerfile" <<'DOCKERFILE'
FROM demo/debian:bookworm AS site
RUN mkdir -p /site && echo "hello from a berth-built image, $(date -u +%F)" > /site/index.html
FROM demo/debian:bookworm
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 >/dev/null && rm -rf /var/lib/apt/lists/*
COPY --from=site /site /srv/site
WORKDIR /srv/site
HEALTHCHECK --interval=1s CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')"
CMD ["python3", "-m", "http.server", "8000"]
DOCKERFILE
"$berth" build -t demo/web:1 "$work/web" || fail "build"
"$berth" build --progress plain -t demo/web:1 "$work/web" 2>&1 | grep -c CACHED | sed 's/^/steps cached on the second build: /'

step "compose: web + a client that reaches it by service name, port published on 127.0.0.1:18088"
cat > "$work/compose.yaml" <<'YAML'
services:
  web:
    image: demo/web:1
    ports: ["127.0.0.1:18088:8000"]
  client:
    image: demo/busybox:latest
    command: [sh, -c, "wget -q -O - http://web:8000/ && sleep 3600"]
    depends_on: {web: {condition: service_healthy}}
YAML
"$berth" compose -f "$work/compose.yaml" -p demo up -d --wait || fail "compose up"
for _ in $(seq 1 40); do curl -fsS http://127.0.0.1:18088/ 2>/dev/null && break; sleep 0.25; done
curl -fsS http://127.0.0.1:18088/ >/dev/null || fail "the published port answers"
"$berth" compose -f "$work/compose.yaml" -p demo logs client
"$berth" compose -f "$work/compose.yaml" -p demo down || fail "compose down"

step "verify every blob and reference"
"$berth" system check || fail "system check"
printf '\nDone: images live in %s. Try: %s image inspect demo/debian:bookworm\n' "$BERTH_ROOT" "$berth"
