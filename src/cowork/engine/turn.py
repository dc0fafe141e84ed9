"""One turn of the agent loop: model stream → tool calls → results → again, until an answer.

Everything a turn does is journaled as it happens (see :mod:`cowork.protocol.events`). A turn
always ends with exactly one of ``turn.completed``, ``turn.failed`` or ``turn.interrupted``, and
leaves the session's model history valid for the next turn, whatever happened.

Model requests go through pydantic-ai's direct API (``model_request_stream``). Failed requests
(429, 5xx, connection errors, a stream silent for ``stream_timeout`` seconds, a cut stream) are
retried with exponential backoff (``retry_base_delay * 2**n``, or the provider's Retry-After),
``max_retries`` times; then the turn fails with ``provider_unavailable``.
"""

from __future__ import annotations

import asyncio
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

from ..config import EngineSettings
from ..policy import decide
from ..protocol import (
    ApprovalRequested,
    ApprovalResolved,
    AssistantMessage,
    ErrorItem,
    ItemCompleted,
    ItemDelta,
    ItemStarted,
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
from . import context
from .approvals import ApprovalBroker
from .journal import Journal

log = logging.getLogger(__name__)

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
    """A turn that was waiting for an approval when cowork stopped, rebuilt from its journal.

    The model's history ends with the response whose tool calls were being run; ``done`` holds
    the calls of that response that had already finished (they are answered from the journal,
    never re-run), ``item`` the call that waits on ``approval``.
    """

    approval: ApprovalRequested
    item: ToolCall
    done: dict[str, ToolCall]


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
        self._steers: list[str] = []  # messages added with steer(), not yet sent to the model
        self._accepting = True  # steer() is accepted until the turn decides to end
        self.messages: list[ModelMessage] = []
        self._tokens = 0  # estimate of self.messages, kept up to date instead of re-serializing each step
        self._tool_items: dict[str, ToolCall] = {}
        self._allowed: set[str] | None = None  # tools allowed for the session, read on first use
        self._tools_ctx = ToolContext(
            workspace=Path(session.workspace), session_id=session.id,
            max_output_chars=min(30_000, context_window),  # about a quarter of the window in tokens
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
            history = await self.deps.store.history(self.session.id)
            if self.resume is None:
                self.messages = context.repair(history)
                self._tokens = context.estimate_tokens(self.messages)
                await self._append(ModelRequest(parts=[UserPromptPart(self.text)]))
            else:
                self.messages = history
                self._tokens = context.estimate_tokens(self.messages)
                last = self.messages[-1]
                assert isinstance(last, ModelResponse)
                await self._run_tools([p for p in last.parts if isinstance(p, ToolCallPart)])
            stop_reason = await self._loop()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            if self.suspended:  # left waiting for its approval: cowork resumes it on the next start
                return
            await self._end("interrupted", TurnInterrupted, duration_ms=ms(), reason=self.interrupt_reason)
        except TurnError as exc:
            await self._end("failed", TurnFailed, error={"code": exc.code, "message": str(exc)}, duration_ms=ms())
        except Exception as exc:  # a bug: still end the turn cleanly and say what happened
            log.exception("turn %s crashed", self.turn_id)
            error = {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
            await self._end("failed", TurnFailed, error=error, duration_ms=ms())
        else:
            await self._end("completed", TurnCompleted, stop_reason=stop_reason, duration_ms=ms())

    async def _end(self, status: str, event_type: type[Any], **fields: Any) -> None:
        """Record the outcome, then journal the terminal event (so a client that sees it can
        start the next turn at once)."""
        self._accepting = False
        if self._steers:  # arrived too late for the model: they open the next turn's history
            await self._append(ModelRequest(parts=self._take_steers()))
        await self.deps.store.end_turn(self.turn_id, status, self.usage.input_tokens, self.usage.output_tokens)
        self.ending = True
        await self._emit(event_type, usage=self.usage, **fields)

    async def _append(self, message: ModelMessage) -> None:
        self.messages.append(message)
        self._tokens += context.estimate_tokens([message])
        await self.deps.store.append_messages(self.session.id, self.turn_id, [message])

    async def _loop(self) -> str:
        tools = tool_definitions()
        max_steps = max(1, self.deps.settings.max_steps)
        for step in range(1, max_steps + 1):
            last = step == max_steps
            if last and step > 1:
                await self._append(ModelRequest(parts=[UserPromptPart(context.LAST_STEP_NOTE)]))
            if self._tokens > context.COMPACT_AT * self.window:
                await self._compact()
            params = ModelRequestParameters(function_tools=[] if last and step > 1 else tools)
            response = await self._request(params)
            await self._append(response)
            calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
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
        self.usage.add(Usage(input_tokens=u.input_tokens or 0, output_tokens=u.output_tokens or 0, requests=1))
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
        """Run the calls one after another; always answer every call in the history."""
        returns: list[ToolReturnPart] = []
        try:
            for call in calls:
                returns.append(await self._call_tool(call))
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
        await self._append(ModelRequest(parts=[*returns, *self._take_steers()]))

    async def _call_tool(self, call: ToolCallPart) -> ToolReturnPart:
        resume = self.resume
        if resume is not None and call.tool_call_id in resume.done:  # finished before cowork stopped
            done = resume.done[call.tool_call_id]
            outcome = {"completed": "success", "denied": "denied"}.get(done.status, "failed")
            return ToolReturnPart(call.tool_name, done.output or "", call.tool_call_id, outcome=outcome)  # type: ignore[arg-type]
        if resume is not None and resume.item.call_id == call.tool_call_id:
            self._tool_items[call.tool_call_id] = resume.item
        item = self._tool_items.pop(call.tool_call_id, None)
        if item is None:
            item = ToolCall(id=new_id("item"), call_id=call.tool_call_id, name=call.tool_name)
            await self._emit(ItemStarted, item=item)
        self._tool_items[call.tool_call_id] = item
        tool = get_tool(call.tool_name)
        if tool is None:
            known = ", ".join(BUILTIN_TOOLS)
            return await self._finish(item, call, "failed", f"Unknown tool {call.tool_name!r}. Available tools: {known}.")
        try:
            raw = call.args_as_dict(raise_if_invalid=True)
        except (ValueError, AssertionError) as exc:
            item.arguments = call.args if isinstance(call.args, str) else str(call.args)
            return await self._finish(
                item, call, "failed",
                f"The arguments are not valid JSON ({exc}). Call {tool.name} again with a JSON object.",
            )
        item.arguments = raw
        try:
            args = tool.Args.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            return await self._finish(item, call, "failed", f"Invalid arguments for {tool.name}: {problems}.")

        if self._allowed is None:
            self._allowed = set(await self.deps.store.allowed_tools(self.session.id))
        decision = decide(tool.name, tool.mutating, self.session.mode, self._allowed)
        pending = None
        if resume is not None and resume.item.call_id == call.tool_call_id:  # its approval is still open
            decision, pending = replace(decision, outcome="ask"), resume.approval.approval_id
            self.resume = None
        if decision.outcome == "deny":
            return await self._finish(item, call, "denied", f"Not allowed: {decision.reason}.")
        if decision.outcome == "ask":
            answer, reason = await self._ask(item, decision.reason, pending)
            if answer == "deny":
                said = f" Their reason: {reason}" if reason else ""
                return await self._finish(item, call, "denied", f"The user denied this {tool.name} call.{said}")
            if answer == "session":
                self._allowed.add(tool.name)
                await self.deps.store.update_session(self.session.id, allowed_tools=sorted(self._allowed))

        item.status = "running"
        started = time.monotonic()
        try:
            result = await tool.run(args, self._tools_ctx)
        except ToolError as exc:
            result = ToolResult(output=str(exc), is_error=True, summary=str(exc).splitlines()[0][:120] if str(exc) else "")
        except asyncio.CancelledError:
            item.status, item.duration_ms = "interrupted", int((time.monotonic() - started) * 1000)
            item.output = "interrupted by the user"
            await self._emit(ItemCompleted, item=item)
            raise
        except Exception as exc:
            log.exception("tool %s crashed", tool.name)
            result = ToolResult(output=f"The {tool.name} tool failed unexpectedly: {type(exc).__name__}: {exc}", is_error=True)
        item.duration_ms = int((time.monotonic() - started) * 1000)
        item.summary = result.summary or None
        item.metadata = result.metadata
        return await self._finish(item, call, "failed" if result.is_error else "completed", result.output)

    async def _ask(self, item: ToolCall, why: str, pending: str | None = None) -> tuple[str, str | None]:
        """Journal an approval request (or wait again on the ``pending`` one) and wait for the answer."""
        approval_id = pending or new_id("apr")
        future = self.deps.approvals.open(approval_id, self.session.id)
        item.status = "awaiting_approval"
        self.waiting_approval = approval_id
        try:
            if pending is None:
                await self._emit(
                    ApprovalRequested, approval_id=approval_id, item_id=item.id, tool=item.name,
                    arguments=item.arguments, reason=why,
                )
            decision, reason = await future
        finally:
            self.waiting_approval = None
            self.deps.approvals.close(approval_id)
        await self._emit(ApprovalResolved, approval_id=approval_id, item_id=item.id, decision=decision, reason=reason)
        return decision, reason

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
