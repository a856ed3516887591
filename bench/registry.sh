#!/usr/bin/env bash
# Push/pull of a ~500 MB, 5-layer image: berth against skopeo, both talking to a local
# docker-registry (distribution) and to `berth registry serve` on 127.0.0.1.
# Usage: scripts/bench-registry.sh [path/to/berth]   (build with `cargo build --release`)
set -euo pipefail
BERTH=${1:-target/release/berth}
BERTH=$(realpath "$BERTH")
W=$(mktemp -d /tmp/berth-bench-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); printf '%6.2fs' "$(echo "$e - $s" | bc)"; }

echo "building a 5 x 100 MiB image (random data, gzip -1) ..."
L=$W/layout; mkdir -p $L/blobs/sha256
diffs=(); layers=""
for i in 1 2 3 4 5; do
  mkdir -p $W/l$i && head -c 100M /dev/urandom > $W/l$i/data$i
  tar -C $W/l$i -cf $W/l$i.tar . && diffs+=("sha256:$(sha256sum < $W/l$i.tar | cut -d' ' -f1)")
  gzip -1 -n -c $W/l$i.tar > $W/l$i.tgz && rm -rf $W/l$i $W/l$i.tar
  h=$(sha256sum < $W/l$i.tgz | cut -d' ' -f1); s=$(stat -c %s $W/l$i.tgz); mv $W/l$i.tgz $L/blobs/sha256/$h
  layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$h\",\"size\":$s}"
done
d=$(printf '"%s",' "${diffs[@]}"); d=${d%,}
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$d" > $W/config
ch=$(sha256sum < $W/config | cut -d' ' -f1); cs=$(stat -c %s $W/config); mv $W/config $L/blobs/sha256/$ch
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' "$ch" "$cs" "$layers" > $W/manifest
mh=$(sha256sum < $W/manifest | cut -d' ' -f1); ms=$(stat -c %s $W/manifest); mv $W/manifest $L/blobs/sha256/$mh
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"localhost/bench:1"}}]}' "$mh" "$ms" > $L/index.json
echo '{"imageLayoutVersion":"1.0.0"}' > $L/oci-layout
tar -C $L -cf $W/bench.tar .
"$BERTH" --root $W/src load -q -i $W/bench.tar >/dev/null 2>&1

for kind in distribution berth; do
  P=$(port)
  if [ $kind = distribution ]; then
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' $W/reg-$kind $P > $W/reg.yml
    docker-registry serve $W/reg.yml >/dev/null 2>&1 &
  else
    "$BERTH" --root $W/reg-$kind registry serve --addr 127.0.0.1:$P >/dev/null 2>&1 &
  fi
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.1; done
  R=127.0.0.1:$P
  echo "== server: $kind"
  echo "push  berth:  $(t "$BERTH" --root $W/src push -q --tls-verify=false localhost/bench:1 $R/b/push:1)"
  echo "push  skopeo: $(t skopeo copy --dest-tls-verify=false oci:$L docker://$R/s/push:1)"
  echo "pull  berth:  $(t "$BERTH" --root $W/pull-$kind pull -q --tls-verify=false $R/b/push:1)   (into the store: verified, tar-checked)"
  echo "pull  skopeo: $(t skopeo copy --src-tls-verify=false docker://$R/s/push:1 oci:$W/skopeo-$kind)   (to an OCI layout)"
  kill %% 2>/dev/null || true; wait 2>/dev/null || true
done
