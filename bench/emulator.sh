#!/usr/bin/env bash
# Benchmark of the emulator itself, so that it is never the bottleneck of Herald's benchmarks.
#   1. Throughput: SendToConversation over keep-alive connections, limits off, token checks and
#      transcripts on.
#   2. Memory per stored activity (transcripts on).
#   3. Memory over 1,000,000 requests with transcripts off: it must stay flat.
# Usage: bench/emulator.sh [seconds-per-throughput-run] ; needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CONNECTIONS=${CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "bench/emulator.sh needs wrk: apt-get install -y wrk"; exit 2; }
cargo build --release -p herald --quiet
BIN=target/release/herald
PORT=${PORT:-3989}
ORIGIN="http://127.0.0.1:$PORT"
OUT=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$OUT"' EXIT

# The bot endpoint is a closed port: installs are recorded, their callbacks fail fast.
start_emulator() {
  $BIN emulator --users 1000 --rps 0 --no-conversation-limits --listen "127.0.0.1:$PORT" \
    --bot-endpoint http://127.0.0.1:9/api/messages "$@" >"$OUT/emulator.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -sf "$ORIGIN/_emulator/stats" >/dev/null && break; sleep 0.05; done
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

bot_token() {
  curl -sf "$ORIGIN/botframework.com/oauth2/v2.0/token" \
    -d grant_type=client_credentials -d client_id=8d4b3b4e-6f2a-4c1d-9e3f-5a7b9c1d3e5f \
    -d client_secret=sandbox-app-password --data-urlencode scope=https://api.botframework.com/.default | json 'd["access_token"]'
}
# 200 users install the bot; their conversations are the targets.
install_users() {
  for i in $(seq 1 200); do
    curl -sf -X POST "$ORIGIN/_emulator/users/user$i@sandbox.example/install" | json 'd["conversationId"]'
  done >"$OUT/convs"
}

start_emulator
TOKEN=$(bot_token)
export TOKEN
install_users
export CONVS="$OUT/convs"
TRANSCRIPT_ON_PROBE=$(curl -sf "$ORIGIN/_emulator/config" | json 'd["transcripts"]')

echo "emulator benchmark: $(nproc) cores, wrk $CONNECTIONS connections over keep-alive, $(wc -l <"$CONVS") conversations"
echo "transcripts on: $TRANSCRIPT_ON_PROBE; token checked on every request; limits off"
curl -sf -X DELETE "$ORIGIN/_emulator/stats"
RSS0=$(rss_kb)
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/emulator-send.lua "$ORIGIN" >"$OUT/wrk1.txt"
RSS1=$(rss_kb)
STORED=$(curl -sf "$ORIGIN/_emulator/stats" | json 'd["requests"]["POST /v3/conversations/{cid}/activities"].get("201", 0)')
OTHER=$(curl -sf "$ORIGIN/_emulator/stats" | json 'd["requests"]["POST /v3/conversations/{cid}/activities"]["received"] - d["requests"]["POST /v3/conversations/{cid}/activities"].get("201", 0)')
RPS=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk1.txt")
echo
echo "1. throughput (transcripts on): $RPS sends/s over ${DURATION}s; non-201 answers: $OTHER"
grep -E "^\s+(50|90|99)%" "$OUT/wrk1.txt" | sed 's/^/   latency /'
echo "2. transcripts: $STORED activities stored, RSS $((RSS0 / 1024)) MB -> $((RSS1 / 1024)) MB:" \
  "$(( (RSS1 - RSS0) * 1024 / (STORED > 0 ? STORED : 1) )) bytes per stored activity"

# 3. Transcripts off, on a fresh emulator: memory over 1,000,000 requests.
kill $PID; wait $PID 2>/dev/null || true
start_emulator --no-transcripts
TOKEN=$(bot_token)
install_users
echo "3. transcripts off (fresh emulator, RSS $(( $(rss_kb) / 1024 )) MB at start), RSS every ~100,000 requests (MB):"
SAMPLES=""
TOTAL=0
START=$SECONDS
while [ "$TOTAL" -lt 1000000 ]; do
  wrk -t1 -c"$CONNECTIONS" -d2s -s bench/emulator-send.lua "$ORIGIN" >/dev/null
  TOTAL=$(curl -sf "$ORIGIN/_emulator/stats" | json 'd["connectorRequests"]')
  SAMPLES="$SAMPLES $((TOTAL / 1000))k:$(( $(rss_kb) / 1024 ))"
done
echo "  $SAMPLES"
echo "   $TOTAL requests in $((SECONDS - START)) s; final RSS $(( $(rss_kb) / 1024 )) MB"
