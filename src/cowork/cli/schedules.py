"""``cowork schedules add | list | show | pause | resume | run-now | remove | history``: schedules
that start runs (docs/automation.md), through the protocol's ``schedule/*`` methods.

Schedules fire on a server that dispatches (``cowork serve``, ``cowork web``); these commands
without ``--server`` manage them in the store through a server in their own process.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from .._util.timezones import local_zone
from .common import out, print_list, usage_error, with_client
from .options import ServerOpt, TokenOpt, workspace_of
from .runs import AllowOpt, ApprovalTimeoutOpt, ApprovalsOpt, EmailOpt, IfNotEmptyOpt, NotifyOpt, check_approvals
from .runs import deliver_of

app = typer.Typer(help="Schedules: start runs on a cron expression, every N minutes, or once at a time.",
                  no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="Schedule id or a unique prefix of one.")]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d`` → seconds. Raises a usage error."""
    found = _DURATION.match(text)
    if not found:
        raise usage_error(f"--every takes a duration such as 90s, 15m, 2h or 1d, not {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def trigger_of(cron: str | None, timezone: str | None, every: str | None, at: str | None) -> dict[str, Any]:
    """The protocol trigger the options give (exactly one of --cron, --every, --at)."""
    given = [name for name, value in (("--cron", cron), ("--every", every), ("--at", at)) if value]
    if len(given) != 1:
        raise usage_error("give exactly one of --cron, --every or --at" + (f" (not {' and '.join(given)})" if given else ""))
    if cron:
        return {"cron": cron, "timezone": timezone or local_zone()}
    if timezone:
        raise usage_error("--timezone goes with --cron (an --at time carries its offset)")
    if every:
        return {"every": parse_duration(every)}
    assert at is not None
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise usage_error(f"--at takes an ISO 8601 time such as 2027-05-03T09:00 or 2027-05-03T09:00+02:00, not {at!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(local_zone()))
    return {"at": when.isoformat()}


@app.command("add")
def add(
    prompt: Annotated[str, typer.Argument(help="What each run is asked to do.")],
    dir: Annotated[Path | None, typer.Option("--dir", "-C", help="Workspace folder (default: current folder).")] = None,
    cron: Annotated[str | None, typer.Option("--cron", help="Five-field cron expression, e.g. '0 9 * * 1-5'.")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA time zone of --cron (default: this "
                                                 "machine's).")] = None,
    every: Annotated[str | None, typer.Option("--every", help="Every duration: 90s, 15m, 2h, 1d.")] = None,
    at: Annotated[str | None, typer.Option("--at", help="Once, at this ISO 8601 time (local when no offset).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="provider:model (default: the server's).")] = None,
    mode: Annotated[str, typer.Option("--mode", help="The runs' session mode.")] = "default",
    overlap: Annotated[str, typer.Option("--overlap", help="A fire while the previous run still goes: skip, queue "
                                         "or cancel (the previous one).")] = "skip",
    missed: Annotated[str, typer.Option("--missed", help="Fires missed while no server ran: skip, once (the latest) "
                                        "or each (at most 10).")] = "once",
    approvals: ApprovalsOpt = "wait",
    approval_timeout: ApprovalTimeoutOpt = 1800.0,
    allow: AllowOpt = None,
    continue_session: Annotated[bool, typer.Option("--continue-session", help="Every run continues one session "
                                                   "(default: a new session each time).")] = False,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused (`cowork schedules resume` starts it).")] = False,
    email: EmailOpt = None,
    notify_url: NotifyOpt = None,
    only_if_not_empty: IfNotEmptyOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a schedule; prints its next five fire times."""
    workspace = workspace_of(dir)
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not an existing folder")
    trigger = trigger_of(cron, timezone, every, at)
    check_approvals(approvals)
    deliver = deliver_of(email, notify_url, only_if_not_empty)

    async def work(client: Any) -> Any:
        return (await client.schedule_create(
            workspace=str(workspace), prompt=prompt, trigger=trigger, model=model, mode=mode,  # type: ignore[arg-type]
            overlap=overlap, missed=missed, approvals=approvals, approval_timeout=approval_timeout,  # type: ignore[arg-type]
            allow=allow or [], session="continue" if continue_session else "new", deliver=deliver, enabled=not paused)).schedule

    schedule = with_client(work, server, token)
    out.print(f"schedule [bold]{schedule.id}[/bold]: {schedule.description}")
    _print_next(schedule)
    if not server:
        out.print("[yellow]it fires while a `cowork serve` on this store runs[/yellow]")


def _zone_of(schedule: Any) -> ZoneInfo:
    name = getattr(schedule.trigger, "timezone", None) or local_zone()
    return ZoneInfo(name)


def _print_next(schedule: Any) -> None:
    if not schedule.enabled:
        out.print("paused: it does not fire until `cowork schedules resume`")
        return
    if not schedule.next_fires:
        out.print("it will not fire again")
        return
    zone = _zone_of(schedule)
    out.print("next: " + ", ".join(t.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z") for t in schedule.next_fires))


@app.command("list")
def list_(
    dir: Annotated[Path | None, typer.Option("--dir", "-C", help="Only schedules of this workspace.")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Schedules with what they do and when they fire next."""
    workspace = str(dir.expanduser().resolve()) if dir else None
    found = with_client(lambda client: client.schedule_list(workspace=workspace), server, token).schedules
    print_list(found, json_lines, "no schedules (cowork schedules add)", schedules_table)


def schedules_table(found: list[Any]) -> Table:
    """The table ``cowork schedules list`` and the REPL's ``/schedules`` print."""
    from .ids import short_ids

    ids = short_ids(s.id for s in found)
    table = Table("id", "when", "next", "workspace", "prompt", box=None)
    table.columns[0].no_wrap, table.columns[0].min_width = True, max(map(len, ids.values()))
    for s in found:
        nxt = s.next_fires[0].astimezone(_zone_of(s)).strftime("%Y-%m-%d %H:%M %Z") if s.next_fires else (
            "paused" if not s.enabled else "done")
        prompt = " ".join(s.prompt.split())
        table.add_row(ids[s.id], s.description, nxt, s.workspace, prompt if len(prompt) <= 50 else prompt[:49] + "…")
    return table


async def show_schedules(chat: Any) -> None:
    """The REPL's ``/schedules``: the schedules of the chat's workspace."""
    found = (await chat.client.schedule_list(workspace=chat.current.workspace)).schedules
    if not found:
        chat.out.print("no schedules in this workspace (cowork schedules add)")
        return
    chat.out.print(schedules_table(found))


@app.command("show")
def show(schedule_id: IdArg, json_lines: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
         server: ServerOpt = None, token: TokenOpt = None) -> None:
    """One schedule: what it does, its policies, its next five fire times and its last fires."""
    async def work(client: Any) -> tuple[Any, list[Any]]:
        schedule = (await client.schedule_get(schedule_id=schedule_id)).schedule
        return schedule, (await client.schedule_history(schedule_id=schedule.id, limit=5)).fires

    schedule, recent = with_client(work, server, token)
    if json_lines:
        print(schedule.model_dump_json())
        return
    table = Table(box=None, show_header=False)
    for key, value in (("schedule", schedule.id), ("when", schedule.description), ("workspace", schedule.workspace),
                       ("model", schedule.model or "the server's default"), ("mode", schedule.mode),
                       ("overlap", schedule.overlap), ("missed", schedule.missed),
                       ("approvals", schedule.approvals + (f", {schedule.approval_timeout:g} s"
                                                          if schedule.approvals == "wait" else "")),
                       ("allow", ", ".join(schedule.allow) or "—"),
                       ("session", schedule.session + (f" ({schedule.session_id})" if schedule.session_id else ""))):
        table.add_row(f"[bold]{key}[/bold]", value)
    out.print(table)
    out.print(f"[bold]prompt[/bold]\n{schedule.prompt}")
    _print_next(schedule)
    if recent:
        out.print(_fires_table(recent, _zone_of(schedule)))


def _fires_table(fires: list[Any], zone: ZoneInfo) -> Table:
    table = Table("fire time", "outcome", "run", "state", "why", box=None)
    for f in fires:
        table.add_row(f.scheduled_for.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"), f.outcome, f.run_id or "",
                      f.run_state or "", f.reason or "")
    return table


@app.command("history")
def history(schedule_id: IdArg, limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
            server: ServerOpt = None, token: TokenOpt = None) -> None:
    """A schedule's fires: the run each started and its state, or why it was skipped."""
    async def work(client: Any) -> tuple[Any, list[Any]]:
        schedule = (await client.schedule_get(schedule_id=schedule_id)).schedule
        return schedule, (await client.schedule_history(schedule_id=schedule.id, limit=limit)).fires

    schedule, fires = with_client(work, server, token)
    out.print(_fires_table(fires, _zone_of(schedule)) if fires else "it has not fired yet")


@app.command("pause")
def pause(schedule_id: IdArg, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Stop firing until resumed (what falls in the pause is not made up for)."""
    s = with_client(lambda client: client.schedule_update(schedule_id=schedule_id, enabled=False), server, token).schedule
    out.print(f"schedule {s.id}: paused")


@app.command("resume")
def resume(schedule_id: IdArg, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Fire again, counting from now."""
    s = with_client(lambda client: client.schedule_update(schedule_id=schedule_id, enabled=True), server, token).schedule
    out.print(f"schedule {s.id}: resumed")
    _print_next(s)


@app.command("run-now")
def run_now(schedule_id: IdArg, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Start one run of the schedule now (queued behind a previous one still going)."""
    run = with_client(lambda client: client.schedule_run(schedule_id=schedule_id), server, token).run
    out.print(f"queued run [bold]{run.id}[/bold] (session {run.session_id}): cowork runs follow {run.id}")


@app.command("remove")
def remove(schedule_id: IdArg, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Remove a schedule and its fire history (its runs and their sessions stay)."""
    with_client(lambda client: client.schedule_delete(schedule_id=schedule_id), server, token)
    out.print(f"removed {schedule_id}")


__all__ = ["app", "parse_duration", "schedules_table", "show_schedules", "trigger_of"]
