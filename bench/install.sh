#!/usr/bin/env bash
# Benchmark of `herald serve`'s bot endpoint: personal install activities of distinct users
# through /api/messages with full JWT validation (one reused channel token, as Teams does), each
# stored as a conversation reference. Runs on SQLite, then PostgreSQL when it answers.
# Usage: bench/install.sh [seconds] ; needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CONNECTIONS=${CONNECTIONS:-32}
PG_URL=${HERALD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
command -v wrk >/dev/null || { echo "bench/install.sh needs wrk: apt-get install -y wrk"; exit 2; }
cargo build --release -p herald --quiet
BIN=$PWD/target/release/herald
EMU_PORT=${EMU_PORT:-3987}
SRV_PORT=${SRV_PORT:-3986}
OUT=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"' EXIT
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

$BIN emulator --users 10 --listen "127.0.0.1:$EMU_PORT" --bot-endpoint "http://127.0.0.1:$SRV_PORT/api/messages" >"$OUT/emulator.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "_emulator/stats" "$OUT/emulator.out" 2>/dev/null && break; sleep 0.05; done
# The emulator prints the settings that point a server at it.
eval "$(grep '^  export ' "$OUT/emulator.out" | sed 's/^  //')"
ORIGIN="http://127.0.0.1:$EMU_PORT"
CT=$(curl -sf -X POST "$ORIGIN/_emulator/channel-token")
export TOKEN=$(echo "$CT" | json 'd["token"]') SERVICE_URL=$(echo "$CT" | json 'd["serviceUrl"]')
export TENANT=$HERALD_TENANT_ID BOT="28:$HERALD_APP_ID"

run() { # backend database-url
  local backend=$1 url=$2
  HERALD_LISTEN="127.0.0.1:$SRV_PORT" HERALD_DATABASE_URL="$url" HERALD_WELCOME_TEXT="" HERALD_LOG=warn \
    $BIN serve >"$OUT/serve-$backend.log" 2>&1 &
  local pid=$!
  PIDS+=($pid)
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$SRV_PORT/readyz" >/dev/null && break; sleep 0.05; done
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/install-activities.lua "http://127.0.0.1:$SRV_PORT" >"$OUT/wrk-$backend.txt"
  local rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill $pid; wait $pid 2>/dev/null || true
  local rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk-$backend.txt")
  local p50=$(awk '$1 == "50%" {print $2}' "$OUT/wrk-$backend.txt")
  local p99=$(awk '$1 == "99%" {print $2}' "$OUT/wrk-$backend.txt")
  local errors=$(grep -E "Non-2xx|Socket errors" "$OUT/wrk-$backend.txt" | tr '\n' ' ' || true)
  echo "$backend: $rps install activities/s, latency p50 $p50 p99 $p99, server RSS $((rss / 1024)) MB ${errors:+($errors)}"
}

echo "herald serve /api/messages benchmark: $(nproc) cores, wrk $CONNECTIONS keep-alive connections, ${DURATION}s per backend"
DB="$OUT/bench.db"
run sqlite "sqlite://$DB"
echo "  stored: $(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from conversation_refs').fetchone()[0])" "$DB") references"
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  SCHEMA="herald_bench_$$"
  psql "$PG_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
  run postgres "$PG_URL?options=-c%20search_path%3D$SCHEMA"
  echo "  stored: $(psql "$PG_URL" -tAc "select count(*) from $SCHEMA.conversation_refs") references"
  PGOPTIONS="-c client_min_messages=warning" psql "$PG_URL" -qc "DROP SCHEMA $SCHEMA CASCADE" >/dev/null
else
  echo "postgres: skipped (no PostgreSQL on 127.0.0.1:5432)"
fi
