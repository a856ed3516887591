#!/usr/bin/env bash
# Peer of examples/django-compose/run.sh with podman-compose (1.0.3, Debian's): the same
# compose.yaml and Dockerfiles, built by `podman build` through podman-compose, the
# postgres services brought up, the same page, database write, worker and test-suite
# checks, down -v, then the same images on the sqlite services.
# Differs (podman-compose 1.0.3 limits):
# - no profiles: the services of each profile are named on the command line;
# - `up` does not wait for `service_healthy` (it starts everything at once; web and worker
#   restart on failure until postgres answers), so readiness is polled: `podman
#   healthcheck run` on redis and postgres, and web's /health through the published port
#   (what `berth compose up -d --wait` does by itself);
# - the top-level `name:` is not read: the project name is given with -p;
# - `down` leaves the project network behind: reported as PEER-DIFF, then removed.
set -eEuo pipefail
. "$(dirname "$0")/lib.sh"
ex="$EXAMPLES/django-compose"
base=examples/debian:bookworm
project=notes-peer port="${WEB_PORT:-18100}"
work="$(mktemp -d)"
cp -r "$ex/." "$work/app"
rm -f "$work/app/.env"
# podman-compose passes --podman-args to every podman call (a store of its own), and the
# build args to podman build: the host CA bundle and the host network for RUN steps.
pc() {
  (cd "$work/app" && WEB_PORT=$port podman-compose -p "$project" --podman-args "$store_args --events-backend none" \
    --podman-build-args "--layers --format docker --network host -v $HOST_CA:$HOST_CA:ro" "$@")
}
postgres_services=(redis postgres web worker)
sqlite_services=(redis web-lite worker-lite)
cleanup() {
  pc down -v >/dev/null 2>&1 || true
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

healthy() { # SERVICES...: redis' and postgres' own healthchecks, then web's /health
  local s
  for s in "$@"; do
    case "$s" in redis|postgres) ;; *) continue ;; esac
    until podman healthcheck run "${project}_${s}_1" >/dev/null 2>&1; do
      [ "$SECONDS" -lt "$deadline" ] || { echo "$s never healthy" >&2; return 1; }
      sleep 0.2
    done
  done
  wait_http "http://127.0.0.1:$port/health" 120
}

step "base image"
peer_base "$base"

step "render .env from env.template with generated secrets"
umask 077
while IFS= read -r line; do
  while [[ "$line" == *@SECRET@* ]]; do
    line="${line/@SECRET@/$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
  done
  printf '%s\n' "$line"
done < "$ex/env.template" > "$work/app/.env"
umask 022

step "postgres services: build and start, then poll until healthy"
pc up -d --build "${postgres_services[@]}"
deadline=$((SECONDS + 180))
healthy "${postgres_services[@]}"
pc ps

step "a page and a database write through the published port"
curl -fsS -X POST --data "berth runs django" "http://127.0.0.1:$port/notes"
echo
page=$(curl -fsS "http://127.0.0.1:$port/")
echo "$page"
echo "$page" | grep -q '"database": "postgresql"'

step "the worker processed the note (through redis)"
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$port/" | grep -q '"processed": true' && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/" | grep -q '"words": 3'
pc logs worker 2>/dev/null | tail -2

step "the test suite inside the web container"
pc exec web /entrypoint.sh test

step "down -v: nothing left"
pc down -v
left=$(podman ps -a --filter "label=io.podman.compose.project=$project" -q | wc -l)
[ "$left" -eq 0 ]
if podman network exists "${project}_default"; then
  echo "PEER-DIFF: podman-compose down left the network ${project}_default"
  podman network rm -f "${project}_default" >/dev/null
fi
! podman volume ls --format '{{.Name}}' | grep -q "^${project}_pgdata$"

step "sqlite services: the same images, SQLite in a volume"
pc up -d "${sqlite_services[@]}"
deadline=$((SECONDS + 120))
healthy "${sqlite_services[@]}"
curl -fsS -X POST --data "now on sqlite" "http://127.0.0.1:$port/notes"
echo
curl -fsS "http://127.0.0.1:$port/" | grep -q '"database": "sqlite"'
pc down -v
echo "django-compose peer: ok"
