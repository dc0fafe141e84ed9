"""Memories as Markdown a person can read and edit (``cowork memory export`` / ``import``).

The format::

    # cowork memories

    ## preference · user
    <!-- id: mem_1f3a… · private: no · created: 2026-12-07T10:00:00+00:00 · updated: … · session: ses_… -->
    Answer in British English.

    ## fact · workspace /home/me/app
    <!-- id: mem_9b2c… · private: no · … -->
    The test database listens on port 5433.

Each memory is a level-2 heading ``KIND · SCOPE [WORKSPACE]``, an optional HTML comment with its
id and times (a section without one is a new memory), and its text up to the next heading. A text
line that starts with ``#`` is written with a backslash before it (``\\#``) and read back without.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from ..protocol.memory import MemoryInfo, MemoryKind

HEADER = "# cowork memories"
_HEADING = re.compile(r"^## (\w+) · (user|workspace)(?: (.+))?\s*$")
_META = re.compile(r"^<!--(.*)-->\s*$")
_ID = re.compile(r"^mem_[0-9a-f]{32}$")


@dataclass
class Entry:
    """One memory as read from Markdown (``id`` None: a new one)."""

    kind: MemoryKind
    scope: str
    workspace: str | None
    text: str
    private: bool = False
    id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


def dump(memories: list[MemoryInfo]) -> str:
    """The Markdown of ``memories``, in order."""
    out = [HEADER, ""]
    for m in memories:
        where = f"workspace {m.workspace}" if m.scope == "workspace" else "user"
        meta = [f"id: {m.id}", f"private: {'yes' if m.private else 'no'}", f"created: {m.created_at.isoformat()}",
                f"updated: {m.updated_at.isoformat()}"]
        meta += [f"session: {m.session_id}"] if m.session_id else []
        meta += [f"turn: {m.turn_id}"] if m.turn_id else []
        out += [f"## {m.kind} · {where}", f"<!-- {' · '.join(meta)} -->"]
        out += ["\\" + line if line.startswith("#") or line.startswith("\\#") else line for line in m.text.splitlines()]
        out.append("")
    return "\n".join(out)


def load(text: str) -> list[Entry]:
    """The memories of a Markdown export. Raises ValueError naming the line of a section it cannot
    read (an unknown kind, a bad id or time)."""
    entries: list[Entry] = []
    current: Entry | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            current.text = "\n".join(lines).strip()
            if current.text:
                entries.append(current)

    for number, line in enumerate(text.splitlines(), start=1):
        heading = _HEADING.match(line)
        if heading:
            close()
            kind, scope, workspace = heading.groups()
            if kind not in get_args(MemoryKind):
                raise ValueError(f"line {number}: unknown kind {kind!r} (one of {', '.join(get_args(MemoryKind))})")
            if scope == "workspace" and not workspace:
                raise ValueError(f"line {number}: a workspace memory names its workspace (## {kind} · workspace PATH)")
            current, lines = Entry(kind, scope, workspace.strip() if workspace else None, ""), []  # type: ignore[arg-type]
            continue
        if current is None:
            continue  # the title and anything before the first memory
        meta = _META.match(line)
        if meta and not lines and current.id is None:
            _read_meta(current, meta.group(1), number)
            continue
        lines.append(line[1:] if line.startswith("\\#") else line)
    close()
    return entries


def _read_meta(entry: Entry, text: str, number: int) -> None:
    for part in text.split(" · "):
        key, _, value = part.strip().partition(": ")
        value = value.strip()
        try:
            if key == "id":
                if not _ID.match(value):
                    raise ValueError(f"bad id {value!r}")
                entry.id = value
            elif key == "private":
                entry.private = value in ("yes", "true")
            elif key in ("created", "updated"):
                when = datetime.fromisoformat(value)
                if when.tzinfo is None:
                    raise ValueError(f"{key} needs a time zone: {value!r}")
                setattr(entry, f"{key}_at", when)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None


__all__ = ["HEADER", "Entry", "dump", "load"]
