"""Approvals: where pending approvals wait (the channel) and how a turn asks (the broker).

:class:`ApprovalChannel` is the only place a pending approval lives between the question and its
answer. The turn that asks and the client that answers may be in different processes: the channel
is what they share. :class:`InMemoryApprovalChannel` serves one process (the runtime and the tests
use it today); a database-backed channel (PostgreSQL LISTEN/NOTIFY) lets a worker on another
machine wait on an approval answered through any server.

The first answer wins; a second answer, or an answer to an unknown id, raises
:class:`ApprovalNotPending`; an answer the request does not offer (``session`` for a hard deny)
raises ValueError.

:class:`ApprovalBroker` is a turn's single way to ask: :meth:`ApprovalBroker.ask` journals the
request (``approval.requested``), opens it in the channel, arms the timeout (a deny after
``approval_timeout`` seconds), and returns a :class:`Ticket` whose :meth:`Ticket.answer` waits and
journals ``approval.resolved`` once. A turn resumed after a restart asks again with the journaled
request (nothing new journaled, the timeout counted from the original request) or with the answer
given meanwhile.

A plan approval (the request of a tool whose traits say it proposes a plan, rule :data:`PLAN_RULE`)
is opened with ``plan=True``: only its answer may carry a :class:`PlanAnswer` (the steps as the
person edited them, the mode to carry the plan out in); any other approval refuses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..protocol import ApprovalDecision, ApprovalRequested, ApprovalResolved, ToolCall
from ..store import new_id

_ALL: tuple[ApprovalDecision, ...] = ("once", "session", "deny")

Answer = tuple[ApprovalDecision, "str | None"]
"""``(decision, reason)``: a person's answer to an approval."""

PLAN_RULE = "plan"
"""The ``rule`` of a plan approval's request (what marks it as one after a restart too)."""


@dataclass(frozen=True)
class PlanAnswer:
    """What a person's approval of a proposed plan may add.

    Attributes:
        steps: the plan as the person edited it (replaces the model's steps), or None: as proposed.
        mode: the mode the session switches to for carrying the plan out, or None: ``default``.
    """

    steps: tuple[str, ...] | None = None
    mode: str | None = None


def _split(got: tuple[Any, ...]) -> tuple[Answer, PlanAnswer | None, str | None]:
    """A channel's answer — ``(decision, reason)``, optionally followed by ``plan`` and
    ``answered_by`` — as ``((decision, reason), plan, answered_by)``."""
    return (got[0], got[1]), (got[2] if len(got) > 2 else None), (got[3] if len(got) > 3 else None)


class ApprovalNotPending(LookupError):
    """No approval with this id is waiting (unknown, already answered, or its turn ended)."""


class ApprovalChannel(Protocol):
    """Where pending approvals wait and are answered (see the module docstring)."""

    async def open(self, approval_id: str, session_id: str, options: Sequence[str] = _ALL) -> None:
        """Start accepting answers to ``approval_id``: ``options`` are the decisions accepted
        (``deny`` always is). A plan approval is opened with the keyword ``plan=True`` as well
        (only then is it passed)."""
        ...

    async def resolve(self, approval_id: str, decision: ApprovalDecision, reason: str | None = None) -> str:
        """Answer a pending approval; returns its session id. An answer to a plan approval may
        add the keyword ``plan`` (a :class:`PlanAnswer`; only then is it passed), and an answer
        whose client is known the keyword ``answered_by`` (who answered, for the journal: e.g.
        ``cowork-web 1``; only then is it passed). Raises
        :class:`ApprovalNotPending`, ValueError (a decision that is not one of the request's
        options, a ``plan`` for an approval that is not a plan's or with a decision other than once)."""
        ...

    async def wait(self, approval_id: str) -> tuple[Any, ...]:
        """The answer to ``approval_id`` once it is given: an :data:`Answer`, with its
        :class:`PlanAnswer` (or None) as a third element and ``answered_by`` as a fourth when
        they were given. Raises :class:`ApprovalNotPending`
        when it is not open."""
        ...

    async def close(self, approval_id: str) -> None:
        """Stop accepting answers to ``approval_id`` (answered, or its turn went on without it)."""
        ...

    async def pending(self, session_ids: Sequence[str]) -> dict[str, int]:
        """How many approvals of each of ``session_ids`` wait for an answer (sessions with none
        may be left out)."""
        ...


class InMemoryApprovalChannel:
    """The approval channel of one process: a future per pending approval.

    Besides the :class:`ApprovalChannel` coroutines it answers synchronously (:meth:`resolve_now`),
    which in-process callers (``Runtime.respond_approval``) use."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[str, asyncio.Future[tuple[Any, ...]], Sequence[str]]] = {}
        self._plans: set[str] = set()  # the pending approvals that are plan approvals

    async def open(self, approval_id: str, session_id: str, options: Sequence[str] = _ALL, *,
                   plan: bool = False) -> None:
        self.open_now(approval_id, session_id, options, plan=plan)

    def open_now(self, approval_id: str, session_id: str, options: Sequence[str] = _ALL, *,
                 plan: bool = False) -> None:
        future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        self._pending[approval_id] = (session_id, future, (*options, "deny"))
        if plan:
            self._plans.add(approval_id)

    async def resolve(self, approval_id: str, decision: ApprovalDecision, reason: str | None = None, *,
                      plan: PlanAnswer | None = None, answered_by: str | None = None) -> str:
        return self.resolve_now(approval_id, decision, reason, plan=plan, answered_by=answered_by)

    def resolve_now(self, approval_id: str, decision: ApprovalDecision, reason: str | None = None, *,
                    plan: PlanAnswer | None = None, answered_by: str | None = None) -> str:
        """:meth:`resolve`, synchronously."""
        if decision not in _ALL:
            raise ValueError(f"decision must be once, session or deny, not {decision!r}")
        entry = self._pending.get(approval_id)
        if entry is None or entry[1].done():
            raise ApprovalNotPending(f"approval {approval_id!r} is not pending")
        if decision not in entry[2]:
            raise ValueError(f"approval {approval_id!r} offers {', '.join(dict.fromkeys(entry[2]))}, not {decision!r}")
        if plan is not None:
            if approval_id not in self._plans:
                raise ValueError(f"approval {approval_id!r} is not a plan's: an edited plan or a mode to carry "
                                 "it out in answers a plan approval only")
            if decision != "once":
                raise ValueError(f"an edited plan or a mode goes with decision 'once', not {decision!r}")
        answer: tuple[Any, ...] = (decision, reason)
        if plan is not None or answered_by is not None:
            answer += (plan,) if answered_by is None else (plan, answered_by)
        entry[1].set_result(answer)
        return entry[0]

    async def wait(self, approval_id: str) -> tuple[Any, ...]:
        entry = self._pending.get(approval_id)
        if entry is None:
            raise ApprovalNotPending(f"approval {approval_id!r} is not pending")
        return await asyncio.shield(entry[1])

    async def close(self, approval_id: str) -> None:
        self._pending.pop(approval_id, None)
        self._plans.discard(approval_id)

    async def pending(self, session_ids: Sequence[str]) -> dict[str, int]:
        wanted = set(session_ids)
        counts: dict[str, int] = {}
        for session_id, future, _ in self._pending.values():
            if session_id in wanted and not future.done():
                counts[session_id] = counts.get(session_id, 0) + 1
        return counts


class Ticket:
    """One question asked: :meth:`answer` waits for it, :meth:`close` stops waiting. ``plan``:
    the :class:`PlanAnswer` the answer carried (a plan approval's), once answered."""

    def __init__(self, broker: ApprovalBroker, approval_id: str, item: ToolCall, answered: Answer | None,
                 deadline: float | None, plan: PlanAnswer | None = None) -> None:
        self.approval_id = approval_id
        self.plan = plan
        self._broker = broker
        self._item = item
        self._answer: asyncio.Future[Answer] | None = None
        self._expiry: asyncio.Task[None] | None = None
        if answered is not None:
            self._answer = asyncio.get_running_loop().create_future()
            self._answer.set_result(answered)
        else:
            self._answer = asyncio.ensure_future(self._journal_answer())
            if deadline is not None:
                self._expiry = asyncio.ensure_future(self._expire_at(deadline))

    async def _journal_answer(self) -> Answer:
        (decision, reason), self.plan, answered_by = _split(await self._broker.channel.wait(self.approval_id))
        extra: dict[str, Any] = {} if answered_by is None else {"answered_by": answered_by}
        if self.plan is not None:  # journaled once approval.resolved has the fields (docs/protocol.md)
            fields = ApprovalResolved.model_fields
            if self.plan.steps is not None and "edited_plan" in fields:
                extra["edited_plan"] = list(self.plan.steps)
            if self.plan.mode is not None and "mode" in fields:
                extra["mode"] = self.plan.mode
        await self._broker.emit(ApprovalResolved, approval_id=self.approval_id, item_id=self._item.id,
                                decision=decision, reason=reason, **extra)
        return decision, reason

    async def _expire_at(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.time()))
        timeout = self._broker.timeout
        with contextlib.suppress(ApprovalNotPending, ValueError):
            await self._broker.channel.resolve(self.approval_id, "deny", f"no answer within {timeout:g}s")

    async def answer(self) -> Answer:
        """Wait for the person's answer (journaled as ``approval.resolved`` when it comes)."""
        assert self._answer is not None
        self._broker.waiting = self.approval_id
        try:
            return await asyncio.shield(self._answer)
        finally:
            self._broker.waiting = None

    async def close(self) -> None:
        """Stop waiting: the timer stops and the channel no longer accepts answers."""
        if self._expiry is not None:
            self._expiry.cancel()
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()
        await self._broker.channel.close(self.approval_id)
        self._broker._open.discard(self.approval_id)


class ApprovalBroker:
    """A turn's approvals: every question goes through :meth:`ask`.

    ``emit(event_type, **fields)`` journals an event of the turn; ``timeout``: seconds before an
    unanswered approval is a deny (None or 0: never)."""

    def __init__(self, channel: ApprovalChannel, session_id: str,
                 emit: Callable[..., Awaitable[Any]], timeout: float | None) -> None:
        self.channel = channel
        self.session_id = session_id
        self.emit = emit
        self.timeout = timeout or None
        self.waiting: str | None = None
        """The approval whose answer the turn is waiting for right now, if any."""
        self._open: set[str] = set()

    async def ask(self, item: ToolCall, *, reason: str, options: list[str], rule: str | None = None,
                  suggestion: Sequence[str] = (), diff: str | None = None, cwd: str | None = None,
                  asked: ApprovalRequested | None = None, answered: ApprovalResolved | None = None) -> Ticket:
        """Ask a person about ``item`` (journaled as ``approval.requested`` unless ``asked`` is
        the request journaled before a restart, opened again with :meth:`reopen`; ``answered``:
        the answer it got meanwhile). ``rule`` :data:`PLAN_RULE` asks for a plan approval."""
        if asked is not None:
            approval_id, asked_at = asked.approval_id, asked.ts.timestamp()
            if answered is not None:
                return Ticket(self, approval_id, item, (answered.decision, answered.reason), None, _plan_of(answered))
            return Ticket(self, approval_id, item, None, self._deadline(asked_at))
        approval_id = new_id("apr")
        plan = {"plan": True} if rule == PLAN_RULE else {}
        await self.channel.open(approval_id, self.session_id, options, **plan)  # answerable once the request is seen
        self._open.add(approval_id)
        ticket = Ticket(self, approval_id, item, None, self._deadline(time.time()))
        await self.emit(ApprovalRequested, approval_id=approval_id, item_id=item.id, tool=item.name,
                        arguments=item.arguments, reason=reason, options=options, cwd=cwd, diff=diff, rule=rule,
                        suggestion=list(suggestion) if "session" in options else [])
        return ticket

    async def reopen(self, asked: ApprovalRequested) -> None:
        """Accept answers again to a request journaled before a restart (before the resumed turn
        gets to it: :meth:`ask` with ``asked`` then waits on it)."""
        plan = {"plan": True} if asked.rule == PLAN_RULE else {}
        await self.channel.open(asked.approval_id, self.session_id, asked.options, **plan)
        self._open.add(asked.approval_id)

    async def close_all(self) -> None:
        """Close every approval this broker opened that is still open (the turn is ending)."""
        for approval_id in list(self._open):
            await self.channel.close(approval_id)
        self._open.clear()

    def _deadline(self, asked_at: float) -> float | None:
        return None if self.timeout is None else asked_at + self.timeout


def _plan_of(answered: ApprovalResolved) -> PlanAnswer | None:
    """The plan answer journaled in ``answered`` (when approval.resolved carries the fields)."""
    steps, mode = getattr(answered, "edited_plan", None), getattr(answered, "mode", None)
    if steps is None and mode is None:
        return None
    return PlanAnswer(tuple(steps) if steps is not None else None, mode)
