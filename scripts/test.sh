#!/usr/bin/env bash
# Runs the whole test suite, setting the machine up first (scripts/setup.sh is idempotent).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Node.js for the MCP servers and the MCP Inspector from npm (tests/mcp; tests/node/package-lock.json
# pins them), Debian's Chromium for the browser suite (tests/web drives it with Playwright;
# Playwright's own browser download is never used), and Debian's PostgreSQL for the store's tests
# on PostgreSQL (tests/pgserver.py runs its own cluster; the package's default cluster is not used).
need=()
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
[ -x "${COWORK_CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)
# PostgreSQL's server binaries: tests/pgserver.py starts a private cluster on loopback from them
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing apt packages: ${need[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -x tests/node/node_modules/.bin/mcp-server-everything ] || [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
fi
exec .venv/bin/python -m pytest "$@"
