#!/usr/bin/env bash
# release_configure — the release build (`make`, `make run`) must not need the test-only
# libraries: configuring it never looks for cmocka, and the build files never link it. This
# failed on a fresh machine where `make run` came before `make test` (CMOCKA_LIB NOTFOUND).
set -euo pipefail
src=${OMA_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset MAKEFLAGS MFLAGS MAKELEVEL
make -s -C "$src" configure BUILD_DIR="$tmp/rel" >"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: release configure failed"; exit 1; }
[ -f "$tmp/rel/.configured" ] || { echo "FAIL: no .configured stamp after a good configure"; exit 1; }
if grep -q "^CMOCKA_" "$tmp/rel/CMakeCache.txt"; then
  grep "^CMOCKA_" "$tmp/rel/CMakeCache.txt"
  echo "FAIL: the release configure looked for cmocka"; exit 1
fi
if grep -rqi "libcmocka\|CMOCKA_LIB" "$tmp/rel" --include="*.make" --include="link.txt"; then
  echo "FAIL: a release target links cmocka"; exit 1
fi
# And the release build has no test targets at all.
if grep -q 'test_' "$tmp/rel/Makefile"; then
  echo "FAIL: the release build configures test programs"; exit 1
fi
echo "ok: release configure needs no test libraries"
