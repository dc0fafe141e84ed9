"""Fixtures for server tests: a real uvicorn server on a free loopback port over a real store,
with ``openai:`` models served by the scripted :class:`FakeModelServer` (helpers in
:mod:`server_support`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakemodel import FakeModelServer  # helpers: pyproject's pythonpath
from server_support import fake, running_server, serve  # noqa: F401 (fixtures)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
async def server(tmp_path: Path, fake: FakeModelServer, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    monkeypatch.setenv("COWORK_HOME", str(tmp_path / "home"))
    async with running_server(tmp_path / "cowork.db", fake.base_url) as s:
        yield s
