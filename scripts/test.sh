#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit and integration
# tests on SQLite and PostgreSQL, the load generator's tiny runs (switchboard
# and PeerJS), and the browser tests of the web demo.
#
# PostgreSQL: TEST_DATABASE_URL (default: the local server, database `test`).
# Redis: TEST_REDIS_URL (default: the local server on 6379; started here when nothing answers).
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

scripts/setup.sh

export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
redis_hostport="${TEST_REDIS_URL#*://}"; redis_hostport="${redis_hostport##*@}"; redis_hostport="${redis_hostport%%/*}"
redis_host="${redis_hostport%%:*}"; redis_port="${redis_hostport##*:}"
[ "$redis_port" = "$redis_hostport" ] && redis_port=6379
if ! (exec 3<>"/dev/tcp/$redis_host/$redis_port") 2>/dev/null; then
  echo "== starting redis-server on $redis_host:$redis_port (nothing answered)"
  redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/$redis_host/$redis_port") 2>/dev/null && break; sleep 0.1; done
fi

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test (SQLite + PostgreSQL at ${TEST_DATABASE_URL%%@*}@…)"
cargo test --workspace

if [ -f web-demo/tests/package.json ]; then
  echo "== browser tests (chromium)"
  # `cargo test` has just built target/debug/switchboard (with the features
  # the tests unify); `cargo build` would rebuild ~70 crates without them.
  [ -x target/debug/switchboard ] || cargo build --bin switchboard
  npm test --prefix web-demo/tests
fi
echo "== all tests passed"
