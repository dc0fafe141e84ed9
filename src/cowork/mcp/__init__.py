"""cowork's MCP client: outside MCP servers' tools, resources and prompts in cowork sessions.

:func:`extension` is what a cowork server is given (``cowork.cli.inprocess.extensions``): one
:class:`~cowork.mcp.manager.McpManager` (its ``service``, behind the protocol's ``mcp/…`` methods),
the ``mcp`` toolset (``mcp__SERVER__TOOL`` tools and ``mcp_resources``) and a context source that
tells each turn which servers are up. Configuration: :mod:`cowork.mcp.config`; docs/extensions.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "LoadedConfig": "config", "ServerConfig": "config", "ServerEntry": "config", "load": "config",
    "McpManager": "manager", "McpUnavailable": "manager", "ServerHandle": "manager", "UnknownServer": "manager",
    "McpContext": "toolset", "McpTool": "toolset", "McpToolset": "toolset", "ResourcesTool": "toolset",
    "tool_name": "toolset", "McpService": "service", "extension": "service",
}
"""Exported name -> the submodule defining it, imported on first use (PEP 562), so importing
``cowork.mcp.config`` for the CLI does not load the engine and the MCP SDK."""


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


__all__ = sorted(_WHERE)
