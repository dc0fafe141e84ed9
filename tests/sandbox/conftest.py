"""Sandbox test fixtures (defined in sandbox_fixtures.py, shared with tests/redteam)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))  # engine_support: the scripted model

from sandbox_fixtures import backend, home, outside, runtime, ws  # noqa: E402,F401
