"""Policy fixtures: a workspace, a home and a COWORK_HOME of their own in tmp_path; engine_support
(the scripted model of tests/engine) for the approval tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# engine_support and fakemodel import by name: pyproject's pythonpath.


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """(workspace, home, state): HOME and COWORK_HOME point into tmp_path."""
    ws, home, state = tmp_path / "ws", tmp_path / "home", tmp_path / "state"
    for folder in (ws, home, state):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COWORK_HOME", str(state))
    return ws.resolve(), home.resolve(), state.resolve()
