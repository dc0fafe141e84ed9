"""Fixtures of the sandbox and red-team tests: a workspace, a folder outside it, a home with canary
credentials, the backends, a runtime. Imported by tests/sandbox and tests/redteam conftest files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sandbox_support import SECRET_ENV, make_home, need, outside_dir, remove

from cowork.config import EngineSettings
from cowork.engine import Runtime


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root.resolve()


@pytest.fixture
def outside() -> Iterator[Path]:
    path = outside_dir()
    yield path
    remove(path)


@pytest.fixture
def home(outside: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME (and COWORK_HOME) pointed at a home full of canary credentials; secrets in the environment."""
    home = make_home(outside)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COWORK_HOME", str(home / ".cowork"))
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    return home


@pytest.fixture(params=["bwrap", "landlock"])
def backend(request: pytest.FixtureRequest) -> str:
    need(request.param)
    return request.param


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime over a real SQLite store; ``sandbox`` follows COWORK_SANDBOX (default auto)."""
    rt = await Runtime.open(
        f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}",
        settings=EngineSettings(max_steps=10, stream_timeout=5, max_retries=0, retry_base_delay=0.01),
    )
    yield rt
    await rt.close()
