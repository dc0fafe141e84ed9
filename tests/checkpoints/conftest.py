"""Fixtures for checkpoint tests: real git, real files, a real SQLite store; the engine and server
helpers of tests/engine and tests/server."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent, HERE.parent / "engine", HERE.parent / "server"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from cowork.checkpoints import CheckpointSettings  # noqa: E402
from cowork.config import EngineSettings  # noqa: E402
from cowork.engine import Runtime  # noqa: E402


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("alpha\nbeta\n")
    return ws


@pytest.fixture
async def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runtime]:
    monkeypatch.setenv("COWORK_HOME", str(tmp_path / "home"))
    rt = await Runtime.open(
        f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}",
        settings=EngineSettings(max_steps=10, stream_timeout=5, max_retries=2, retry_base_delay=0.01),
        checkpoint_settings=CheckpointSettings(),
    )
    yield rt
    await rt.close()
