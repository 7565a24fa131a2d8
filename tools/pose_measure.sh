#!/usr/bin/env bash
# pose_measure.sh — "find every person", measured: people found and body keypoints of
# `oma pose estimate` against MoveNet MultiPose run by pure-JS tfjs (tools/pose_multipose.mjs)
# on pictures from Debian packages, by category (single photos, group photos, video frames
# with small people, clip art). Pictures are fetched here (apt-get download + dpkg -x) into
# tests/data/pose-measure/ (ignored by git, kept as a cache; POSE_MEASURE_DIR elsewhere) and flattened to RGB PNG on white
# (Debian's python3-pil) so both sides read the same pixels; tools/pose_measure_table.mjs
# prints the table (README "Finding every person").
#   tools/pose_measure.sh [OMA_BIN]     (default build-bench/oma, else build/oma)
# Env: POSE_MEASURE_FLAGS extra flags for oma (e.g. "--model blazepose" for the former
# estimator); POSE_MEASURE_BODY=blazepose takes a MoveNet person's body points from BlazePose
# instead (oma reads OMA_POSE_BODY=blazepose), to compare the two sources on the same people.
set -euo pipefail
cd "$(dirname "$0")/.."
OMA=${1:-}
[ -n "$OMA" ] || { [ -x build-bench/oma ] && OMA=build-bench/oma; } || OMA=build/oma
D=${POSE_MEASURE_DIR:-tests/data/pose-measure}
mkdir -p "$D/debs"

# fetch PKG: the package unpacked under $D/debs/PKG (once)
fetch() {
  local pkg=$1
  [ -d "$D/debs/$pkg" ] && return 0
  (cd "$D/debs" && apt-get download "$pkg" >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 || true; apt-get download "$pkg" >/dev/null 2>&1; }) ||
    { echo "pose_measure: cannot download $pkg" >&2; return 1; }
  dpkg -x "$D"/debs/"$pkg"_*.deb "$D/debs/$pkg" && rm -f "$D"/debs/"$pkg"_*.deb
}

# pick CATEGORY PKG DIR FILE...: flattened RGB PNGs in $D/CATEGORY/
pick() {
  local cat=$1 pkg=$2 dir=$3
  shift 3
  fetch "$pkg" || return 0
  mkdir -p "$D/$cat"
  for f in "$@"; do
    local out="$D/$cat/$(basename "${f%.*}").png"
    [ -f "$out" ] && continue
    /usr/bin/python3 - "$D/debs/$pkg/$dir/$f" "$out" <<'EOF' || echo "pose_measure: $f missing in $pkg" >&2
import sys
from PIL import Image
im = Image.open(sys.argv[1])
im = im.convert('RGBA')
bg = Image.new('RGBA', im.size, (255, 255, 255, 255))
Image.alpha_composite(bg, im).convert('RGB').save(sys.argv[2])
EOF
  done
}

ocv=usr/share/doc/opencv-doc/examples/data
html=usr/share/doc/opencv-doc/opencv4/html
oc=usr/share/openclipart/png
pick single python3-skimage usr/lib/python3/dist-packages/skimage/data astronaut.png camera.png
pick single opencv-doc "$ocv" messi5.jpg
pick single opencv-doc "$html" 227943776_1.jpg 230501201_1.jpg
pick group opencv-doc "$ocv" basketball1.png basketball2.png
pick group opencv-doc "$html" person_multi_det.jpg
pick video opencv-doc "$html" demo.jpg VideoDemo_thermal_park.jpg
pick clipart openclipart-png "$oc" recreation/sports/roller_blader_ganson.png \
  recreation/sports/karate_kick_frouke_01.png people/a_boy_plays_soccer_01.png \
  people/a_man_singing_01.png people/adult_astrid_graeber_01.png \
  people/aerobics_architetto_fran_01.png people/ballerina_architetto_fra_01.png \
  people/breakdance_juliane_krug_01.png people/fitness_architetto_franc_01.png \
  people/handstand_andrew_fitzsim_01.png people/backpacker_ganson.png \
  people/happy_woman_dirk_struve_01.png people/dancers_erich_schubert_01.png \
  people/busy_mom_with_child_and_01.png

out=$D/out
mkdir -p "$out"
imgs=$(ls "$D"/{single,group,video,clipart}/*.png 2>/dev/null)
node tools/pose_multipose.mjs $imgs > "$out/reference.jsonl" 2>/dev/null
: > "$out/ours.tsv"
for f in $imgs; do
  n=$(basename "$f" .png)
  t0=$(date +%s.%N)
  OMA_POSE_BODY=${POSE_MEASURE_BODY:-} "$OMA" pose estimate "$f" -o "$out/$n.pose.json" --wholebody "$out/$n.wb.json" --no-hands --no-face \
    ${POSE_MEASURE_FLAGS:-} >/dev/null
  t1=$(date +%s.%N)
  echo -e "$(basename "$(dirname "$f")")\t$n\t$(echo "$t1 - $t0" | bc)" >> "$out/ours.tsv"
done
node tools/pose_measure_table.mjs "$out"
