"""The ``cowork`` command.

Exit codes of ``cowork run``: 0 the turn completed, 1 it failed, 2 usage or configuration error
(bad flag, missing folder, unknown session, missing API key), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ..providers.redaction import install_log_redaction
from .auth import auth_app
from .checkpoints import app as checkpoints_app
from .common import EXIT_INTERRUPTED, engine_settings, err, out
from .common import usage_error as _usage_error
from .common import with_client as _with_client
from .doctor import doctor
from .help import install as _install_help
from .models import app as models_app
from .options import DirOpt, ServerOpt, TokenOpt, workspace_of
from .policy import policy_app, trust
from .skills import app as skills_app
from .mcp import mcp_app
from .runs import AllowOpt, ApprovalTimeoutOpt, ApprovalsOpt, EmailOpt, IfNotEmptyOpt, NotifyOpt, check_approvals
from .runs import deliver_of, say_submitted
from .runs import app as runs_app
from .schedules import app as schedules_app
from .webhooks import app as webhooks_app
from .memory import app as memory_app
from .runs import submit as submit_run
from .web import web

if TYPE_CHECKING:
    from ..config import EngineSettings

_install_help()

# No local variables in crash tracebacks: they could hold a provider key.
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False,
                  help="cowork: a local-first AI agent runtime.")
sessions_app = typer.Typer(no_args_is_help=True, help="List, show and delete saved sessions.")
protocol_app = typer.Typer(no_args_is_help=True, help="The public protocol.")
app.add_typer(sessions_app, name="sessions")
app.add_typer(protocol_app, name="protocol")
app.add_typer(checkpoints_app, name="checkpoints")
app.add_typer(auth_app, name="auth")
app.command("doctor")(doctor)
app.command("trust")(trust)
app.command("web")(web)
app.add_typer(policy_app, name="policy")
app.add_typer(models_app, name="models")
app.add_typer(skills_app, name="skills")
app.add_typer(runs_app, name="runs")
app.add_typer(schedules_app, name="schedules")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(memory_app, name="memory")
app.add_typer(mcp_app, name="mcp")

SandboxOpt = Annotated[str | None, typer.Option(
    "--sandbox", help="How bash commands are isolated: auto (bubblewrap, else Landlock; refuse if neither), "
    "bwrap, landlock, or off (no isolation). Default: $COWORK_SANDBOX, else auto.")]
BudgetOpt = Annotated[list[str] | None, typer.Option(
    "--budget", metavar="LIMIT=N", help="A limit, repeatable: turn-steps, turn-tokens, turn-seconds, turn-cost (USD), "
    "session-steps, session-tokens, session-seconds, session-cost. Overrides its COWORK_* variable.")]


MODE_OPTION_HELP = ("default (ask before edits and commands), accept-edits (edits in the workspace without asking), "
                    "read-only (change nothing), plan (read, then propose a plan to approve) or yolo (never ask, "
                    "except hard denies).")
DRY_RUN_DONE = "dry run: nothing was changed"


def _check_mode(mode: str | None) -> str | None:
    from ..policy import MODES

    if mode is not None and mode not in MODES:
        raise _usage_error(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def chosen_mode(mode: str | None, yes: bool, read_only: bool) -> str | None:
    """The mode ``--mode``, ``--yes`` (yolo) and ``--read-only`` ask for together; None when none
    is given. Flags that agree (``--mode yolo --yes``) are fine; only a contradiction
    (``--yes --read-only``, ``--mode default --yes``) is a usage error."""
    wanted = {flag: m for flag, m in (("--mode " + (mode or ""), mode), ("--yes", "yolo" if yes else None),
                                      ("--read-only", "read-only" if read_only else None)) if m is not None}
    if len(set(wanted.values())) > 1:
        raise _usage_error(f"{' and '.join(wanted)} contradict each other: give one mode")
    return next(iter(wanted.values()), None)


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    dir: DirOpt = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="provider:model, e.g. openai:gpt-5.1, local:qwen2.5-coder-1.5b.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible server for openai: models.")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help=MODE_OPTION_HELP)] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Run every tool without asking: --mode yolo.")] = False,
    read_only: Annotated[bool, typer.Option("--read-only", help="Change nothing: --mode read-only.")] = False,
    plan: Annotated[bool, typer.Option("--plan", help="Plan first: the agent only reads, then proposes a plan you "
                                       "approve, edit or reject; approved, it is carried out in the mode --mode or "
                                       "--yes give (default: default).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan the agent would carry out and change "
                                          "nothing (--plan, with the plan rejected).")] = False,
    json_lines: Annotated[bool, typer.Option("--json", help="Print the event stream as JSON lines.")] = False,
    continue_: Annotated[bool, typer.Option("--continue", "-c", help="Continue the latest session of the workspace.")] = False,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Continue this session.")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    sandbox: SandboxOpt = None,
    budget: BudgetOpt = None,
    background: Annotated[bool, typer.Option("--background", help="Queue the task as a run and return at once: a "
                                             "`cowork serve` on the store starts it (docs/automation.md).")] = False,
    approvals: ApprovalsOpt = "wait",
    approval_timeout: ApprovalTimeoutOpt = 1800.0,
    allow: AllowOpt = None,
    email: EmailOpt = None,
    notify_url: NotifyOpt = None,
    only_if_not_empty: IfNotEmptyOpt = False,
) -> None:
    """Run one task to completion in a workspace, streaming what the agent does (or, with
    --background, queue it as a run)."""
    if background:
        _run_background(task, dir, model, mode, yes, read_only, plan or dry_run, continue_, session, json_lines,
                        server, token, approvals, approval_timeout, allow or [],
                        deliver_of(email, notify_url, only_if_not_empty))
        return
    if allow or approvals != "wait" or approval_timeout != 1800.0 or email or notify_url or only_if_not_empty:
        raise _usage_error("--approvals, --approval-timeout, --allow, --email, --notify-url and --only-if-not-empty "
                           "are for --background runs")
    settings = engine_settings(sandbox, budget, server)
    mode = chosen_mode(_check_mode(mode), yes, read_only)
    plan_mode = None  # with --plan/--dry-run: the mode an approved plan is carried out in
    if plan or dry_run or mode == "plan":
        if mode == "read-only":
            raise _usage_error(f"{'--dry-run' if dry_run else '--plan'} and --read-only contradict each other: "
                               "a plan is proposed to be carried out (--dry-run shows it and changes nothing)")
        plan_mode = mode if mode not in (None, "plan") else "default"
        mode = "plan"
    if continue_ and session:
        raise _usage_error("use --continue or --session, not both")
    if not task.strip():
        raise _usage_error("the task is empty")
    workspace = workspace_of(dir)
    if not workspace.is_dir():
        raise _usage_error(f"workspace {workspace} is not an existing folder")
    code = asyncio.run(_run(task, workspace, model, base_url, mode, json_lines, continue_, session, server, token,
                            settings, plan_mode=plan_mode, dry_run=dry_run))
    raise typer.Exit(code)


def _run_background(task: str, dir: Path | None, model: str | None, mode: str | None, yes: bool, read_only: bool,
                    plan: bool, continue_: bool, session: str | None, json_lines: bool, server: str | None,
                    token: str | None, approvals: str, approval_timeout: float, allow: list[str],
                    deliver: dict[str, Any] | None = None) -> None:
    """``cowork run --background``: ``run/submit`` and return."""
    from .follow import choose_session

    if plan:
        raise _usage_error("--plan and --dry-run need a person to approve the plan: not with --background")
    if continue_ and session:
        raise _usage_error("use --continue or --session, not both")
    if not task.strip():
        raise _usage_error("the task is empty")
    mode = chosen_mode(_check_mode(mode), yes, read_only)
    workspace = workspace_of(dir)
    if not workspace.is_dir():
        raise _usage_error(f"workspace {workspace} is not an existing folder")
    check_approvals(approvals)

    async def work(client: Any) -> Any:
        session_id = session
        if continue_:
            chosen = await choose_session(client, workspace, None, None, True, None)
            if chosen is None:
                raise _usage_error(f"no session to continue in {workspace}")
            session_id = chosen[0].id
        return await submit_run(client, workspace, task, model=model, mode=mode, session_id=session_id,
                                approvals=approvals, approval_timeout=approval_timeout, allow=allow, deliver=deliver)

    say_submitted(_with_client(work, server, token), server, json_lines)


async def _run(task: str, workspace: Path, model: str | None, base_url: str | None, mode: str | None,
               json_lines: bool, continue_: bool, session_id: str | None, server: str | None,
               token: str | None, settings: EngineSettings | None = None, *, plan_mode: str | None = None,
               dry_run: bool = False) -> int:
    """``plan_mode``: the mode an approved plan is carried out in (``mode`` is then ``plan``);
    ``dry_run``: every approval is rejected (the plan shown first) and the run says nothing changed."""
    import functools

    from ..client import ConnectionLost, CoworkError
    from .approve import ask_many
    from .follow import choose_session, follow_turn, open_client
    from .render import Renderer

    try:
        async with open_client(server, token, base_url, settings) as client:
            try:
                chosen = await choose_session(client, workspace, model, mode, continue_, session_id, _title(task))
                if chosen is None:
                    raise _usage_error(f"no session to continue in {workspace}")
                info = chosen[0]
                sub = await client.subscribe(info.id, after_seq=info.last_seq)
                started = await client.start_turn(info.id, task)
            except CoworkError as exc:
                raise _usage_error(exc.message) from None
            renderer = Renderer(err if json_lines else out, json_lines=json_lines)
            ask = functools.partial(ask_many, plan_mode=plan_mode or "default", dry_run=dry_run)
            code = await follow_turn(client, sub, started.turn_id, renderer, ask, on_interrupt=_say_interrupting)
            if dry_run:
                renderer.console.print(DRY_RUN_DONE)
            return code
    except ConnectionLost as exc:
        raise _usage_error(str(exc)) from None


def _say_interrupting() -> None:
    err.print("[yellow]interrupting… (Ctrl-C again to quit at once)[/yellow]")


def _title(task: str) -> str:
    line = " ".join(task.split())
    return line if len(line) <= 80 else line[:79] + "…"


@app.command()
def chat(
    dir: DirOpt = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="provider:model, e.g. openai:gpt-5.1, local:qwen2.5-coder-1.5b.")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help=MODE_OPTION_HELP)] = None,
    continue_: Annotated[bool, typer.Option("--continue", "-c", help="Continue the latest session of the workspace.")] = False,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Continue this session.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible server for openai: models.")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    sandbox: SandboxOpt = None,
    budget: BudgetOpt = None,
) -> None:
    """Talk with the agent in a workspace: messages, slash commands (/help), approvals inline."""
    settings = engine_settings(sandbox, budget, server)
    from .chat import UsageError, run_chat

    if continue_ and session:
        raise _usage_error("use --continue or --session, not both")
    _check_mode(mode)
    workspace = workspace_of(dir)
    if not workspace.is_dir():
        raise _usage_error(f"workspace {workspace} is not an existing folder")
    try:
        code = asyncio.run(run_chat(workspace, model, base_url, mode, continue_, session, server, token, out, err,
                                    settings))
    except UsageError as exc:
        raise _usage_error(str(exc)) from None
    raise typer.Exit(code)


# -- serve ------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind. Any non-loopback address requires a token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 8765,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible server for openai: models.")] = None,
    sandbox: SandboxOpt = None,
    budget: BudgetOpt = None,
) -> None:
    """Run the server: JSON-RPC over WebSocket at /ws, REST + SSE under /api/v1."""
    settings = engine_settings(sandbox, budget, None)
    import logging

    from .inprocess import listen
    from .inprocess import serve as serve_forever

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    try:
        auth, sock, token_lines = listen(host, port)
    except OSError as exc:
        raise _usage_error(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _usage_error(str(exc)) from None

    def ready(url: str) -> None:
        ws = url.replace("http://", "ws://", 1)
        print(f"cowork serve: listening on {url} (WebSocket {ws}/ws, REST {url}/api/v1)", flush=True)
        for line in token_lines:
            print(line, flush=True)

    asyncio.run(serve_forever(auth, sock, base_url, settings, ready))


# -- sessions ---------------------------------------------------------------------------------


@sessions_app.command("list")
def sessions_list(
    dir: Annotated[Path | None, typer.Option("--dir", "-C", help="Only sessions of this workspace.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 50,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Saved sessions, newest first."""

    async def page(client: Any) -> list[Any]:
        workspace = str(dir.expanduser().resolve()) if dir else None
        found, cursor = [], None
        while len(found) < limit:
            result = await client.list_sessions(workspace=workspace, cursor=cursor, limit=min(500, limit - len(found)))
            found += result.sessions
            if not (cursor := result.next_cursor):
                break
        return found

    found = _with_client(page, server, token)
    if json_lines:
        for s in found:
            print(s.model_dump_json())
        return
    if not found:
        out.print("no sessions yet")
        return
    from .ids import short_ids

    ids = short_ids(s.id for s in found)
    table = Table("id", "updated", "model", "mode", "workspace", "title", box=None)
    table.columns[0].no_wrap, table.columns[0].min_width = True, max(map(len, ids.values()))
    table.columns[1].no_wrap = True  # the time, on one line
    for s in found:
        table.add_row(ids[s.id], s.updated_at.strftime("%Y-%m-%d %H:%M"), s.model, s.mode, s.workspace, s.title)
    out.print(table)


@sessions_app.command("show")
def sessions_show(
    session_id: Annotated[str, typer.Argument(help="Session id (from `cowork sessions list`).")],
    json_lines: Annotated[bool, typer.Option("--json", help="Print the journal as JSON lines.")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Replay a session's transcript from the journal (its subagents' work folded under the calls that
    started them)."""
    from .render import Renderer

    async def journal(client: Any, sid: str) -> list[Any]:
        info = await client.get_session(sid)
        last, sid = info.last_seq, info.id
        events: list[Any] = []
        if last:
            async with await client.subscribe(sid, after_seq=0) as sub:
                async for ev in sub:
                    events.append(ev)
                    if ev.seq >= last:
                        break
        return events

    async def journals(client: Any) -> tuple[list[Any], dict[str, list[Any]]]:
        events = await journal(client, session_id)
        children = dict.fromkeys(ev.agent.session_id for ev in events if ev.type == "subagent.updated")
        return events, {child: await journal(client, child) for child in children}

    events, subagents = _with_client(journals, server, token)
    if json_lines:
        for ev in events:
            print(ev.model_dump_json())
        return
    Renderer(out).replay(events, subagents)


@sessions_app.command("delete")
def sessions_delete(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a session, its journal and its history."""
    _with_client(lambda client: client.delete_session(session_id), server, token)
    out.print(f"deleted {session_id}")


# -- models, protocol ------------------------------------------------------------------------------


@protocol_app.command("schema")
def protocol_schema() -> None:
    """Print the JSON Schema of the protocol's events, items and sessions."""
    from ..protocol.schema import protocol_json_schema

    print(json.dumps(protocol_json_schema(), indent=2))


def main() -> None:
    """Console-script entry point."""
    install_log_redaction()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
