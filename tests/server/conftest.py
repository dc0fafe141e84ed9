"""Fixtures for server tests: a real uvicorn server on a free loopback port over a real store,
with ``openai:`` models served by the scripted :class:`FakeModelServer` (helpers in
:mod:`server_support`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
for path in (HERE, str(Path(HERE).parent)):  # server_support, fakemodel
    if path not in sys.path:
        sys.path.insert(0, path)

from fakemodel import FakeModelServer  # noqa: E402
from server_support import running_server  # noqa: E402


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
