#!/usr/bin/env bash
# Runs the whole test suite, setting the machine up first (scripts/setup.sh is idempotent).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# MCP servers and the MCP Inspector from npm, for tests/mcp (tests/node/package-lock.json pins them).
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing apt packages: nodejs npm"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x tests/node/node_modules/.bin/mcp-server-everything ] || [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
fi
exec .venv/bin/python -m pytest "$@"
