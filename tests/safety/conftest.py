"""Fixtures for the safety tests (secrets, doctor, budgets): a fresh ``COWORK_HOME`` with no
provider key in the environment, and a scripted :class:`FakeModelServer` (helpers in
``safety_support.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakemodel import FakeModelServer  # helpers: pyproject's pythonpath
from safety_support import SCRUBBED


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``COWORK_HOME`` in tmp_path; no provider key, base URL or cowork setting from outside."""
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("COWORK_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "home"
    monkeypatch.setenv("COWORK_HOME", str(path))
    return path


@pytest.fixture
def srv():
    with FakeModelServer() as s:
        yield s


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path
