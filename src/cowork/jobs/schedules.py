"""Schedules: triggers that start runs (docs/automation.md, "Schedules").

A schedule says what its runs do (prompt, model, mode, approval policy, pre-granted patterns, a
new session each time or one continued) and when: a cron expression in an IANA time zone
(evaluated by `cronsim <https://github.com/cuu508/cronsim>`_, which follows Debian cron on
daylight-saving changes), every N seconds, or once at a time.

:class:`Scheduler` keeps them in the store and, on a server that dispatches, fires them:

- **Exactly once.** Each fire is a row keyed on (schedule, fire time), inserted before anything
  else (:func:`cowork.store.schedules.take_fire`): a restart or a second server on the same store
  never fires a time twice.
- **Missed fires** (more than :data:`MISSED_GRACE` late: no server ran at the time) follow the
  schedule's ``missed`` policy — ``skip`` them, run ``once`` for the latest, or run ``each`` (at
  most :data:`MAX_EACH`, the latest) — and every skipped fire is recorded with its reason.
- **Overlap** with the schedule's previous run still queued or running follows ``overlap``:
  ``skip`` (recorded), ``queue`` it behind, or ``cancel`` the previous run.
- A paused schedule does not accumulate missed fires: resuming starts from the moment it resumes.

The clock is injectable (``clock``) and :meth:`Scheduler.tick` runs one round for a given time,
so the policies are tested without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import TypeAdapter, ValidationError

from .._util.timezones import local_zone
from ..config import cowork_home
from ..policy.workspaces import check_workspace
from ..protocol import RunInfo, utc_now
from ..protocol.runs import Deliver
from ..protocol.schedules import AtTrigger, CronTrigger, EveryTrigger, ScheduleFire, ScheduleInfo, Trigger
from ..store import NotFound, new_id
from ..store import runs as run_records
from ..store import schedules as records
from ..store.models import ScheduleFireRow, ScheduleRow
from . import templates
from .delivery import checked_deliver
from .runs import Runs, check_run_settings
from .templates import PreviousRun

log = logging.getLogger(__name__)

MISSED_GRACE = timedelta(seconds=60)
"""A fire dealt with later than this after its time was missed (no server ran then)."""

MAX_EACH = 10
"""With ``missed: each``, at most this many missed fires run (the latest); older ones are skipped."""

MAX_FIRES_PER_ROUND = 1000
"""Fire times one schedule deals with in one round (the next round goes on from there). When a
round is full, more missed fires follow, so none of its missed fires runs (``once`` and ``each``
run only from the last round)."""

NEXT_SHOWN = 5
"""How many next fire times a schedule shows."""

MAX_SLEEP_S = 30.0
"""The scheduler looks again at least this often (schedules other servers changed)."""

_TRIGGER: TypeAdapter[Trigger] = TypeAdapter(Trigger)


def parse_trigger(data: Any) -> Trigger:
    """A trigger from its JSON form. Raises ValueError (not a trigger, a bad cron expression or time zone)."""
    try:
        trigger = _TRIGGER.validate_python(data)
    except ValidationError as exc:
        raise ValueError(f"not a trigger ({{cron, timezone}}, {{every}} or {{at}}): {exc.errors()[0]['msg']}") from None
    if isinstance(trigger, CronTrigger):
        _zone(trigger.timezone)
        try:
            CronSim(trigger.cron, datetime.now(UTC))
        except CronSimError as exc:
            raise ValueError(f"bad cron expression {trigger.cron!r}: {exc}") from None
    return trigger


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin, or UTC)") from None


def fire_times(trigger: Trigger, anchor: datetime, after: datetime, until: datetime | None = None,
               limit: int = NEXT_SHOWN) -> list[datetime]:
    """The trigger's fire times strictly after ``after`` and not after ``until`` (None: no end),
    at most ``limit``, in UTC. ``anchor``: where an ``every`` trigger counts from."""
    out: list[datetime] = []
    if isinstance(trigger, CronTrigger):
        for local in CronSim(trigger.cron, after.astimezone(_zone(trigger.timezone))):
            t = local.astimezone(UTC)
            if (until is not None and t > until) or len(out) >= limit:
                break
            out.append(t)
    elif isinstance(trigger, EveryTrigger):
        step = timedelta(seconds=trigger.every)
        k = max(1, math.floor((after - anchor) / step) + 1)
        while len(out) < limit:
            t = anchor + k * step
            if t <= after:
                k += 1
                continue
            if until is not None and t > until:
                break
            out.append(t)
            k += 1
    elif after < trigger.at.astimezone(UTC) and (until is None or trigger.at <= until) and limit > 0:
        out.append(trigger.at.astimezone(UTC))
    return out


def describe(trigger: Trigger) -> str:
    """The trigger in words."""
    if isinstance(trigger, CronTrigger):
        words = CronSim(trigger.cron, datetime.now(UTC)).explain()
        return f"{words} ({trigger.timezone})"
    if isinstance(trigger, EveryTrigger):
        s = trigger.every
        unit = next(((s / n, u) for n, u in ((86400, "day"), (3600, "hour"), (60, "minute")) if s % n == 0), (s, "second"))
        return f"Every {unit[0]:g} {unit[1]}{'' if unit[0] == 1 else 's'}"
    return f"Once at {trigger.at.isoformat()}"


class Scheduler:
    """The schedules of one server, over its :class:`Runs` (see the module docstring).
    ``dispatch``: this server fires them (call :meth:`start`); ``clock``: now, aware."""

    def __init__(self, runs: Runs, *, dispatch: bool = True, clock: Callable[[], datetime] = utc_now) -> None:
        self.runs = runs
        self.store = runs.runtime.store
        self.dispatch = dispatch
        self.clock = clock
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.dispatch and self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="cowork scheduler")

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
                due = await records.next_due(self.store)
            except Exception:  # a locked or vanished database: look again later
                log.exception("firing schedules failed")
                due = None
            delay = MAX_SLEEP_S if due is None else min(MAX_SLEEP_S, max(0.05, (due - self.clock()).total_seconds()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    # -- what clients call ----------------------------------------------------------------------

    async def create(self, workspace: Path, prompt: str, trigger: Any, *, model: str | None = None,
                     mode: str = "default", overlap: str = "skip", missed: str = "once", approvals: str = "wait",
                     approval_timeout: float = 1800.0, allow: list[str] | None = None, session: str = "new",
                     enabled: bool = True, deliver: dict[str, Any] | None = None) -> ScheduleInfo:
        """A new schedule. Raises ValueError (a bad trigger, an `at` in the past, a bad pattern,
        mode or policy, an empty prompt), UnsafeWorkspace, ModelConfigError."""
        parsed = parse_trigger(trigger)
        now = self.clock()
        if isinstance(parsed, AtTrigger) and parsed.at <= now:
            raise ValueError(f"{parsed.at.isoformat()} is in the past")
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        templates.check(prompt)
        check_run_settings(mode=mode, approvals=approvals, session=session, allow=allow, model=model,
                           overlap=(overlap, ("skip", "queue", "cancel")), missed=(missed, ("skip", "once", "each")))
        deliver = checked_deliver(deliver)
        workspace = check_workspace(workspace, cowork_home())
        row = ScheduleRow(id=new_id("sched"), workspace=str(workspace), prompt=prompt, model=model, mode=mode,
                          trigger=parsed.model_dump(mode="json"), overlap=overlap, missed=missed, approvals=approvals,
                          approval_timeout=approval_timeout, allow=list(dict.fromkeys(allow or ())), session=session,
                          enabled=enabled, deliver=deliver, anchor=now, last_fire_at=now,
                          next_fire_at=_first(fire_times(parsed, now, now, None, 1)) if enabled else None,
                          created_at=now, updated_at=now)
        await records.add_schedule(self.store, row)
        self._wake.set()
        return await self.get(row.id)

    async def get(self, schedule_id: str) -> ScheduleInfo:
        """Raises NotFound."""
        return self._info(await records.get_schedule(self.store, schedule_id))

    async def list(self, workspace: str | None = None) -> list[ScheduleInfo]:
        return [self._info(r) for r in await records.list_schedules(self.store, workspace)]

    async def set_enabled(self, schedule_id: str, enabled: bool) -> ScheduleInfo:
        """Pause or resume. Resuming counts from now: what fell in the pause is not "missed".
        Raises NotFound."""
        row = await records.get_schedule(self.store, schedule_id)
        now = self.clock()
        if enabled and not row.enabled:
            trigger = parse_trigger(row.trigger)
            anchor = now if isinstance(trigger, EveryTrigger) else row.anchor
            nxt = _first(fire_times(trigger, anchor, now, None, 1))
            await records.update_schedule(self.store, schedule_id, enabled=True, anchor=anchor, last_fire_at=now,
                                          next_fire_at=nxt, updated_at=now)
        elif not enabled and row.enabled:
            await records.update_schedule(self.store, schedule_id, enabled=False, next_fire_at=None, updated_at=now)
        self._wake.set()
        return await self.get(schedule_id)

    async def delete(self, schedule_id: str) -> None:
        """Remove a schedule and its fire history (its runs and sessions stay). Raises NotFound."""
        await records.delete_schedule(self.store, schedule_id)

    async def run_now(self, schedule_id: str) -> RunInfo:
        """Start one run of the schedule now (queued behind a previous one still going).
        Raises NotFound, ValueError (the run could not be queued)."""
        row = await records.get_schedule(self.store, schedule_id)
        now = self.clock()
        await records.take_fire(self.store, ScheduleFireRow(schedule_id=row.id, scheduled_for=now,
                                                            note="run now, by a person", created_at=now))
        run = await self._start(row, now, "run now, by a person", overlap="queue")
        if run is None:
            fire = (await records.fires(self.store, row.id, 1))[0]
            raise ValueError(fire.skipped or "the run could not be queued")
        return run

    async def history(self, schedule_id: str, limit: int = 50) -> list[ScheduleFire]:
        """The schedule's fires, newest first, with their runs' states. Raises NotFound."""
        await records.get_schedule(self.store, schedule_id)
        rows = await records.fires(self.store, schedule_id, limit)
        states: dict[str, str] = {}
        for f in rows:
            if f.run_id:
                with contextlib.suppress(Exception):  # a run whose session was deleted since
                    states[f.run_id] = (await self.runs.get(f.run_id)).state
        return [ScheduleFire(scheduled_for=f.scheduled_for, outcome="started" if f.run_id else "skipped",
                             reason=f.skipped or f.note, run_id=f.run_id, run_state=states.get(f.run_id or ""),  # type: ignore[arg-type]
                             created_at=f.created_at) for f in rows]

    # -- firing ---------------------------------------------------------------------------------

    async def tick(self, now: datetime | None = None) -> None:
        """One round: deal with every fire that is due at ``now`` (default: the clock)."""
        now = now or self.clock()
        for row in await records.due_schedules(self.store, now):
            try:
                await self._due(row, now)
            except Exception:
                log.exception("schedule %s could not fire", row.id)

    async def _due(self, row: ScheduleRow, now: datetime) -> None:
        trigger = parse_trigger(row.trigger)
        after = row.last_fire_at or row.anchor
        times = fire_times(trigger, row.anchor, after, now, MAX_FIRES_PER_ROUND)
        late = [t for t in times if now - t > MISSED_GRACE]
        plan: list[tuple[datetime, str | None, str | None]] = []  # (time, skipped because, note)
        when = f"no cowork server was running at that time ({row.missed!r} policy)"
        more = len(times) == MAX_FIRES_PER_ROUND  # more missed fires follow: none of these is the latest
        if more and row.missed != "skip":
            why = "the latest missed fire ran instead" if row.missed == "once" else f"more than {MAX_EACH} were missed"
            plan += [(t, f"missed: {when}; {why}", None) for t in late]
            late = []
        if row.missed == "skip":
            plan += [(t, f"missed: {when}", None) for t in late]
        elif row.missed == "once":
            plan += [(t, f"missed: {when}; the latest missed fire ran instead", None) for t in late[:-1]]
            plan += [(t, None, f"missed: started {_late(now - t)} late, once for {len(late)} missed fire(s)")
                     for t in late[-1:]]
        else:
            plan += [(t, f"missed: {when}; more than {MAX_EACH} were missed", None) for t in late[:-MAX_EACH]]
            plan += [(t, None, f"missed: started {_late(now - t)} late") for t in late[-MAX_EACH:]]
        plan += [(t, None, None) for t in times if now - t <= MISSED_GRACE]
        for t, skipped, note in plan:
            fire = ScheduleFireRow(schedule_id=row.id, scheduled_for=t, skipped=skipped, note=note, created_at=now)
            if await records.take_fire(self.store, fire) and skipped is None:
                row = await records.get_schedule(self.store, row.id)  # a continued session may be known now
                await self._start(row, t, note)
        last = times[-1] if times else after
        nxt = _first(fire_times(trigger, row.anchor, last, None, 1))
        done = {} if nxt is not None else {"enabled": False}  # an `at` schedule that fired
        await records.update_schedule(self.store, row.id, last_fire_at=last, next_fire_at=nxt, updated_at=now, **done)

    async def _start(self, row: ScheduleRow, t: datetime, note: str | None,
                     overlap: str | None = None) -> RunInfo | None:
        """Queue the fire's run (its fire row taken), per the overlap policy; None when skipped."""
        overlap = overlap or row.overlap
        going = await run_records.list_runs(self.store, states=["queued", "running"], trigger=row.id, limit=100)
        if going and overlap == "skip":
            await records.set_fire(self.store, row.id, t, skipped=f"overlap: the previous run {going[0].id} was "
                                   f"still {going[0].state} ('skip' policy)")
            return None
        if going and overlap == "cancel":
            for previous in going:
                await self.runs.cancel(previous.id)
            note = (note + "; " if note else "") + f"cancelled the previous run {going[0].id} ('cancel' policy)"
        try:
            prompt = await self._prompt(row, t)
            run = await self.runs.submit_for(row, prompt, "schedule")
        except Exception as exc:  # the workspace is gone, its session was deleted, a model without a key…
            await records.set_fire(self.store, row.id, t, skipped=f"the run could not be queued: {exc}")
            return None
        if row.session == "continue" and row.session_id is None:
            await records.update_schedule(self.store, row.id, session_id=run.session_id)
        await records.set_fire(self.store, row.id, t, run_id=run.id, note=note)
        return run

    async def _prompt(self, row: ScheduleRow, t: datetime) -> str:
        """The schedule's prompt template rendered for the fire at ``t`` (:mod:`.templates`)."""
        if "{" not in row.prompt:
            return row.prompt
        zone = ZoneInfo(getattr(parse_trigger(row.trigger), "timezone", None) or local_zone())
        prev = None
        for fire in await records.fires(self.store, row.id, 20):  # the newest earlier fire that started a run
            if fire.run_id and fire.scheduled_for < t:
                try:
                    state = (await run_records.get_run(self.store, fire.run_id)).state
                except NotFound:  # its session was deleted since
                    state = "deleted"
                prev = PreviousRun(fire.scheduled_for.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"), state)
                break
        return templates.render(row.prompt, templates.variables(t, zone, row.workspace, prev))

    def _info(self, row: ScheduleRow) -> ScheduleInfo:
        trigger = parse_trigger(row.trigger)
        start = max(row.last_fire_at or row.anchor, self.clock())
        upcoming = fire_times(trigger, row.anchor, start, None, NEXT_SHOWN) if row.enabled else []
        return ScheduleInfo(id=row.id, workspace=row.workspace, prompt=row.prompt, model=row.model,
                            mode=row.mode, trigger=trigger, description=describe(trigger),  # type: ignore[arg-type]
                            overlap=row.overlap, missed=row.missed, approvals=row.approvals,  # type: ignore[arg-type]
                            approval_timeout=row.approval_timeout, allow=list(row.allow or []),
                            session=row.session, session_id=row.session_id, enabled=row.enabled,  # type: ignore[arg-type]
                            deliver=Deliver.model_validate(row.deliver) if row.deliver else None, next_fires=upcoming, last_fire_at=row.last_fire_at, created_at=row.created_at,
                            updated_at=row.updated_at)


def _first(times: list[datetime]) -> datetime | None:
    return times[0] if times else None


def _late(delay: timedelta) -> str:
    minutes = int(delay.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


__all__ = ["MAX_EACH", "MISSED_GRACE", "Scheduler", "describe", "fire_times", "parse_trigger"]
