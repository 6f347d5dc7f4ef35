#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit and integration
# tests on SQLite and PostgreSQL, the load generator's tiny runs (switchboard
# and PeerJS), and the browser tests of the web demo.
#
# PostgreSQL: TEST_DATABASE_URL (default: the local server, database `test`).
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

scripts/setup.sh

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
