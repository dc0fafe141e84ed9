"""Model requests of a turn: the stream journaled as items, retries, and error classification.

Requests go through pydantic-ai's direct API (``model_request_stream``). The stream's parts are
journaled as they arrive (``item.started`` / ``item.delta`` / ``item.completed`` for text and
reasoning; tool calls are started here and finished by the tool-call pipeline). Failed requests
(429, 5xx, connection errors, a stream silent for ``stream_timeout`` seconds, a cut stream) are
retried with exponential backoff (``retry_base_delay * 2**n``, or the provider's Retry-After),
``max_retries`` times; then :class:`~.errors.TurnError` ``provider_unavailable``. Other provider
errors (4xx) are ``provider_error`` at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

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
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.settings import ModelSettings

from ..config import EngineSettings
from ..protocol import AssistantMessage, ErrorItem, ItemCompleted, ItemDelta, ItemStarted, Reasoning, ToolCall, Usage
from ..store import new_id
from .context import CHARS_PER_TOKEN, SUMMARY_REQUEST, split_for_compaction, summary_message, transcript
from .budget import response_cost
from .errors import TurnError

log = logging.getLogger(__name__)

DEFAULT_STREAM_TIMEOUT = 60.0
"""Seconds a hosted model's stream may stay silent; a model may set its own ``stream_timeout``."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelCall:
    """Requests to ``model`` for one turn.

    ``emit(event_type, **fields)`` journals an event of the turn; ``usage`` is added to after
    every response; ``tool_items`` gets the ``tool_call`` item of every call the stream starts, by
    call id (the tool-call pipeline finishes them)."""

    def __init__(self, model: Model, settings: EngineSettings, emit: Callable[..., Awaitable[Any]], usage: Usage,
                 tool_items: dict[str, ToolCall]) -> None:
        self.model = model
        self.settings = settings
        self._emit = emit
        self.usage = usage
        self._tool_items = tool_items
        self.stream_timeout = settings.stream_timeout or getattr(model, "stream_timeout", DEFAULT_STREAM_TIMEOUT)
        self._model_settings: ModelSettings = {}
        if settings.max_output_tokens:
            self._model_settings["max_tokens"] = settings.max_output_tokens

    async def request(self, messages: list[ModelMessage], params: ModelRequestParameters) -> ModelResponse:
        """One response, streamed and journaled, retried as the module says. Raises TurnError."""
        settings = self.settings
        attempt = 0
        while True:
            try:
                return await self._stream(messages, params)
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

    async def compact(self, messages: list[ModelMessage], window: int) -> list[ModelMessage] | None:
        """``messages`` with their older part replaced by a summary the model writes (or, when
        that fails, by the user's own requests), to fit a context of ``window`` tokens; None when
        nothing can be cut."""
        cut = split_for_compaction(messages, window)
        if cut <= 0:
            return None
        old, kept = messages[:cut], messages[cut:]
        prompt = transcript(old, max_chars=int(window * CHARS_PER_TOKEN * 0.5))
        summary = await self._summarize(prompt + "\n\n" + SUMMARY_REQUEST)
        if not summary:  # a summary is a nicety: fall back to the user's own words
            asks = [p.content for m in old for p in m.parts if isinstance(p, UserPromptPart)]
            summary = "Earlier requests from the user:\n" + "\n".join(f"- {a}" for a in asks)
        return [summary_message(summary), *kept]

    async def _summarize(self, prompt: str) -> str:
        """The model's text answer to ``prompt`` alone, not journaled; "" when the request fails (logged)."""
        request = [ModelRequest(parts=[UserPromptPart(prompt)])]
        try:
            async with asyncio.timeout(self.stream_timeout * 2):
                async with model_request_stream(self.model, request, model_settings=self._model_settings) as stream:
                    async for _ in stream:
                        pass
                    response = stream.get()
            return "".join(p.content for p in response.parts if isinstance(p, TextPart)).strip()
        except Exception as exc:  # a summary is a nicety: the caller falls back
            log.warning("compaction summary failed: %s", exc)
            return ""

    async def _stream(self, messages: list[ModelMessage], params: ModelRequestParameters) -> ModelResponse:
        timeout = self.stream_timeout
        loop = asyncio.get_running_loop()
        open_items: dict[int, AssistantMessage | Reasoning | ToolCall] = {}
        try:
            async with asyncio.timeout(timeout) as deadline:
                async with model_request_stream(
                    self.model, messages, model_settings=self._model_settings, model_request_parameters=params
                ) as stream:
                    async for event in stream:
                        deadline.reschedule(loop.time() + timeout)
                        await self._on_event(event, open_items)
                    response = stream.get()
        except BaseException as exc:
            await self._abandon(open_items)
            raise classify(exc, timeout) from exc
        for item in open_items.values():  # parts the stream did not close
            if not isinstance(item, ToolCall):
                await self._emit(ItemCompleted, item=item)
        u = response.usage
        self.usage.add(Usage(input_tokens=u.input_tokens or 0, output_tokens=u.output_tokens or 0,
                             cached_input_tokens=u.cache_read_tokens or 0, requests=1,
                             cost=response_cost(response)))
        return response

    async def _on_event(self, event: Any, open_items: dict[int, Any]) -> None:
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


def classify(exc: BaseException, timeout: float) -> BaseException:
    """Map a failed stream to :class:`_Retryable`, :class:`TurnError`, or itself (cancellation)."""
    if isinstance(exc, asyncio.CancelledError | _Retryable | TurnError):
        return exc
    if isinstance(exc, TimeoutError):
        return _Retryable(f"the model sent nothing for {timeout:g}s")
    if isinstance(exc, ModelRateLimitError | ModelUnavailableError | ModelServerError | ModelConnectionError):
        return _Retryable(describe(exc), getattr(exc, "retry_after", None))
    if isinstance(exc, ModelHTTPError):
        if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
            return _Retryable(describe(exc), getattr(exc, "retry_after", None))
        return TurnError("provider_error", describe(exc))
    if isinstance(exc, ModelAPIError):
        return TurnError("provider_error", describe(exc))
    if isinstance(exc, UnexpectedModelBehavior):
        return _Retryable(f"unexpected model response: {exc}")
    # Transport errors that reach us unwrapped (httpx, the SDKs) are transient by nature.
    name = type(exc).__module__.split(".")[0]
    if name in ("httpx", "httpcore", "openai", "anthropic", "google") or isinstance(exc, ConnectionError | OSError):
        return _Retryable(f"{type(exc).__name__}: {exc}")
    return exc


def describe(exc: BaseException) -> str:
    """A short account of a provider error: ``HTTP 500: <the provider's message>``."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not message:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    message = str(message).splitlines()[0]
    return f"HTTP {status}: {message}" if status else message
