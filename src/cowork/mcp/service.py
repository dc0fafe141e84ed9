"""The MCP client as a runtime extension: :class:`McpService` (behind the protocol's ``mcp/…``
methods) and :func:`extension`."""

from __future__ import annotations

from pathlib import Path

from ..engine.extensions import Extension
from ..protocol import rpc
from .manager import McpManager
from .toolset import McpContext, McpToolset


class McpService:
    """What the server's ``mcp/…`` handlers call (``runtime.extension("mcp").service``): the
    manager's methods with the model-facing tool names filled in. ``workspace`` None: the user's
    servers only. Errors are ValueError with a message for people."""

    def __init__(self, manager: McpManager, toolset: McpToolset) -> None:
        self.manager = manager
        self.toolset = toolset

    async def list(self, workspace: Path | None) -> list[rpc.McpServerEntry]:  # noqa: A003 - the protocol's name
        return await self.manager.list_servers(workspace, self.toolset.tool_names)

    async def restart(self, name: str, workspace: Path | None) -> rpc.McpServerEntry:
        return await self.manager.restart(name, workspace, self.toolset.tool_names)

    async def enable(self, name: str, enabled: bool, workspace: Path | None) -> rpc.McpServerEntry:
        return await self.manager.enable(name, enabled, workspace, self.toolset.tool_names)

    async def approve(self, name: str, workspace: Path) -> rpc.McpServerEntry:
        return await self.manager.approve(name, workspace, self.toolset.tool_names)

    async def prompts(self, workspace: Path | None) -> list[rpc.McpPromptEntry]:
        return await self.manager.prompts(workspace)

    async def prompt(self, server: str, name: str, arguments: dict[str, str],
                     workspace: Path | None) -> rpc.McpPromptResult:
        return await self.manager.prompt(server, name, arguments, workspace)


def extension(home: Path | None = None) -> Extension:
    """The MCP client as a runtime :class:`~cowork.engine.extensions.Extension` named ``mcp``
    (``home``: cowork's state folder, default ``$COWORK_HOME``)."""
    manager = McpManager(home)
    toolset = McpToolset(manager)
    return Extension(name="mcp", toolsets=[toolset], context_sources=[McpContext(manager, toolset)],
                     start=manager.start, close=manager.close, service=McpService(manager, toolset))
