"""Fixtures for end-to-end tests (helpers: :mod:`e2e_support`).

Every test gets a fresh ``COWORK_HOME`` and workspace under ``tmp_path`` and a running
:class:`FakeModelServer`; ``cw`` (:class:`e2e_support.Cowork`) runs the ``cowork`` console script as
a subprocess with an environment pointing ``openai:`` at that server.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # so test modules can `import e2e_support` whatever pytest's import mode
    sys.path.insert(0, HERE)

from e2e_support import Cowork  # noqa: E402  (also puts tests/ on sys.path for fakemodel)
from fakemodel import FakeModelServer  # noqa: E402


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
