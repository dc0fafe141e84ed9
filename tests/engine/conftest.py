"""Engine fixtures: a real SQLite store in tmp_path (helpers live in engine_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cowork.config import EngineSettings
from cowork.engine import Runtime


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("alpha\nbeta\n")
    return ws


@pytest.fixture
async def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runtime]:
    monkeypatch.setenv("COWORK_HOME", str(tmp_path / "home"))  # checkpoints go to COWORK_HOME/checkpoints
    rt = await Runtime.open(
        f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}",
        settings=EngineSettings(max_steps=10, stream_timeout=5, max_retries=2, retry_base_delay=0.01),
    )
    yield rt
    await rt.close()
