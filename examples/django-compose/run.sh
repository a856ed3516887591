#!/usr/bin/env bash
# The Django example end to end: render .env, bring the postgres profile up (images
# built by berth), check a page and a database write through the published port, see the
# worker process it, run the test suite inside the web container, take it all down; then
# the same app on the sqlite profile.
set -eEuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
# RUN steps (pip) trust the host's CA bundle: on machines behind a TLS-inspecting proxy
# the images' own bundle would not do.
export BERTH_HOST_CERTS="${BERTH_HOST_CERTS:-1}"
export PROJECT_NAME="${PROJECT_NAME:-notes}" WEB_PORT="${WEB_PORT:-18000}"
compose() { "$berth" compose --project-directory "$here" -f "$here/compose.yaml" "$@"; }
cleanup() {
  compose --profile postgres --profile sqlite down -v >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "base image"
base_image "${BASE_IMAGE:-examples/debian:bookworm}"

step "render .env from env.template with generated secrets"
umask 077
while IFS= read -r line; do
  while [[ "$line" == *@SECRET@* ]]; do
    line="${line/@SECRET@/$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
  done
  printf '%s\n' "$line"
done < "$here/env.template" > "$here/.env"
umask 022

step "postgres profile: build and start, waiting for health"
compose --profile postgres up -d --build --wait
compose --profile postgres ps

step "a page and a database write through the published port"
wait_http "http://127.0.0.1:$WEB_PORT/health" 60
curl -fsS -X POST --data "berth runs django" "http://127.0.0.1:$WEB_PORT/notes"
echo
page=$(curl -fsS "http://127.0.0.1:$WEB_PORT/")
echo "$page"
echo "$page" | grep -q '"database": "postgresql"'

step "the worker processed the note (through redis)"
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$WEB_PORT/" | grep -q '"processed": true' && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$WEB_PORT/" | grep -q '"words": 3'
compose --profile postgres logs worker | tail -2

step "the test suite inside the web container"
compose --profile postgres exec web /entrypoint.sh test

step "down -v: nothing left"
compose --profile postgres down -v
left=$("$berth" ps -a --filter "label=com.docker.compose.project=$PROJECT_NAME" -q | wc -l)
[ "$left" -eq 0 ]
! "$berth" network ls | grep -q "${PROJECT_NAME}_default"
! "$berth" volume ls | grep -q "${PROJECT_NAME}_pgdata"

step "sqlite profile: the same images, SQLite in a volume"
compose --profile sqlite up -d --wait
curl -fsS -X POST --data "now on sqlite" "http://127.0.0.1:$WEB_PORT/notes"
echo
curl -fsS "http://127.0.0.1:$WEB_PORT/" | grep -q '"database": "sqlite"'
compose --profile sqlite down -v
echo "django-compose example: ok"
