#!/usr/bin/env bash
# Issue 5 benchmark: a three-stage C app (compiler stage building it with gcc + make,
# a slim runner stage, a test stage) built by `berth build` and `buildah bud --layers`
# side by side (hyperfine): cold build, no-op rebuild, rebuild after a one-line change.
# The base image (Debian bookworm minbase + gcc/make, debootstrap'ed once and kept in
# /var/tmp/berth-bench-base.tar) is loaded into both tools; nothing is pulled.
# Usage: bash bench/build.sh   (as root; writes bench/results/build.md)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin berth -q
berth="$PWD/target/release/berth"
work=$(mktemp -d /var/tmp/berth-bench-build.XXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p bench/results
B="$berth --root $work/berth"
BA="buildah --root $work/buildah --runroot $work/buildah-run --storage-driver overlay"

base=/var/tmp/berth-bench-base.tar
if [ ! -s "$base" ]; then
  echo "bootstrapping the base image once (debootstrap + gcc, a few minutes)"
  broot=$(mktemp -d /var/tmp/berth-bench-base.XXXX)
  "$berth" --root "$broot" bootstrap debian:bookworm --include gcc,libc6-dev,make -t bench/base:1
  "$berth" --root "$broot" save --format oci-archive -o "$base.partial" bench/base:1
  mv "$base.partial" "$base"
  rm -rf "$broot"
fi
$B load -q -i "$base" >/dev/null
$BA pull -q "oci-archive:$base" >/dev/null
$BA tag "$($BA images -q | head -1)" localhost/bench/base:1

# The app: 24 C files, a Makefile, a test script.
app="$work/app"
mkdir -p "$app/src" "$app/tests"
for i in $(seq 1 24); do
  cat > "$app/src/f$i.c" <<C
#include <stdio.h>
int f$i(int x) { int s = 0; for (int k = 0; k < x; k++) s += (k * $i) % 7; return s; }
C
done
{
  echo '#include <stdio.h>'
  for i in $(seq 1 24); do echo "int f$i(int);"; done
  echo 'int main(void) { long t = 0;'
  for i in $(seq 1 24); do echo "  t += f$i(1000);"; done
  echo '  printf("total %ld\n", t); return 0; }'
} > "$app/src/main.c"
cat > "$app/Makefile" <<'M'
SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:.c=.o)
app: $(OBJS)
	$(CC) -O2 -o $@ $^
%.o: %.c
	$(CC) -O2 -c -o $@ $<
M
printf '#!/bin/sh\nset -e\nout=$(/usr/local/bin/app)\necho "$out" | grep -q total\necho tests passed\n' > "$app/tests/run.sh"
chmod +x "$app/tests/run.sh"
for tool in berth buildah; do
  from=bench/base:1; [ $tool = buildah ] && from=localhost/bench/base:1
  cat > "$app/Dockerfile.$tool" <<D
FROM $from AS compiler
WORKDIR /src
COPY Makefile ./
COPY src/ src/
RUN make -j2 && strip app

FROM $from AS runner
COPY --from=compiler /src/app /usr/local/bin/app
CMD ["/usr/local/bin/app"]

FROM runner AS test
COPY tests/ /tests/
RUN /tests/run.sh
D
done

bb() { $B build -q -f "$app/Dockerfile.berth" -t app:test "$app" >/dev/null; }
ba() { $BA bud -q --layers --isolation chroot -f "$app/Dockerfile.buildah" -t app:test "$app" >/dev/null; }
export -f bb ba
export B BA app
# Sanity: both build and the result runs.
bb; $B run --rm app:test /usr/local/bin/app
ba

hyperfine --shell bash --warmup 0 --runs 3 --export-markdown "$work/cold.md" \
  --prepare "$B builder prune -f >/dev/null; $B rmi -f app:test >/dev/null 2>&1 || true" \
  -n "berth build (cold)" bb \
  --prepare "$BA rmi -f app:test >/dev/null 2>&1 || true; $BA rmi --prune >/dev/null 2>&1 || true" \
  -n "buildah bud (cold)" ba
bb; ba
hyperfine --shell bash --warmup 1 --runs 10 --export-markdown "$work/noop.md" \
  -n "berth build (no-op)" bb \
  -n "buildah bud (no-op)" ba
# One line of one source file changes each run (a counter in a comment).
hyperfine --shell bash --warmup 1 --runs 5 --export-markdown "$work/change.md" \
  --prepare "echo \"// \$RANDOM\" >> $app/src/f3.c" -n "berth build (one-line change)" bb \
  --prepare "echo \"// \$RANDOM\" >> $app/src/f3.c" -n "buildah bud (one-line change)" ba
echo "// once more" >> "$app/src/f3.c"
$B build --progress plain -f "$app/Dockerfile.berth" "$app" 2>&1 | grep -E "cache miss|CACHED|DONE" > "$work/explain.txt" || true

{
  echo "three-stage C app (24 files, gcc -O2, make -j2), $(nproc) cores, $(date -u +%F)"
  echo
  cat "$work/cold.md"; echo; cat "$work/noop.md"; echo; cat "$work/change.md"; echo
  echo 'berth --progress plain after a one-line change:'
  echo '```'; cat "$work/explain.txt"; echo '```'
} > bench/results/build.md
cat bench/results/build.md
