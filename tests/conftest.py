"""Every test gets its own ``COWORK_HOME`` (a temporary folder), so no test reads or writes the
state of the person running the suite (``~/.cowork``: database, keys, checkpoint repositories).
Fixtures and tests that need a particular home set it again themselves."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_cowork_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("cowork-home")
    monkeypatch.setenv("COWORK_HOME", str(home))
    return home
