"""The embedded model: a GGUF file served by llama.cpp inside this process (``xllamacpp``).

``local:qwen2.5-coder-1.5b`` (the default), ``local:qwen2.5-coder-0.5b`` and
``local:smollm2-135m`` are the named models of :mod:`.weights`; ``local:/path/to/model.gguf``
uses any GGUF file. llama.cpp's native server runs in this process on a free loopback port and
speaks OpenAI-style chat completions.

Tool calls travel one of two ways (``COWORK_LOCAL_TOOL_FORMAT=native|schema``, default: native when
the weights' chat template knows tools, as llama.cpp's ``/props`` reports):

- **native**: the tools go to the model through its own chat template (llama.cpp renders it with
  Jinja and parses the template's call markup into ``tool_calls``). What a small model writes
  beside that markup — ``<tools>`` tags, fenced or bare JSON, several calls in a row — is
  recovered by :func:`.toolcall_text.find_tool_calls`. Text that still looks like a call is
  marked ``provider_details["unparsed_tool_call"]``, and text holding a tool result the model
  made up (``<tool_response>``) ``provider_details["invented_tool_result"]``, so the engine asks
  the model again.
- **schema**: every response is constrained by a JSON schema (llama.cpp turns it into a grammar,
  https://github.com/ggml-org/llama.cpp/blob/master/grammars/README.md): the model must emit either
  ``{"tool": NAME, "arguments": {...}}`` with arguments valid for that tool, or
  ``{"answer": TEXT}``. Titles and ``$ref``s are trimmed from the schema, and a path argument that
  must name something existing (``paths`` trait ``read``) is limited to the workspace's entries.

Sampling: ``COWORK_LOCAL_TEMPERATURE`` (default 0.2) and ``COWORK_LOCAL_SEED`` (default 0), so a
run can be repeated. llama.cpp keeps the previous prompt in its slot (``cache_prompt``), so a step
pays only for its new tokens; the reused tokens are reported as ``cache_read_tokens``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import pydantic_core
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponseStreamEvent,
    RetryPromptPart,
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

from .toolcall_text import find_tool_calls, invents_tool_result, looks_like_tool_call, strip_call_text
from .weights import LocalModelError, resolve_weights

__all__ = ["LocalModel", "LocalModelError", "EmbeddedServer", "resolve_weights", "step_schema", "native_tools"]

ToolFormat = Literal["native", "schema"]
TOOL_FORMAT_ENV = "COWORK_LOCAL_TOOL_FORMAT"
MAX_FORCED_CALLS = 16
"""At most this many calls in a response the engine requires to be calls (native path)."""
MAX_PATH_CHOICES = 400
"""At most this many workspace entries are offered as the values of a path argument."""

_CALL_HEAD = re.compile(r'\s*\{\s*"tool"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*')
"""The start of a tool call in the constrained output, up to where its arguments begin."""

NATIVE_FORMAT = (
    "To call a tool, reply with the call in this exact form, one block per call; several calls may "
    "go in one reply:\n"
    "<tool_call>\n"
    '{"name": "read", "arguments": {"path": "notes.txt"}}\n'
    "</tool_call>"
)
"""How a model that uses its chat template's tool format is shown a call."""
MOVE_EXAMPLE = (
    "Example. The user asks: \"Put the log files in a folder called logs.\" The folder holds a.log, "
    "b.log and notes.txt. You reply with two calls:\n"
    "<tool_call>\n"
    '{"name": "move", "arguments": {"source": "a.log", "destination": "logs/a.log"}}\n'
    "</tool_call>\n"
    "<tool_call>\n"
    '{"name": "move", "arguments": {"source": "b.log", "destination": "logs/b.log"}}\n'
    "</tool_call>\n"
    "After their results you answer: Moved a.log and b.log into logs/."
)
"""The worked example, when a ``move`` tool is offered: several calls in one reply, then a summary
that says what changed (the job a local agent is given most)."""


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
    """One llama.cpp server per weights file, started on first use and kept for the process.

    ``supports_tools``: the weights' chat template renders tools and tool calls (llama.cpp's
    ``/props`` ``chat_template_caps``)."""

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
        try:
            caps = httpx.get(f"{self.base_url}/props", timeout=10).json().get("chat_template_caps") or {}
        except (httpx.HTTPError, ValueError):
            caps = {}
        self.supports_tools = bool(caps.get("supports_tool_calls") and caps.get("supports_tools"))

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


# -- what the model is shown --------------------------------------------------------------------


_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)\.\s")


def _first_sentence(text: str | None) -> str:
    line = (text or "").strip().split("\n\n")[0].replace("\n", " ")
    end = _SENTENCE_END.search(line)
    return line[: end.start() + 1] if end else line


def trim_schema(schema: Any, defs: dict[str, Any] | None = None, *, descriptions: bool = True,
                _expanding: frozenset[str] = frozenset()) -> Any:
    """``schema`` with ``$ref``s to ``defs`` inlined and ``title``s dropped; property descriptions
    cut to their first sentence (or dropped when ``descriptions`` is false). Raises nothing: an
    unresolvable ``$ref`` is left as it is, and a recursive one (a tree) becomes ``{}`` (any
    value) where it refers to itself."""
    if isinstance(schema, list):
        return [trim_schema(s, defs, descriptions=descriptions, _expanding=_expanding) for s in schema]
    if not isinstance(schema, dict):
        return schema
    defs = {**(defs or {}), **schema.get("$defs", {})}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs:
        if ref in _expanding:
            return {}
        return trim_schema(defs[ref[8:]], defs, descriptions=descriptions, _expanding=_expanding | {ref})
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "$defs"):
            continue
        if key == "description":
            if descriptions:
                out[key] = _first_sentence(value)
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: trim_schema(v, defs, descriptions=descriptions, _expanding=_expanding)
                        for k, v in value.items()}
        else:
            out[key] = trim_schema(value, defs, descriptions=descriptions, _expanding=_expanding)
    return out


def required_only(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema with only its required properties (a small model does better without the
    optional knobs; it may still pass them, the tool's own validation accepts them). A schema
    with no required property keeps them all."""
    required = schema.get("required", [])
    props = {k: v for k, v in schema.get("properties", {}).items() if k in required or not required}
    out = {k: v for k, v in schema.items() if k not in ("properties", "additionalProperties")}
    return {**out, "properties": props}


def native_tools(tools: list[ToolDefinition]) -> list[dict[str, Any]]:
    """OpenAI-style tool definitions for the chat template: descriptions cut to one sentence,
    schemas trimmed (:func:`trim_schema`) to their required arguments (:func:`required_only`) —
    the template pastes them into the prompt, and each token of it is paid for."""
    return [
        {"type": "function", "function": {
            "name": t.name, "description": _first_sentence(t.description),
            "parameters": required_only(trim_schema(t.parameters_json_schema)),
        }}
        for t in tools
    ]


def workspace_entries(workspace: Path, limit: int = MAX_PATH_CHOICES) -> list[str]:
    """Relative POSIX paths of up to ``limit`` files and folders (``name/``) under ``workspace``,
    breadth first, hidden entries left out (dot-files, ``.git``). Empty when it cannot be read."""
    out: list[str] = []
    queue = [""]
    while queue and len(out) < limit:
        rel = queue.pop(0)
        try:
            entries = sorted(os.scandir(workspace / rel if rel else workspace), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or len(out) >= limit:
                continue
            path = f"{rel}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                out.append(path + "/")
                queue.append(path + "/")
            else:
                out.append(path)
    return out


def _existing_path_args(tool: ToolDefinition) -> dict[str, str]:
    """Argument → ``file``/``folder``/``any`` (the tool's ``must_exist`` trait, in its metadata)."""
    found = (tool.metadata or {}).get("existing_paths") or {}
    return dict(found) if isinstance(found, dict) else {}


def _choices(entries: list[str], kind: str) -> list[str]:
    if kind == "file":
        return [e for e in entries if not e.endswith("/")]
    if kind == "folder":
        return [".", *(e.rstrip("/") for e in entries if e.endswith("/"))]
    return [".", *entries]


def _argument_schemas(tools: list[ToolDefinition], workspace: Path | None) -> list[dict[str, Any]]:
    """Each tool's trimmed argument schema, its ``existing_paths`` limited to the workspace's
    entries of the kind the argument needs (files, folders or both)."""
    entries = workspace_entries(workspace) if workspace is not None else []
    out = []
    for tool in tools:
        args = trim_schema(tool.parameters_json_schema, descriptions=False)
        for name, kind in _existing_path_args(tool).items():
            prop = args.get("properties", {}).get(name)
            choices = _choices(entries, kind)
            if entries and choices and isinstance(prop, dict) and prop.get("type") == "string":
                args["properties"][name] = {"enum": choices}
        out.append(args)
    return out


def step_schema(tools: list[ToolDefinition], workspace: Path | None = None, *, answer: bool = True,
                name_key: str = "tool") -> dict[str, Any]:
    """The JSON schema of one response: a call of one of ``tools``, or (when ``answer``) an answer.

    A call is ``{name_key: NAME, "arguments": {...}}`` (``"tool"`` on the schema path; ``"name"``
    for a call the native path forces, the shape the chat templates use). Schemas are trimmed
    (:func:`trim_schema`, no descriptions: they are in the prompt). With a ``workspace``, each
    argument a tool's metadata lists under ``existing_paths`` may only be one of
    :func:`workspace_entries` (or ``.``)."""
    choices: list[dict[str, Any]] = []
    for tool, args in zip(tools, _argument_schemas(tools, workspace), strict=True):
        choices.append({
            "type": "object",
            "properties": {name_key: {"const": tool.name}, "arguments": args},
            "required": [name_key, "arguments"],
            "additionalProperties": False,
        })
    if answer or not choices:
        choices.append({
            "type": "object",
            "properties": {"answer": {"type": "string"}},
            "required": ["answer"],
            "additionalProperties": False,
        })
    return {"oneOf": choices}


def _tool_guide(tools: list[ToolDefinition]) -> str:
    if not tools:
        return 'Reply with exactly one JSON object: {"answer": "<text>"}. No tools are available now.'
    lines = [
        "Reply with exactly one JSON object.",
        'To use a tool: {"tool": "<name>", "arguments": {...}}. To answer the user: {"answer": "<text>"}.',
        'Example: {"tool": "read", "arguments": {"path": "notes.txt"}}',
        "Tools:",
    ]
    for tool in tools:
        params = ", ".join(tool.parameters_json_schema.get("properties", {}))
        lines.append(f"- {tool.name}({params}): {_first_sentence(tool.description)}")
    return "\n".join(lines)


def _instructions(messages: list[ModelMessage]) -> list[str]:
    found = next((m.instructions for m in reversed(messages) if isinstance(m, ModelRequest) and m.instructions), None)
    return [found] if found else []


def _args_object(args: Any) -> Any:
    if isinstance(args, str):
        try:
            return json.loads(args) if args.strip() else {}
        except ValueError:
            return args
    return args or {}


def _render_request(message: ModelRequest, system: list[str], out: list[dict[str, Any]], *, native: bool) -> None:
    """One request's parts as chat messages: system prompts join ``system``; user text is a user
    message; a tool result is a ``tool`` message (``native``) or a user message saying whose result
    it is; a retry prompt likewise."""
    for part in message.parts:
        if isinstance(part, SystemPromptPart):
            system.append(part.content)
        elif isinstance(part, UserPromptPart):
            out.append({"role": "user", "content": part.content if isinstance(part.content, str) else str(part.content)})
        elif isinstance(part, ToolReturnPart):
            if native:
                out.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": part.model_response_str()})
            else:
                out.append({"role": "user", "content": f"Result of {part.tool_name}:\n{part.model_response_str()}"})
        elif isinstance(part, RetryPromptPart):
            if native and part.tool_name and part.tool_call_id:
                out.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": part.model_response()})
            else:
                out.append({"role": "user", "content": part.model_response()})


def render_messages(messages: list[ModelMessage], tools: list[ToolDefinition]) -> list[dict[str, str]]:
    """pydantic-ai history → chat messages in the schema convention (see the module docstring).

    The instructions of the newest request become the system message. Earlier tool calls are
    shown as the JSON the model would have written and tool results as user messages, so the
    history reads the same way the model is asked to answer.
    """
    system = _instructions(messages)
    system.append(_tool_guide(tools))
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            _render_request(message, system, out, native=False)
        elif isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, TextPart) and part.content:
                    out.append({"role": "assistant", "content": json.dumps({"answer": part.content})})
                elif isinstance(part, ToolCallPart):
                    call = {"tool": part.tool_name, "arguments": _args_object(part.args)}
                    out.append({"role": "assistant", "content": json.dumps(call)})
    out.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return out


def render_native_messages(messages: list[ModelMessage], tools: list[ToolDefinition]) -> list[dict[str, Any]]:
    """pydantic-ai history → OpenAI chat messages (``tool_calls``, ``tool`` results) for the
    model's own chat template. The system message is the newest instructions plus
    :data:`NATIVE_FORMAT` (and :data:`MOVE_EXAMPLE` when a ``move`` tool is offered) when tools are."""
    system = _instructions(messages)
    if tools:
        system.append(NATIVE_FORMAT)
        if any(t.name == "move" for t in tools):
            system.append(MOVE_EXAMPLE)
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            _render_request(message, system, out, native=True)
        elif isinstance(message, ModelResponse):
            text = "".join(p.content for p in message.parts if isinstance(p, TextPart))
            calls = [
                {"id": p.tool_call_id, "type": "function", "function": {
                    "name": p.tool_name, "arguments": json.dumps(_args_object(p.args))}}
                for p in message.parts if isinstance(p, ToolCallPart)
            ]
            entry: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
    out.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return out


def _workspace_of(tools: list[ToolDefinition]) -> Path | None:
    for tool in tools:
        if ws := (tool.metadata or {}).get("workspace"):
            return Path(ws)
    return None


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise LocalModelError(f"{name} must be a number, not {os.environ[name]!r}") from None


class LocalModel(Model):
    """A pydantic-ai model served by the embedded llama.cpp server (see the module docstring).

    ``harness = "compact"`` tells the engine to drive it the way small models need: a short
    prompt with the workspace listed up front and a compact tool set.
    """

    harness = "compact"
    stream_timeout = 600.0
    """Seconds of silence the engine tolerates: the server is in-process, so silence means a
    slow CPU processing a long prompt, not a lost connection."""

    def __init__(self, name: str, *, max_tokens: int = 768, tool_format: ToolFormat | None = None) -> None:
        super().__init__(profile=ModelProfile(supports_json_schema_output=True, supports_tools=True))
        self._name = name
        self.path, self.n_ctx = resolve_weights(name)
        self._max_tokens = max_tokens
        chosen = tool_format or os.environ.get(TOOL_FORMAT_ENV, "auto") or "auto"
        if chosen not in ("native", "schema", "auto"):
            raise LocalModelError(f"{TOOL_FORMAT_ENV} must be native, schema or auto, not {chosen!r}")
        self._format = chosen
        self._temperature = _env_float("COWORK_LOCAL_TEMPERATURE", 0.2)
        self._seed = int(_env_float("COWORK_LOCAL_SEED", 0))

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

    def tool_format(self, server: EmbeddedServer) -> ToolFormat:
        """``native`` or ``schema`` for this model on ``server`` (see the module docstring)."""
        if self._format == "auto":
            return "native" if server.supports_tools else "schema"
        return self._format  # type: ignore[return-value]

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
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": (model_settings or {}).get("max_tokens") or self._max_tokens,
            "temperature": self._temperature,
            "seed": self._seed,
            "cache_prompt": True,
        }
        native = self.tool_format(server) == "native"
        if native:
            body["messages"] = render_native_messages(messages, tools)
            if tools:
                body["tools"] = native_tools(tools)
                body["parallel_tool_calls"] = True
                if not model_request_parameters.allow_text_output:
                    # A call is required. Not with tool_choice "required": with the Qwen template,
                    # llama.cpp's grammar for it let the model write a fenced call and then pad with
                    # newlines up to the output limit (measured). A JSON schema of a list of calls
                    # in the template's own shape works (a list: forced to one call, a small model
                    # moved one file and called it done), and the text recovery below reads it.
                    call = step_schema(tools, _workspace_of(tools), answer=False, name_key="name")
                    schema = {"type": "array", "items": call, "minItems": 1, "maxItems": MAX_FORCED_CALLS}
                    body["response_format"] = {"type": "json_schema", "json_schema": {"name": "calls", "schema": schema}}
        else:
            body["messages"] = render_messages(messages, tools)
            # Always constrained, even without tools: the history shows earlier steps as JSON, and
            # an unconstrained tiny model imitates it with tool calls it may no longer make.
            schema = step_schema(tools, _workspace_of(tools), answer=model_request_parameters.allow_text_output)
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "step", "schema": schema}}
        client = httpx.AsyncClient(base_url=server.base_url, timeout=httpx.Timeout(10, read=None))
        try:
            async with client.stream("POST", "/v1/chat/completions", json=body) as http:
                if http.status_code != 200:
                    detail = (await http.aread()).decode(errors="replace")[:500]
                    raise LocalModelError(f"embedded llama.cpp server answered {http.status_code}: {detail}")
                kind = NativeStreamedResponse if native else SchemaStreamedResponse
                yield kind(
                    model_request_parameters=model_request_parameters,
                    _hold_all=native and not model_request_parameters.allow_text_output,
                    _model_name=self._name,
                    _lines=http.aiter_lines(),
                    _tool_names=frozenset(t.name for t in tools),
                )
        finally:
            await client.aclose()


@dataclass
class _LocalStream(StreamedResponse):
    """llama.cpp's chat-completion chunks → pydantic-ai stream events (subclasses map the deltas)."""

    _model_name: str
    _lines: AsyncIterator[str]
    _tool_names: frozenset[str] = frozenset()
    _hold_all: bool = False  # the response must be calls: hold all its text until the end
    _timestamp: datetime = field(default_factory=lambda: datetime.now().astimezone())

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        async for line in self._lines:
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if usage := chunk.get("usage"):
                timings = chunk.get("timings") or {}
                self._usage = RequestUsage(
                    input_tokens=usage.get("prompt_tokens", 0), output_tokens=usage.get("completion_tokens", 0),
                    cache_read_tokens=timings.get("cache_n", 0),
                )
            for choice in chunk.get("choices") or ():
                if reason := choice.get("finish_reason"):
                    self.finish_reason = "length" if reason == "length" else "stop"
                for event in self._on_delta(choice.get("delta") or {}):
                    yield event
        for event in self._finish():
            yield event

    def _on_delta(self, delta: dict[str, Any]) -> Iterator[ModelResponseStreamEvent]:
        raise NotImplementedError

    def _finish(self) -> Iterator[ModelResponseStreamEvent]:
        return iter(())

    def _call(self, name: str, arguments: dict[str, Any], n: int) -> ModelResponseStreamEvent:
        return self._parts_manager.handle_tool_call_part(
            vendor_part_id=("text-call", n), tool_name=name, args=arguments,
            tool_call_id=f"call_{uuid.uuid4().hex[:12]}",
        )

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


@dataclass
class NativeStreamedResponse(_LocalStream):
    """Native tool calls, plus calls recovered from the text (see the module docstring).

    Text streams as it comes until it may hold a call (a ``{``, ``<`` or code fence appears);
    from there it is held back and, at the end, turned into calls or shown as text."""

    _text: str = ""
    _shown: int = 0
    _holding: bool = False
    _native_calls: int = 0

    def _on_delta(self, delta: dict[str, Any]) -> Iterator[ModelResponseStreamEvent]:
        for call in delta.get("tool_calls") or ():
            self._native_calls += 1
            fn = call.get("function") or {}
            yield from self._parts_manager.handle_tool_call_delta_events(
                vendor_part_id=("call", call.get("index", 0)), tool_name=fn.get("name") or None,
                args=fn.get("arguments") or None, tool_call_id=call.get("id") or None,
            )
        text = delta.get("content")
        if not text:
            return
        self._text += text
        self._holding = self._holding or self._hold_all
        if not self._holding and self._tool_names:
            cut = min((i for i in (self._text.find(c, self._shown) for c in ("{", "<", "```")) if i >= 0), default=-1)
            if cut >= 0:
                self._holding = True
                yield from self._show(self._text[self._shown:cut])
                self._shown = cut
                return
        if not self._holding:
            yield from self._show(self._text[self._shown:])
            self._shown = len(self._text)

    def _show(self, text: str) -> Iterator[ModelResponseStreamEvent]:
        if text:
            yield from self._parts_manager.handle_text_delta(vendor_part_id="content", content=text)

    def _finish(self) -> Iterator[ModelResponseStreamEvent]:
        held = self._text[self._shown:]
        if not held:
            return
        cut_off = self.finish_reason == "length"  # an unclosed last object is half a call: never run it
        calls = find_tool_calls(held, self._tool_names, complete=cut_off) if self._native_calls == 0 else []
        if calls:
            if prose := strip_call_text(held):
                yield from self._show(("\n" if self._shown else "") + prose)
            for n, call in enumerate(calls):
                yield self._call(call.name, call.arguments, n)
            return
        yield from self._show(held)
        if self._native_calls == 0 and invents_tool_result(held):
            self.provider_details = {**(self.provider_details or {}), "invented_tool_result": True}
        elif self._native_calls == 0 and looks_like_tool_call(held, self._tool_names):
            self.provider_details = {**(self.provider_details or {}), "unparsed_tool_call": True}


@dataclass
class SchemaStreamedResponse(_LocalStream):
    """Maps llama.cpp's JSON-constrained output to text and tool-call parts."""

    _raw: str = ""
    _answered: str = ""
    _call_name: str | None = None
    _args_start: int = 0
    _args_sent: int = 0

    def _on_delta(self, delta: dict[str, Any]) -> Iterator[ModelResponseStreamEvent]:
        text = delta.get("content")
        if not text:
            return
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
                delta_args, self._args_sent = body[self._args_sent :], len(body)
                yield from self._parts_manager.handle_tool_call_delta_events(vendor_part_id="tool", args=delta_args)
            return
        try:
            partial = pydantic_core.from_json(self._raw, allow_partial="trailing-strings")
        except ValueError:
            return
        answer = partial.get("answer") if isinstance(partial, dict) else None
        if isinstance(answer, str) and answer.startswith(self._answered) and len(answer) > len(self._answered):
            delta_text, self._answered = answer[len(self._answered):], answer
            yield from self._parts_manager.handle_text_delta(vendor_part_id="content", content=delta_text)

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
