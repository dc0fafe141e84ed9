"""Toolsets: named groups of tools the runtime offers a session's model.

A :class:`Toolset` lists its tools per session and may change what it lists while a session lives
(an MCP server that adds a tool, a skill that appears): it bumps ``version`` when it does, so the
engine rebuilds what it sends the model only then. The runtime is given its toolsets (default:
:data:`cowork.tools.BUILTIN`); names are unique across them (the first toolset wins a clash).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from cowork.tools.base import Tool


@runtime_checkable
class Toolset(Protocol):
    """A named group of tools.

    Attributes:
        name: the toolset's name (``builtin``, ``mcp:<server>``...).
        version: changes whenever what :meth:`tools` returns may have changed.
    """

    name: str

    @property
    def version(self) -> int: ...

    def tools(self, session_id: str, workspace: Path) -> Sequence[Tool]:
        """The tools offered to ``session_id`` working in ``workspace``, in the order offered."""
        ...


class StaticToolset:
    """A toolset of a fixed list of tools (version 0 for ever)."""

    version = 0

    def __init__(self, name: str, tools: Iterable[Tool]) -> None:
        self.name = name
        self._tools = tuple(tools)

    def tools(self, session_id: str, workspace: Path) -> Sequence[Tool]:
        return self._tools


def tools_by_name(toolsets: Iterable[Toolset], session_id: str, workspace: Path) -> dict[str, Tool]:
    """Every tool of ``toolsets`` for the session by name, in order; the first of a name wins."""
    found: dict[str, Tool] = {}
    for toolset in toolsets:
        for tool in toolset.tools(session_id, workspace):
            found.setdefault(tool.name, tool)
    return found
