#!/usr/bin/env bash
# configure_retry — a failed configure must not poison the next `make`. On a fresh machine the
# first configure failed (a library missing), left build/CMakeCache.txt behind, and every later
# `make run` took the folder for configured and died ("Makefile: No such file or directory").
# Here a configure fails for real (pkg-config pointed at an empty folder, so no library is
# found after the compiler checks have written the cache), then a normal one must succeed and
# leave a folder that builds.
set -euo pipefail
src=${OMA_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset MAKEFLAGS MFLAGS MAKELEVEL
mkdir -p "$tmp/empty"
if PKG_CONFIG_LIBDIR="$tmp/empty" PKG_CONFIG_PATH="" make -s -C "$src" configure BUILD_DIR="$tmp/b" >"$tmp/log1" 2>&1; then
  echo "FAIL: configure with no libraries visible succeeded"; exit 1
fi
grep -q "the next make starts it again" "$tmp/log1" || { cat "$tmp/log1"; echo "FAIL: no clear line after a failed configure"; exit 1; }
[ ! -f "$tmp/b/.configured" ] || { echo "FAIL: stamp written after a failed configure"; exit 1; }
make -s -C "$src" configure BUILD_DIR="$tmp/b" >"$tmp/log2" 2>&1 || { cat "$tmp/log2"; echo "FAIL: configure after a failed one"; exit 1; }
[ -f "$tmp/b/.configured" ] && [ -f "$tmp/b/Makefile" ] || { echo "FAIL: folder not configured on the second try"; exit 1; }
cmake --build "$tmp/b" --target oma_formats -j 2 >"$tmp/log3" 2>&1 || { tail -30 "$tmp/log3"; echo "FAIL: the folder does not build"; exit 1; }
echo "ok: a failed configure is retried by the next make"
