"""``cowork mcp``: configure MCP servers (list, add, remove, get, approve, test), plus ``login``,
``logout`` (OAuth, :mod:`cowork.cli.mcp_auth`) and ``serve`` (cowork as an MCP server,
:mod:`cowork.cli.mcp_serve`) when those are installed; and the REPL's MCP prompt commands
(``/mcp__SERVER__PROMPT [ARGS]``, :func:`prompt_command`).

These commands edit the configuration files (:mod:`cowork.mcp.config`) directly; a running cowork
server notices the change at the next turn. ``test`` starts the server in this process.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import err, out, usage_error
from .options import DirOpt, workspace_of

mcp_app = typer.Typer(no_args_is_help=True, help="MCP servers: their tools in cowork sessions.")

ScopeOpt = Annotated[str, typer.Option("--scope", "-s", help="user ($COWORK_HOME/mcp.json) or project "
                                       "(the workspace's .mcp.json).")]


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values or []:
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            raise usage_error(f"{what} {value!r}: expected KEY=VALUE")
        found[key.strip()] = val
    return found


def _header_pairs(values: list[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values or []:
        sep = "=" if "=" in value and (":" not in value or value.index("=") < value.index(":")) else ":"
        key, ok, val = value.partition(sep)
        if not ok or not key.strip():
            raise usage_error(f"--header {value!r}: expected NAME=VALUE (or 'NAME: VALUE')")
        found[key.strip()] = val.strip()
    return found


def _file_for(scope: str, workspace: Path) -> Path:
    from ..mcp import config as cfg

    if scope == "user":
        return cfg.user_file()
    if scope == "project":
        return workspace / ".mcp.json"
    raise usage_error(f"--scope {scope!r}: use user or project")


def _target(entry: Any) -> str:
    raw = entry.raw
    if "command" in raw:
        return shlex.join([str(raw["command"]), *map(str, raw.get("args", []))])
    return str(raw.get("url", ""))


def _state(entry: Any, workspace: Path) -> str:
    """What would happen to the server without connecting to it."""
    from ..mcp import config as cfg
    from ..policy import is_trusted

    if entry.error:
        return "invalid"
    if not entry.enabled:
        return "disabled"
    if entry.scope == "project":
        try:
            if not is_trusted(workspace):
                return "untrusted"
            if not cfg.is_approved(workspace, entry.name, entry.digest):
                return "needs_approval"
        except ValueError as exc:
            return f"error: {exc}"
    return "enabled"


@mcp_app.command("list")
def list_(dir: DirOpt = None, json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The MCP servers in force for the workspace: user and project ones (nearer wins a name)."""
    from ..mcp import config as cfg

    workspace = workspace_of(dir)
    loaded = cfg.load(workspace)
    for problem in loaded.problems:
        err.print(f"[yellow]warning:[/yellow] {problem}", highlight=False)
    rows = [{"name": e.name, "scope": e.scope, "transport": (e.config.transport or "http") if e.config else None,
             "target": _target(e), "state": _state(e, workspace), "source": str(e.file), "error": e.error}
            for e in loaded.servers.values()]
    if json_:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("no MCP server configured (cowork mcp add NAME -- COMMAND ARGS… or --url URL)")
        return
    table = Table("name", "scope", "transport", "command / url", "state", box=None, header_style="bold")
    for r in rows:
        table.add_row(r["name"], r["scope"], r["transport"] or "-", r["target"], r["state"])
    out.print(table)
    for r in rows:
        if r["error"]:
            err.print(f"[red]{r['name']}:[/red] {r['error']}", highlight=False)
        elif r["state"] == "needs_approval":
            err.print(f"{r['name']}: a project server; approve it with: cowork mcp approve {r['name']}", style="dim")


@mcp_app.command("add", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def add(
    name: Annotated[str, typer.Argument(help="The server's name (its tools are mcp__NAME__TOOL).")],
    command: Annotated[list[str] | None, typer.Argument(help="After --: the command and its arguments (stdio).")] = None,
    url: Annotated[str | None, typer.Option("--url", help="An HTTP server's URL (Streamable HTTP or SSE).")] = None,
    transport: Annotated[str | None, typer.Option("--transport", "-t", help="For --url: http or sse "
                                                  "(default: try Streamable HTTP, then SSE).")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE passed to a stdio server "
                                                  "(${VAR} is expanded when it starts).")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="NAME=VALUE sent to an HTTP server.")] = None,
    scope: ScopeOpt = "user",
    dir: DirOpt = None,
) -> None:
    """Add (or replace) an MCP server: cowork mcp add NAME -- COMMAND ARGS…, or --url URL."""
    from ..mcp import config as cfg

    if bool(command) == bool(url):
        raise usage_error("give either a command (after --) or --url, not " + ("both" if url else "neither"))
    raw: dict[str, Any]
    if command:
        raw = {"command": command[0], "args": command[1:]}
        if env:
            raw["env"] = _pairs(env, "--env")
        if header or transport:
            raise usage_error("--header and --transport are for --url servers")
    else:
        raw = {"url": url}
        if transport:
            if transport not in ("http", "sse"):
                raise usage_error(f"--transport {transport!r}: use http or sse")
            raw["type"] = transport
        if header:
            raw["headers"] = _header_pairs(header)
        if env:
            raise usage_error("--env is for stdio servers (a command)")
    workspace = workspace_of(dir)
    path = _file_for(scope, workspace)
    try:
        cfg.write_server(path, name, raw)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    out.print(f"added {name} to {path}", markup=False)
    if scope == "project":
        out.print(f"it starts once this workspace is trusted (cowork trust) and it is approved: "
                  f"cowork mcp approve {name}", style="dim", markup=False)


@mcp_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The server's name.")],
    scope: Annotated[str | None, typer.Option("--scope", "-s", help="user or project (default: where it is "
                                              "defined, the nearer file first).")] = None,
    dir: DirOpt = None,
) -> None:
    """Remove an MCP server from its configuration file."""
    from ..mcp import config as cfg

    workspace = workspace_of(dir)
    if scope is not None:
        files = [_file_for(scope, workspace)] + ([workspace / ".cowork" / "mcp.json"] if scope == "project" else [])
    else:
        files = [*reversed(cfg.project_files(workspace)), cfg.user_file()]
    for path in files:
        try:
            if cfg.remove_server(path, name):
                out.print(f"removed {name} from {path}", markup=False)
                return
        except ValueError as exc:
            raise usage_error(str(exc)) from None
    raise usage_error(f"no MCP server {name!r} in {', '.join(map(str, files))}")


def _entry(name: str, workspace: Path) -> Any:
    from ..mcp import config as cfg

    loaded = cfg.load(workspace)
    entry = loaded.servers.get(name)
    if entry is None:
        known = ", ".join(loaded.servers) or "none"
        raise usage_error(f"no MCP server {name!r} (configured: {known})")
    return entry


@mcp_app.command("get")
def get(name: Annotated[str, typer.Argument(help="The server's name.")], dir: DirOpt = None) -> None:
    """One server's configuration, where it comes from and whether it may start."""
    workspace = workspace_of(dir)
    entry = _entry(name, workspace)
    out.print(f"{entry.name} ({entry.scope}, {entry.file}): {_state(entry, workspace)}", markup=False)
    out.print_json(json.dumps(entry.raw))
    if entry.error:
        err.print(f"[red]error:[/red] {entry.error}", highlight=False)


@mcp_app.command("approve")
def approve(name: Annotated[str, typer.Argument(help="A project server's name.")], dir: DirOpt = None) -> None:
    """Approve a project server (as configured now) for this workspace; an edited entry asks again."""
    from ..mcp import config as cfg
    from ..policy import is_trusted

    workspace = workspace_of(dir)
    entry = _entry(name, workspace)
    if entry.scope != "project":
        raise usage_error(f"{name} is a user server ({entry.file}): only project servers need approving")
    out.print(f"{name}: {_target(entry)}", markup=False)
    cfg.approve(workspace, name, entry.digest)
    out.print(f"approved {name} for {workspace}", markup=False)
    try:
        trusted = is_trusted(workspace)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    if not trusted:
        out.print(f"it starts once the workspace is trusted: cowork trust {workspace}", style="dim", markup=False)


@mcp_app.command("test")
def test(name: Annotated[str, typer.Argument(help="The server's name.")], dir: DirOpt = None) -> None:
    """Start a server here, list its tools, and report how long it took or why it failed."""
    workspace = workspace_of(dir)
    _entry(name, workspace)
    code = asyncio.run(_test(name, workspace))
    raise typer.Exit(code)


async def _test(name: str, workspace: Path) -> int:
    from ..mcp import McpManager, tool_name

    manager = McpManager()
    await manager.start()
    started = time.monotonic()
    try:
        try:
            handle = manager.handle(name, workspace)
        except ValueError as exc:
            err.print(f"[red]{name}:[/red] {exc}", highlight=False)
            return 1
        await handle.wait_settled(handle.config.startup_timeout + 1)
        took = time.monotonic() - started
        if handle.status != "ready":
            err.print(f"[red]{name}: {handle.status}[/red] after {took:.2f} s: {handle.error or 'no answer'}",
                      highlight=False)
            err.print(f"log: {handle.log_path}", style="dim", highlight=False)
            return 1
        out.print(f"{name}: ready over {handle.transport} in {took:.2f} s, {len(handle.tools)} tools", markup=False)
        for t in handle.tools:
            offered = "" if handle.config.offers(t.name) else "  (not offered: allowed/denied_tools)"
            out.print(f"  {tool_name(name, t.name)}  {(t.description or '').splitlines()[0][:80] if t.description else ''}"
                      f"{offered}", markup=False)
        return 0
    finally:
        await manager.close()


# -- MCP prompts as REPL commands ----------------------------------------------------------------


def parse_prompt_args(text: str, arguments: list[Any]) -> dict[str, str]:
    """The values of ``/mcp__S__P ARGS``: ``NAME=VALUE`` words by name, other words in the order
    the prompt declares its arguments (quotes group words). Raises ValueError for an unknown
    name, too many words, or a required argument left out."""
    names = [a.name for a in arguments]
    values: dict[str, str] = {}
    positional: list[str] = []
    for word in shlex.split(text):
        key, sep, value = word.partition("=")
        if sep and key in names:
            values[key] = value
        else:
            positional.append(word)
    free = [n for n in names if n not in values]
    if len(positional) > len(free):
        if not free and len(names) == 0:
            raise ValueError("this prompt takes no arguments")
        if len(free) == 1:  # the rest of the line is the one argument left
            positional = [" ".join(positional)]
        else:
            raise ValueError(f"too many arguments; it takes: {' '.join(names)}")
    values.update(zip(free, positional, strict=False))
    missing = [a.name for a in arguments if a.required and a.name not in values]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    return values


async def prompt_command(chat: Any, line: str) -> None:
    """``/mcp__SERVER__PROMPT [ARGS]`` in the REPL: get the prompt's messages from the server and
    send their text as the user's turn. Raises ChatError for an unknown prompt or bad arguments."""
    from .chat_errors import ChatError

    command, _, rest = line.strip().partition(" ")
    wanted = command.lstrip("/")
    prompts = await chat.client.mcp_prompts(workspace=str(chat.workspace))
    found = next((p for p in prompts.prompts if p.command == wanted), None)
    if found is None:
        known = " ".join("/" + p.command for p in prompts.prompts) or "none (is the server ready? /mcp)"
        raise ChatError(f"unknown MCP prompt {command}; MCP prompts: {known}")
    try:
        values = parse_prompt_args(rest, found.arguments)
    except ValueError as exc:
        usage = " ".join(a.name if a.required else f"[{a.name}]" for a in found.arguments)
        raise ChatError(f"{command}: {exc} (usage: {command} {usage})") from None
    got = await chat.client.mcp_prompt(server=found.server, name=found.name, arguments=values,
                                       workspace=str(chat.workspace))
    if not got.text.strip():
        raise ChatError(f"{command}: the prompt has no text")
    await chat.send(got.text)


def _register_optional() -> None:
    """``login``/``logout`` and ``serve``, when their modules are installed."""
    try:
        from . import mcp_auth  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        if hasattr(mcp_auth, "register"):
            mcp_auth.register(mcp_app)
        else:
            for name in ("login", "logout"):
                command = getattr(mcp_auth, name, None) or getattr(mcp_auth, f"{name}_command", None)
                if command is not None:
                    mcp_app.command(name)(command)
    try:
        from .mcp_serve import serve  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        mcp_app.command("serve")(serve)


_register_optional()




async def show_servers(chat: Any) -> None:
    """``/mcp`` in the REPL: the servers in force for the workspace (``mcp/list``) and their prompts."""
    servers = (await chat.client.mcp_list(workspace=str(chat.workspace))).servers
    if not servers:
        chat.out.print("no MCP server configured (cowork mcp add)", style="dim")
        return
    table = Table("server", "scope", "status", "tools", box=None, header_style="bold")
    for s in servers:
        style = {"ready": "green", "failed": "red", "starting": "yellow"}.get(s.status, "dim")
        table.add_row(s.name, s.scope, f"[{style}]{s.status}[/{style}]", str(len(s.tools)))
    chat.out.print(table)
    for s in servers:
        if s.error:
            chat.out.print(f"{s.name}: {s.error}", style="dim", markup=False)
    prompts = (await chat.client.mcp_prompts(workspace=str(chat.workspace))).prompts
    for p in prompts:
        args = " ".join(a.name if a.required else f"[{a.name}]" for a in p.arguments)
        chat.out.print(f"/{p.command} {args}".rstrip() + (f"  {p.description}" if p.description else ""), markup=False)
__all__ = ["mcp_app", "parse_prompt_args", "prompt_command", "show_servers"]
