"""Helpers for engine tests: pydantic-ai FunctionModels as scripted models, event collection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from cowork.engine import Runtime
from cowork.protocol import is_terminal

MODEL = "openai:scripted"

Step = str | list[tuple[str, dict[str, Any] | str]]
"""One scripted response: a text answer, or a list of (tool name, arguments) calls."""


class Script:
    """A FunctionModel that answers from a list of steps and records what it was sent."""

    def __init__(self, *steps: Step | Callable[[list[ModelMessage], AgentInfo], Step]) -> None:
        self.steps = list(steps)
        self.calls: list[tuple[list[ModelMessage], AgentInfo]] = []
        self.model = FunctionModel(stream_function=self._stream, model_name="scripted")

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        self.calls.append((messages, info))
        step = self.steps.pop(0) if self.steps else "done"
        if callable(step):
            step = step(messages, info)
        if isinstance(step, str):
            for i in range(0, len(step), 5):
                yield step[i : i + 5]
            return
        for n, (name, args) in enumerate(step):
            raw = args if isinstance(args, str) else json.dumps(args)
            yield {n: DeltaToolCall(name=name, json_args=raw, tool_call_id=f"call_{len(self.calls)}_{n}")}


def tool_returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]


def user_texts(messages: list[ModelMessage]) -> list[str]:
    return [p.content for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)]


async def collect(rt: Runtime, session_id: str, after_seq: int = 0, on_event: Callable[[Any], Any] | None = None,
                  timeout: float = 20) -> list[Any]:
    """Events of the session after ``after_seq`` up to the end of the next turn."""
    events: list[Any] = []

    async def follow() -> None:
        async for ev in rt.subscribe(session_id, after_seq):
            events.append(ev)
            if on_event is not None:
                result = on_event(ev)
                if asyncio.iscoroutine(result):
                    await result
            if is_terminal(ev):
                return

    await asyncio.wait_for(follow(), timeout)
    return events
