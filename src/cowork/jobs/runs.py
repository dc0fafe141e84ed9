"""Runs: turns started without a person at the keyboard, queued in the store (docs/automation.md).

:class:`Runs` is the queue and its dispatcher, over a :class:`~cowork.engine.Runtime`:

- :meth:`Runs.submit` creates (or continues) the run's session, gives it the run's pre-granted
  rules, and writes a ``queued`` row; it returns at once.
- The dispatcher (only on a server that dispatches: ``cowork serve``, not the CLI's in-process
  server, which stops when its command ends) starts queued runs oldest first while the limits
  allow (:class:`RunLimits`, counted over every server of the store). A run is claimed by a
  compare-and-set on its row, so two servers never both start it, and its turn is started with
  the run's id as ``client_message_id``, so a run claimed again after a crash never starts a
  second turn.
- A watcher follows each running run's session: it applies the run's approval policy to every
  ``approval.requested`` of the run's turn (``deny``: answered at once; ``wait``: answered with a
  deny at its deadline unless someone answered first; both journaled with ``answered_by: "run
  policy"`` and a reason the model reads), and records how the turn ended.
- On start, runs left ``running`` by a stopped server are settled: an ended turn gives the run its
  end, a turn still running (resumed while waiting for an approval) is watched again, a run claimed
  but never started goes back to the queue.

The engine knows nothing of runs (``engine`` never imports ``jobs``): a run is an ordinary turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..engine import ApprovalNotPending, TurnInProgress
from ..policy import MODES
from ..policy.rules import session_rule
from ..providers import parse_model
from ..protocol.runs import Deliver, DeliveryStatus
from ..protocol import (
    ENDED_RUN_STATES, ApprovalRequested, ApprovalResolved, AssistantMessage, Event, EventAdapter, ItemCompleted,
    RunInfo, TurnCompleted, TurnFailed, TurnInterrupted, is_terminal, utc_now,
)
from ..store import new_id
from ..store import runs as records
from ..store.models import RunRow, ScheduleRow, WebhookRow
from .delivery import Deliveries
from .run_feed import RunFeed

if TYPE_CHECKING:
    from ..engine import Runtime

log = logging.getLogger(__name__)

POLICY = "run policy"
"""``answered_by`` of the approvals a run's policy answered."""

CANCEL_WAIT_S = 10.0
"""How long ``cancel`` waits for a running run to end before it answers (the run goes on ending)."""

MAX_RESULT_CHARS = 20_000
"""Longest ``result`` kept (the turn's last answer), in characters."""


@dataclass(frozen=True)
class RunLimits:
    """How many runs may run at once, over every server of the store: ``total`` and per
    workspace; ``poll_seconds``: how often the dispatcher looks for runs other servers queued.
    From ``$COWORK_MAX_RUNS`` (default 4) and ``$COWORK_MAX_RUNS_PER_WORKSPACE`` (default 1)."""

    total: int = 4
    per_workspace: int = 1
    poll_seconds: float = 2.0

    @classmethod
    def from_env(cls) -> RunLimits:
        """Raises ValueError for a value that is not a whole number ≥ 1."""
        def number(name: str, default: int) -> int:
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit() or int(raw) < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {raw!r}")
            return int(raw)

        return cls(number("COWORK_MAX_RUNS", cls.total), number("COWORK_MAX_RUNS_PER_WORKSPACE", cls.per_workspace))


class Runs:
    """The run queue of one server (see the module docstring). ``dispatch``: this server starts
    queued runs (call :meth:`start`); without it, submissions wait in the store for a server that
    does."""

    def __init__(self, runtime: Runtime, *, dispatch: bool = True, limits: RunLimits | None = None,
                 deliveries: Deliveries | None = None) -> None:
        self.runtime = runtime
        self.dispatch = dispatch
        self.limits = limits or RunLimits()
        self.deliveries = deliveries or Deliveries(runtime.store, self.get)
        self.deliveries.on_change = self._touch
        self.feed = RunFeed(runtime.store, self.get)
        """Who is told about run changes (``run/subscribe``)."""
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id('srv')}"
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Settle the runs a stopped server left running, then dispatch (when this server does)."""
        if not self.dispatch or self._loop is not None:
            return
        await self._settle()
        await self.deliveries.start()
        self._loop = asyncio.create_task(self._dispatch(), name="cowork runs")

    async def close(self) -> None:
        """Stop dispatching and watching; runs keep their rows (the next start settles them)."""
        tasks = [t for t in (self._loop, *self._watchers.values(), *self._timers.values(), *self._tasks)
                 if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None
        self._watchers.clear()
        self._timers.clear()
        await self.deliveries.close()
        await self.feed.close()

    # -- what clients call ----------------------------------------------------------------------

    async def submit(self, workspace: Path, prompt: str, *, model: str | None = None, mode: str | None = None,
                     title: str | None = None, session_id: str | None = None, approvals: str = "wait",
                     approval_timeout: float = 1800.0, allow: list[str] | None = None,
                     reason: str = "person", trigger: str | None = None,
                     deliver: Deliver | dict[str, Any] | None = None) -> RunInfo:
        """Queue a run and return it (``queued``). Its session is new (``model``, ``mode``,
        ``title``) or ``session_id``'s (of the same workspace); ``allow`` patterns are added to the
        session's "always" patterns; ``deliver``: where its outcome goes (:mod:`.delivery`). Raises
        ValueError (an empty prompt, a bad pattern, policy or ``deliver``, a session of another
        workspace), UnsafeWorkspace, ModelConfigError, NotFound."""
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        if approvals not in ("deny", "wait"):
            raise ValueError(f"approvals must be deny or wait, not {approvals!r}")
        if deliver is not None and not isinstance(deliver, Deliver):
            try:
                deliver = Deliver.model_validate(deliver)
            except ValidationError as exc:
                raise ValueError(f"bad deliver: {exc.errors()[0]['msg']}") from None
        patterns = list(dict.fromkeys(allow or ()))
        for pattern in patterns:
            session_rule(pattern)  # raises ValueError for a pattern the policy cannot read
        if session_id is not None:
            session = await self.runtime.get_session(session_id)
            if Path(session.workspace) != workspace.resolve():
                raise ValueError(f"session {session_id} is of {session.workspace}, not {workspace}")
        else:
            session = await self.runtime.create_session(
                workspace, model, mode or "default", title or _title(prompt))
        if patterns:
            granted = await self.runtime.allowed_tools(session.id)
            await self.runtime.store.update_session(session.id, allowed_tools=sorted({*granted, *patterns}))
        row = RunRow(id=new_id("run"), session_id=session.id, workspace=session.workspace, prompt=prompt,
                     state="queued", reason=reason, trigger=trigger, approvals=approvals,
                     approval_timeout=approval_timeout, cancel_requested=False, warnings=[],
                     deliver=deliver.model_dump(mode="json") if deliver is not None else None, created_at=utc_now())
        await records.add_run(self.runtime.store, row)
        self.feed.changed(row.id)
        self._wake.set()
        return await self.get(row.id)

    async def submit_for(self, source: ScheduleRow | WebhookRow, prompt: str, reason: str) -> RunInfo:
        """Queue a run of a schedule or webhook (``reason``): its workspace, model, mode, session,
        approval policy, pre-granted patterns and delivery, with ``prompt`` rendered from its
        template. Raises as :meth:`submit`."""
        return await self.submit(Path(source.workspace), prompt, model=source.model, mode=source.mode,
                                 session_id=source.session_id if source.session == "continue" else None,
                                 approvals=source.approvals, approval_timeout=source.approval_timeout,
                                 allow=list(source.allow or []), reason=reason, trigger=source.id,
                                 deliver=source.deliver)

    async def get(self, run_id: str) -> RunInfo:
        """Raises NotFound."""
        return (await self._infos([await records.get_run(self.runtime.store, run_id)]))[0]

    async def list(self, *, workspace: str | None = None, states: list[str] | None = None,
                   limit: int = 50) -> list[RunInfo]:
        """Runs, newest first (``waiting_for_approval`` is a running run whose turn waits)."""
        stored = [s for s in states or () if s != "waiting_for_approval"]
        if states and "waiting_for_approval" in states and "running" not in stored:
            stored.append("running")
        rows = await records.list_runs(self.runtime.store, workspace=workspace, states=stored, limit=limit)
        infos = await self._infos(rows)
        return [i for i in infos if not states or i.state in states]

    async def cancel(self, run_id: str) -> RunInfo:
        """Cancel a queued run (it never starts) or a running one (its turn is interrupted and the
        run ends ``cancelled``); an ended run is returned as it is. Raises NotFound."""
        store = self.runtime.store
        row = await records.get_run(store, run_id)
        if row.state == "queued" and await self._transition(
                run_id, "queued", state="cancelled", ended_at=utc_now(), error="cancelled before it started"):
            return await self.get(run_id)
        if await self._transition(run_id, "running", cancel_requested=True):
            await self._interrupt(row.session_id, row.turn_id)  # its turn runs here; else its server sees the request
            with contextlib.suppress(TimeoutError):
                return await self.wait(run_id, CANCEL_WAIT_S)
        return await self.get(run_id)

    async def wait(self, run_id: str, timeout: float | None = None) -> RunInfo:
        """The run once it has ended (polls its row every 50 ms). Raises NotFound, TimeoutError."""
        async with asyncio.timeout(timeout):
            while True:
                info = await self.get(run_id)
                if info.state in ENDED_RUN_STATES:
                    return info
                await asyncio.sleep(0.05)

    # -- changes --------------------------------------------------------------------------------

    async def _transition(self, run_id: str, expected: str | list[str], **fields: Any) -> bool:
        """:func:`cowork.store.runs.transition`, told to the run's watchers when it happened."""
        done = await records.transition(self.runtime.store, run_id, expected, **fields)
        if done:
            self.feed.changed(run_id)
        return done

    async def _touch(self, run_id: str) -> None:
        """Something the run shows outside its row changed (an approval, a delivery)."""
        try:
            await records.touch(self.runtime.store, run_id)
        except Exception:  # told anyway: a client reads the run as it stands
            log.exception("recording a change of run %s failed", run_id)
        self.feed.changed(run_id)

    # -- dispatching ----------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._fill()
            except Exception:  # a locked or vanished database: try again at the next poll
                log.exception("dispatching runs failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.limits.poll_seconds)

    async def _fill(self) -> None:
        """Start queued runs, oldest first, while the limits allow."""
        store = self.runtime.store
        for row in await records.list_runs(store, states=["running"], limit=1000):
            if row.owner == self.owner and row.cancel_requested:
                await self._interrupt(row.session_id, row.turn_id)  # cancelled through another server
        total, per = await records.running_counts(store)
        for row in await records.queued_runs(store):
            if total >= self.limits.total:
                return
            if per.get(row.workspace, 0) >= self.limits.per_workspace:
                continue
            if not await records.claim(store, row.id, self.owner):
                continue  # another server took it
            self.feed.changed(row.id)
            total += 1
            per[row.workspace] = per.get(row.workspace, 0) + 1
            if not await self._start(row):
                total -= 1
                per[row.workspace] -= 1

    async def _start(self, row: RunRow) -> bool:
        """Start a claimed run's turn and watch it; False when it went back to the queue."""
        store = self.runtime.store
        try:
            after = await self.runtime.last_seq(row.session_id)
            started = await self.runtime.start_turn(row.session_id, row.prompt, client_message_id=row.id)
        except TurnInProgress:  # a person's turn runs in that session: try again later
            await self._transition(row.id, "running", state="queued", owner=None, started_at=None)
            return False
        except Exception as exc:  # no such session any more, a missing API key, an unsafe workspace…
            await self._transition(row.id, "running", state="failed", ended_at=utc_now(),
                                   error=f"the run could not start: {exc}")
            return True
        await self._transition(row.id, "running", turn_id=started.turn_id)
        self._watch(row.id, row.session_id, started.turn_id, after)
        if (await records.get_run(store, row.id)).cancel_requested:  # cancelled while its turn was starting
            await self._interrupt(row.session_id, started.turn_id)
        return True

    async def _interrupt(self, session_id: str, turn_id: str | None) -> None:
        """Interrupt the run's turn if it runs here (never another turn of its session)."""
        if turn_id is not None and self.runtime.running_turn(session_id) == turn_id:
            await self.runtime.interrupt(session_id)

    def _watch(self, run_id: str, session_id: str, turn_id: str, after_seq: int) -> None:
        task = asyncio.create_task(self._follow(run_id, session_id, turn_id, after_seq), name=f"cowork run {run_id}")
        self._watchers[run_id] = task
        task.add_done_callback(lambda _t: (self._watchers.pop(run_id, None), self._wake.set()))

    async def _follow(self, run_id: str, session_id: str, turn_id: str, after_seq: int) -> None:
        """Apply the run's approval policy to its turn, then record the turn's end."""
        row = await records.get_run(self.runtime.store, run_id)
        last_text: str | None = None
        try:
            async for event in self.runtime.subscribe(session_id, after_seq):
                if event.turn_id != turn_id:
                    continue
                if isinstance(event, ApprovalRequested):
                    self._police(row, event)
                    await self._touch(run_id)  # it waits for a person now
                elif isinstance(event, ApprovalResolved):
                    timer = self._timers.pop(event.approval_id, None)
                    if timer is not None:
                        timer.cancel()
                    await self._touch(run_id)
                elif isinstance(event, ItemCompleted) and isinstance(event.item, AssistantMessage):
                    last_text = event.item.text
                elif is_terminal(event):
                    await self._end(run_id, event, last_text)
                    return
        finally:
            for approval_id in [a for a, t in self._timers.items() if t.get_name() == run_id]:
                self._timers.pop(approval_id).cancel()

    def _police(self, row: RunRow, asked: ApprovalRequested) -> None:
        """Answer (now, or at the deadline) an approval the run's turn asked for."""
        if row.approvals == "deny":
            reason = "nobody was asked: this run is unattended and its approval policy is deny"
            delay = 0.0
        else:
            reason = (f"nobody answered within {row.approval_timeout:g} s (this run's approval policy is wait)")
            delay = max(0.0, asked.ts.timestamp() + row.approval_timeout - utc_now().timestamp())
            if row.deliver:  # tell the person it waits (once per run)
                self._spawn(self._deliver(row.id, "waiting"))
        self._timers[asked.approval_id] = asyncio.create_task(self._deny_after(asked.approval_id, delay, reason),
                                                              name=row.id)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, run_id: str, event: str) -> None:
        try:
            await self.deliveries.enqueue(await self.get(run_id), event)
        except Exception:  # the run's outcome is recorded either way
            log.exception("recording the deliveries of run %s failed", run_id)

    async def _deny_after(self, approval_id: str, delay: float, reason: str) -> None:
        await asyncio.sleep(delay)
        with contextlib.suppress(ApprovalNotPending, ValueError):  # answered meanwhile, or its turn ended
            await self.runtime.answer_approval(approval_id, "deny", reason, answered_by=POLICY)
        self._timers.pop(approval_id, None)

    async def _end(self, run_id: str, event: object, last_text: str | None) -> None:
        store = self.runtime.store
        row = await records.get_run(store, run_id)
        fields: dict[str, object] = {"ended_at": utc_now(), "result": (last_text or "")[:MAX_RESULT_CHARS] or None}
        if isinstance(event, TurnCompleted):
            fields |= {"state": "completed", "stop_reason": event.stop_reason,
                       "warnings": [w.message for w in event.warnings]}
        elif isinstance(event, TurnFailed):
            fields |= {"state": "failed", "error": f"{event.error.code}: {event.error.message}"}
        elif isinstance(event, TurnInterrupted):
            cancelled = row.cancel_requested
            fields |= {"state": "cancelled" if cancelled else "interrupted", "error": event.reason}
        if await self._transition(run_id, "running", **fields) and row.deliver:
            await self._deliver(run_id, "ended")

    async def _settle(self) -> None:
        """Runs left ``running`` (by this store's servers that stopped): end, watch or requeue them."""
        store = self.runtime.store
        for row in await records.list_runs(store, states=["running"], limit=10_000):
            if row.turn_id is None:
                if row.cancel_requested:
                    await self._transition(row.id, "running", state="cancelled", ended_at=utc_now(),
                                           error="cancelled before it started")
                else:  # claimed, never started (its turn/start carries the run's id: no second turn)
                    await self._transition(row.id, "running", state="queued", owner=None, started_at=None)
                continue
            status = await store.get_turn_status(row.turn_id)
            if status is not None and status[1] == "running":
                self._watch(row.id, row.session_id, row.turn_id, 0)
            else:
                await self._end_from_journal(row)

    async def _end_from_journal(self, row: RunRow) -> None:
        """Record the end of a run whose turn ended while nobody watched (or never started)."""
        assert row.turn_id is not None
        last_text: str | None = None
        end: object | None = None
        async for event in _turn_events(self.runtime, row.session_id, row.turn_id):
            if isinstance(event, ItemCompleted) and isinstance(event.item, AssistantMessage):
                last_text = event.item.text
            elif is_terminal(event):
                end = event
        if end is not None:
            await self._end(row.id, end, last_text)
        else:
            await self._transition(row.id, "running", state="interrupted", ended_at=utc_now(),
                                   error="its turn left no end in the journal")

    async def _infos(self, rows: list[RunRow]) -> list[RunInfo]:
        running = [r.session_id for r in rows if r.state == "running"]
        counts = await self.runtime.approvals.pending(running) if running else {}
        sent = await self.deliveries.statuses([r.id for r in rows if r.deliver])
        return [_info(r, counts.get(r.session_id, 0) if r.state == "running" else 0, sent.get(r.id, []))
                for r in rows]


async def _turn_events(runtime: Runtime, session_id: str, turn_id: str) -> AsyncIterator[Event]:
    """The journaled events of one turn (reads the session's journal a page at a time)."""
    after = 0
    while True:
        page = await runtime.journal_page(session_id, after)
        if not page:
            return
        for stored in page:
            if turn_id in stored.data:  # cheap filter before parsing
                event = EventAdapter.validate_json(stored.data)
                if event.turn_id == turn_id:
                    yield event
        after = page[-1].seq


def check_run_settings(*, mode: str, approvals: str, session: str, allow: list[str] | None, model: str | None,
                       **choices: tuple[str, tuple[str, ...]]) -> None:
    """Check what a schedule or webhook gives each of its runs (and its own ``choices``: name →
    (value, allowed values)). Raises ValueError naming the field, ModelConfigError."""
    named = {"mode": (mode, MODES), "approvals": (approvals, ("deny", "wait")),
             "session": (session, ("new", "continue")), **choices}
    for name, (value, allowed) in named.items():
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    for pattern in allow or ():
        session_rule(pattern)
    if model:
        parse_model(model)


def _title(prompt: str) -> str:
    first = prompt.strip().splitlines()[0]
    return "Run: " + (first if len(first) <= 60 else first[:59] + "…")


def _info(row: RunRow, pending: int, deliveries: list[DeliveryStatus]) -> RunInfo:
    state = "waiting_for_approval" if row.state == "running" and pending else row.state
    return RunInfo(id=row.id, session_id=row.session_id, workspace=row.workspace, prompt=row.prompt,
                   state=state, reason=row.reason, trigger=row.trigger, approvals=row.approvals,  # type: ignore[arg-type]
                   approval_timeout=row.approval_timeout, turn_id=row.turn_id, pending_approvals=pending,
                   stop_reason=row.stop_reason, error=row.error, result=row.result, warnings=list(row.warnings or []),
                   deliver=Deliver.model_validate(row.deliver) if row.deliver else None, deliveries=deliveries,
                   created_at=row.created_at, started_at=row.started_at, ended_at=row.ended_at,
                   updated_at=row.updated_at)


__all__ = ["POLICY", "RunLimits", "Runs", "check_run_settings"]
