"""How a turn presents itself to its model: the full harness, or the compact one small models need.

A model that says ``harness = "compact"`` (the embedded llama.cpp models,
:class:`cowork.providers.local.LocalModel`) gets:

- short instructions with the workspace listed up front (two levels, at most
  :data:`COMPACT_LISTING_LIMIT` entries, read once when the turn starts so the prompt stays the
  same from step to step and llama.cpp's prompt cache holds), and without the workspace's path:
  the same task in another folder gets the same prompt;
- a compact tool set: no web tools (``url_arg``), planning tools (``planning``) only for a task of
  several steps, and each definition's metadata naming the workspace and the path arguments that
  must exist (``must_exist``), which a provider may turn into a grammar of existing entries.

Any other model gets :func:`cowork.engine.context.instructions` and every tool as it is. Only
traits are read, never a tool's name. See docs/models.md, "How cowork drives a small model".
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic_ai.tools import ToolDefinition

from ..tools.base import Tool
from ..tools.paths import excluded_ids
from .context import instructions
from .extensions import ContextSection, render_sections


COMPACT_LISTING_LIMIT = 60
"""At most this many workspace entries are listed in the compact instructions."""


def compact_instructions(listing: str) -> str:
    """The short system instructions of the compact harness (small local models): the workspace's
    ``listing`` (see :func:`workspace_listing`) up front, and how to work. The workspace's path
    is left out: the model needs only relative paths, and the same task in another folder then
    gets the same prompt (with a fixed seed, the same run)."""
    return (
        "You are cowork, an agent that does tasks on the user's computer by calling tools.\n"
        "You work in the user's folder (the workspace); use paths relative to it. When the user says "
        "\"here\", \"these files\" or \"my folder\", they mean this folder.\n"
        f"What is in it now:\n{listing}\n\n"
        "Do the task yourself with tool calls, then check the result. Until it is done, reply with tool "
        "calls only, without explaining them. Only a tool call changes a file: never say you did "
        "something that no tool did. When the task is done, answer in plain words with a short "
        "summary of what you changed."
    )


def several_steps(task: str) -> bool:
    """Whether ``task`` reads as several steps (a numbered or bulleted list, three sentences or
    more, or "then"/"after that"/"finally"), for which a small model is offered its planning tool."""
    if re.search(r"(^|\n)\s*(\d+[.)]|[-*•])\s+\S", task):
        return True
    if re.search(r"\b(then|after that|afterwards|finally|next)\b", task, re.I):
        return True
    return len([s for s in re.split(r"[.!?]+(?:\s|$)", task) if s.strip()]) >= 3


def workspace_listing(workspace: Path, limit: int = COMPACT_LISTING_LIMIT) -> str:
    """The workspace's files and folders (folders end with ``/``), two levels deep, at most
    ``limit`` lines, hidden entries and ``$COWORK_HOME`` left out; ``(empty)`` when there is
    nothing. Names only: no file is opened."""
    excluded = excluded_ids()
    lines: list[str] = []
    more = 0

    def walk(folder: Path, prefix: str, depth: int) -> None:
        nonlocal more
        try:
            entries = sorted(os.scandir(folder), key=lambda e: (not e.is_dir(follow_symlinks=False), e.name))
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if len(lines) >= limit:
                more += 1
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir:
                st = entry.stat(follow_symlinks=False)
                if (st.st_dev, st.st_ino) in excluded:
                    continue
            lines.append(f"{prefix}{entry.name}{'/' if is_dir else ''}")
            if is_dir and depth < 2:
                walk(Path(entry.path), f"{prefix}{entry.name}/", depth + 1)

    walk(workspace, "", 1)
    if more:
        lines.append(f"... and {more} more")
    return "\n".join(lines) if lines else "(empty)"


class Harness:
    """The harness of one turn of ``task`` in ``workspace`` for ``model`` (see the module docstring)."""

    def __init__(self, model: Any, workspace: Path, task: str) -> None:
        self.compact = getattr(model, "harness", "full") == "compact"
        self._workspace = workspace
        self._task = task
        self._listing = ""
        self.sections: list[ContextSection] = []  # from the context sources, set before the first request

    async def prepare(self) -> None:
        """Read what the compact instructions list (in a worker thread); nothing for the full harness."""
        if self.compact:
            self._listing = await asyncio.to_thread(workspace_listing, self._workspace)

    def instructions(self) -> str:
        """The system instructions of every request of the turn."""
        base = compact_instructions(self._listing) if self.compact else instructions(self._workspace)
        sections = self._sections()
        return f"{base}\n\n{render_sections(sections, self._workspace)}" if sections else base

    def _sections(self) -> list[ContextSection]:
        """The context sections the instructions carry: all of them, or for the compact harness
        those marked ``compact``."""
        return [s for s in self.sections if s.compact] if self.compact else self.sections

    def definitions(self, tools: Mapping[str, Tool], definitions: list[ToolDefinition]) -> list[ToolDefinition]:
        """What the model is offered, from the session's ``tools`` by name and their ``definitions``."""
        if not self.compact:
            return definitions
        multi = several_steps(self._task)
        invited = any(s.invites_on_demand for s in self._sections())
        out = []
        for definition in definitions:
            traits = tools[definition.name].traits
            if traits.url_arg is not None or (traits.planning and not multi) or (traits.on_demand and not invited):
                continue
            meta = {**(definition.metadata or {}), "workspace": str(self._workspace),
                    "existing_paths": dict(traits.must_exist)}
            out.append(replace(definition, metadata=meta))
        return out
