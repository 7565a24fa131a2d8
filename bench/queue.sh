#!/usr/bin/env bash
# queue.sh — the scale-out figures, both engines in one run (issue 9):
#  1. jobs/s through the queue alone (claim -> finish, no work) with 1, 2, 4 worker processes
#     on SQLite (a temp file) and on PostgreSQL (a throw-away cluster, tests/scale/pg_cluster.sh,
#     fsync off as in the tests), and the ratio postgres/sqlite per process count;
#  2. GET /api/me req/s (wrk, Bearer token) against `oma serve --workers 0` on each engine.
#   B=build-bench bench/queue.sh [jobs=1000] [wrk duration=5s]
# Use a release build (bench/run.sh makes build-bench); numbers compare only within one run.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build-bench}
JOBS=${1:-1000}
DUR=${2:-5s}
[ -x "$B/bench_queue" ] || { echo "queue.sh: $B/bench_queue missing (cmake --build $B --target bench_queue oma)" >&2; exit 1; }
tmp=$(mktemp -d)
pgdir=$(mktemp -u /tmp/oma-bench-pg-XXXXXX)   # outside $tmp (0700): the postgres user must reach it
trap 'bash tests/scale/pg_cluster.sh stop "$pgdir" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
PG=$(bash tests/scale/pg_cluster.sh start "$pgdir") || { echo "queue.sh: PostgreSQL comparison skipped (no cluster, see above)"; PG=""; }
log="$tmp/log"
for p in 1 2 4; do
  "$B/bench_queue" "sqlite:$tmp/q.db" "$p" "$JOBS" | tee -a "$log"
  [ -n "$PG" ] && "$B/bench_queue" "$PG" "$p" "$JOBS" | tee -a "$log"
done
awk '
  function v(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2) }
  /^queue_jobs_per_s/ { r[v("engine") "/" v("procs")] = v("jobs_per_s") }
  END { for (p = 1; p <= 4; p *= 2) if (r["sqlite/" p] && r["postgres/" p])
          printf "ratio queue jobs/s postgres/sqlite, %d process%s = %.2f (%s / %s)\n", p, (p > 1 ? "es" : ""), r["postgres/" p] / r["sqlite/" p], r["postgres/" p], r["sqlite/" p] }' "$log"

if command -v wrk >/dev/null && command -v curl >/dev/null && [ -x "$B/oma" ]; then
  me() { # $1 = engine name, rest = extra serve flags; prints "api_me engine=... req_per_s=..."
    local name=$1; shift
    local data="$tmp/data-$name" out="$tmp/serve-$name"
    OMA_MAX_CONNECTIONS_PER_ADDRESS=0 "$B/oma" serve --port 0 --data "$data" --workers 0 "$@" >"$out" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$out" && break; sleep 0.1; done
    local url; url=$(sed -n 's/^oma: listening on //p' "$out")
    local tok; tok=$(curl -sf "$url/api/auth/signup" -H 'content-type: application/json' \
      -d "{\"email\":\"q-$name@example.com\",\"password\":\"bench password\",\"name\":\"q\"}" |
      sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
    local rps; rps=$(wrk -t2 -c32 -d"$DUR" -H "Authorization: Bearer $tok" "$url/api/me" | awk '/Requests\/sec/ { print $2 }')
    kill "$pid"; wait "$pid" 2>/dev/null
    echo "api_me engine=$name req_per_s=$rps"
  }
  a=$(me sqlite); echo "$a"
  if [ -n "$PG" ]; then
    b=$(me postgres --db "$PG"); echo "$b"
    echo "$a $b" | awk '{ split($3, x, "="); split($6, y, "="); if (x[2] > 0) printf "ratio GET /api/me req/s postgres/sqlite = %.2f (%s / %s)\n", y[2] / x[2], y[2], x[2] }'
  fi
else
  echo "queue.sh: GET /api/me skipped (needs wrk, curl and $B/oma)"
fi
