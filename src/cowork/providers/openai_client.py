"""An ``AsyncOpenAI`` client whose chat requests skip the SDK's client-side transform of the
conversation.

On every ``chat.completions.create`` the OpenAI SDK walks the whole request body against its
``CompletionCreateParams`` types (``openai._utils._transform``), synchronously on the event loop:
with a long conversation that is most of cowork's own time per model request (see
bench/README.md, openai/openai-python#3616). pydantic-ai hands the SDK messages and tool
schemas that are JSON already, so this client passes them through the SDK's documented
``extra_body`` parameter instead ("additional parameters to the API"; its values take precedence
over the method's own), which the SDK merges into the JSON body as given. The request on the
wire is the same; only the walk is skipped. Everything else (model, stream options, sampling,
headers, timeouts, errors, streaming) goes through the SDK unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from openai import AsyncOpenAI, Omit, omit
from openai.resources.chat import AsyncChat
from openai.resources.chat.completions import AsyncCompletions


class _Completions(AsyncCompletions):
    async def create(self, *, messages: Iterable[Any], tools: Any = omit,  # type: ignore[override]
                     extra_body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        body: dict[str, Any] = {"messages": list(messages)}
        if not isinstance(tools, Omit) and tools is not None:
            body["tools"] = list(tools)
        if extra_body:
            body.update(extra_body)  # the caller's own extra fields keep their precedence
        return await super().create(messages=[], tools=omit, extra_body=body, **kwargs)


class _Chat(AsyncChat):
    @cached_property
    def completions(self) -> AsyncCompletions:
        return _Completions(self._client)


class PassthroughOpenAI(AsyncOpenAI):
    """``AsyncOpenAI`` sending chat messages and tools through ``extra_body`` (see the module)."""

    @cached_property
    def chat(self) -> AsyncChat:
        return _Chat(self)


__all__ = ["PassthroughOpenAI"]
