"""Fixtures for every test.

Every test gets its own ``COWORK_HOME`` (a temporary folder), so no test reads or writes the
state of the person running the suite (``~/.cowork``: database, keys, checkpoint repositories).
Fixtures and tests that need a particular home set it again themselves. ``workspace`` and
``runtime`` are the engine's: a folder with one file, and a :class:`Runtime` over a real SQLite
store with checkpoints on (suites with other needs define their own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cowork.checkpoints import CheckpointSettings
from cowork.config import EngineSettings
from cowork.engine import Runtime


@pytest.fixture(autouse=True)
def _private_cowork_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("cowork-home")
    monkeypatch.setenv("COWORK_HOME", str(home))
    return home


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("alpha\nbeta\n")
    return ws


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(
        f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}",
        settings=EngineSettings(max_steps=10, stream_timeout=5, max_retries=2, retry_base_delay=0.01),
        checkpoint_settings=CheckpointSettings(),
    )
    yield rt
    await rt.close()


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server for the session (see tests/pgserver.py); ``await postgres.database()``
    gives the URL of a fresh database. Skipped without PostgreSQL, a failure under ``CI=true``."""
    import os

    from pgserver import start_postgres

    server = start_postgres()
    if isinstance(server, str):
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is needed under CI=true: {server}")
        pytest.skip(server)
    yield server
    server.stop()
