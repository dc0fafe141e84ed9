"""Checkpoint tests use real git, real files and the ``workspace`` and ``runtime`` fixtures of
tests/conftest.py (a real SQLite store), with the engine and server helpers of tests/engine and
tests/server on the import path."""

from __future__ import annotations

# checkpoint_support, engine_support, server_support and fakemodel import by name: pyproject's pythonpath.
