#!/usr/bin/env bash
# A before/after pair: the `calls` scenario against two switchboard binaries,
# alternating A, B, A, B… on freshly started servers (SQLite, as the default
# install runs), so a change's cost is read side by side on one noisy machine.
#
#   loadtest/bench/pair.sh OLD_BINARY NEW_BINARY [LOADTEST_BINARY]
#
# Environment: ROUNDS (3), RATE (calls/s, 500), PAIRS (2000), SECS (15),
# TENANTS (2000), PORT (3921), OUT (loadtest/results/pair-<time>).
# Prints each run's summary and writes them (JSON per run) under $OUT.
set -euo pipefail
OLD=${1:?old binary}
NEW=${2:?new binary}
LT=${3:-target/release/loadtest}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-500}
PAIRS=${PAIRS:-2000}
SECS=${SECS:-15}
TENANTS=${TENANTS:-2000}
PORT=${PORT:-3921}
OUT=${OUT:-loadtest/results/pair-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
TMP=$(mktemp -d)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

run() {
  local bin=$1 label=$2
  rm -f "$TMP"/pair.db*
  "$bin" --dev --addr "127.0.0.1:$PORT" --database-url "sqlite://$TMP/pair.db" \
    --call-rate-per-minute 1000000 --call-rate-burst 1000000 --no-web --max-connections-per-ip 0 --rtc-port 0 \
    >>"$OUT/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
  done
  echo "== $label"
  "$LT" --url "http://127.0.0.1:$PORT" --server-pid "$PID" --label "$label" --out-dir "$OUT" \
    calls --pairs "$PAIRS" --rate "$RATE" --duration "$SECS" --tenants "$TENANTS" | tee -a "$OUT/summary.txt"
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
}

for round in $(seq "$ROUNDS"); do
  run "$OLD" "before-$round"
  run "$NEW" "after-$round"
done
echo "results: $OUT"
