#!/usr/bin/env bash
# Cluster benchmarks on this machine: nodes of one deployment on one
# PostgreSQL database (a fresh schema) and one Redis prefix, the load
# generator spread over them with several --url.
#
#   cluster.sh calls   two nodes: call setup at CALL_RATE calls/s with caller and
#                      callee on different nodes vs on one node, alternated ROUNDS times
#                      in one run; relay msgs/s across nodes; idle sockets per node
#   cluster.sh scale   SCALE_NODES nodes, SCALE_SOCKETS idle authenticated sockets
#                      spread over them by SCALE_GENS load-generator processes, and
#                      presence checked across nodes (an agent on the last node as the
#                      first lists it)
#
# Prints the figures and writes the JSON reports (and the commands) to $OUT.
# Needs PostgreSQL (PG_URL) and Redis (REDIS_URL) running.
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=${1:-calls}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
CALL_RATE=${CALL_RATE:-1000}
CALL_PAIRS=${CALL_PAIRS:-2000}
CALL_SECS=${CALL_SECS:-15}
ROUNDS=${ROUNDS:-3}
RELAY_PAIRS=${RELAY_PAIRS:-500}
IDLE_PER_NODE=${IDLE_PER_NODE:-9000}
SCALE_NODES=${SCALE_NODES:-6}
SCALE_SOCKETS=${SCALE_SOCKETS:-100000}
SCALE_GENS=${SCALE_GENS:-6}
SCALE_RAMP=${SCALE_RAMP:-500}
BASE_PORT=${BASE_PORT:-3931}
# PostgreSQL connections per node: 8 (on this 2-core machine, 16 per node put 32 busy
# backends on two cores beside the nodes, Redis and the load generator; max_connections is 100).
DB_CONNS=${DB_CONNS:-8}
OUT=${OUT:-loadtest/results/cluster-$MODE-$(date -u +%Y%m%dT%H%M%SZ)}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SCHEMA="sbbench_$(date +%s)_$$"
PREFIX="sbbench-$$"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

[ -x target/release/switchboard ] && [ -x target/release/loadtest ] || cargo build --release --workspace --quiet
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
psql "$PG_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null

SECRET=switchboard-dev-secret-not-for-production-use-0000
start_node() { # $1: index (1-based)
  local port=$((BASE_PORT + $1 - 1))
  DATABASE_URL="$PG_URL?options=-c%20search_path%3D$SCHEMA" DATABASE_MAX_CONNECTIONS="$DB_CONNS" \
  SWITCHBOARD_REDIS_URL="$REDIS_URL" SWITCHBOARD_REDIS_PREFIX="$PREFIX" SWITCHBOARD_NODE_ID="bench-$1" \
  SUPABASE_JWT_SECRET=$SECRET SWITCHBOARD_MEDIA_MODE=p2p SWITCHBOARD_NO_WEB=true \
  SWITCHBOARD_MAX_CONNECTIONS_PER_IP=0 SWITCHBOARD_MAX_CONNECTIONS=25000 CALL_RATE_PER_MINUTE=100000 CALL_RATE_BURST=100000 \
  RUST_LOG=warn target/release/switchboard --addr "127.0.0.1:$port" --rtc-port 0 >"$OUT/node$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "node $1 did not start:"; cat "$OUT/node$1.log"; exit 1
}
url() { echo "--url http://127.0.0.1:$((BASE_PORT + $1 - 1))"; }
lt() { # records and runs a loadtest command
  echo "target/release/loadtest $*" | tee -a "$OUT/commands.txt"
  target/release/loadtest --quiet --secret "$SECRET" --out-dir "$OUT" "$@"
}

case "$MODE" in
  calls)
    start_node 1; start_node 2
    for r in $(seq 1 "$ROUNDS"); do
      lt $(url 1) $(url 2) --source-ips 4 --label "cross-$r" calls --pairs "$CALL_PAIRS" --rate "$CALL_RATE" --duration "$CALL_SECS" --tenants "$CALL_PAIRS"
      lt $(url 1) $(url 2) --source-ips 4 --label "same-$r" calls --pairs "$CALL_PAIRS" --rate "$CALL_RATE" --duration "$CALL_SECS" --tenants "$CALL_PAIRS" --same-node
    done
    lt $(url 1) $(url 2) --source-ips 4 --label relay-cross relay --pairs "$RELAY_PAIRS" --window 16 --payload 200 --duration 15
    lt $(url 1) $(url 2) --source-ips 4 --label idle-2-nodes connections --count $((2 * IDLE_PER_NODE)) --ramp 3000 --hold 5
    ;;
  scale)
    urls=""
    for i in $(seq 1 "$SCALE_NODES"); do start_node "$i"; urls="$urls $(url "$i")"; done
    per=$((SCALE_SOCKETS / SCALE_GENS))
    gpids=()
    for g in $(seq 1 "$SCALE_GENS"); do
      # Each generator holds its sockets on every node (connection i on node i mod N).
      echo "target/release/loadtest $urls --source-ips 8 --run-id gen$g --label scale-gen$g connections --count $per --ramp $SCALE_RAMP --hold 20 --tenants 1000" | tee -a "$OUT/commands.txt"
      # shellcheck disable=SC2086
      target/release/loadtest --quiet --secret "$SECRET" --out-dir "$OUT" $urls --source-ips 8 --run-id "gen$g" --label "scale-gen$g" \
        connections --count "$per" --ramp "$SCALE_RAMP" --hold 20 --tenants 1000 >"$OUT/gen$g.txt" 2>&1 &
      gpids+=($!)
    done
    # While every generator holds: the sockets per node and each node's memory.
    sleep $(( per / SCALE_RAMP + 10 ))
    for i in $(seq 1 "$SCALE_NODES"); do
      port=$((BASE_PORT + i - 1))
      m=$(curl -fs "http://127.0.0.1:$port/metrics")
      echo "node $i: sockets $(echo "$m" | awk '$1=="switchboard_sockets"{print $2}'), resident MiB $(echo "$m" | awk '$1=="switchboard_process_resident_bytes"{printf "%.1f", $2/1048576}')" | tee -a "$OUT/nodes.txt"
    done
    for p in "${gpids[@]}"; do wait "$p" || true; done
    cat "$OUT"/gen*.txt
    ;;
  *) echo "usage: $0 calls|scale"; exit 2 ;;
esac
echo "results in $OUT"
