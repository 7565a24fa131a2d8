#!/usr/bin/env bash
# http_wrk.sh — requests/second for an authenticated GET /api/me (Bearer token) on loopback.
# Starts `oma serve --port 0` on a throw-away data folder, signs up one artist with curl,
# runs wrk against /api/me, prints wrk's report, stops the server.
#   OMA_BIN=build/oma bench/http_wrk.sh [duration=10s] [connections=32] [threads=2]
# Use a release build (make build): the sanitizer build is several times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${OMA_BIN:-build/oma}
DUR=${1:-10s}
CONNS=${2:-32}
THREADS=${3:-2}
command -v wrk >/dev/null || { echo "oma: bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "oma: bench: $BIN not found (make build, or set OMA_BIN)" >&2; exit 1; }
DATA=$(mktemp -d)
OUT=$(mktemp)
# every wrk connection comes from 127.0.0.1: lift the per-address connection cap (default 32)
OMA_MAX_CONNECTIONS_PER_ADDRESS=${OMA_MAX_CONNECTIONS_PER_ADDRESS:-0} \
  "$BIN" serve --port 0 --data "$DATA" --workers 0 >"$OUT" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA" "$OUT"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$OUT" && break; sleep 0.1; done
URL=$(sed -n 's/^oma: listening on //p' "$OUT")
[ -n "$URL" ] || { echo "oma: bench: server did not start: $(cat "$OUT")" >&2; exit 1; }
TOKEN=$(curl -sf "$URL/api/auth/signup" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password","name":"bench"}' |
  sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
[ -n "$TOKEN" ] || { echo "oma: bench: sign-up failed" >&2; exit 1; }
curl -sf "$URL/api/me" -H "Authorization: Bearer $TOKEN" >/dev/null
echo "oma: bench: GET /api/me with a Bearer token, $THREADS threads, $CONNS connections, $DUR ($BIN)"
wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency -H "Authorization: Bearer $TOKEN" "$URL/api/me"
