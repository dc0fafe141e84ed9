"""Trusted workspaces: only their ``.cowork/policy.toml`` is read.

A workspace's own policy file comes with the folder (a cloned repository can carry one), so it
counts only once the person has said ``cowork trust DIR``. The list is
``$COWORK_HOME/trusted.json``: ``{"workspaces": ["/abs/path", ...]}`` (resolved paths, exact
folders: trusting a folder does not trust the folders inside it).
"""

from __future__ import annotations

from pathlib import Path

from .._util.jsonfile import read_json, write_json
from ..config import cowork_home


def _file(home: Path | None) -> Path:
    return (home or cowork_home()) / "trusted.json"


def trusted(home: Path | None = None) -> list[str]:
    """The trusted workspace paths. Raises ValueError when trusted.json is malformed."""
    path = _file(home)
    data = read_json(path, "the trusted workspaces")
    if data is None:
        return []
    found = data.get("workspaces") if isinstance(data, dict) else None
    if not isinstance(found, list) or not all(isinstance(p, str) for p in found):
        raise ValueError(f'{path}: expected {{"workspaces": ["/path", ...]}}')
    return found


def is_trusted(workspace: Path, home: Path | None = None) -> bool:
    return str(workspace.resolve()) in trusted(home)


def set_trusted(workspace: Path, trust: bool, home: Path | None = None) -> bool:
    """Trust (or, with ``trust=False``, stop trusting) ``workspace``; returns whether the list
    changed. The file is replaced atomically (write, then rename)."""
    path = _file(home)
    current = trusted(home)
    key = str(workspace.resolve())
    if (key in current) == trust:
        return False
    wanted = sorted([*current, key]) if trust else [p for p in current if p != key]
    write_json(path, {"workspaces": wanted})
    return True
