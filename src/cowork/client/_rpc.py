"""The wire: JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over one WebSocket — requests
in flight, reconnect, and the resume hook the subscriptions use. Knows no method but
``initialize``; the typed methods are in :mod:`cowork.client.api`.

Frames: requests ``{"jsonrpc": "2.0", "id": N, "method": "session/get", "params": {...}}``;
answers ``{"jsonrpc": "2.0", "id": N, "result": {...}}`` or ``{..., "error": {"code", "message",
"data"?}}`` — an error answer is raised as :class:`CoworkError`; notifications ``{"jsonrpc":
"2.0", "method": "event", "params": <event>}`` (alone, or many in one JSON array) are handed to
``on_event``.

One reader task per connection reads every frame. When the connection drops it reconnects
(backoff 0.05 s doubling to 2 s, for at most ``reconnect_timeout`` seconds), runs ``initialize``
again, calls ``on_resume`` (which may register requests of its own and adjust the parameters of
the ones in flight), then re-sends the requests that were in flight when they are safe to repeat
(:data:`SAFE_TO_REPEAT`). The others fail with :class:`ConnectionLost`: the server may or may not
have carried them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ..protocol.rpc import (
    EVENT_NOTIFICATION,
    METHODS,
    PROTOCOL_VERSION,
    Capabilities,
    ClientCapabilities,
    ClientInfo,
    ErrorCode,
    InitializeParams,
    InitializeResult,
    RpcError,
    ServerInfo,
)

log = logging.getLogger("cowork.client")

DEFAULT_URL = "ws://127.0.0.1:8765/ws"

REPEATABLE_CHANGES = frozenset({"turn/start", "turn/interrupt"})
"""Mutating methods that are still safe to send twice: ``turn/start`` because the client always
gives it a ``clientMessageId``, ``turn/interrupt`` because a second interrupt finds nothing."""

SAFE_TO_REPEAT = frozenset(
    {name for name, m in METHODS.items() if not m.mutating and name != "initialize"} | REPEATABLE_CHANGES)
"""Methods re-sent after a reconnect when their answer was lost with the connection: every method
of :data:`~cowork.protocol.rpc.METHODS` that changes nothing, and :data:`REPEATABLE_CHANGES`."""

_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 2.0
_MAX_FRAME = 64 * 1024 * 1024
_OPEN_TIMEOUT = 10.0


def _client_version() -> str:
    try:
        return version("cowork")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


class CoworkError(RpcError):
    """An error answer from the server.

    ``code`` is one of :class:`cowork.protocol.rpc.ErrorCode` (e.g. ``-32004`` unknown session,
    ``-32010`` a turn is already running, ``-32602`` invalid parameters), ``message`` is for
    people, ``data`` is whatever the server attached (or None).
    """

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})"


class ConnectionLost(ConnectionError):
    """The server could not be reached (again): the first connect failed, the connection dropped
    with ``reconnect=False``, no reconnect succeeded within ``reconnect_timeout``, or the client
    was closed. Also raised for a request that changes something (``session/create``,
    ``turn/steer``, ``approval/respond``…) whose answer was lost with the connection: the server
    may or may not have carried it out."""


def ws_url(url: str) -> str:
    """``ws(s)://…`` unchanged; an ``http(s)://host:port[/base]`` base URL becomes
    ``ws(s)://host:port[/base]/ws``. Raises ValueError for any other scheme."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("ws", "wss"):
        return url
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL {url!r}: use ws://, wss://, http:// or https://")
    path = parts.path.rstrip("/") + "/ws"
    return urlunsplit(("ws" if scheme == "http" else "wss", parts.netloc, path, parts.query, ""))


@dataclass(eq=False)
class Pending:
    """A request in flight: written on connection ``gen`` (None: not written yet, or to be
    re-sent after a reconnect). ``params`` is the wire shape and may be adjusted before a re-send."""

    id: int
    method: str
    params: dict[str, Any]
    future: asyncio.Future[Any]
    gen: int | None = None
    internal: bool = False

    def frame(self) -> str:
        return _frame(self.id, self.method, self.params)


class Rpc:
    """One JSON-RPC connection that survives drops.

    ``on_event(params)``: every ``event`` notification's params (a dict, unparsed);
    ``on_notification(method, params)``: every other notification with object params.
    ``on_resume()``: after a reconnect and ``initialize``, before anything is re-sent.
    ``on_finish(failure, end_with)``: the connection is over for good (closed, or lost and not
    reconnected); ``end_with`` is what a follower should end with (None: the failure itself).
    """

    def __init__(self, url: str, *, token: str | None, client_name: str, reconnect: bool,
                 reconnect_timeout: float, on_event: Callable[[dict[str, Any]], None],
                 on_resume: Callable[[], None], on_finish: Callable[[ConnectionLost, Any], None],
                 on_notification: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.url = ws_url(url)
        self.token = token
        self.client_name = client_name
        self.reconnect = reconnect
        self.reconnect_timeout = reconnect_timeout
        self.server_info: ServerInfo | None = None
        self.capabilities: Capabilities | None = None
        self.protocol_version: str | None = None
        self._on_event, self._on_resume, self._on_finish = on_event, on_resume, on_finish
        self._on_notification = on_notification
        self._ws: ClientConnection | None = None
        self._gen = 0
        self._next_id = 0
        self._pending: dict[int, Pending] = {}
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._connect_lock = asyncio.Lock()
        self.failure: ConnectionLost | None = None
        """Set once the connection is over for good."""
        self.closing = False

    # -- connection ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the connection is open and initialized (False while reconnecting)."""
        return self._ready.is_set() and self.failure is None

    async def connect(self) -> None:
        """Open the connection and run ``initialize``; nothing when already connected. Raises
        :class:`ConnectionLost` (unreachable, or closed), :class:`CoworkError` (refused)."""
        async with self._connect_lock:
            if self._reader is not None and self.failure is None:
                return
            if self.closing:
                raise ConnectionLost("the client is closed")
            try:
                ws, init = await self._open(_OPEN_TIMEOUT)
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                raise ConnectionLost(f"cannot connect to {self.url}: {exc}") from exc
            self._install(ws, init)
            self.failure = None
            self._ready.set()
            self._reader = asyncio.create_task(self._run(), name=f"cowork client {self.url}")

    async def close(self) -> None:
        """Close for good: waiting requests fail with :class:`ConnectionLost`. Idempotent."""
        if self.closing:
            return
        self.closing = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        self._finish(ConnectionLost("the client is closed"), end_with=CLOSED)

    async def _open(self, timeout: float) -> tuple[ClientConnection, InitializeResult]:
        """Connect and initialize within ``timeout`` seconds."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        async with asyncio.timeout(timeout):
            try:
                ws = await connect(self.url, additional_headers=headers, open_timeout=None, close_timeout=2,
                                   max_size=_MAX_FRAME, proxy=None if _is_loopback(self.url) else True)
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 403):
                    raise CoworkError(ErrorCode.UNAUTHORIZED, f"the server refused the connection: {exc}") from exc
                raise
            try:
                self._next_id += 1
                request_id = self._next_id
                params = InitializeParams(
                    protocol_version=PROTOCOL_VERSION,
                    client_info=ClientInfo(name=self.client_name, version=_client_version()),
                    auth_token=self.token,
                    capabilities=ClientCapabilities(event_batches=True),
                )
                await ws.send(_frame(request_id, "initialize", dump(params)))
                while True:
                    message = json.loads(await ws.recv())
                    if isinstance(message, dict) and message.get("id") == request_id:
                        break
                    log.debug("ignored before initialize: %.200r", message)
                if "error" in message:
                    raise _error(message["error"])
                init = InitializeResult.model_validate(message.get("result"))
                if init.protocol_version != PROTOCOL_VERSION:
                    raise CoworkError(
                        ErrorCode.INVALID_REQUEST,
                        f"the server speaks protocol {init.protocol_version}; this client speaks {PROTOCOL_VERSION}")
            except BaseException:
                with contextlib.suppress(Exception):
                    await ws.close()
                raise
        return ws, init

    def _install(self, ws: ClientConnection, init: InitializeResult) -> None:
        self._ws = ws
        self._gen += 1
        self.server_info, self.capabilities = init.server_info, init.capabilities
        self.protocol_version = init.protocol_version

    async def _run(self) -> None:
        """The reader: dispatches every frame; on a drop, reconnects or fails everything."""
        while True:
            ws = self._ws
            assert ws is not None
            try:
                async for raw in ws:
                    self._dispatch(raw)
            except ConnectionClosed:
                pass
            except Exception:  # a bug in dispatch must not leave callers waiting forever
                log.exception("cowork client reader failed; reconnecting")
                with contextlib.suppress(Exception):
                    await ws.close()
            if self.closing:
                return
            self._on_drop()
            if not self.reconnect:
                self._finish(ConnectionLost(f"the connection to {self.url} was lost"))
                return
            try:
                await self._reconnect()
            except Exception as exc:
                if isinstance(exc, ConnectionLost):
                    failure = exc
                else:
                    failure = ConnectionLost(f"cannot reconnect to {self.url}: {exc}")
                    failure.__cause__ = exc
                self._finish(failure)
                return

    def _on_drop(self) -> None:
        """The connection is gone: unsafe requests written on it fail, safe ones wait to be re-sent."""
        self._ready.clear()
        log.info("connection to %s lost; reconnecting=%s", self.url, self.reconnect)
        for pending in list(self._pending.values()):
            if pending.gen is None or pending.gen != self._gen:
                continue
            if pending.method in SAFE_TO_REPEAT:
                pending.gen = None
            else:
                self._pending.pop(pending.id, None)
                if not pending.future.done():
                    pending.future.set_exception(ConnectionLost(
                        f"the connection was lost before {pending.method} was answered: "
                        "the server may or may not have carried it out"))

    async def _reconnect(self) -> None:
        deadline = time.monotonic() + self.reconnect_timeout
        delay = _BACKOFF_FIRST
        last_error: BaseException | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectionLost(
                    f"cannot reconnect to {self.url} within {self.reconnect_timeout:g} s: {last_error}")
            try:
                ws, init = await self._open(min(remaining, _OPEN_TIMEOUT))
                break
            except CoworkError:
                raise  # refused (token, protocol version): retrying will not help
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, ValueError) as exc:
                last_error = exc
            await asyncio.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 2, _BACKOFF_MAX)
        self._install(ws, init)
        log.info("reconnected to %s", self.url)
        self._on_resume()  # re-subscribe, before anything in flight goes out again
        for pending in sorted(self._pending.values(), key=lambda p: p.id):
            if pending.gen is None:
                await self._write(pending)
        self._ready.set()

    def _finish(self, failure: ConnectionLost, end_with: Any = None) -> None:
        """For good: fail every waiting request and tell ``on_finish``."""
        self.failure = failure
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(fresh(failure))
        self._pending.clear()
        self._on_finish(failure, end_with)
        self._ready.set()  # wakes waiters, who find the failure

    # -- frames -------------------------------------------------------------------------------

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("not JSON from the server: %.200r", raw)
            return
        if isinstance(message, list):  # a batch of event notifications (capabilities.eventBatches)
            for part in message:
                self._message(part)
            return
        self._message(message)

    def _message(self, message: Any) -> None:
        if not isinstance(message, dict):
            log.warning("unexpected frame from the server: %.200r", message)
            return
        if "method" in message:
            if message["method"] == EVENT_NOTIFICATION and isinstance(message.get("params"), dict):
                self._on_event(message["params"])
            elif self._on_notification is not None and isinstance(message.get("params"), dict):
                self._on_notification(message["method"], message["params"])
            else:
                log.debug("ignored notification %.200r", message)
            return
        pending = self._pending.pop(message.get("id"), None) if isinstance(message.get("id"), int) else None
        if pending is None:
            if "error" in message:
                log.warning("error answer to no request: %.300r", message)
            return
        if pending.future.done():
            return
        if "error" in message:
            pending.future.set_exception(_error(message["error"]))
        else:
            pending.future.set_result(message.get("result"))

    # -- requests -----------------------------------------------------------------------------

    def in_flight(self) -> Iterator[Pending]:
        """The requests waiting for an answer, oldest first."""
        return iter(sorted(self._pending.values(), key=lambda p: p.id))

    def register(self, method: str, params: dict[str, Any], internal: bool = False) -> Pending:
        """A new request, not yet written (the reconnect writes every unwritten one)."""
        self._next_id += 1
        pending = Pending(self._next_id, method, params, asyncio.get_running_loop().create_future(),
                          internal=internal)
        self._pending[pending.id] = pending
        return pending

    async def _write(self, pending: Pending) -> None:
        ws, gen = self._ws, self._gen
        pending.gen = gen
        try:
            assert ws is not None
            await ws.send(pending.frame())
        except ConnectionClosed:
            # Nothing was written: send it after the reconnect, whatever the method.
            if pending.gen == gen and not pending.future.done():
                pending.gen = None

    async def _wait_ready(self) -> None:
        if self._reader is None and self.failure is None:
            raise RuntimeError("not connected: call `await client.connect()` or use `async with AsyncClient(...)`")
        while not self._ready.is_set():
            await self._ready.wait()
        if self.failure is not None:
            raise fresh(self.failure)

    async def call(self, method: str, params: Mapping[str, Any] | BaseModel | None = None) -> Any:
        """Send one request and return its ``result`` as sent (a dict for every cowork method).

        ``params``: the wire shape (camelCase keys) or a params model of
        :mod:`cowork.protocol.rpc`. Raises :class:`CoworkError` for an error answer,
        :class:`ConnectionLost` (see the module docstring)."""
        if isinstance(params, BaseModel):
            params = dump(params)
        await self._wait_ready()
        pending = self.register(method, dict(params or {}))
        try:
            await self._write(pending)
            return await pending.future
        finally:
            self._pending.pop(pending.id, None)


CLOSED = object()
"""``end_with`` when the client was closed on purpose: followers simply stop."""


def _frame(request_id: int, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


def dump(params: BaseModel) -> dict[str, Any]:
    """A params model in its wire shape (camelCase, no nulls)."""
    return params.model_dump(mode="json", exclude_none=True)


def fresh(exc: BaseException) -> BaseException:
    """A new exception like ``exc``: raising one instance from many places piles up tracebacks."""
    if isinstance(exc, CoworkError):
        copy: BaseException = CoworkError(exc.code, exc.message, exc.data)
    elif isinstance(exc, ConnectionLost):
        copy = ConnectionLost(*exc.args)
    else:
        return exc
    copy.__cause__ = exc.__cause__
    return copy


def _is_loopback(url: str) -> bool:
    """A loopback server is never reached through an HTTP proxy from the environment."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error(error: Any) -> CoworkError:
    if not isinstance(error, dict):
        return CoworkError(ErrorCode.INTERNAL_ERROR, f"malformed error answer: {error!r}")
    code = error.get("code")
    return CoworkError(code if isinstance(code, int) else ErrorCode.INTERNAL_ERROR,
                       str(error.get("message", "")), error.get("data"))
