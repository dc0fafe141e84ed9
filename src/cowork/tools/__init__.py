"""Built-in tools and the toolsets that offer tools to a session.

``BUILTIN`` is the built-in :class:`Toolset` (what a :class:`~cowork.engine.Runtime` offers unless
given others); ``BUILTIN_TOOLS`` maps each built-in tool's name to its instance, in the order they
are offered to the model: ``bash``, ``read``, ``write``, ``edit``, ``move`` (move or rename a file or
folder inside the workspace, :mod:`cowork.tools.move`), ``glob``, ``grep``, ``ls``, ``web_fetch``,
``todo_write``. Heavy dependencies (httpx, markdownify, bs4) are imported by the tools on
first use.
"""

from __future__ import annotations

from pathlib import Path

from cowork.tools.base import READ_ONLY, Tool, ToolArgs, ToolContext, ToolError, ToolResult, ToolTraits, truncate_middle
from cowork.tools.files import EditTool, GlobTool, LsTool, ReadTool, WriteTool
from cowork.tools.move import MoveTool
from cowork.tools.plan import ProposePlanTool
from cowork.tools.search import GrepTool
from cowork.tools.shell import BashTool
from cowork.tools.todo import TodoWriteTool
from cowork.tools.toolset import StaticToolset, Toolset, tools_by_name
from cowork.tools.web import WebFetchTool


class BuiltinToolset(StaticToolset):
    """cowork's own tools: bash, read, write, edit, move, glob, grep, ls, web_fetch, todo_write and
    propose_plan (offered in plan mode only)."""

    def __init__(self) -> None:
        super().__init__("builtin", (
            BashTool(), ReadTool(), WriteTool(), EditTool(), MoveTool(), GlobTool(), GrepTool(), LsTool(),
            WebFetchTool(), TodoWriteTool(), ProposePlanTool(),
        ))


BUILTIN = BuiltinToolset()
BUILTIN_TOOLS: dict[str, Tool] = {tool.name: tool for tool in BUILTIN.tools("", Path("."))}


def get_tool(name: str) -> Tool | None:
    """The built-in tool called ``name``, or None."""
    return BUILTIN_TOOLS.get(name)


__all__ = [
    "BUILTIN", "BUILTIN_TOOLS", "READ_ONLY", "BuiltinToolset", "StaticToolset", "Tool", "ToolArgs", "ToolContext",
    "ToolError", "ToolResult", "ToolTraits", "Toolset", "get_tool", "tools_by_name", "truncate_middle",
]
