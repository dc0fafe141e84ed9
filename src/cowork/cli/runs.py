"""``cowork runs list | show | follow | cancel`` and ``cowork run --background``: runs, the turns
started without a person at the keyboard (docs/automation.md), through the protocol's ``run/*``
methods like every other client.

Runs are started by a server that dispatches them: ``cowork serve`` (or ``cowork web``). Without
``--server`` these commands use a server in their own process, which reads and queues runs in the
store but never starts one (it stops when the command ends).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import out, print_list, usage_error, with_client
from .options import ServerOpt, TokenOpt

app = typer.Typer(help="Runs: turns started without a person (cowork run --background, schedules, webhooks).",
                  no_args_is_help=True)

ApprovalsOpt = Annotated[str, typer.Option(
    "--approvals", help="What a run does with a call that needs a person: wait (pending for every client until "
    "--approval-timeout, then denied) or deny (denied at once; the model reads why).")]
ApprovalTimeoutOpt = Annotated[float, typer.Option(
    "--approval-timeout", min=0, help="Seconds a --approvals wait approval stays pending before it is denied.")]
AllowOpt = Annotated[list[str] | None, typer.Option(
    "--allow", help="Pre-grant an \"always in this session\" pattern (repeatable): bash:'git status', write, "
    "path:'docs/**', web_fetch:example.com.")]

EmailOpt = Annotated[list[str] | None, typer.Option(
    "--email", help="Mail the outcome to this address when it ends or waits for you (repeatable; $COWORK_SMTP_*).")]
NotifyOpt = Annotated[list[str] | None, typer.Option(
    "--notify-url", help="POST the outcome (JSON, signed with $COWORK_DELIVERY_SECRET) to this URL (repeatable).")]
IfNotEmptyOpt = Annotated[bool, typer.Option(
    "--only-if-not-empty", help="Deliver nothing for a completed run whose answer is empty.")]


def deliver_of(email: list[str] | None, notify: list[str] | None, only_if_not_empty: bool) -> dict[str, Any] | None:
    """The protocol's ``deliver`` the options give, or None."""
    channels: list[dict[str, Any]] = [{"type": "webhook", "url": url} for url in notify or ()]
    if email:
        channels.append({"type": "email", "to": list(email)})
    if not channels:
        if only_if_not_empty:
            raise usage_error("--only-if-not-empty goes with --email or --notify-url")
        return None
    return {"channels": channels, "only_if_not_empty": only_if_not_empty}


STATE_STYLE = {"completed": "green", "failed": "red", "cancelled": "yellow", "interrupted": "yellow",
               "waiting_for_approval": "bold magenta", "running": "cyan", "queued": "dim"}


async def submit(client: Any, workspace: Path, task: str, *, model: str | None, mode: str | None,
                 session_id: str | None, approvals: str, approval_timeout: float, allow: list[str],
                 deliver: dict[str, Any] | None = None) -> Any:
    """``run/submit``; the queued run."""
    result = await client.run_submit(workspace=str(workspace), prompt=task, model=model, mode=mode,
                                     session_id=session_id, approvals=approvals,  # type: ignore[arg-type]
                                     approval_timeout=approval_timeout, allow=allow, deliver=deliver)
    return result.run


def say_submitted(run: Any, server: str | None, json_lines: bool) -> None:
    if json_lines:
        print(run.model_dump_json())
        return
    out.print(f"queued run [bold]{run.id}[/bold] (session {run.session_id}; approvals: {run.approvals})")
    if server:
        out.print(f"follow it: cowork runs follow {run.id} --server {server}")
    else:
        out.print("[yellow]no server was given (--server / COWORK_SERVER): it starts when a `cowork serve` on "
                  "this store runs[/yellow]")


def check_approvals(approvals: str) -> str:
    if approvals not in ("deny", "wait"):
        raise usage_error(f"--approvals must be deny or wait, not {approvals!r}")
    return approvals


@app.command("list")
def runs_list(
    dir: Annotated[Path | None, typer.Option("--dir", "-C", help="Only runs of this workspace.")] = None,
    state: Annotated[list[str] | None, typer.Option("--state", help="Only runs in this state (repeatable).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Runs, newest first, with their state."""
    async def work(client: Any) -> list[Any]:
        workspace = str(dir.expanduser().resolve()) if dir else None
        return (await client.run_list(workspace=workspace, states=state or [], limit=limit)).runs  # type: ignore[arg-type]

    print_list(with_client(work, server, token), json_lines, "no runs yet", runs_table)


def runs_table(found: list[Any]) -> Table:
    """The table ``cowork runs list`` and the REPL's ``/runs`` print (ids as short unique prefixes)."""
    from .ids import short_ids

    ids = short_ids(r.id for r in found)
    table = Table("id", "state", "created", "why", "workspace", "prompt", box=None)
    table.columns[0].no_wrap, table.columns[0].min_width = True, max(map(len, ids.values()))
    for r in found:
        style = STATE_STYLE.get(r.state, "")
        prompt = " ".join(r.prompt.split())
        table.add_row(ids[r.id], f"[{style}]{r.state}[/{style}]" if style else r.state,
                      r.created_at.strftime("%Y-%m-%d %H:%M"), r.reason, r.workspace,
                      prompt if len(prompt) <= 60 else prompt[:59] + "…")
    return table


async def show_runs(chat: Any) -> None:
    """The REPL's ``/runs``: the runs of the chat's workspace, newest first."""
    found = (await chat.client.run_list(workspace=chat.current.workspace, limit=20)).runs
    if not found:
        chat.out.print("no runs in this workspace (cowork run --background queues one)")
        return
    chat.out.print(runs_table(found))
    chat.out.print("cowork runs show ID / follow ID / cancel ID", style="dim")


@app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix of one.")],
    json_lines: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """One run: its state, why it started, its session, and its answer once it ended."""
    run = with_client(lambda client: _get(client, run_id), server, token)
    if json_lines:
        print(run.model_dump_json())
        return
    style = STATE_STYLE.get(run.state, "")
    rows = [("run", run.id), ("state", f"[{style}]{run.state}[/{style}]" if style else run.state),
            ("why", run.reason + (f" ({run.trigger})" if run.trigger else "")), ("session", run.session_id),
            ("workspace", run.workspace),
            ("approvals", run.approvals + (f", {run.approval_timeout:g} s" if run.approvals == "wait" else "")),
            ("created", run.created_at.isoformat(timespec="seconds"))]
    if run.started_at:
        rows.append(("started", run.started_at.isoformat(timespec="seconds")))
    if run.ended_at:
        rows.append(("ended", run.ended_at.isoformat(timespec="seconds")))
    for d in run.deliveries:
        rows.append((f"delivery {d.channel}", f"{d.kind} ({d.event}): {d.state}, {d.attempts} attempt(s)"
                     + (f" — {d.error}" if d.error else "")))
    if run.pending_approvals:
        rows.append(("waiting", f"{run.pending_approvals} approval(s): answer with cowork runs follow {run.id}"))
    if run.stop_reason:
        rows.append(("stop reason", run.stop_reason))
    if run.error:
        rows.append(("error", run.error))
    rows += [("warning", w) for w in run.warnings]
    table = Table(box=None, show_header=False)
    for key, value in rows:
        table.add_row(f"[bold]{key}[/bold]", value)
    out.print(table)
    out.print(f"[bold]prompt[/bold]\n{run.prompt}")
    if run.result:
        out.print(f"[bold]answer[/bold]\n{run.result}")


async def _get(client: Any, run_id: str) -> Any:
    return (await client.run_get(run_id=run_id)).run


@app.command("cancel")
def runs_cancel(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix of one.")],
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Cancel a queued run (it never starts) or a running one (its turn is interrupted)."""
    run = with_client(lambda client: client.run_cancel(run_id=run_id), server, token).run
    out.print(f"run {run.id}: {run.state}" + (f" ({run.error})" if run.error else ""))


@app.command("follow")
def runs_follow(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix of one.")],
    json_lines: Annotated[bool, typer.Option("--json", help="Print the event stream as JSON lines.")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Follow a run's turn as `cowork run` shows one, answering its approvals here; waits while it
    is queued. Exit code as `cowork run` (0 completed, 1 failed, 130 interrupted or cancelled).
    Ctrl-C interrupts the run's turn, as in `cowork run`."""
    raise typer.Exit(with_client(lambda client: _follow(client, run_id, json_lines), server, token))


async def _follow(client: Any, run_id: str, json_lines: bool) -> int:
    from .approve import ask_many
    from .common import err
    from .follow import EXIT_FAILED, EXIT_INTERRUPTED, follow_turn
    from .render import Renderer

    run = await _get(client, run_id)
    if run.turn_id is None:  # queued: wait for its start, told by run.updated
        updates = await client.watch_runs(limit=0)
        try:
            run = await _get(client, run.id)  # again, now that changes are told: none is missed
            said = False
            while run.turn_id is None:
                if run.state in ("cancelled", "failed"):
                    err.print(f"run {run.id}: {run.state}" + (f" ({run.error})" if run.error else ""))
                    return EXIT_INTERRUPTED if run.state == "cancelled" else EXIT_FAILED
                if not said:
                    err.print(f"run {run.id} is queued: waiting for a server to start it")
                    said = True
                changed = await updates.next()
                if changed.id == run.id:
                    run = changed
        finally:
            await updates.close()
    renderer = Renderer(err if json_lines else out, json_lines=json_lines)
    sub = _TurnOnly(await client.subscribe(run.session_id, after_seq=0), run.turn_id)
    code = await follow_turn(client, sub, run.turn_id, renderer, ask_many)
    run = await _get(client, run.id)
    if json_lines:
        print(json.dumps({"run": run.model_dump(mode="json")}))
    return EXIT_INTERRUPTED if run.state == "cancelled" else code


class _TurnOnly:
    """A subscription that passes on only one turn's events (a continued session's older turns
    are not shown again)."""

    def __init__(self, sub: Any, turn_id: str) -> None:
        self._sub, self._turn_id = sub, turn_id
        self.session_id = sub.session_id

    async def next(self, timeout: float | None = None) -> Any:
        while True:
            ev = await self._sub.next(timeout)
            if ev.turn_id == self._turn_id:
                return ev


__all__ = ["AllowOpt", "ApprovalTimeoutOpt", "ApprovalsOpt", "EmailOpt", "IfNotEmptyOpt", "NotifyOpt", "app",
           "check_approvals", "deliver_of", "runs_table", "say_submitted", "show_runs", "submit"]
