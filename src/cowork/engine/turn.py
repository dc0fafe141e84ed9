"""One turn of the agent loop: model stream → tool calls → results → again, until an answer.

Everything a turn does is journaled as it happens (see :mod:`cowork.protocol.events`). A turn
always ends with exactly one of ``turn.completed``, ``turn.failed`` or ``turn.interrupted``, and
leaves the session's model history valid for the next turn, whatever happened: its end is written
once, shielded from further cancellation, and :meth:`Turn.cancel` cancels its task at most once.

This module is the loop only. Model requests (streaming, retries, error classification) are in
:mod:`.model_call`; the tool-call pipeline (prepare, decide, ask, re-check, run, escalate) in
:mod:`.tool_calls`; approvals in :mod:`.approvals`; budgets (steps, tokens, wall time, cost per
turn and per session, ending a turn with ``budget_exceeded``) in :mod:`.budget`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models import Model, ModelRequestParameters

from ..checkpoints import Checkpoints
from ..config import EngineSettings
from ..protocol import ErrorItem, ItemCompleted, ItemStarted, SessionInfo, ToolCall, TurnCompleted, TurnFailed
from ..protocol import TurnInterrupted, TurnStarted, Usage, UserMessage
from ..store import Store, new_id
from ..tools import BUILTIN, Toolset
from ..tools.base import ToolContext
from .context import COMPACT_AT, LAST_STEP_NOTE, estimate_tokens, repair, split_for_compaction
from .approvals import ApprovalBroker, ApprovalChannel
from .budget import Budget, BudgetExceeded, Spent, session_limited, spent_by
from .errors import TurnError
from .extensions import ContextSource, Hooks, NoHooks, gather_sections
from .guards import TurnGuards
from .harness import Harness
from .hook_calls import TurnHooks
from .journal import Journal
from .model_call import DEFAULT_STREAM_TIMEOUT, ModelCall
from .tool_calls import Resume, ToolCalls, tool_definitions

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_STREAM_TIMEOUT", "Resume", "Turn", "TurnDeps", "TurnError", "tool_definitions"]


@dataclass
class TurnDeps:
    """What a turn needs from the runtime that owns it."""

    store: Store
    journal: Journal
    approvals: ApprovalChannel
    settings: EngineSettings
    checkpoints: Checkpoints | None = None  # None: no workspace checkpoints (see docs/checkpoints.md)
    toolsets: Sequence[Toolset] = field(default_factory=lambda: (BUILTIN,))
    context_sources: Sequence[ContextSource] = ()  # AGENTS.md, skills... (see .extensions)
    hooks: Hooks = field(default_factory=NoHooks)
    session_starts: set[str] = field(default_factory=set)  # sessions whose session_start hooks ran
    compaction_prompts: Sequence[tuple[str, Sequence[Toolset]]] = ()  # asked before compacting (.extensions)
    on_end: Callable[[Turn], Awaitable[None]] | None = None  # before the end is written: stop its subagents


async def _ignore(_returns: list[ToolReturnPart]) -> None:
    """What an aborted call outside the history leaves: nothing."""


class Turn:
    """Runs one turn of ``session``. Create, then ``await run()``; :meth:`cancel` to interrupt.

    ``resume`` continues a turn that was waiting for an approval when cowork stopped (call
    :meth:`reopen_approvals` before running it). The turn's row must already exist in the store
    (``Store.start_turn``). ``parent``: the turn a subagent's turn works for; what it spends counts
    against the parent's budgets (see :meth:`spending`).
    """

    def __init__(
        self, deps: TurnDeps, session: SessionInfo, turn_id: str, text: str, model: Model, context_window: int,
        resume: Resume | None = None, parent: Turn | None = None,
    ) -> None:
        self.deps = deps
        self.parent = parent
        self.children: list[Turn] = []  # its subagents' turns (their usage counts against this turn)
        if parent is not None:
            parent.children.append(self)
        self.resume = resume
        self.session = session
        self.turn_id = turn_id
        self.text = text
        self.window = context_window
        self.usage = Usage()
        self.ending = False  # set once the outcome is recorded; the runtime may start the next turn
        self.suspended = False  # set before cancelling to leave a turn waiting for approval as it is
        self.interrupt_reason = "interrupted by the user"  # what turn.interrupted says when cancelled
        self._budget: Budget | None = None  # set when run() starts
        self._over_budget: BudgetExceeded | None = None  # set when the time budget cancels the turn
        self._in_loop = False  # the time budget may cancel the turn only while this is set
        self._task: asyncio.Task[None] | None = None  # set when run() starts
        self._cancelled = False  # cancel() was called: the task is cancelled once, never again
        self._end: asyncio.Future[None] | None = None  # the one writing of the turn's end
        self._steers: list[str] = []  # messages added with steer(), not yet sent to the model
        self._accepting = True  # steer() is accepted until the turn decides to end
        self.messages: list[ModelMessage] = []
        self._tokens = 0  # estimate of self.messages, kept up to date instead of re-serializing each step
        tool_items: dict[str, ToolCall] = {}
        self._approvals = ApprovalBroker(deps.approvals, session.id, self._emit, deps.settings.approval_timeout)
        self._ctx = ToolContext(
            workspace=Path(session.workspace), session_id=session.id, turn_id=turn_id,
            max_output_chars=min(30_000, context_window),  # about a quarter of the window in tokens
            sandbox=deps.settings.sandbox,
        )
        self._model = ModelCall(model, deps.settings, self._emit, self.usage, tool_items)
        self._harness = Harness(model, Path(session.workspace), text)
        self._hooks = TurnHooks(deps.hooks, session, turn_id, self._emit, deps.session_starts)
        self._calls = ToolCalls(
            store=deps.store, session=session, turn_id=turn_id, ctx=self._ctx, checkpoints=deps.checkpoints,
            approvals=self._approvals, toolsets=deps.toolsets, tool_items=tool_items, emit=self._emit,
            interrupt_reason=lambda: self.interrupt_reason, context_sources=deps.context_sources, hooks=self._hooks,
        )
        self._guards = TurnGuards(lambda name: self._calls.tools().get(name))

    def spending(self) -> Usage:
        """What this turn used, its subagents' turns included (what its budgets count and its end reports)."""
        total = self.usage.model_copy()
        for child in self.children:
            total.add(child.spending())
        return total

    def offered_tools(self) -> list[str]:
        """The names of the tools this turn's model is offered now."""
        return list(self._calls.tools())

    def _check_budget(self) -> None:
        """Raise BudgetExceeded when this turn, or the turn it works for, is over a hard limit."""
        if self._budget is not None:
            self._budget.check(self.spending())
        if self.parent is not None:
            self.parent._check_budget()

    @property
    def waiting_approval(self) -> str | None:
        """Id of the approval this turn waits on right now, if any."""
        return self._approvals.waiting

    async def _emit(self, event_type: type[Any], **fields: Any) -> None:
        await self.deps.journal.emit(self.session.id, self.turn_id, event_type, **fields)

    def steer(self, text: str) -> bool:
        """Queue a user message for the model's next request. False once the turn is ending."""
        if not self._accepting or self.ending:
            return False
        self._steers.append(text)
        return True

    def _take_steers(self) -> list[UserPromptPart]:
        parts, self._steers = [UserPromptPart(t) for t in self._steers], []
        return parts

    @property
    def cancelled(self) -> bool:
        """:meth:`cancel` was called (an interrupt, the time budget, a shutdown)."""
        return self._cancelled

    def cancel(self) -> bool:
        """Interrupt the turn: the first call cancels its task (or, before the task has started,
        makes it end as interrupted when it starts); later calls do nothing, so concurrent
        interrupts cannot cancel the writing of its end. Returns whether this call was the first."""
        if self._cancelled:
            return False
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()
        return True

    # -- the whole turn -------------------------------------------------------------------------

    async def begin(self) -> None:
        """Journal ``turn.started`` and the user's message. The runtime awaits this before it
        answers ``turn/start``, so the journal has the turn before anyone can steer or interrupt it."""
        await self._emit(TurnStarted, model=self.session.model, text=self.text)
        user = UserMessage(id=new_id("item"), text=self.text)
        await self._emit(ItemStarted, item=user)
        await self._emit(ItemCompleted, item=user)

    async def reopen_approvals(self) -> None:
        """Make the approvals a resumed turn waits on answerable again, before its task runs."""
        for asked in (self.resume.pending.values() if self.resume is not None else ()):
            await self._approvals.reopen(asked)

    async def run(self) -> None:
        """Run to the end (after :meth:`begin`, or resumed). Never raises for model or tool
        trouble, nor when cancelled: journals the outcome instead."""
        started = time.monotonic()
        self._task = asyncio.current_task()

        def ms() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            stop_reason = await self._work(started)
        except asyncio.CancelledError:
            if self._task is not None:
                self._task.uncancel()
            if self._over_budget is not None:
                error = {"code": self._over_budget.code, "message": str(self._over_budget)}
                await self._finish("failed", TurnFailed, error=error, duration_ms=ms())
                return
            if self.suspended:  # left waiting for its approval: cowork resumes it on the next start
                await self._approvals.close_all()
                return
            await self._finish("interrupted", TurnInterrupted, duration_ms=ms(), reason=self.interrupt_reason)
        except (TurnError, BudgetExceeded) as exc:
            await self._finish("failed", TurnFailed, error={"code": exc.code, "message": str(exc)}, duration_ms=ms())
        except Exception as exc:  # a bug: still end the turn cleanly and say what happened
            log.exception("turn %s crashed", self.turn_id)
            error = {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
            await self._finish("failed", TurnFailed, error=error, duration_ms=ms())
        else:
            await self._finish("completed", TurnCompleted, stop_reason=stop_reason, duration_ms=ms(),
                               warnings=self._guards.warnings)

    async def _work(self, started: float) -> str:
        """Load the history (and finish the calls of a resumed turn), then run the loop, with the
        time budget's timer armed; returns the stop reason."""
        if self._cancelled:  # interrupted before its task got to run
            raise asyncio.CancelledError
        settings = self.deps.settings
        before = spent_by(await self.deps.store.ended_turns(self.session.id)) if session_limited(settings) else Spent()
        self._budget = Budget(settings, before, started)
        left = self._budget.seconds_left()
        timer = None if left is None else asyncio.get_running_loop().call_later(max(left, 0.0), self._out_of_time)
        self._in_loop = True
        try:
            history = await self.deps.store.history(self.session.id)
            await self._harness.prepare()
            self._harness.sections = await gather_sections(self.deps.context_sources, self.session.id,
                                                           self._ctx.workspace, self.text)
            if self.resume is None:
                extra = await self._hooks.begin(self.text, resumed=bool(history))  # may refuse the prompt
                await self._calls.checkpoint("turn")
                self.messages = repair(history)
                self._tokens = estimate_tokens(self.messages)
                await self._append(ModelRequest(parts=[UserPromptPart(self.text), *extra]))
            else:
                self.messages = history
                self._tokens = estimate_tokens(self.messages)
                last = self.messages[-1]
                assert isinstance(last, ModelResponse)
                resume, self.resume = self.resume, None
                await self._run_tools([p for p in last.parts if isinstance(p, ToolCallPart)], resume)
            return await self._loop()
        finally:
            self._in_loop = False
            if timer is not None:
                timer.cancel()

    def _out_of_time(self) -> None:
        """The time budget ran out: stop the turn the way an interrupt does, as a failure."""
        if not self._in_loop or self._budget is None or self._task is None or self._cancelled:
            return
        self._over_budget = self._budget.out_of_time(self.usage)
        self.interrupt_reason = "stopped: the time budget ran out"
        self.cancel()

    async def _finish(self, status: str, event_type: type[Any], **fields: Any) -> None:
        """Write the turn's end once, whatever cancels the task meanwhile (the writing runs on
        its own, shielded; a cancellation while it runs is absorbed)."""
        if self._end is None:
            self._end = asyncio.ensure_future(self._write_end(status, event_type, **fields))
        while True:
            try:
                await asyncio.shield(self._end)
                return
            except asyncio.CancelledError:
                if self._end.done():
                    return

    async def _write_end(self, status: str, event_type: type[Any], **fields: Any) -> None:
        """Record the outcome, then journal the terminal event (so a client that sees it can
        start the next turn at once)."""
        self._accepting = False
        if self.deps.on_end is not None:
            try:
                await self.deps.on_end(self)  # its subagents end first, inside this turn
            except Exception:  # their trouble must not keep this turn's end from being written
                log.exception("stopping the subagents of turn %s failed", self.turn_id)
        await self._approvals.close_all()  # those of a resumed turn it never got to
        if self._steers:  # arrived too late for the model: they open the next turn's history
            await self._append(ModelRequest(parts=self._take_steers()))
        usage = self.spending()
        await self.deps.store.end_turn(self.turn_id, status, usage.input_tokens, usage.output_tokens)
        self.ending = True
        await self._emit(event_type, usage=usage, **fields)

    async def _append(self, message: ModelMessage) -> None:
        self.messages.append(message)
        self._tokens += estimate_tokens([message])
        await self.deps.journal.record_messages(self.session.id, self.turn_id, [message])

    async def _loop(self) -> str:
        budget = self._budget
        assert budget is not None
        max_steps = max(1, self.deps.settings.max_steps)
        for step in range(1, max_steps + 1):
            last = step >= max_steps - sum(c.spending().requests for c in self.children)  # subagents' steps count
            if last and step > 1:
                await self._append(ModelRequest(parts=[UserPromptPart(LAST_STEP_NOTE)]))
            if self._tokens > COMPACT_AT * self.window:
                await self._compact()
            offered = self._calls.tools()  # the toolsets may have changed since the last step
            tools = [] if last and step > 1 else self._harness.definitions(offered, self._calls.definitions)
            params = ModelRequestParameters(function_tools=tools,
                                            allow_text_output=not (tools and self._guards.require_call))
            self._check_budget()
            response = await self._model.request(self._outgoing(), params)
            await self._append(response)
            if note := budget.unpriced(self.usage, self.session.model):
                await self._note("cost_unknown", note)
            calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
            try:
                if calls:
                    self._check_budget()
            except BudgetExceeded as exc:
                await self._append(ModelRequest(parts=await self._calls.refuse(calls, f"Not run: {exc}")))
                raise
            if not calls:
                if self._steers and not last:  # the person added to the turn while it answered
                    await self._append(ModelRequest(parts=self._take_steers()))
                    continue
                if note := (self._guards.check_answer(response, can_retry=not last)
                            or await self._hooks.stop(response, not last)):  # a stop hook may send it back
                    await self._append(ModelRequest(parts=[UserPromptPart(note)]))
                    continue
                self._accepting = False
                if last and step > 1:
                    return "max_steps"
                return "max_tokens" if response.finish_reason == "length" else "end_turn"
            await self._run_tools(calls)
        return "max_steps"

    async def _run_tools(self, calls: list[ToolCallPart], resume: Resume | None = None) -> None:
        """Run the calls of the last response and answer every one of them in the history (a
        call the loop guards stop is answered with their note instead of running)."""
        async def aborted(returns: list[ToolReturnPart]) -> None:
            await self._append(ModelRequest(parts=returns))

        refused: list[ToolReturnPart] = []
        if resume is None:
            calls, stopped = self._guards.screen(calls)
            for call, note in stopped:
                refused += await self._calls.refuse([call], note)
        returns = await self._calls.run(calls, resume, aborted, lambda: self.suspended) if calls else []
        self._guards.record(returns)
        await self._append(ModelRequest(parts=[*returns, *refused, *self._take_steers()]))

    async def _before_compaction(self) -> None:
        """Ask each extension's compaction prompt (memory: save what is worth keeping) with only
        its tools offered, and run the calls it answers with. The exchange stays out of the history
        (its tool calls are journaled as any other): the summary that follows replaces those details."""
        for prompt, toolsets in self.deps.compaction_prompts:
            names = {t.name for ts in toolsets for t in ts.tools(self.session.id, self._ctx.workspace)}
            tools = [d for d in self._harness.definitions(self._calls.tools(), self._calls.definitions)
                     if d.name in names]
            if tools:
                ask = self._outgoing([*self.messages, ModelRequest(parts=[UserPromptPart(prompt)])])
                response = await self._model.request(ask, ModelRequestParameters(function_tools=tools))
                if calls := [p for p in response.parts if isinstance(p, ToolCallPart) and p.tool_name in names]:
                    await self._calls.run(calls, None, _ignore, lambda: self.suspended)

    def _outgoing(self, messages: list[ModelMessage] | None = None) -> list[ModelMessage]:
        """The history (or ``messages``) with the instructions attached to the newest request."""
        msgs = list(self.messages if messages is None else messages)
        for i in range(len(msgs) - 1, -1, -1):
            if isinstance(msgs[i], ModelRequest):
                msgs[i] = replace(msgs[i], instructions=self._harness.instructions())
                break
        return msgs

    async def _compact(self) -> None:
        if split_for_compaction(self.messages, self.window) <= 0:
            return  # nothing to cut
        await self._before_compaction()
        compacted = await self._model.compact(self.messages, self.window)
        if compacted is not None:
            self.messages = compacted
            self._tokens = estimate_tokens(self.messages)
            await self.deps.store.replace_history(self.session.id, self.turn_id, self.messages)

    async def _note(self, code: str, message: str) -> None:
        """Journal an ``error`` item for the person (the turn goes on)."""
        item = ErrorItem(id=new_id("item"), code=code, message=message)
        await self._emit(ItemStarted, item=item)
        await self._emit(ItemCompleted, item=item)
