#!/usr/bin/env bash
# The bundle example end to end: build the three images, run every entrypoint command,
# push the runner to a local registry (docker-registry, started here), pull it back under
# another name, run that, then clean and purge.
set -eEuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
export BERTH_HOST_CERTS="${BERTH_HOST_CERTS:-1}" # pip from PyPI through the host's trust
port="${PORT:-18081}" rport="${REGISTRY_PORT:-15001}"
export REGISTRY_DIR="${REGISTRY_DIR:-/var/tmp/berth-bundle-registry}"
name="bundle-web-$$"
cleanup() {
  "$berth" rm -f "$name" "$name-2" >/dev/null 2>&1 || true
  [ -n "${reg_pid:-}" ] && kill "$reg_pid" 2>/dev/null || true
}
trap cleanup EXIT

bash "$here/build.sh" --python 3.11 hello-bundle==0.1.0
runner=bundle/runner:hello-bundle-0.1.0
vols=(-v "$here/config:/config:ro" -v "$here/scripts:/scripts:ro")

step "web: nginx in front of gunicorn, under supervisord, on 127.0.0.1:$port"
"$berth" run -d --name "$name" --label example.bundle=1 -p "127.0.0.1:$port:8080" "${vols[@]}" "$runner" web >/dev/null
wait_http "http://127.0.0.1:$port/" 60
page=$(curl -fsS "http://127.0.0.1:$port/")
echo "$page"
grep -q "via nginx" <<<"$page"

step "script FILE, manage ARGS, shell, cron"
"$berth" run --rm "${vols[@]}" "$runner" script report.py a b | grep -q "args \['a', 'b'\]"
"$berth" run --rm "$runner" manage version | grep -q "hello-bundle 0.1.0"
"$berth" run --rm "$runner" shell -c 'supervisord --version && nginx -v 2>&1 && command -v cron'
"$berth" run --rm "$runner" bogus && exit 1 || [ $? -eq 64 ]

step "push the runner to a local registry (docker-registry on 127.0.0.1:$rport)"
mkdir -p "$REGISTRY_DIR"
cat > "$REGISTRY_DIR/config.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
http:
  addr: 127.0.0.1:$rport
YML
docker-registry serve "$REGISTRY_DIR/config.yml" > "$REGISTRY_DIR/registry.log" 2>&1 &
reg_pid=$!
wait_http "http://127.0.0.1:$rport/v2/" 30
"$berth" tag "$runner" "127.0.0.1:$rport/bundle/runner:hello-bundle-0.1.0"
"$berth" push --tls-verify=false "127.0.0.1:$rport/bundle/runner:hello-bundle-0.1.0"

step "pull it back under another name and run it"
"$berth" rmi "127.0.0.1:$rport/bundle/runner:hello-bundle-0.1.0" >/dev/null
"$berth" pull --tls-verify=false "127.0.0.1:$rport/bundle/runner:hello-bundle-0.1.0"
"$berth" tag "127.0.0.1:$rport/bundle/runner:hello-bundle-0.1.0" bundle/deployed:prod
"$berth" rmi "127.0.0.1:$rport/bundle/runner:hello-bundle-0.1.0" >/dev/null
"$berth" run --rm bundle/deployed:prod manage version

step "clean, then purge"
"$berth" rm -f "$name" >/dev/null
"$berth" rmi bundle/deployed:prod >/dev/null
bash "$here/build.sh" clean
"$berth" image inspect bundle/base:py3.11 >/dev/null
bash "$here/build.sh" purge
! "$berth" images | grep -q '^bundle/'
echo "python-bundle example: ok"
