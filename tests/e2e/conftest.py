"""Fixtures for end-to-end tests (helpers: :mod:`e2e_support`).

Every test gets a fresh ``COWORK_HOME`` and workspace under ``tmp_path`` and a running
:class:`FakeModelServer`; ``cw`` (:class:`e2e_support.Cowork`) runs the ``cowork`` console script as
a subprocess with an environment pointing ``openai:`` at that server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import Cowork  # helpers: pyproject's pythonpath
from fakemodel import FakeModelServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "local_model: runs the real embedded model (slow on a busy CPU; deselect with -m 'not local_model')"
    )


@pytest.fixture
def srv():
    with FakeModelServer() as s:
        yield s


@pytest.fixture
def cw(tmp_path: Path, srv: FakeModelServer) -> Cowork:
    return Cowork(tmp_path, srv)
