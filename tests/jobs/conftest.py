"""Fixtures for the runs tests: the scripted model server and ``cowork serve`` processes (the
fixtures of tests/server/server_support.py)."""

from server_support import fake, serve  # noqa: F401 (fixtures)
