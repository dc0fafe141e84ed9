"""Built-in tools and their registry.

``BUILTIN_TOOLS`` maps each tool's name to a ready instance, in the order they are offered to
the model. Heavy dependencies (httpx, markdownify, bs4) are imported by the tools on first use.
"""

from __future__ import annotations

from cowork.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, truncate_middle
from cowork.tools.files import EditTool, GlobTool, LsTool, ReadTool, WriteTool
from cowork.tools.search import GrepTool
from cowork.tools.shell import BashTool
from cowork.tools.todo import TodoWriteTool
from cowork.tools.web import WebFetchTool

BUILTIN_TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        BashTool(), ReadTool(), WriteTool(), EditTool(), GlobTool(), GrepTool(), LsTool(),
        WebFetchTool(), TodoWriteTool(),
    )
}


def get_tool(name: str) -> Tool | None:
    """The built-in tool called ``name``, or None."""
    return BUILTIN_TOOLS.get(name)


__all__ = [
    "BUILTIN_TOOLS", "Tool", "ToolArgs", "ToolContext", "ToolError", "ToolResult", "get_tool",
    "truncate_middle",
]
