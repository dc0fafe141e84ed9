"""The ``cowork`` command.

Exit codes of ``cowork run``: 0 the turn completed, 1 it failed, 2 usage or configuration error
(bad flag, missing folder, unknown session, missing API key), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, add_completion=False, help="cowork: a local-first AI agent runtime.")
sessions_app = typer.Typer(no_args_is_help=True, help="List, show and delete saved sessions.")
protocol_app = typer.Typer(no_args_is_help=True, help="The public protocol.")
app.add_typer(sessions_app, name="sessions")
app.add_typer(protocol_app, name="protocol")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = {"turn.completed": EXIT_OK, "turn.failed": EXIT_FAILED, "turn.interrupted": EXIT_INTERRUPTED}

T = TypeVar("T")


def _usage_error(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(EXIT_USAGE)


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    dir: Annotated[Path | None, typer.Option("--dir", "-C", help="Workspace folder (default: current folder).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="provider:model, e.g. openai:gpt-5.1, local:smollm2-135m.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible server for openai: models.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Run every tool without asking.")] = False,
    read_only: Annotated[bool, typer.Option("--read-only", help="Deny every tool that can change the workspace.")] = False,
    json_lines: Annotated[bool, typer.Option("--json", help="Print the event stream as JSON lines.")] = False,
    continue_: Annotated[bool, typer.Option("--continue", "-c", help="Continue the latest session of the workspace.")] = False,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Continue this session.")] = None,
) -> None:
    """Run one task to completion in a workspace, streaming what the agent does."""
    if yes and read_only:
        raise _usage_error("--yes and --read-only contradict each other")
    if continue_ and session:
        raise _usage_error("use --continue or --session, not both")
    if not task.strip():
        raise _usage_error("the task is empty")
    mode = "yolo" if yes else "read-only" if read_only else None
    code = asyncio.run(_run(task, dir, model, base_url, mode, json_lines, continue_, session))
    raise typer.Exit(code)


async def _run(task: str, dir: Path | None, model: str | None, base_url: str | None, mode: str | None,
               json_lines: bool, continue_: bool, session_id: str | None) -> int:
    from ..engine import Runtime
    from ..providers import ModelConfigError, default_model
    from ..store import NotFound
    from .approve import ask
    from .render import Renderer

    workspace = (dir or Path.cwd()).expanduser().resolve()
    if not workspace.is_dir():
        raise _usage_error(f"workspace {workspace} is not an existing folder")
    runtime = await Runtime.open(openai_base_url=base_url)
    try:
        try:
            if session_id:
                info = await runtime.get_session(session_id)
            elif continue_:
                found = await runtime.list_sessions(workspace, limit=1)
                if not found:
                    raise _usage_error(f"no session to continue in {workspace}")
                info = found[0]
            else:
                info = None
            runtime.model(model or (info.model if info else default_model()))  # a missing key fails here
            if info is None:
                info = await runtime.create_session(workspace, model, mode or "default", title=_title(task))
            else:
                info = await runtime.update_session(info.id, model=model, mode=mode)
        except NotFound as exc:
            raise _usage_error(str(exc)) from None
        except (ModelConfigError, ValueError) as exc:
            raise _usage_error(str(exc)) from None

        renderer = Renderer(err if json_lines else out, json_lines=json_lines)
        try:
            await runtime.prepare_model(info.model, on_status=lambda s: renderer.note(f"{s}…"))
        except ModelConfigError as exc:
            renderer.pause()
            raise _usage_error(str(exc)) from None
        turn_id = await runtime.start_turn(info.id, task)
        return await _follow(runtime, info.id, info.last_seq, turn_id, renderer, ask)
    finally:
        await runtime.close()


async def _follow(runtime: Any, session_id: str, after_seq: int, turn_id: str, renderer: Any, ask: Any) -> int:
    """Render the turn's events until it ends; Ctrl-C interrupts it, a second Ctrl-C exits."""
    loop = asyncio.get_running_loop()
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses > 1:
            os._exit(EXIT_INTERRUPTED)  # the journal is already on disk; the next start recovers the turn
        renderer.pause()
        err.print("[yellow]interrupting… (Ctrl-C again to quit at once)[/yellow]")
        loop.create_task(runtime.interrupt(session_id))

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        async for ev in runtime.subscribe(session_id, after_seq):
            renderer.event(ev)
            if ev.type == "approval.requested":
                renderer.pause()
                decision, reason = await ask(ev, renderer.console)
                try:
                    runtime.respond_approval(ev.approval_id, decision, reason)
                except LookupError:
                    pass  # the turn ended (interrupted) while we asked
            if ev.turn_id == turn_id and ev.type in EXIT_CODES:
                return EXIT_CODES[ev.type]
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    return EXIT_FAILED


def _title(task: str) -> str:
    line = " ".join(task.split())
    return line if len(line) <= 80 else line[:79] + "…"


# -- sessions ---------------------------------------------------------------------------------


def _with_store(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(store)`` on the store at ``$COWORK_HOME``; an unknown session is a usage error."""
    from ..config import database_url
    from ..store import NotFound, Store

    async def main() -> T:
        store = await Store.open(database_url())
        try:
            return await work(store)
        except NotFound as exc:
            raise _usage_error(str(exc)) from None
        finally:
            await store.close()

    return asyncio.run(main())


@sessions_app.command("list")
def sessions_list(
    dir: Annotated[Path | None, typer.Option("--dir", "-C", help="Only sessions of this workspace.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Saved sessions, most recently active first."""
    found = _with_store(lambda store: store.list_sessions(dir.expanduser().resolve() if dir else None, limit))
    if json_lines:
        for s in found:
            print(s.model_dump_json())
        return
    if not found:
        out.print("no sessions yet")
        return
    table = Table("id", "updated", "model", "mode", "workspace", "title", box=None)
    for s in found:
        table.add_row(s.id, s.updated_at.strftime("%Y-%m-%d %H:%M"), s.model, s.mode, s.workspace, s.title)
    out.print(table)


@sessions_app.command("show")
def sessions_show(
    session_id: Annotated[str, typer.Argument(help="Session id (from `cowork sessions list`).")],
    json_lines: Annotated[bool, typer.Option("--json", help="Print the journal as JSON lines.")] = False,
) -> None:
    """Replay a session's transcript from the journal."""
    from .render import Renderer

    async def journal(store: Any) -> list[Any]:
        await store.get_session(session_id)
        events, last = [], 0
        while page := await store.events_after(session_id, last, 5000):
            events.extend(page)
            last = page[-1].seq
        return events

    events = _with_store(journal)
    if json_lines:
        for ev in events:
            print(ev.model_dump_json())
        return
    Renderer(out).replay(events)


@sessions_app.command("delete")
def sessions_delete(session_id: Annotated[str, typer.Argument(help="Session id.")]) -> None:
    """Delete a session, its journal and its history."""
    _with_store(lambda store: store.delete_session(session_id))
    out.print(f"deleted {session_id}")


# -- models, protocol ------------------------------------------------------------------------------


@app.command()
def models(json_lines: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    """Providers and their default models: what is configured and usable now."""
    from ..providers import configured_models, default_model

    found = configured_models()
    if json_lines:
        print(json.dumps([m.__dict__ for m in found]))
        return
    table = Table("model", "usable", "detail", box=None)
    for m in found:
        table.add_row(m.model, "[green]yes[/green]" if m.usable else "[dim]no[/dim]", m.detail)
    out.print(table)
    out.print(f"default: {default_model()} (set COWORK_MODEL or --model to choose)", style="dim")


@protocol_app.command("schema")
def protocol_schema() -> None:
    """Print the JSON Schema of the protocol's events, items and sessions."""
    from ..protocol.schema import protocol_json_schema

    print(json.dumps(protocol_json_schema(), indent=2))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
