"""One turn of the agent loop: model stream → tool calls → results → again, until an answer.

Everything a turn does is journaled as it happens (see :mod:`cowork.protocol.events`). A turn
always ends with exactly one of ``turn.completed``, ``turn.failed`` or ``turn.interrupted``, and
leaves the session's model history valid for the next turn, whatever happened.

Model requests go through pydantic-ai's direct API (``model_request_stream``). Failed requests
(429, 5xx, connection errors, a stream silent for ``stream_timeout`` seconds, a cut stream) are
retried with exponential backoff (``retry_base_delay * 2**n``, or the provider's Retry-After),
``max_retries`` times; then the turn fails with ``provider_unavailable``. Budgets (steps, tokens,
wall time, cost per turn and per session) end a turn with ``budget_exceeded``: see :mod:`.budget`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_ai.direct import model_request_stream
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelServerError,
    ModelUnavailableError,
    UnexpectedModelBehavior,
)
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartEndEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ThinkingPartDelta,
    ToolCallPart,
    ToolCallPartDelta,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition

from ..checkpoints import Checkpoints
from ..config import EngineSettings
from ..policy import Decision, Policy, load_policy
from ..protocol import (
    ApprovalRequested,
    ApprovalResolved,
    AssistantMessage,
    ErrorItem,
    ItemCompleted,
    ItemDelta,
    ItemStarted,
    PolicyDecision,
    Reasoning,
    SessionInfo,
    ToolCall,
    TurnCompleted,
    TurnFailed,
    TurnInterrupted,
    TurnStarted,
    Usage,
    UserMessage,
)
from ..store import Store, new_id
from ..tools import BUILTIN_TOOLS, get_tool
from ..tools.base import ToolContext, ToolError, ToolResult, truncate_middle
from ..tools.files import preview_diff
from . import context
from .approvals import ApprovalBroker, ApprovalNotPending
from .budget import Budget, BudgetExceeded, Spent, response_cost, session_limited, spent_by
from .journal import Journal

log = logging.getLogger(__name__)

CHECKPOINTED_TOOLS = frozenset({"write", "edit", "bash"})
"""Tools the workspace is checkpointed before (after their approval); ``bash`` too, so changes
made by shell commands can be undone."""

DEFAULT_STREAM_TIMEOUT = 60.0
"""Seconds a hosted model's stream may stay silent; a model may set its own ``stream_timeout``."""


class TurnError(Exception):
    """Ends the turn with ``turn.failed``: ``code`` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class TurnDeps:
    """What a turn needs from the runtime that owns it."""

    store: Store
    journal: Journal
    approvals: ApprovalBroker
    settings: EngineSettings
    checkpoints: Checkpoints | None = None  # None: no workspace checkpoints (see docs/checkpoints.md)


@functools.cache
def _tool_definitions() -> tuple[ToolDefinition, ...]:
    return tuple(
        ToolDefinition(name=t.name, description=t.description, parameters_json_schema=t.parameters_schema())
        for t in BUILTIN_TOOLS.values()
    )


def tool_definitions() -> list[ToolDefinition]:
    """The built-in tools as pydantic-ai definitions (their schemas built once per process)."""
    return list(_tool_definitions())


@dataclass
class Resume:
    """A turn that was waiting for approvals when cowork stopped, rebuilt from its journal.

    The model's history ends with the response whose tool calls were being run. By call id:
    ``done`` the calls that had finished (answered from the journal, never run again);
    ``pending`` the calls whose approval request is still open; ``answered`` the calls a person
    answered while the turn still waited on an earlier call (request and answer); ``items`` the
    tool-call items of the pending and answered calls.
    """

    pending: dict[str, ApprovalRequested]
    answered: dict[str, tuple[ApprovalRequested, ApprovalResolved]]
    items: dict[str, ToolCall]
    done: dict[str, ToolCall]


@dataclass
class _Call:
    """One tool call of a model response on its way: validated, decided, maybe waiting for a
    person (``approval``; ``answer`` gets ``(decision, reason)`` once it is journaled)."""

    call: ToolCallPart
    item: ToolCall
    tool: Any = None
    args: Any = None
    decision: Decision | None = None
    result: ToolReturnPart | None = None  # answered without running (finished before, invalid, denied)
    approval: str | None = None
    answer: asyncio.Future[tuple[str, str | None]] | None = None
    timer: asyncio.TimerHandle | None = None


class Turn:
    """Runs one turn of ``session``. Create, then ``await run()``; cancel the task to interrupt.

    ``resume`` continues a turn that was waiting for an approval when cowork stopped. The turn's
    row must already exist in the store (``Store.start_turn``).
    """

    def __init__(
        self, deps: TurnDeps, session: SessionInfo, turn_id: str, text: str, model: Model, context_window: int,
        resume: Resume | None = None,
    ) -> None:
        self.deps = deps
        self.resume = resume
        self.session = session
        self.turn_id = turn_id
        self.text = text
        self.model = model
        self.window = context_window
        self.usage = Usage()
        self.ending = False  # set once the outcome is recorded; the runtime may start the next turn
        self.suspended = False  # set before cancelling to leave a turn waiting for approval as it is
        self.interrupt_reason = "interrupted by the user"  # what turn.interrupted says when cancelled
        self.waiting_approval: str | None = None  # id of the approval this turn waits on
        self._budget: Budget | None = None  # set when run() starts
        self._over_budget: BudgetExceeded | None = None  # set when the time budget cancels the turn
        self._in_loop = False  # the time budget may cancel the turn only while this is set
        self._steers: list[str] = []  # messages added with steer(), not yet sent to the model
        self._accepting = True  # steer() is accepted until the turn decides to end
        self.messages: list[ModelMessage] = []
        self._tokens = 0  # estimate of self.messages, kept up to date instead of re-serializing each step
        self._tool_items: dict[str, ToolCall] = {}
        self._allowed: list[str] | None = None  # the session's "always" patterns, read on first use
        self._policy: Policy | None = None  # the workspace's rules, loaded on the first tool call
        self._reopened: dict[str, asyncio.Future[tuple[str, str | None]]] = {}
        if resume is not None:  # answerable at once after a restart, before the task gets to them
            for asked in resume.pending.values():
                self._reopened[asked.approval_id] = deps.approvals.open(asked.approval_id, session.id, asked.options)
        self._tools_ctx = ToolContext(
            workspace=Path(session.workspace), session_id=session.id,
            max_output_chars=min(30_000, context_window),  # about a quarter of the window in tokens
            sandbox=deps.settings.sandbox,
        )
        self._stream_timeout = deps.settings.stream_timeout or getattr(model, "stream_timeout", DEFAULT_STREAM_TIMEOUT)
        self._settings: ModelSettings = {}
        if deps.settings.max_output_tokens:
            self._settings["max_tokens"] = deps.settings.max_output_tokens

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

    # -- the whole turn -------------------------------------------------------------------------

    async def begin(self) -> None:
        """Journal ``turn.started`` and the user's message. The runtime awaits this before it
        answers ``turn/start``, so the journal has the turn before anyone can steer or interrupt it."""
        await self._emit(TurnStarted, model=self.session.model, text=self.text)
        user = UserMessage(id=new_id("item"), text=self.text)
        await self._emit(ItemStarted, item=user)
        await self._emit(ItemCompleted, item=user)

    async def run(self) -> None:
        """Run to the end (after :meth:`begin`, or resumed). Never raises for model or tool
        trouble, nor when cancelled: journals the outcome instead."""
        started = time.monotonic()

        def ms() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            stop_reason = await self._work(started)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            if self._over_budget is not None:
                error = {"code": self._over_budget.code, "message": str(self._over_budget)}
                await self._end("failed", TurnFailed, error=error, duration_ms=ms())
                return
            if self.suspended:  # left waiting for its approval: cowork resumes it on the next start
                return
            await self._end("interrupted", TurnInterrupted, duration_ms=ms(), reason=self.interrupt_reason)
        except (TurnError, BudgetExceeded) as exc:
            await self._end("failed", TurnFailed, error={"code": exc.code, "message": str(exc)}, duration_ms=ms())
        except Exception as exc:  # a bug: still end the turn cleanly and say what happened
            log.exception("turn %s crashed", self.turn_id)
            error = {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
            await self._end("failed", TurnFailed, error=error, duration_ms=ms())
        else:
            await self._end("completed", TurnCompleted, stop_reason=stop_reason, duration_ms=ms())

    async def _work(self, started: float) -> str:
        """Load the history (and finish the calls of a resumed turn), then run the loop, with the
        time budget's timer armed; returns the stop reason."""
        settings = self.deps.settings
        before = spent_by(await self.deps.store.ended_turns(self.session.id)) if session_limited(settings) else Spent()
        self._budget = Budget(settings, before, started)
        left = self._budget.seconds_left()
        timer = None if left is None else asyncio.get_running_loop().call_later(
            max(left, 0.0), self._out_of_time, asyncio.current_task())
        self._in_loop = True
        try:
            history = await self.deps.store.history(self.session.id)
            if self.resume is None:
                await self._checkpoint("turn")
                self.messages = context.repair(history)
                self._tokens = context.estimate_tokens(self.messages)
                await self._append(ModelRequest(parts=[UserPromptPart(self.text)]))
            else:
                self.messages = history
                self._tokens = context.estimate_tokens(self.messages)
                last = self.messages[-1]
                assert isinstance(last, ModelResponse)
                await self._run_tools([p for p in last.parts if isinstance(p, ToolCallPart)])
            return await self._loop()
        finally:
            self._in_loop = False
            if timer is not None:
                timer.cancel()

    def _out_of_time(self, task: asyncio.Task[None] | None) -> None:
        """The time budget ran out: stop the turn the way an interrupt does, as a failure."""
        if not self._in_loop or self._budget is None or task is None:
            return
        self._over_budget = self._budget.out_of_time(self.usage)
        self.interrupt_reason = "stopped: the time budget ran out"
        task.cancel()

    async def _end(self, status: str, event_type: type[Any], **fields: Any) -> None:
        """Record the outcome, then journal the terminal event (so a client that sees it can
        start the next turn at once)."""
        self._accepting = False
        for approval_id in self._reopened:  # never reached: the turn ended before
            self.deps.approvals.close(approval_id)
        if self._steers:  # arrived too late for the model: they open the next turn's history
            await self._append(ModelRequest(parts=self._take_steers()))
        await self.deps.store.end_turn(self.turn_id, status, self.usage.input_tokens, self.usage.output_tokens)
        self.ending = True
        await self._emit(event_type, usage=self.usage, **fields)

    async def _append(self, message: ModelMessage) -> None:
        self.messages.append(message)
        self._tokens += context.estimate_tokens([message])
        await self.deps.journal.record_messages(self.session.id, self.turn_id, [message])

    async def _loop(self) -> str:
        tools = tool_definitions()
        budget = self._budget
        assert budget is not None
        max_steps = max(1, self.deps.settings.max_steps)
        for step in range(1, max_steps + 1):
            last = step == max_steps
            if last and step > 1:
                await self._append(ModelRequest(parts=[UserPromptPart(context.LAST_STEP_NOTE)]))
            if self._tokens > context.COMPACT_AT * self.window:
                await self._compact()
            params = ModelRequestParameters(function_tools=[] if last and step > 1 else tools)
            budget.check(self.usage)
            response = await self._request(params)
            await self._append(response)
            if note := budget.unpriced(self.usage, self.session.model):
                await self._note("cost_unknown", note)
            calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
            try:
                if calls:
                    budget.check(self.usage)
            except BudgetExceeded as exc:
                await self._refuse_tools(calls, f"Not run: {exc}")
                raise
            if not calls:
                if self._steers and not last:  # the person added to the turn while it answered
                    await self._append(ModelRequest(parts=self._take_steers()))
                    continue
                self._accepting = False
                if last and step > 1:
                    return "max_steps"
                return "max_tokens" if response.finish_reason == "length" else "end_turn"
            await self._run_tools(calls)
        return "max_steps"

    # -- model requests ---------------------------------------------------------------------------

    def _outgoing(self) -> list[ModelMessage]:
        """The history with the instructions attached to the newest request."""
        msgs = list(self.messages)
        for i in range(len(msgs) - 1, -1, -1):
            if isinstance(msgs[i], ModelRequest):
                msgs[i] = replace(msgs[i], instructions=context.instructions(self._tools_ctx.workspace))
                break
        return msgs

    async def _request(self, params: ModelRequestParameters) -> ModelResponse:
        settings = self.deps.settings
        attempt = 0
        while True:
            try:
                return await self._stream(self._outgoing(), params)
            except _Retryable as exc:
                attempt += 1
                if attempt > settings.max_retries:
                    raise TurnError(
                        "provider_unavailable", f"the model request failed {attempt} times; last error: {exc}"
                    ) from None
                delay = exc.retry_after if exc.retry_after is not None else settings.retry_base_delay * 2 ** (attempt - 1)
                delay = min(delay, 60.0) * (1 + random.uniform(0, 0.1))
                item = ErrorItem(
                    id=new_id("item"), code="model_retry",
                    message=f"{exc}; retrying in {delay:.1f}s (attempt {attempt + 1} of {settings.max_retries + 1})",
                )
                await self._emit(ItemStarted, item=item)
                await self._emit(ItemCompleted, item=item)
                await asyncio.sleep(delay)

    async def _stream(self, messages: list[ModelMessage], params: ModelRequestParameters) -> ModelResponse:
        timeout = self._stream_timeout
        loop = asyncio.get_running_loop()
        open_items: dict[int, AssistantMessage | Reasoning | ToolCall] = {}
        try:
            async with asyncio.timeout(timeout) as deadline:
                async with model_request_stream(
                    self.model, messages, model_settings=self._settings, model_request_parameters=params
                ) as stream:
                    async for event in stream:
                        deadline.reschedule(loop.time() + timeout)
                        await self._on_stream_event(event, open_items)
                    response = stream.get()
        except BaseException as exc:
            await self._abandon(open_items)
            raise _classify(exc, timeout) from exc
        for item in open_items.values():  # parts the stream did not close
            if not isinstance(item, ToolCall):
                await self._emit(ItemCompleted, item=item)
        u = response.usage
        self.usage.add(Usage(input_tokens=u.input_tokens or 0, output_tokens=u.output_tokens or 0, requests=1,
                             cost=response_cost(response)))
        return response

    async def _on_stream_event(self, event: Any, open_items: dict[int, Any]) -> None:
        if isinstance(event, PartStartEvent):
            part = event.part
            if isinstance(part, TextPart):
                item: Any = AssistantMessage(id=new_id("item"))
                delta = part.content
            elif isinstance(part, ThinkingPart):
                item, delta = Reasoning(id=new_id("item")), part.content
            elif isinstance(part, ToolCallPart):
                item = ToolCall(id=new_id("item"), call_id=part.tool_call_id, name=part.tool_name)
                self._tool_items[part.tool_call_id] = item
                delta = part.args if isinstance(part.args, str) else json.dumps(part.args) if part.args else ""
            else:
                return
            open_items[event.index] = item
            await self._emit(ItemStarted, item=item, durable=False)  # its item.completed is awaited
            if delta:
                await self._delta(item, delta)
        elif isinstance(event, PartDeltaEvent):
            item = open_items.get(event.index)
            d = event.delta
            if item is None:
                return
            if isinstance(d, TextPartDelta | ThinkingPartDelta) and getattr(d, "content_delta", None):
                await self._delta(item, d.content_delta)
            elif isinstance(d, ToolCallPartDelta) and d.args_delta:
                await self._delta(item, d.args_delta if isinstance(d.args_delta, str) else json.dumps(d.args_delta))
        elif isinstance(event, PartEndEvent):
            item = open_items.get(event.index)
            if item is not None and not isinstance(item, ToolCall):
                item.text = event.part.content
                del open_items[event.index]
                await self._emit(ItemCompleted, item=item)

    async def _delta(self, item: Any, delta: str) -> None:
        if not isinstance(item, ToolCall):
            item.text += delta
        await self._emit(ItemDelta, item_id=item.id, delta=delta, durable=False)

    async def _abandon(self, open_items: dict[int, Any]) -> None:
        """Close the items of a response that broke off: text keeps what arrived, calls fail."""
        for item in open_items.values():
            if isinstance(item, ToolCall):
                self._tool_items.pop(item.call_id, None)
                item.status, item.output = "failed", "the model's response broke off before this call was complete"
            await self._emit(ItemCompleted, item=item)

    async def _compact(self) -> None:
        cut = context.split_for_compaction(self.messages, self.window)
        if cut <= 0:
            return
        old, kept = self.messages[:cut], self.messages[cut:]
        prompt = context.transcript(old, max_chars=int(self.window * context.CHARS_PER_TOKEN * 0.5))
        request = [ModelRequest(parts=[UserPromptPart(prompt + "\n\n" + context.SUMMARY_REQUEST)])]
        try:
            async with asyncio.timeout(self._stream_timeout * 2):
                async with model_request_stream(self.model, request, model_settings=self._settings) as stream:
                    async for _ in stream:
                        pass
                    response = stream.get()
            summary = "".join(p.content for p in response.parts if isinstance(p, TextPart)).strip()
        except Exception as exc:  # a summary is a nicety: fall back to the user's own words
            log.warning("compaction summary failed: %s", exc)
            summary = ""
        if not summary:
            asks = [p.content for m in old for p in m.parts if isinstance(p, UserPromptPart)]
            summary = "Earlier requests from the user:\n" + "\n".join(f"- {a}" for a in asks)
        self.messages = [context.summary_message(summary), *kept]
        self._tokens = context.estimate_tokens(self.messages)
        await self.deps.store.replace_history(self.session.id, self.turn_id, self.messages)

    # -- tools ------------------------------------------------------------------------------------

    async def _run_tools(self, calls: list[ToolCallPart]) -> None:
        """Decide every call of the response, ask a person about all that need it at once (each
        request journaled up front, so they can be answered together), then run the calls in
        order; always answer every call in the history."""
        returns: list[ToolReturnPart] = []
        prepared: list[_Call] = []
        try:
            for call in calls:
                prepared.append(await self._prepare(call))
            self.resume = None
            for p in prepared:
                if p.result is None and p.decision is not None and p.decision.outcome == "ask" and p.answer is None:
                    await self._request_approval(p)
            for p in prepared:
                returns.append(p.result if p.result is not None else await self._call_tool(p))
        except BaseException:
            if self.suspended:  # the history stays as it is, for the resumed turn
                raise
            answered = {r.tool_call_id for r in returns}
            for call in calls:
                if call.tool_call_id not in answered:
                    item = self._tool_items.get(call.tool_call_id)
                    if item is not None and item.status not in ("completed", "failed", "denied", "interrupted"):
                        item.status = "interrupted"
                        await self._emit(ItemCompleted, item=item)
                    returns.append(ToolReturnPart(call.tool_name, "Interrupted by the user before it ran or finished.",
                                                  call.tool_call_id, outcome="interrupted"))
            await self._append(ModelRequest(parts=returns))
            raise
        finally:
            for p in prepared:
                self._stop_waiting(p)
        await self._append(ModelRequest(parts=[*returns, *self._take_steers()]))

    async def _prepare(self, call: ToolCallPart) -> _Call:
        """Validate one call and decide it; calls that cannot run are answered at once."""
        resume = self.resume
        if resume is not None and call.tool_call_id in resume.done:  # finished before cowork stopped
            done = resume.done[call.tool_call_id]
            outcome = {"completed": "success", "denied": "denied"}.get(done.status, "failed")
            part = ToolReturnPart(call.tool_name, done.output or "", call.tool_call_id, outcome=outcome)  # type: ignore[arg-type]
            return _Call(call, done, result=part)
        if resume is not None and call.tool_call_id in resume.items:
            self._tool_items[call.tool_call_id] = resume.items[call.tool_call_id]
        item = self._tool_items.pop(call.tool_call_id, None)
        if item is None:
            item = ToolCall(id=new_id("item"), call_id=call.tool_call_id, name=call.tool_name)
            await self._emit(ItemStarted, item=item)
        self._tool_items[call.tool_call_id] = item
        p = _Call(call, item)
        tool = p.tool = get_tool(call.tool_name)
        if tool is None:
            known = ", ".join(BUILTIN_TOOLS)
            p.result = await self._finish(item, call, "failed", f"Unknown tool {call.tool_name!r}. Available tools: {known}.")
            return p
        try:
            raw = call.args_as_dict(raise_if_invalid=True)
        except (ValueError, AssertionError) as exc:
            item.arguments = call.args if isinstance(call.args, str) else str(call.args)
            p.result = await self._finish(
                item, call, "failed",
                f"The arguments are not valid JSON ({exc}). Call {tool.name} again with a JSON object.",
            )
            return p
        item.arguments = raw
        try:
            p.args = tool.Args.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            p.result = await self._finish(item, call, "failed", f"Invalid arguments for {tool.name}: {problems}.")
            return p
        decision = p.decision = await self._decide(tool, p.args)
        item.policy = PolicyDecision(outcome=decision.outcome, rule=decision.rule, reason=decision.reason)
        if resume is not None and call.tool_call_id in resume.items:  # asked before cowork stopped
            self._resume_approval(p, resume)
        elif decision.outcome == "deny":
            p.result = await self._finish(item, call, "denied", f"Not allowed: {decision.reason}.")
        return p

    async def _decide(self, tool: Any, args: Any) -> Decision:
        if self._policy is None:
            try:
                self._policy = await asyncio.to_thread(load_policy, self._tools_ctx.workspace)
            except ValueError as exc:  # a bad policy file or trusted.json: never guess what it meant
                raise TurnError("policy_error", str(exc)) from None
        if self._allowed is None:
            self._allowed = list(await self.deps.store.allowed_tools(self.session.id))
        return self._policy.decide(tool.name, args.model_dump(), mutating=tool.mutating, mode=self.session.mode,
                                   session=self._allowed)

    def _resume_approval(self, p: _Call, resume: Resume) -> None:
        """Wait again on an approval requested before cowork stopped (or use the answer given)."""
        call_id = p.call.tool_call_id
        asked = resume.pending.get(call_id) or resume.answered[call_id][0]
        assert p.decision is not None
        network = p.decision.network or p.item.metadata.get("escalation") == "network"
        p.decision = replace(p.decision, outcome="ask", reason=asked.reason, rule=asked.rule or p.decision.rule,
                             suggestion=tuple(asked.suggestion), hard="session" not in asked.options, network=network)
        p.item.status = "awaiting_approval"
        p.approval = asked.approval_id
        if call_id in resume.answered:
            answer = resume.answered[call_id][1]
            p.answer = asyncio.get_running_loop().create_future()
            p.answer.set_result((answer.decision, answer.reason))
        else:
            self._wait_for_answer(p, asked.options, asked.ts.timestamp())

    async def _request_approval(self, p: _Call, why: str | None = None,
                                options: list[str] | None = None) -> None:
        """Journal an approval request for ``p`` (with its context) and start waiting for it."""
        decision = p.decision
        assert decision is not None
        p.approval = new_id("apr")
        p.item.status = "awaiting_approval"
        diff = None
        if p.tool is not None and p.tool.name in ("write", "edit") and p.args is not None:
            diff = await asyncio.to_thread(preview_diff, p.tool.name, p.args, self._tools_ctx.workspace)
        options = options or decision.options
        self._wait_for_answer(p, options, time.time())
        await self._emit(
            ApprovalRequested, approval_id=p.approval, item_id=p.item.id, tool=p.item.name, arguments=p.item.arguments,
            reason=why or decision.reason, options=options, cwd=str(self._tools_ctx.workspace), diff=diff,
            rule=decision.rule, suggestion=list(decision.suggestion) if "session" in options else [],
        )

    def _wait_for_answer(self, p: _Call, options: list[str], asked_at: float) -> None:
        """Open ``p.approval`` in the broker; its answer is journaled (``approval.resolved``) as
        soon as it comes, and after ``approval_timeout`` seconds from ``asked_at`` it is a deny."""
        assert p.approval is not None
        future = self._reopened.pop(p.approval, None) or self.deps.approvals.open(p.approval, self.session.id, options)
        p.answer = asyncio.ensure_future(self._journal_answer(p.item, p.approval, future))
        timeout = self.deps.settings.approval_timeout
        if timeout:
            delay = max(0.0, asked_at + timeout - time.time())
            p.timer = asyncio.get_running_loop().call_later(delay, self._expire, p.approval, timeout)

    async def _journal_answer(self, item: ToolCall, approval_id: str,
                              future: asyncio.Future[tuple[str, str | None]]) -> tuple[str, str | None]:
        decision, reason = await future
        await self._emit(ApprovalResolved, approval_id=approval_id, item_id=item.id, decision=decision, reason=reason)
        return decision, reason

    def _expire(self, approval_id: str, timeout: float) -> None:
        with contextlib.suppress(ApprovalNotPending, ValueError):
            self.deps.approvals.resolve(approval_id, "deny", f"no answer within {timeout:g}s")

    def _stop_waiting(self, p: _Call) -> None:
        if p.timer is not None:
            p.timer.cancel()
        if p.approval is not None:
            self.deps.approvals.close(p.approval)
        if p.answer is not None and not p.answer.done():
            p.answer.cancel()

    async def _answer_of(self, p: _Call) -> tuple[str, str | None]:
        """Wait for the person's answer to ``p``'s approval."""
        assert p.answer is not None
        self.waiting_approval = p.approval
        try:
            return await p.answer
        finally:
            self.waiting_approval = None

    async def _call_tool(self, p: _Call) -> ToolReturnPart:
        call, item, tool, args, decision = p.call, p.item, p.tool, p.args, p.decision
        assert decision is not None
        if p.answer is not None:
            answer, reason = await self._answer_of(p)
            if answer == "deny":
                said = f" Their reason: {reason}" if reason else ""
                return await self._finish(item, call, "denied", f"The user denied this {tool.name} call.{said}")
            if answer == "session" and decision.suggestion:
                assert self._allowed is not None
                self._allowed += [s for s in decision.suggestion if s not in self._allowed]
                await self.deps.store.update_session(self.session.id, allowed_tools=sorted(self._allowed))
        ctx = replace(self._tools_ctx, network=decision.network) if tool.name == "bash" else self._tools_ctx

        if tool.name in CHECKPOINTED_TOOLS:
            await self._checkpoint(f"tool:{tool.name}", item.id)
        item.status = "running"
        started = time.monotonic()
        try:
            result = await tool.run(args, ctx)
        except ToolError as exc:
            result = ToolResult(output=str(exc), is_error=True, summary=str(exc).splitlines()[0][:120] if str(exc) else "")
        except asyncio.CancelledError:
            item.status, item.duration_ms = "interrupted", int((time.monotonic() - started) * 1000)
            item.output = self.interrupt_reason
            await self._emit(ItemCompleted, item=item)
            raise
        except Exception as exc:
            log.exception("tool %s crashed", tool.name)
            result = ToolResult(output=f"The {tool.name} tool failed unexpectedly: {type(exc).__name__}: {exc}", is_error=True)
        item.duration_ms = int((time.monotonic() - started) * 1000)
        if tool.name in CHECKPOINTED_TOOLS:
            await self._settle()
        item.summary = result.summary or None
        item.metadata = result.metadata
        if result.metadata.get("sandbox_denied") == "network" and self.session.mode != "read-only":
            return await self._escalate_network(item, call, tool, args, result)
        return await self._finish(item, call, "failed" if result.is_error else "completed", result.output)

    async def _escalate_network(
        self, item: ToolCall, call: ToolCallPart, tool: Any, args: Any, first: ToolResult,
    ) -> ToolReturnPart:
        """The sandbox had no network and the command failed for it: journal that attempt, ask a
        person (in every mode but read-only; yolo too, as the sandbox is the only guard there) to
        re-run it once with network access, as a second item of the same call. The model reads both."""
        await self._finish(item, call, "failed", first.output)
        rerun = ToolCall(id=new_id("item"), call_id=call.tool_call_id, name=tool.name, arguments=item.arguments,
                         metadata={"escalation": "network"})
        self._tool_items[call.tool_call_id] = rerun
        await self._emit(ItemStarted, item=rerun)
        answer, reason = await self._ask(rerun, "the command failed because the sandbox has no network: "
                                                "re-run it with network access")
        if answer == "deny":
            said = f" Their reason: {reason}" if reason else ""
            return await self._finish(rerun, call, "denied", f"{first.output}\n\n[The user declined to re-run "
                                                             f"this command with network access.{said}]")
        rerun.status = "running"
        started = time.monotonic()
        try:
            result = await tool.run(args, replace(self._tools_ctx, network=True))
        except ToolError as exc:
            result = ToolResult(output=str(exc), is_error=True)
        rerun.duration_ms = int((time.monotonic() - started) * 1000)
        await self._settle()
        rerun.summary = result.summary or None
        rerun.metadata = {**result.metadata, "escalation": "network"}
        output = (f"Without network access:\n{first.output}\n\n"
                  f"Re-run with network access (approved by the user):\n{result.output}")
        return await self._finish(rerun, call, "failed" if result.is_error else "completed", output)

    async def _note(self, code: str, message: str) -> None:
        """Journal an ``error`` item for the person (the turn goes on)."""
        item = ErrorItem(id=new_id("item"), code=code, message=message)
        await self._emit(ItemStarted, item=item)
        await self._emit(ItemCompleted, item=item)

    async def _refuse_tools(self, calls: list[ToolCallPart], why: str) -> None:
        """Answer every call of the last response with ``why`` without running it."""
        returns = []
        for call in calls:
            item = self._tool_items.pop(call.tool_call_id, None)
            if item is None:
                item = ToolCall(id=new_id("item"), call_id=call.tool_call_id, name=call.tool_name)
                await self._emit(ItemStarted, item=item)
            item.arguments = call.args if isinstance(call.args, str) else dict(call.args or {})
            returns.append(await self._finish(item, call, "failed", why))
        await self._append(ModelRequest(parts=returns))

    async def _checkpoint(self, kind: str, item_id: str | None = None) -> None:
        """Checkpoint the workspace before a change. A failure (disk full, permissions) never
        costs the turn: it is journaled as an ``error`` item (``checkpoint_failed``) and the work goes on."""
        if self.deps.checkpoints is None:
            return
        try:
            await self.deps.checkpoints.create(self.session.id, self.session.workspace, self.turn_id, kind, item_id)
        except Exception as exc:
            log.warning("checkpoint before %s failed: %s", kind, exc)
            item = ErrorItem(id=new_id("item"), code="checkpoint_failed",
                             message=f"the workspace could not be checkpointed before {kind}, so this change "
                                     f"cannot be undone: {exc}")
            await self._emit(ItemStarted, item=item)
            await self._emit(ItemCompleted, item=item)

    async def _settle(self) -> None:
        """Record what the agent's change left (a restore compares with it to notice a person's edits)."""
        if self.deps.checkpoints is None:
            return
        try:
            await self.deps.checkpoints.settle(self.session.workspace)
        except Exception as exc:
            log.warning("recording the workspace after a change failed: %s", exc)

    async def _ask(self, item: ToolCall, why: str, options: list[str] | None = None) -> tuple[str, str | None]:
        """Ask a person about ``item`` on its own (journaled with ``why``) and wait for the answer."""
        p = _Call(ToolCallPart(item.name, item.arguments, item.call_id), item,
                  decision=Decision("ask", why, "sandbox:escalation"))
        try:
            await self._request_approval(p, why, options or ["once", "session", "deny"])
            return await self._answer_of(p)
        finally:
            self._stop_waiting(p)

    async def _finish(self, item: ToolCall, call: ToolCallPart, status: str, output: str) -> ToolReturnPart:
        output = truncate_middle(output, self._tools_ctx.max_output_chars)
        item.status, item.output = status, output  # type: ignore[assignment]
        if item.summary is None and status != "completed":
            item.summary = output.splitlines()[0][:120] if output else status
        await self._emit(ItemCompleted, item=item)
        outcome = {"completed": "success", "failed": "failed", "denied": "denied"}[status]
        return ToolReturnPart(call.tool_name, output, call.tool_call_id, outcome=outcome)  # type: ignore[arg-type]


def _classify(exc: BaseException, timeout: float) -> BaseException:
    """Map a failed stream to :class:`_Retryable`, :class:`TurnError`, or itself (cancellation)."""
    if isinstance(exc, asyncio.CancelledError | _Retryable | TurnError):
        return exc
    if isinstance(exc, TimeoutError):
        return _Retryable(f"the model sent nothing for {timeout:g}s")
    if isinstance(exc, ModelRateLimitError | ModelUnavailableError | ModelServerError | ModelConnectionError):
        return _Retryable(_describe(exc), getattr(exc, "retry_after", None))
    if isinstance(exc, ModelHTTPError):
        if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
            return _Retryable(_describe(exc), getattr(exc, "retry_after", None))
        return TurnError("provider_error", _describe(exc))
    if isinstance(exc, ModelAPIError):
        return TurnError("provider_error", _describe(exc))
    if isinstance(exc, UnexpectedModelBehavior):
        return _Retryable(f"unexpected model response: {exc}")
    # Transport errors that reach us unwrapped (httpx, the SDKs) are transient by nature.
    name = type(exc).__module__.split(".")[0]
    if name in ("httpx", "httpcore", "openai", "anthropic", "google") or isinstance(exc, ConnectionError | OSError):
        return _Retryable(f"{type(exc).__name__}: {exc}")
    return exc


def _describe(exc: BaseException) -> str:
    """A short account of a provider error: ``HTTP 500: <the provider's message>``."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not message:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    message = str(message).splitlines()[0]
    return f"HTTP {status}: {message}" if status else message
