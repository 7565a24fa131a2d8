#!/usr/bin/env bash
# run.sh — builds the libFuzzer targets in DIR (configured by `make fuzz`) and runs each for
# SECONDS, starting from its committed seeds in tests/fuzz/corpus/<target>/ plus what earlier
# runs found (DIR/corpus/<target>/, where new inputs go; the committed seeds are never
# written). A crash, a leak, a sanitizer report or a timeout fails the run; the input is left
# in DIR/artifacts/ (reproduce: DIR/<target> DIR/artifacts/<file>).
#   bash tests/fuzz/run.sh build-fuzz 60
set -uo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-build-fuzz}
SECS=${2:-60}
targets=$(ls tests/fuzz/fuzz_*.c | xargs -n1 basename | sed 's/\.c$//')
cmake --build "$DIR" -j "${JOBS:-2}" --target $targets >/dev/null || { echo "fuzz: build failed" >&2; exit 1; }
mkdir -p "$DIR/artifacts"
fail=0
for t in $targets; do
    mkdir -p "$DIR/corpus/$t"
    seeds=tests/fuzz/corpus/$t
    [ -d "$seeds" ] || seeds=
    if "$DIR/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$DIR/artifacts/$t-" -print_final_stats=1 "$DIR/corpus/$t" $seeds \
        >"$DIR/$t.log" 2>&1; then
        echo "fuzz: $t: ok, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$DIR/$t.log" | grep -o '[0-9]*$') runs in ${SECS}s, corpus $(ls "$DIR/corpus/$t" | wc -l) files"
    else
        echo "fuzz: $t: FAILED (see $DIR/$t.log and $DIR/artifacts/)" >&2
        tail -30 "$DIR/$t.log" >&2
        fail=1
    fi
done
exit $fail
