"""Hooks fixtures: a ``COWORK_HOME`` and a workspace in tmp_path (``place``), the scripted model
server (tests/fakemodel.py, real HTTP; ``fake``) and a real :class:`Runtime` over SQLite with the
hooks extension (``rt``). Helpers are in hooks_support.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fakemodel import FakeModelServer
from hooks_support import SETTINGS, Place

from cowork.engine import Runtime
from cowork.hooks import extension


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Place:
    home, ws, scripts = tmp_path / "home", tmp_path / "ws", tmp_path / "scripts"
    for folder in (home, ws, scripts):
        folder.mkdir()
    (ws / "notes.txt").write_text("alpha\nbeta\n")
    monkeypatch.setenv("COWORK_HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-hooks-test-canary-0123456789")
    return Place(home.resolve(), ws.resolve(), scripts)


@pytest.fixture
def fake() -> Iterator[FakeModelServer]:
    with FakeModelServer() as srv:
        yield srv


@pytest.fixture
async def rt(place: Place, fake: FakeModelServer, tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", settings=SETTINGS,
                                 openai_base_url=fake.base_url, extensions=[extension()])
    yield runtime
    await runtime.close()


