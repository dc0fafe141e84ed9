"""Scripted OpenAI-compatible chat-completions server speaking real HTTP.

Stands in for a paid provider in end-to-end tests and benchmarks: the code
under test talks to it through the real ``openai`` SDK (or pydantic-ai's
``OpenAIChatModel``) with ``OPENAI_BASE_URL`` pointing at ``srv.base_url``.
Standard library only (``http.server.ThreadingHTTPServer`` on 127.0.0.1).

Endpoints
---------
``POST /v1/chat/completions``
    ``stream: true`` -> Server-Sent Events over HTTP/1.1 ``Transfer-Encoding:
    chunked``, one HTTP chunk per event, flushed as produced::

        data: {"id","object":"chat.completion.chunk","created","model",
               "system_fingerprint","choices":[{"index":0,"delta":{...},
               "finish_reason":null,"logprobs":null}]}

    The first chunk carries ``delta.role = "assistant"``. Text is streamed as
    ``delta.content`` pieces.  Each tool call is streamed the way OpenAI does:
    a first chunk ``{"index": i, "id": "call_…", "type": "function",
    "function": {"name": …, "arguments": ""}}`` then chunks carrying only
    ``{"index": i, "function": {"arguments": "<fragment>"}}``.  Then a chunk
    with an empty delta and ``finish_reason``; when the request had
    ``stream_options.include_usage`` a chunk with ``choices: []`` and
    ``usage``; then ``data: [DONE]``.

    ``stream`` false/absent -> a ``chat.completion`` JSON object with
    ``message.content`` / ``message.tool_calls`` and ``usage``.
``GET /v1/models`` (and ``GET /v1/models/{id}``)
    The server's ``models`` list.
Anything else -> 404 with an OpenAI-style error body; a body that is not a
JSON object -> 400.

Python API
----------
::

    from fakemodel import FakeModelServer, text, tool_call, reply, hang, cut, http_error

    with FakeModelServer() as srv:               # free port, stopped on exit
        srv.base_url                              # "http://127.0.0.1:PORT/v1"
        srv.script(reply(tool_call("write", {"path": "a.txt", "content": "hi"})),
                   reply(text("Done.")))
        srv.default = reply(text("OK"))           # served once script and handler give nothing
        srv.handler = lambda body: reply(...)     # asked after the script is empty (None -> default)
        srv.wait_for_requests(2, timeout=5)
        srv.requests                              # received chat-completions bodies (copy)

Parts: ``text(s, chunk_size=4)``, ``tool_call(name, args, id=None,
chunk_size=8)`` (a ``str`` args is sent verbatim, e.g. malformed JSON).
``reply(*parts, usage=(prompt, completion) | None, finish_reason=None,
delay=0.0, first_delay=0.0)``: finish_reason defaults to ``"tool_calls"`` when there are tool
calls, else ``"stop"``; ``delay`` seconds are slept between streamed chunks
(a non-streaming reply sleeps ``first_delay + delay * (chunks - 1)`` before answering).
``first_delay`` seconds are slept after the response headers, before the first
chunk (a hosted model's time to first token). A hosted model's timing, e.g.
400 ms to the first token then 60 tokens/s with one chunk per token:
``reply(..., first_delay=0.4, delay=1 / 60)``.
Without ``usage`` the numbers are a deterministic estimate (chars / 4).

Faults, usable anywhere a reply is:

* ``hang(after_chunks=0, seconds=3600, reply=None)``: streaming -> sends the
  headers and the first ``after_chunks`` chunks of ``reply`` (default: a text
  reply) and then nothing until the client disconnects, the server stops or
  ``seconds`` pass (then the connection is dropped).  Non-streaming -> sends
  nothing at all, headers included.
* ``cut(reply, after_chunks=N)``: streaming -> the first N chunks, then the
  connection is closed without the terminating HTTP chunk or ``[DONE]``
  (clients see an incomplete-chunked-read error).  Non-streaming -> headers
  and half the JSON body, then close.
* ``http_error(status, body=None, retry_after=None, headers=None,
  message=None)``: e.g. 429 with ``Retry-After``, 500.  ``body`` may be a dict
  (sent as JSON) or str (verbatim); default ``{"error": {"message", "type",
  "param", "code"}}``.

A chunk count N counts SSE ``data:`` events (the role chunk is the first).
Convenience: a bare ``str``, ``text(...)`` or ``tool_call(...)`` given to
``script``/``default``/returned by ``handler`` is wrapped in ``reply``.

CLI
---
``python tests/fakemodel.py [--script script.json] [--port 0] [--host 127.0.0.1]
[--requests-log requests.jsonl]`` prints ``listening on http://HOST:PORT/v1``
(flushed) and serves until killed (SIGTERM/SIGINT stop it cleanly).
``--requests-log`` appends each chat-completions request body as a JSON line.

``script.json`` is either a JSON list of items or an object
``{"script": [...], "default": item, "models": ["name", ...]}``.  Items::

    {"text": "hello"}                                   # text reply
    {"text": "leading text", "tool_calls": [            # tool calls (text optional)
        {"name": "write", "arguments": {"path": "a"}, "id": "call_1"},
        {"name": "bash", "arguments": "{\\"command\\": "}]}   # str args sent verbatim
    {"error": 429, "retry_after": 1}                   # also "body", "message", "headers"
    {"hang": true}                                      # also "after_chunks", "seconds", "reply": item
    {"cut": {"text": "partial answer"}, "after_chunks": 2}

Reply items also accept ``"usage": [prompt, completion]``, ``"finish_reason"``,
``"delay"``, ``"first_delay"``, ``"chunk_size"`` (text) and ``"args_chunk_size"`` (tool calls).
Any item accepts ``"repeat": N`` to enqueue it N times.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union

__all__ = [
    "system_text",
    "tool_texts",
    "FakeModelServer",
    "Text",
    "ToolCall",
    "Reply",
    "Hang",
    "Cut",
    "HttpError",
    "text",
    "tool_call",
    "reply",
    "hang",
    "cut",
    "http_error",
    "item_from_json",
]

DEFAULT_MODELS = ("fake-model",)


# --------------------------------------------------------------------------- script items


@dataclass(frozen=True)
class Text:
    content: str
    chunk_size: int = 4


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # the exact JSON (or not-JSON) string sent on the wire
    id: str | None = None
    chunk_size: int = 8


@dataclass(frozen=True)
class Reply:
    parts: tuple[Text | ToolCall, ...] = ()
    usage: tuple[int, int] | None = None
    finish_reason: str | None = None
    delay: float = 0.0
    first_delay: float = 0.0  # seconds before the first streamed chunk (time to first token)


@dataclass(frozen=True)
class Hang:
    after_chunks: int = 0
    seconds: float = 3600.0
    reply: Reply | None = None


@dataclass(frozen=True)
class Cut:
    reply: Reply
    after_chunks: int = 0


@dataclass(frozen=True)
class HttpError:
    status: int
    body: dict | str | None = None
    retry_after: float | int | str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    message: str | None = None


Item = Union[Reply, Hang, Cut, HttpError]


def _content(m: dict) -> str:
    return m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])


def system_text(request: dict) -> str:
    """The system (or developer) messages of a recorded chat-completions request, joined."""
    return "\n".join(_content(m) for m in request["messages"] if m["role"] in ("system", "developer"))


def tool_texts(request: dict) -> list[str]:
    """The contents of a recorded request's ``tool`` messages (the results the model reads), in order."""
    return [_content(m) for m in request["messages"] if m["role"] == "tool"]


def text(s: str, chunk_size: int = 4) -> Text:
    """Assistant text, streamed as ``delta.content`` pieces of ``chunk_size`` characters."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    return Text(s, chunk_size)


def tool_call(name: str, args: dict | str | None = None, id: str | None = None, chunk_size: int = 8) -> ToolCall:
    """A function tool call; ``args`` dict is JSON-encoded, a ``str`` is sent verbatim."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    if args is None:
        args = {}
    arguments = args if isinstance(args, str) else json.dumps(args)
    return ToolCall(name, arguments, id, chunk_size)


def reply(
    *parts: Text | ToolCall | str,
    usage: tuple[int, int] | list[int] | None = None,
    finish_reason: str | None = None,
    delay: float = 0.0,
    first_delay: float = 0.0,
) -> Reply:
    """One assistant response made of text and tool-call parts, in order; ``delay`` seconds
    between streamed chunks, ``first_delay`` seconds before the first one."""
    norm: list[Text | ToolCall] = []
    for p in parts:
        if isinstance(p, str):
            p = text(p)
        if not isinstance(p, (Text, ToolCall)):
            raise TypeError(f"reply() parts must be text()/tool_call(), got {p!r}")
        norm.append(p)
    if usage is not None:
        usage = (int(usage[0]), int(usage[1]))
    return Reply(tuple(norm), usage, finish_reason, float(delay), float(first_delay))


def hang(after_chunks: int = 0, seconds: float = 3600.0, reply: Reply | None = None) -> Hang:
    """Send headers (+ ``after_chunks`` chunks of ``reply``), then stall."""
    return Hang(after_chunks, seconds, _as_reply(reply) if reply is not None else None)


def cut(reply: Reply | Text | ToolCall | str, after_chunks: int = 0) -> Cut:
    """Send the first ``after_chunks`` chunks of ``reply`` then drop the connection."""
    return Cut(_as_reply(reply), after_chunks)


def http_error(
    status: int,
    body: dict | str | None = None,
    retry_after: float | int | str | None = None,
    headers: dict[str, str] | None = None,
    message: str | None = None,
) -> HttpError:
    """An HTTP error response with an OpenAI-style error body."""
    return HttpError(int(status), body, retry_after, tuple((headers or {}).items()), message)


def _as_reply(x: Any) -> Reply:
    if isinstance(x, Reply):
        return x
    if isinstance(x, (str, Text, ToolCall)):
        return reply(x)
    raise TypeError(f"expected a reply, got {x!r}")


def _as_item(x: Any) -> Item:
    if isinstance(x, (Reply, Hang, Cut, HttpError)):
        return x
    if isinstance(x, dict):
        return item_from_json(x)
    return _as_reply(x)


def item_from_json(d: dict) -> Item:
    """Build a script item from its JSON form (see the module docstring)."""
    if not isinstance(d, dict):
        raise ValueError(f"script item must be an object, got {d!r}")
    if "error" in d:
        return http_error(
            d["error"], body=d.get("body"), retry_after=d.get("retry_after"),
            headers=d.get("headers"), message=d.get("message"),
        )
    if d.get("hang"):
        r = d.get("reply")
        return hang(int(d.get("after_chunks", 0)), float(d.get("seconds", 3600)),
                    item_from_json(r) if r is not None else None)  # type: ignore[arg-type]
    if "cut" in d:
        inner = item_from_json(d["cut"])
        if not isinstance(inner, Reply):
            raise ValueError("cut must wrap a reply item")
        return cut(inner, int(d.get("after_chunks", 0)))
    parts: list[Text | ToolCall] = []
    if d.get("text") is not None:
        parts.append(text(d["text"], int(d.get("chunk_size", 4))))
    for tc in d.get("tool_calls") or []:
        parts.append(tool_call(tc["name"], tc.get("arguments", {}), tc.get("id"),
                               int(d.get("args_chunk_size", 8))))
    if not parts and not any(k in d for k in ("text", "tool_calls")):
        raise ValueError(f"unrecognised script item: {d!r}")
    return reply(*parts, usage=d.get("usage"), finish_reason=d.get("finish_reason"),
                 delay=float(d.get("delay", 0.0)), first_delay=float(d.get("first_delay", 0.0)))


def _expand_json_items(items: list) -> list[Item]:
    out: list[Item] = []
    for d in items:
        n = int(d.get("repeat", 1)) if isinstance(d, dict) else 1
        out.extend([item_from_json(d)] * n)
    return out


# --------------------------------------------------------------------------- wire format


def _gen_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _estimate_usage(body: dict, r: Reply) -> tuple[int, int]:
    prompt_chars = len(json.dumps(body.get("messages", []))) + len(json.dumps(body.get("tools", [])))
    out_chars = sum(len(p.content) if isinstance(p, Text) else len(p.name) + len(p.arguments) for p in r.parts)
    return max(1, prompt_chars // 4), max(1, out_chars // 4)


def _usage_json(p: int, c: int) -> dict:
    return {
        "prompt_tokens": p,
        "completion_tokens": c,
        "total_tokens": p + c,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
        },
    }


def _finish_reason(r: Reply) -> str:
    if r.finish_reason:
        return r.finish_reason
    return "tool_calls" if any(isinstance(p, ToolCall) for p in r.parts) else "stop"


def _resolved_call_ids(r: Reply) -> list[str]:
    return [p.id or _gen_id("call_") for p in r.parts if isinstance(p, ToolCall)]


def stream_chunks(r: Reply, body: dict, model: str) -> list[dict]:
    """The ``chat.completion.chunk`` objects (without ``[DONE]``) for reply ``r``."""
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    cid, created = _gen_id("chatcmpl-"), int(time.time())
    chunks: list[dict] = []

    def chunk(delta: dict, finish: str | None = None) -> None:
        c = {
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_fakemodel",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            c["usage"] = None
        chunks.append(c)

    role_pending = True
    ids = iter(_resolved_call_ids(r))
    tc_index = 0
    for part in r.parts:
        if isinstance(part, Text):
            pieces = [part.content[i:i + part.chunk_size] for i in range(0, len(part.content), part.chunk_size)]
            if role_pending:
                chunk({"role": "assistant", "content": "", "refusal": None})
                role_pending = False
            for piece in pieces:
                chunk({"content": piece})
        else:
            first = {"index": tc_index, "id": next(ids), "type": "function",
                     "function": {"name": part.name, "arguments": ""}}
            if role_pending:
                chunk({"role": "assistant", "content": None, "refusal": None, "tool_calls": [first]})
                role_pending = False
            else:
                chunk({"tool_calls": [first]})
            a = part.arguments
            for i in range(0, len(a), part.chunk_size):
                chunk({"tool_calls": [{"index": tc_index, "function": {"arguments": a[i:i + part.chunk_size]}}]})
            tc_index += 1
    if role_pending:
        chunk({"role": "assistant", "content": "", "refusal": None})
    chunk({}, _finish_reason(r))
    if include_usage:
        p, c = r.usage or _estimate_usage(body, r)
        chunks.append({
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_fakemodel", "choices": [], "usage": _usage_json(p, c),
        })
    return chunks


def completion_json(r: Reply, body: dict, model: str) -> dict:
    """The non-streaming ``chat.completion`` object for reply ``r``."""
    content = "".join(p.content for p in r.parts if isinstance(p, Text))
    ids = iter(_resolved_call_ids(r))
    calls = [
        {"id": next(ids), "type": "function", "function": {"name": p.name, "arguments": p.arguments}}
        for p in r.parts if isinstance(p, ToolCall)
    ]
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content if (content or not calls) else None,
        "refusal": None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = calls
    p, c = r.usage or _estimate_usage(body, r)
    return {
        "id": _gen_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()), "model": model,
        "system_fingerprint": "fp_fakemodel",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(r)}],
        "usage": _usage_json(p, c),
    }


_ERROR_KINDS = {
    400: ("invalid_request_error", None, "Bad request"),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "not_found", "Not found."),
    408: ("timeout", None, "Request timed out."),
    409: ("invalid_request_error", "conflict", "Conflict."),
    413: ("invalid_request_error", "request_too_large", "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}


def error_body(status: int, message: str | None = None) -> dict:
    etype, code, default_msg = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}"))
    return {"error": {"message": message or f"[fakemodel] {default_msg}", "type": etype, "param": None, "code": code}}


# --------------------------------------------------------------------------- HTTP server


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Send each small SSE chunk at once: with Nagle's algorithm the last chunk of a response
    # waits for the client's delayed ACK (~40 ms on Linux loopback), as no real provider does.
    disable_nagle_algorithm = True
    server_version = "fakemodel/1.0"
    sys_version = ""
    fake: "FakeModelServer"  # set on the subclass made per server

    # ---- plumbing
    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.fake._track(self.connection, False)

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, _ClientGone):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.fake.verbose:
            sys.stderr.write("fakemodel: " + (format % args) + "\n")

    def _send_json(self, status: int, obj: Any, extra_headers: dict[str, str] | None = None) -> None:
        data = obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    raise _ClientGone
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _drop(self) -> None:
        """Close the connection abruptly."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- routes
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        models = list(self.fake.models)
        if path == "/v1/models":
            self._send_json(200, {"object": "list", "data": [self._model_obj(m) for m in models]})
        elif path.startswith("/v1/models/") and path[len("/v1/models/"):] in models:
            self._send_json(200, self._model_obj(path[len("/v1/models/"):]))
        else:
            self._send_json(404, error_body(404, f"[fakemodel] no route GET {self.path}"))

    @staticmethod
    def _model_obj(m: str) -> dict:
        return {"id": m, "object": "model", "created": 1700000000, "owned_by": "fakemodel"}

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        raw = self._read_body()
        if path != "/v1/chat/completions":
            self._send_json(404, error_body(404, f"[fakemodel] no route POST {self.path}"))
            return
        try:
            body = json.loads(raw or b"null")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as e:
            self._send_json(400, error_body(400, f"[fakemodel] invalid JSON body: {e}"))
            return
        item = self.fake._record_and_next(body, {k.lower(): v for k, v in self.headers.items()})
        model = str(body.get("model") or (self.fake.models[0] if self.fake.models else "fake-model"))
        stream = bool(body.get("stream"))

        if isinstance(item, HttpError):
            headers = {k: v for k, v in item.headers}
            if item.retry_after is not None:
                headers["Retry-After"] = str(item.retry_after)
            b = item.body if item.body is not None else error_body(item.status, item.message)
            self._send_json(item.status, b, headers)
        elif isinstance(item, Hang):
            if stream:
                r = item.reply or reply(text("[fakemodel] hanging"))
                self._start_stream()
                self._send_events(stream_chunks(r, body, model)[: item.after_chunks], r.delay, r.first_delay)
            self._hang(item.seconds)
            self._drop()
        elif isinstance(item, Cut):
            if stream:
                self._start_stream()
                self._send_events(stream_chunks(item.reply, body, model)[: item.after_chunks], item.reply.delay,
                                  item.reply.first_delay)
            else:
                data = json.dumps(completion_json(item.reply, body, model)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
            self._drop()
        else:
            r = item
            if stream:
                self._start_stream()
                self._send_events(stream_chunks(r, body, model), r.delay, r.first_delay)
                self._write_chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            else:
                n_chunks = len(stream_chunks(r, body, model))
                wait = r.first_delay + r.delay * max(0, n_chunks - 1)
                if wait and self.fake._stopping.wait(wait):
                    self._drop()
                    return
                self._send_json(200, completion_json(r, body, model))

    # ---- streaming helpers
    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_events(self, chunks: list[dict], delay: float, first_delay: float = 0.0) -> None:
        for i, c in enumerate(chunks):
            wait = delay if i else first_delay
            if wait and self.fake._stopping.wait(wait):
                raise _ClientGone  # server stopping
            self._write_chunk(b"data: " + json.dumps(c).encode() + b"\n\n")

    def _hang(self, seconds: float) -> None:
        """Wait until the client disconnects, the server stops, or ``seconds`` pass."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        while not self.fake._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                readable, _, _ = select.select([sock], [], [], min(0.05, left))
                if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                    return  # client closed
                if readable:  # client sent more data (e.g. pipelining): don't spin
                    self.fake._stopping.wait(min(0.05, left))
            except (OSError, ValueError):
                return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # listen backlog: many clients connecting at once (benchmarks) are not reset

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, _ClientGone)):
            return
        super().handle_error(request, client_address)


class FakeModelServer:
    """Scripted OpenAI-compatible server on 127.0.0.1 (see module docstring)."""

    def __init__(self, *items: Any, host: str = "127.0.0.1", port: int = 0,
                 models: tuple[str, ...] | list[str] = DEFAULT_MODELS, verbose: bool = False,
                 requests_log: str | None = None) -> None:
        self.host, self._port_req = host, port
        self.models: list[str] = list(models)
        self.verbose = verbose
        self.requests_log = requests_log
        self.default: Any = reply(text("[fakemodel] script exhausted"))
        self.handler: Callable[[dict], Any] | None = None
        self._queue: list[Item] = []
        self._requests: list[dict] = []
        self._headers: list[dict[str, str]] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if items:
            self.script(*items)

    # ---- lifecycle
    def start(self) -> "FakeModelServer":
        if self._server is not None:
            return self
        handler_cls = type("_BoundHandler", (_Handler,), {"fake": self})
        self._stopping.clear()
        self._server = _Server((self.host, self._port_req), handler_cls)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"fakemodel:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        srv = self._server
        if srv is None:
            return
        self._stopping.set()
        srv.shutdown()
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        srv.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "FakeModelServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # ---- script
    def script(self, *items: Any) -> "FakeModelServer":
        """Append responses to the queue; each chat-completions request consumes one."""
        norm = [_as_item(i) for i in items]
        with self._cond:
            self._queue.extend(norm)
        return self

    def load_script(self, data: list | dict) -> "FakeModelServer":
        """Load the JSON script format (a list, or {"script", "default", "models"})."""
        if isinstance(data, dict):
            if "models" in data:
                self.models = list(data["models"])
            if "default" in data:
                self.default = item_from_json(data["default"])
            data = data.get("script", [])
        with self._cond:
            self._queue.extend(_expand_json_items(data))
        return self

    @property
    def remaining(self) -> int:
        with self._cond:
            return len(self._queue)

    def clear(self) -> None:
        """Drop the queued script and the recorded requests."""
        with self._cond:
            self._queue.clear()
            self._requests.clear()
            self._headers.clear()

    # ---- recorded requests
    @property
    def requests(self) -> list[dict]:
        with self._cond:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers of each recorded request (keys lower-cased), parallel to ``requests``."""
        with self._cond:
            return list(self._headers)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[dict]:
        """Block until ``n`` chat-completions requests were received; TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(f"fakemodel: got {len(self._requests)} requests, wanted {n} within {timeout}s")
            return list(self._requests)

    # ---- internals
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._cond:
            (self._conns.add if add else self._conns.discard)(conn)

    def _record_and_next(self, body: dict, headers: dict[str, str]) -> Item:
        with self._cond:
            self._requests.append(body)
            self._headers.append(headers)
            item = self._queue.pop(0) if self._queue else None
            self._cond.notify_all()
            if self.requests_log:
                with open(self.requests_log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(body) + "\n")
        if item is None and self.handler is not None:
            try:
                got = self.handler(body)
            except Exception as e:  # surface handler bugs to the client instead of a dead connection
                return http_error(500, message=f"[fakemodel] handler raised {type(e).__name__}: {e}")
            if got is not None:
                item = _as_item(got)
        return item if item is not None else _as_item(self.default)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Scripted OpenAI-compatible chat-completions server.")
    ap.add_argument("--script", help="JSON script file (see module docstring)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--requests-log", help="append each request body as a JSON line to this file")
    ap.add_argument("--verbose", action="store_true", help="log HTTP requests to stderr")
    a = ap.parse_args(argv)
    srv = FakeModelServer(host=a.host, port=a.port, verbose=a.verbose, requests_log=a.requests_log)
    if a.script:
        with open(a.script, encoding="utf-8") as f:
            srv.load_script(json.load(f))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    srv.start()
    print(f"listening on {srv.base_url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
