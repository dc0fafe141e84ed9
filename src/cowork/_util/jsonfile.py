"""Small JSON state files under ``$COWORK_HOME`` (trusted workspaces, MCP approvals, MCP configs):
read with one clear error, replaced atomically (write a temporary file, then ``rename(2)``, so a
reader sees the old or the new file, never a torn one)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_json(path: Path, what: str) -> Any | None:
    """The JSON value in ``path``; None when the file does not exist. Raises ValueError
    ``"{path}: cannot read {what}: …"`` when it cannot be read or is not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read {what}: {exc}") from None


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as indented JSON (UTF-8, a final newline), atomically,
    creating its folder. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
