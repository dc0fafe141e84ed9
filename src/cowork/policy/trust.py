"""Trusted workspaces: only their ``.cowork/policy.toml`` is read.

A workspace's own policy file comes with the folder (a cloned repository can carry one), so it
counts only once the person has said ``cowork trust DIR``. The list is
``$COWORK_HOME/trusted.json``: ``{"workspaces": ["/abs/path", ...]}`` (resolved paths, exact
folders: trusting a folder does not trust the folders inside it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..config import cowork_home


def _file(home: Path | None) -> Path:
    return (home or cowork_home()) / "trusted.json"


def trusted(home: Path | None = None) -> list[str]:
    """The trusted workspace paths. Raises ValueError when trusted.json is malformed."""
    path = _file(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the trusted workspaces: {exc}") from None
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
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"workspaces": wanted}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return True
