"""Fixtures for the runs tests: the scripted model server and ``cowork serve`` processes (the
helpers of tests/server/server_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakemodel import FakeModelServer
from server_support import Served, start_serve


@pytest.fixture
def fake():
    with FakeModelServer() as s:
        yield s


@pytest.fixture
def serve(tmp_path: Path, fake):
    """``await serve(*args)`` starts ``cowork serve`` on ``tmp_path/home``; all are killed at the end."""
    started: list[Served] = []

    async def start(*args: str) -> Served:
        s = await start_serve(tmp_path / "home", fake.base_url, tmp_path / "logs", *args)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
