#!/usr/bin/env bash
# A benchmark pair: two switchboard binaries (before and after a change) under the same load
# client, alternating, in one run: relay saturation, idle sockets (memory), call setup.
#
#   BASE_BIN=/path/to/old/switchboard BASE_ARGS="--web-dir /nonexistent" loadtest/bench/pair.sh
#
# NEW_BIN defaults to target/release/switchboard; CALL_RATE (default 500) is the call-setup rate. Prints the figures and writes them to $OUT/summary.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
BASE_BIN=${BASE_BIN:?set BASE_BIN to the binary to compare against}
BASE_ARGS=${BASE_ARGS:-}
NEW_BIN=${NEW_BIN:-target/release/switchboard}
NEW_ARGS=${NEW_ARGS:---no-web --max-connections-per-ip 0}
ROUNDS=${ROUNDS:-2}
CALL_RATE=${CALL_RATE:-500}
PORT=${PORT:-3931}
OUT=${OUT:-loadtest/results/pair-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"; : >"$OUT/summary.txt"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
start() {
  rm -f "$TMP"/bench.db*
  local bin args
  if [ "$1" = base ]; then bin=$BASE_BIN; args=$BASE_ARGS; else bin=$NEW_BIN; args=$NEW_ARGS; fi
  # shellcheck disable=SC2086
  "$bin" --dev --addr "127.0.0.1:$PORT" --database-url "sqlite://$TMP/bench.db" \
    --call-rate-per-minute 1000000 --call-rate-burst 1000000 --rtc-port 0 $args >>"$OUT/server-$1.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null; }
lt() {
  echo "== $1: ${*:2}" | tee -a "$OUT/summary.txt"
  target/release/loadtest --quiet --out-dir "$OUT" --server-pid "$PID" --label "$1" --url "http://127.0.0.1:$PORT" "${@:2}" 2>&1 | tee -a "$OUT/summary.txt"
}
for round in $(seq 1 "$ROUNDS"); do
  for bin in base new; do
    start $bin; lt "$bin-relay-$round" relay --pairs 500 --window 16 --payload 200 --duration 10; stop
    start $bin; lt "$bin-conn-$round" --source-ips 4 connections --count 5000 --ramp 2500 --hold 3; stop
    start $bin; lt "$bin-calls-$round" calls --pairs 2000 --rate "$CALL_RATE" --duration 10 --tenants 2000; stop
  done
done
