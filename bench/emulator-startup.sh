#!/usr/bin/env bash
# Time from `herald emulator --users N` starting to its first answered HTTP request, over
# several runs (release build). Usage: bench/emulator-startup.sh [users] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-1000}
RUNS=${2:-10}
cargo build --release -p herald --quiet
PORT=${PORT:-3988}
times=()
for _ in $(seq 1 "$RUNS"); do
  t0=$(date +%s%N)
  target/release/herald emulator --users "$USERS" --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$PORT/v1/.well-known/keys" >/dev/null 2>&1; do sleep 0.005; done
  t1=$(date +%s%N)
  kill $pid; wait $pid 2>/dev/null || true
  times+=($(( (t1 - t0) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "herald emulator --users $USERS: ready (first answered request) in ms over $RUNS runs:" \
  "min $(echo "$sorted" | head -1), median $(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p"), max $(echo "$sorted" | tail -1)"
