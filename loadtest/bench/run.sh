#!/usr/bin/env bash
# Runs the whole benchmark on this machine, in one go, and writes docs/BENCHMARKS.md:
#
#   1. relay, switchboard vs the PeerJS server, same peers / message size, each
#      run on a freshly started server:
#      a. saturation (closed loop, WINDOW messages in flight per pair),
#      b. a fixed offered rate both can carry (RATE_PER_PAIR per pair);
#   2. switchboard alone: CONN_COUNT idle sockets held (memory per socket);
#   3. switchboard alone: call setup for each rate:tenants of CALL_RUNS (by
#      default each of CALL_RATES with CALL_TENANTS tenants, then 1000 calls
#      per second with BIG_TENANTS tenants);
#   4. the embedded SFU: MEDIA_CALLS calls set up and torn down (memory before /
#      after), then MEDIA_CONCURRENCY concurrent 1:1 audio calls.
#
# Every loadtest command is recorded in $OUT/commands.txt and quoted in the
# report. Results (JSON + SVG) stay in $OUT; the SVGs are copied to docs/bench/.
# Usage: loadtest/bench/run.sh            (about 12 minutes plus the build)
set -euo pipefail
cd "$(dirname "$0")/../.."

PAIRS=${PAIRS:-500}
WINDOW=${WINDOW:-16}
PAYLOAD=${PAYLOAD:-200}
RELAY_SECS=${RELAY_SECS:-15}
RATE_PER_PAIR=${RATE_PER_PAIR:-20}
CONN_COUNT=${CONN_COUNT:-19000}
CONN_RAMP=${CONN_RAMP:-3000}
CALL_RATES=${CALL_RATES:-"100 500 1000"}
CALL_PAIRS=${CALL_PAIRS:-2000}
CALL_SECS=${CALL_SECS:-15}
CALL_TENANTS=${CALL_TENANTS:-2000}
BIG_TENANTS=${BIG_TENANTS:-50}
CALL_RUNS=${CALL_RUNS:-"$(printf "%s:$CALL_TENANTS " $CALL_RATES)1000:$BIG_TENANTS"}
MEDIA_CALLS=${MEDIA_CALLS:-1000}
MEDIA_CONCURRENCY=${MEDIA_CONCURRENCY:-"50 100 200 300"}
MEDIA_TALK_MS=${MEDIA_TALK_MS:-15000}
SB_PORT=${SB_PORT:-3911}
PJ_PORT=${PJ_PORT:-3912}
OUT=${OUT:-loadtest/results/bench-$(date -u +%Y%m%dT%H%M%SZ)}
REPORT=${REPORT:-docs/BENCHMARKS.md}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d)
SB_PID=""
PJ_PID=""
cleanup() {
  [ -n "$SB_PID" ] && kill "$SB_PID" 2>/dev/null || true
  [ -n "$PJ_PID" ] && kill "$PJ_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

echo "bench: building (release)"
cargo build --release --workspace --quiet
if [ ! -x loadtest/bench/node_modules/.bin/peerjs ]; then
  npm ci --prefix loadtest/bench --no-audit --no-fund --loglevel=error
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench: nothing listens on $1" >&2
  exit 1
}

start_switchboard() {
  [ -n "$SB_PID" ] && { kill "$SB_PID"; wait "$SB_PID" 2>/dev/null || true; }
  rm -f "$TMP"/bench.db*
  target/release/switchboard --dev --addr "127.0.0.1:$SB_PORT" --database-url "sqlite://$TMP/bench.db" \
    --call-rate-per-minute 1000000 --call-rate-burst 1000000 --no-web --max-connections-per-ip 0 --rtc-port 0 \
    >>"$OUT/switchboard.log" 2>&1 &
  SB_PID=$!
  wait_port "$SB_PORT"
}

start_peerjs() {
  [ -n "$PJ_PID" ] && { kill "$PJ_PID"; wait "$PJ_PID" 2>/dev/null || true; }
  loadtest/bench/node_modules/.bin/peerjs --port "$PJ_PORT" --host 127.0.0.1 --path / \
    -c 1000000 --alive_timeout 600000 >>"$OUT/peerjs.log" 2>&1 &
  PJ_PID=$!
  wait_port "$PJ_PORT"
}

lt() {
  echo "target/release/loadtest $*" | sed "s#$OUT#\$OUT#g" >>"$OUT/commands.txt"
  target/release/loadtest --quiet --out-dir "$OUT" "$@" | tee -a "$OUT/summary.txt"
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc --version)"
  echo "node: $(node --version)"
  echo "peer: $(node -p "require('./loadtest/bench/node_modules/peer/package.json').version")"
  echo "open files limit: $(ulimit -n)"
} >"$OUT/machine.txt"
: >"$OUT/commands.txt"

SB="--url http://127.0.0.1:$SB_PORT"
PJ="--url http://127.0.0.1:$PJ_PORT"

echo "bench: relay, switchboard vs PeerJS"
for mode in saturation fixed; do
  case $mode in
    saturation) load=(--window "$WINDOW") ;;
    fixed) load=(--rate-per-pair "$RATE_PER_PAIR") ;;
  esac
  # A fresh server for every run: none inherits another run's memory or connections.
  start_switchboard
  lt $SB --server-pid "$SB_PID" --label "switchboard-$mode" relay --pairs "$PAIRS" "${load[@]}" --payload "$PAYLOAD" --duration "$RELAY_SECS"
  start_peerjs
  lt $PJ --server-pid "$PJ_PID" --label "peerjs-$mode" relay --target peerjs --pairs "$PAIRS" "${load[@]}" --payload "$PAYLOAD" --duration "$RELAY_SECS"
done
kill "$PJ_PID"; wait "$PJ_PID" 2>/dev/null || true; PJ_PID=""

echo "bench: idle sockets"
start_switchboard
lt $SB --server-pid "$SB_PID" --source-ips 4 --label switchboard connections --count "$CONN_COUNT" --ramp "$CONN_RAMP" --hold 5

echo "bench: call setup"
for run in $CALL_RUNS; do
  rate=${run%%:*}
  tenants=${run#*:}
  label="switchboard-$rate"
  [ "$tenants" = "$BIG_TENANTS" ] && label="$label-big-tenants"
  start_switchboard
  lt $SB --server-pid "$SB_PID" --label "$label" calls --pairs "$CALL_PAIRS" --rate "$rate" --duration "$CALL_SECS" --tenants "$tenants"
done

echo "bench: embedded SFU"
start_switchboard
lt $SB --server-pid "$SB_PID" --label media-churn media --calls "$MEDIA_CALLS" --concurrency 10 --talk-ms 500 --sample-after 10
for c in $MEDIA_CONCURRENCY; do
  start_switchboard
  lt $SB --server-pid "$SB_PID" --label "media-concurrent-$c" media --calls "$c" --concurrency "$c" --talk-ms "$MEDIA_TALK_MS" --sample-after "$c"
done

python3 loadtest/bench/report.py "$OUT" "$REPORT"
echo "bench: wrote $REPORT (results in $OUT)"
