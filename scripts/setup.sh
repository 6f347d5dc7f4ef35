#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain:
#  - the PeerJS server (npm, pinned by loadtest/bench/package-lock.json) for the load-test comparison;
#  - Debian's chromium and the web demo's test driver (playwright-core), for the browser tests;
#  - Debian's redis-server, for the cluster tests (they also start private Redis servers of their own).
# Idempotent: does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required but not installed" >&2; exit 1; }; }
need cargo
need npm

if [ ! -x loadtest/bench/node_modules/.bin/peerjs ]; then
  echo "setup: installing the PeerJS server (loadtest/bench)"
  npm ci --prefix loadtest/bench --no-audit --no-fund --loglevel=error
fi

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "setup: installing Debian's redis-server (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

if [ -f web-demo/tests/package.json ]; then
  if [ ! -x /usr/bin/chromium ]; then
    echo "setup: installing Debian's chromium (apt-get)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -d web-demo/tests/node_modules/playwright-core ]; then
    echo "setup: installing playwright-core (no browser download)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix web-demo/tests --no-audit --no-fund --loglevel=error
  fi
fi
