"""``cowork mcp serve``: cowork as an MCP server over stdio, for MCP clients that start it as a
subprocess (Claude Desktop, editors, the MCP Inspector). See :mod:`cowork.mcp.host`.

Configure it in an MCP client as ``{"command": "cowork", "args": ["mcp", "serve"]}`` (the agent) or
``{"command": "cowork", "args": ["mcp", "serve", "--toolbox", "/path/to/project"]}`` (cowork's
tools for that folder). stdout carries MCP only; messages for people go to stderr.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from .common import err, usage_error
from .options import DirOpt, ServerOpt, TokenOpt, workspace_of

ToolboxOpt = Annotated[Path | None, typer.Option(
    "--toolbox", help="Serve cowork's own tools (read, write, edit, bash, glob, grep…) for this folder, under "
    "cowork's policy, approvals, sandbox and checkpoints, instead of the agent.")]


def serve(server: ServerOpt = None, token: TokenOpt = None, dir: DirOpt = None,  # noqa: A002 - the option's name
          toolbox: ToolboxOpt = None) -> None:
    """Serve cowork to an MCP client over stdio: the agent (start_task, follow_task, approvals,
    transcripts, undo), or with --toolbox cowork's tools for one folder."""
    from ..client import ConnectionLost, CoworkError
    from ..mcp.host import serve_stdio
    from .inprocess import open_client

    workspace = workspace_of(toolbox if toolbox is not None else dir)
    if not workspace.is_dir():
        raise usage_error(f"{'--toolbox' if toolbox is not None else '--dir'} {workspace} is not an existing folder")

    async def main() -> None:
        async with open_client(server, token, None) as client:
            await serve_stdio(client, workspace=workspace, toolbox=toolbox is not None)

    try:
        asyncio.run(main())
    except (CoworkError, ConnectionLost) as exc:
        raise usage_error(getattr(exc, "message", None) or str(exc)) from None
    except KeyboardInterrupt:
        err.print("cowork mcp serve: stopped")
