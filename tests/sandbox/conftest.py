"""Sandbox test fixtures (defined in sandbox_fixtures.py, shared with tests/redteam)."""

from __future__ import annotations

from sandbox_fixtures import backend, home, outside, runtime, ws  # noqa: F401  (helpers: pyproject's pythonpath)
