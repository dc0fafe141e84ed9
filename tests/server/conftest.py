"""Fixtures for server tests: a real uvicorn server on a free loopback port over a real store,
with ``openai:`` models served by the scripted :class:`FakeModelServer` (helpers in
:mod:`server_support`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakemodel import FakeModelServer  # helpers: pyproject's pythonpath
from server_support import Served, running_server, start_serve


@pytest.fixture
def fake():
    with FakeModelServer() as s:
        yield s


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
async def server(tmp_path: Path, fake: FakeModelServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COWORK_HOME", str(tmp_path / "home"))
    async with running_server(tmp_path / "cowork.db", fake.base_url) as s:
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
