#!/usr/bin/env bash
# Peer of examples/python-bundle/run.sh with buildah/podman: the same three Dockerfiles
# (base, compiler with a pip cache mount, runner with a bind mount from the compiler
# stage) built with `buildah bud --layers`, every entrypoint command run, the runner
# pushed to docker-registry, pulled back under another name and run, then clean and purge.
# Differs: purge removes the images, the dangling build layers (`podman image prune`) and
# buildah's cache-mount directory by hand: buildah 1.28 has no command to drop RUN
# --mount=type=cache contents (berth: builder prune).
set -eEuo pipefail
. "$(dirname "$0")/lib.sh"
ex="$EXAMPLES/python-bundle"
base=examples/debian:bookworm
port="${PORT:-18181}" rport="${REGISTRY_PORT:-15101}"
REGISTRY_DIR="$PEER_ROOT/registry"
name="bundle-web-$$"
package=hello-bundle==0.1.0 tag=hello-bundle-0.1.0 python=3.11
runner=bundle/runner:$tag
work="$(mktemp -d)"
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  [ -n "${reg_pid:-}" ] && kill "$reg_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

clean() { # clean | purge, as build.sh
  step "$1"
  for c in $(podman ps -a --filter label=example.bundle=1 -q); do podman rm -f "$c" >/dev/null; done
  podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/bundle/' | while read -r img; do
    [ "$1" = clean ] && [[ "$img" == localhost/bundle/base:* ]] && continue
    podman rmi -f "$img" >/dev/null
  done
  [ "$1" = purge ] && rm -rf "$REGISTRY_DIR" "$TMPDIR"/buildah-cache*
  podman image prune -f >/dev/null
  echo "$1: done"
}

step "base image"
peer_base "$base"

step "base bundle: python $python (bundle/base:py$python)"
bud -q --build-arg BASE="$base" --build-arg PYTHON="$python" \
  --label example.bundle=1 -t "bundle/base:py$python" "$ex/bundles/base" >/dev/null

step "compiler bundle: the wheelhouse of $package (bundle/compiler:$tag)"
cp -r "$ex/bundles/compiler" "$work/compiler"
mkdir -p "$work/compiler/packages"
cp -r "$ex/demo-package" "$work/compiler/packages/demo-package"
bud --build-arg BASE_BUNDLE="bundle/base:py$python" --build-arg PACKAGE="$package" \
  --label example.bundle=1 -t "bundle/compiler:$tag" "$work/compiler"

step "runner bundle (bundle/runner:$tag)"
bud --build-arg BASE_BUNDLE="bundle/base:py$python" --build-arg COMPILER="bundle/compiler:$tag" \
  --build-arg PACKAGE="$package" --label example.bundle=1 -t "$runner" "$ex/bundles/runner"

vols=(-v "$ex/config:/config:ro" -v "$ex/scripts:/scripts:ro")
step "web: nginx in front of gunicorn, under supervisord, on 127.0.0.1:$port"
peer_net
podman run -d --name "$name" --network "$PEER_NET" --label example.bundle=1 -p "127.0.0.1:$port:8080" "${vols[@]}" "$runner" web >/dev/null
wait_http "http://127.0.0.1:$port/" 60
page=$(curl -fsS "http://127.0.0.1:$port/")
echo "$page"
grep -q "via nginx" <<<"$page"

step "script FILE, manage ARGS, shell, cron"
R=(run --rm --network "$PEER_NET")
podman "${R[@]}" "${vols[@]}" "$runner" script report.py a b | grep -q "args \['a', 'b'\]"
podman "${R[@]}" "$runner" manage version | grep -q "hello-bundle 0.1.0"
podman "${R[@]}" "$runner" shell -c 'supervisord --version && nginx -v 2>&1 && command -v cron'
podman "${R[@]}" "$runner" bogus && exit 1 || [ $? -eq 64 ]

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
podman tag "$runner" "127.0.0.1:$rport/bundle/runner:$tag"
podman push -q --tls-verify=false "127.0.0.1:$rport/bundle/runner:$tag"

step "pull it back under another name and run it"
podman rmi "127.0.0.1:$rport/bundle/runner:$tag" >/dev/null
podman pull -q --tls-verify=false "127.0.0.1:$rport/bundle/runner:$tag" >/dev/null
podman tag "127.0.0.1:$rport/bundle/runner:$tag" bundle/deployed:prod
podman rmi "127.0.0.1:$rport/bundle/runner:$tag" >/dev/null
podman "${R[@]}" bundle/deployed:prod manage version

step "clean, then purge"
podman rm -f "$name" >/dev/null
podman rmi bundle/deployed:prod >/dev/null
clean clean
podman image exists bundle/base:py3.11
clean purge
! podman images | grep -q '^localhost/bundle/'
echo "python-bundle peer: ok"
