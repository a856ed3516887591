# Shared by the bench scripts: `source "$(dirname "$0")/lib.sh"`.

# A free TCP port on 127.0.0.1.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# make_layout_image DIR: the registry benches' image, 5 x 100 MiB of random data (gzip -1,
# so compression is cheap and the bytes do not shrink), as an OCI layout in DIR/layout and
# as DIR/bench.tar (that layout tarred, for `berth load`); named localhost/bench:1.
make_layout_image() {
  local W=$1 L=$1/layout i h s d ch cs mh ms
  local diffs=() layers=""
  mkdir -p "$L/blobs/sha256"
  for i in 1 2 3 4 5; do
    mkdir -p "$W/l$i" && head -c 100M /dev/urandom > "$W/l$i/data$i"
    tar -C "$W/l$i" -cf "$W/l$i.tar" . && diffs+=("sha256:$(sha256sum < "$W/l$i.tar" | cut -d' ' -f1)")
    gzip -1 -n -c "$W/l$i.tar" > "$W/l$i.tgz" && rm -rf "$W/l$i" "$W/l$i.tar"
    h=$(sha256sum < "$W/l$i.tgz" | cut -d' ' -f1); s=$(stat -c %s "$W/l$i.tgz"); mv "$W/l$i.tgz" "$L/blobs/sha256/$h"
    layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$h\",\"size\":$s}"
  done
  d=$(printf '"%s",' "${diffs[@]}"); d=${d%,}
  printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$d" > "$W/config"
  ch=$(sha256sum < "$W/config" | cut -d' ' -f1); cs=$(stat -c %s "$W/config"); mv "$W/config" "$L/blobs/sha256/$ch"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' "$ch" "$cs" "$layers" > "$W/manifest"
  mh=$(sha256sum < "$W/manifest" | cut -d' ' -f1); ms=$(stat -c %s "$W/manifest"); mv "$W/manifest" "$L/blobs/sha256/$mh"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"localhost/bench:1"}}]}' "$mh" "$ms" > "$L/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"
  tar -C "$L" -cf "$W/bench.tar" .
}
