"""Checkpoint tests use real git, real files and the ``workspace`` and ``runtime`` fixtures of
tests/conftest.py (a real SQLite store), with the engine and server helpers of tests/engine and
tests/server on the import path."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent, HERE.parent / "engine", HERE.parent / "server"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
