"""Policy fixtures: a workspace, a home and a COWORK_HOME of their own in tmp_path; engine_support
(the scripted model of tests/engine) for the approval tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

for _path in (str(Path(__file__).parents[1] / "engine"), str(Path(__file__).parents[1])):  # engine_support, fakemodel
    if _path not in sys.path:
        sys.path.insert(0, _path)


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """(workspace, home, state): HOME and COWORK_HOME point into tmp_path."""
    ws, home, state = tmp_path / "ws", tmp_path / "home", tmp_path / "state"
    for folder in (ws, home, state):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COWORK_HOME", str(state))
    return ws.resolve(), home.resolve(), state.resolve()
