"""``cowork mcp login NAME`` and ``cowork mcp logout NAME``: OAuth for HTTP MCP servers
(:mod:`cowork.mcp.oauth`).

``login`` finds the server's URL (and headers) in the MCP configuration in force here
(``$COWORK_HOME/mcp.json``, the workspace's ``.mcp.json`` and ``.cowork/mcp.json``;
:mod:`cowork.mcp.config`), or takes ``--url``; prints the authorization address (and opens it in
a browser unless ``--no-browser``), waits for the browser to come back to a one-shot loopback
address on 127.0.0.1, and stores the registration and tokens encrypted in
``$COWORK_HOME/mcp-tokens.json``. A running ``cowork serve`` picks the new login up on the
server's next request. ``logout`` deletes them.

Exit codes: 0 done; 1 the login failed or there was nothing to remove; 2 bad input or an
unusable token file. Register both on a Typer app with :func:`register`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..mcp import config as mcp_config
from ..providers.secrets import SecretStoreError

LOGIN_TIMEOUT = 300.0
"""Seconds ``login`` waits for the browser by default (``cowork.mcp.oauth.LOGIN_TIMEOUT``; the
SDK is imported only when a login or logout runs, so ``cowork --help`` stays fast)."""

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

NameArg = Annotated[str, typer.Argument(help="The server's name in mcpServers.", show_default=False)]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def server_address(name: str, workspace: Path | None = None) -> tuple[str, dict[str, str]]:
    """(url, headers) of the configured HTTP server ``name`` (``${VAR}`` expanded). Raises
    ValueError naming the files looked at, or why the entry cannot be used."""
    loaded = mcp_config.load(workspace=workspace or Path.cwd())
    entry = loaded.servers.get(name)
    if entry is None:
        where = [str(mcp_config.user_file())] + [str(p) for p in mcp_config.project_files(workspace or Path.cwd())]
        raise ValueError(f"no MCP server named {name!r} in {', '.join(where)}; add it with `cowork mcp add` "
                         "or give --url")
    if entry.config is None:
        raise ValueError(entry.error or f"the entry of {name!r} in {entry.file} is invalid")
    if entry.config.url is None:
        raise ValueError(f"{name!r} is a stdio server ({entry.config.command}); OAuth login is for HTTP servers")
    return entry.config.url, dict(entry.config.headers)


@contextlib.contextmanager
def _quiet_sdk() -> Iterator[None]:
    """The SDK logs a traceback for every failed flow; the CLI prints the error once itself."""
    logger = logging.getLogger("mcp.client.auth.oauth2")
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def _when(ts: float | None) -> str:
    return "never" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def login_command(
    name: NameArg,
    url: Annotated[str | None, typer.Option("--url", help="The server's URL (default: from the MCP config).")] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the address to open.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds to wait for the browser.")]
    = LOGIN_TIMEOUT,
    scope: Annotated[str | None, typer.Option("--scope", help="Scopes to ask for (default: the server's).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Log in to the HTTP MCP server NAME with OAuth (browser), and store its tokens encrypted."""
    from ..mcp import oauth

    headers: dict[str, str] = {}
    if url is None:
        try:
            url, headers = server_address(name)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    err.print(f"logging in to MCP server {name} at {url}")
    try:
        with _quiet_sdk():
            result = asyncio.run(oauth.login(name, url, open_browser=not no_browser, timeout=timeout,
                                             scope=scope, headers=headers))
    except oauth.McpAuthError as exc:
        raise _fail(str(exc), code=1) from None
    except SecretStoreError as exc:
        raise _fail(str(exc)) from None
    if json_out:
        print(json.dumps({"server": result.server, "url": result.url, "authorization_server": result.authorization_server,
                          "client_id": result.client_id, "scope": result.scope, "expires_at": result.expires_at,
                          "has_refresh_token": result.has_refresh_token, "registered": result.registered}))
        return
    out.print(f"logged in to {name} (authorization server {result.authorization_server or '?'}, "
              f"scope {result.scope or '-'}); the token expires {_when(result.expires_at)}"
              + (" and is refreshed automatically" if result.has_refresh_token else " and cannot be refreshed"))


def logout_command(name: NameArg) -> None:
    """Delete the stored OAuth registration and tokens of MCP server NAME."""
    from ..mcp import oauth

    try:
        removed = oauth.logout(name)
    except SecretStoreError as exc:
        raise _fail(str(exc)) from None
    if not removed:
        raise _fail(f"no OAuth login stored for {name!r}", code=1)
    out.print(f"logged out of {name} (its tokens were deleted from this machine; they are not revoked at the server)")


def register(app: typer.Typer) -> None:
    """Add ``login`` and ``logout`` to ``app`` (``cowork mcp``)."""
    app.command("login")(login_command)
    app.command("logout")(logout_command)
