#!/usr/bin/env bash
# Issue 8 benchmark: the four-service app of examples/django-compose (web, worker, redis,
# postgres; images built by berth from the bootstrapped Debian base) brought up to
# all-healthy and taken down, `berth compose` vs `podman-compose` (apt) on the same file
# with the same images (saved by berth, loaded by podman).
# podman-compose 1.0.3 neither waits for `service_healthy` nor runs healthchecks without
# systemd, so its "up" is timed as `up -d` plus polling `podman healthcheck run` on redis
# and postgres and web's /health through the published port until all pass (what `berth
# compose up -d --wait` does by itself). web's own healthcheck cannot be used there:
# podman-compose 1.0.3 garbles its quoting in both the exec and the string form.
# Usage: bash bench/compose.sh   (as root; writes bench/results/compose.md)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin berth -q
berth="$PWD/target/release/berth"
work=$(mktemp -d /var/tmp/berth-bench-compose.XXXX)
export BERTH_ROOT="$work/berth"
P="podman --root $work/podman --runroot $work/podman-run --storage-driver overlay --events-backend none"
cleanup() {
  (cd "$work/app" && $berth compose down -v >/dev/null 2>&1) || true
  (cd "$work/app" && podman-compose --podman-args "--root $work/podman --runroot $work/podman-run --storage-driver overlay --events-backend none" down -v >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p bench/results "$work/app"

# The example's images, built by berth (cached bases under /var/tmp), or taken from
# another store (IMAGES_FROM=ROOT) that has them.
if [ -n "${IMAGES_FROM:-}" ]; then
  $berth --root "$IMAGES_FROM" save -o "$work/from.tar" notes/app:dev notes/redis:dev notes/postgres:dev
  $berth load -q -i "$work/from.tar" >/dev/null
else
  BERTH="$berth" bash examples/django-compose/run.sh >/dev/null 2>&1 || true
fi
for i in notes/app:dev notes/redis:dev notes/postgres:dev; do
  $berth image inspect "$i" >/dev/null || { echo "missing $i: run examples/django-compose/run.sh" >&2; exit 1; }
done
$berth save -o "$work/images.tar" notes/app:dev notes/redis:dev notes/postgres:dev
$P load -q -i "$work/images.tar" >/dev/null

cat > "$work/app/compose.yaml" <<'YAML'
services:
  redis:
    image: localhost/notes/redis:dev
    healthcheck: {test: "redis-cli ping | grep -q PONG", interval: 1s, retries: 30}
  postgres:
    image: localhost/notes/postgres:dev
    environment: {POSTGRES_PASSWORD: benchpw, POSTGRES_USER: notes, POSTGRES_DB: notes}
    stop_signal: SIGINT
    healthcheck: {test: "pg_isready -q -h 127.0.0.1 -U postgres", interval: 1s, retries: 60}
  web:
    image: localhost/notes/app:dev
    command: [web]
    environment: &env
      SECRET_KEY: bench
      REDIS_URL: redis://redis:6379/0
      DATABASE_URL: postgres://notes:benchpw@postgres:5432/notes
    ports: ["127.0.0.1:18090:8000"]
    restart: on-failure
    healthcheck:
      # String form: podman-compose 1.0.3 garbles the exec form ([CMD, ...]) into a
      # CMD-SHELL with broken quoting, and the check never passes.
      test: "python3 -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:8000/health\", timeout=2)'"
      interval: 1s
      retries: 60
    depends_on:
      postgres: {condition: service_healthy}
      redis: {condition: service_healthy}
  worker:
    image: localhost/notes/app:dev
    command: [worker]
    environment: *env
    restart: on-failure
    depends_on:
      web: {condition: service_healthy}
YAML
$berth tag notes/app:dev localhost/notes/app:dev
$berth tag notes/redis:dev localhost/notes/redis:dev
$berth tag notes/postgres:dev localhost/notes/postgres:dev

cat > "$work/podman-up.sh" <<SH
set -e
cd "$work/app"
podman-compose --podman-args "--root $work/podman --runroot $work/podman-run --storage-driver overlay --events-backend none" up -d >/dev/null 2>&1
for c in app_redis_1 app_postgres_1; do
  until $P healthcheck run \$c >/dev/null 2>&1; do sleep 0.1; done
done
# web's own check (and its database and redis) through the published port.
until curl -fsS -o /dev/null http://127.0.0.1:18090/health 2>/dev/null; do sleep 0.1; done
SH
cat > "$work/podman-down.sh" <<SH
cd "$work/app"
podman-compose --podman-args "--root $work/podman --runroot $work/podman-run --storage-driver overlay --events-backend none" down -v >/dev/null 2>&1
SH

cd "$work/app"
hyperfine --shell bash --warmup 1 --runs 5 --export-markdown "$work/up.md" \
  --prepare "$berth compose down -v >/dev/null 2>&1; bash $work/podman-down.sh" \
  -n "berth compose up -d --wait (all healthy)" "$berth compose up -d --wait >/dev/null 2>&1 && curl -fsS -o /dev/null http://127.0.0.1:18090/health" \
  --prepare "$berth compose down -v >/dev/null 2>&1; bash $work/podman-down.sh" \
  -n "podman-compose up -d + healthchecks pass" "bash $work/podman-up.sh"
# down from the same state for both: everything up and healthy, then 2 s for the worker
# (no healthcheck) to be past its start.
hyperfine --shell bash --warmup 1 --runs 5 --export-markdown "$work/down.md" \
  --prepare "bash $work/podman-down.sh; $berth compose up -d --wait >/dev/null 2>&1; sleep 2" \
  -n "berth compose down -v" "$berth compose down -v >/dev/null 2>&1" \
  --prepare "$berth compose down -v >/dev/null 2>&1; bash $work/podman-up.sh; sleep 2" \
  -n "podman-compose down -v" "bash $work/podman-down.sh"
cd - >/dev/null
{
  echo "four-service django app (web, worker, redis, postgres), $(nproc) cores, $(date -u +%F)"
  echo; cat "$work/up.md"; echo; cat "$work/down.md"
} > bench/results/compose.md
cat bench/results/compose.md
