"""The asyncio client: JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over one WebSocket,
with reconnect and gapless event subscriptions.

Wire format (see :mod:`cowork.protocol.rpc` for every method's parameters and result):

* requests ``{"jsonrpc": "2.0", "id": N, "method": "session/get", "params": {"sessionId": ...}}``;
  answers ``{"jsonrpc": "2.0", "id": N, "result": {...}}`` or ``{..., "error": {"code", "message",
  "data"?}}`` — an error answer is raised as :class:`CoworkError`;
* notifications ``{"jsonrpc": "2.0", "method": "event", "params": <event>}`` for subscribed
  sessions, parsed with :data:`cowork.protocol.EventAdapter` and handed to the
  :class:`Subscription` of their session.

One reader task per client reads every frame. When the connection drops it reconnects (backoff
0.05 s doubling to 2 s, for at most ``reconnect_timeout`` seconds), runs ``initialize`` again,
re-subscribes every open subscription after the newest seq it has received (so a subscription
sees neither a gap nor a duplicate) and re-sends the requests that were in flight when they are
safe to repeat. The others fail with :class:`ConnectionLost`: the server may or may not have
carried them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ..protocol import ApprovalDecision, CheckpointInfo, Event, EventAdapter, Mode, SessionInfo
from ..protocol.checkpoints import RestoreTarget
from ..protocol.rpc import (
    EVENT_NOTIFICATION,
    METHODS,
    PROTOCOL_VERSION,
    ApprovalAnswer,
    ApprovalRespondParams,
    ApprovalRespondResult,
    Capabilities,
    CheckpointDiffParams,
    CheckpointDiffResult,
    CheckpointListParams,
    CheckpointListResult,
    CheckpointRestoreParams,
    CheckpointRestoreResult,
    ClientCapabilities,
    ClientInfo,
    Empty,
    ErrorCode,
    InitializeParams,
    InitializeResult,
    ModelsListResult,
    RpcError,
    ServerInfo,
    SessionCreateParams,
    SessionForkParams,
    SessionIdParams,
    SessionListParams,
    SessionListResult,
    SessionResult,
    SessionUpdateParams,
    SubscribeParams,
    SubscribeResult,
    TextInput,
    ToolEntry,
    ToolsListParams,
    ToolsListResult,
    TurnInterruptResult,
    TurnRewindParams,
    TurnRewindResult,
    TurnStartParams,
    TurnStartResult,
    TurnSteerParams,
    TurnSteerResult,
    WorkspaceEntry,
    WorkspaceListResult,
)

log = logging.getLogger("cowork.client")

DEFAULT_URL = "ws://127.0.0.1:8765/ws"

SAFE_TO_REPEAT = frozenset({
    "session/get", "session/list", "session/subscribe", "session/unsubscribe", "models/list", "tools/list",
    "workspace/list", "turn/start", "turn/interrupt", "checkpoint/list", "checkpoint/diff",
})
"""Methods re-sent after a reconnect when their answer was lost with the connection.
``turn/start`` is among them because the client always gives it a ``clientMessageId``."""

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
    ``ws(s)://host:port[/base]/ws``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("ws", "wss"):
        return url
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL {url!r}: use ws://, wss://, http:// or https://")
    path = parts.path.rstrip("/") + "/ws"
    return urlunsplit(("ws" if scheme == "http" else "wss", parts.netloc, path, parts.query, ""))


@dataclass(eq=False)
class _Pending:
    id: int
    method: str
    params: dict[str, Any]
    future: asyncio.Future[Any]
    gen: int | None = None
    """Generation of the connection the request was written on; None: not written (yet/again)."""
    internal: bool = False

    def frame(self) -> str:
        return _frame(self.id, self.method, self.params)


_END = object()


class Subscription:
    """The events of one session, as an async iterator.

    ``async for event in sub`` yields :data:`cowork.protocol.Event` models (``TurnStarted``,
    ``ItemDelta``, ``TurnCompleted``…) in ``seq`` order: first the journaled events after the
    ``after_seq`` given to :meth:`AsyncClient.subscribe`, then live ones, across reconnects,
    without gap or duplicate. Iteration ends after :meth:`close`; it raises :class:`ConnectionLost`
    once the buffered events are consumed if the client cannot reconnect, and
    :class:`CoworkError` if a re-subscribe is refused (e.g. the session was deleted).

    Attributes: ``session_id``; ``last_seq`` — the seq of the newest event yielded (the
    ``after_seq`` until one is); ``subscribed_seq`` — the server's newest seq when the
    subscription began (``lastSeq`` of the answer).
    """

    def __init__(self, client: AsyncClient, session_id: str, after_seq: int) -> None:
        self._client = client
        self.session_id = session_id
        self.last_seq = after_seq
        self.subscribed_seq: int | None = None
        self._received_seq = after_seq  # newest seq put in the queue; >= last_seq
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._ended: Any = None  # _END or an exception, once the subscription is over
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _push(self, seq: int, event: Event | None) -> None:
        if self._ended is not None or seq <= self._received_seq:
            return
        if seq != self._received_seq + 1:
            log.warning("session %s: events %d..%d missing", self.session_id, self._received_seq + 1, seq - 1)
        self._received_seq = seq
        if event is not None:
            self._queue.put_nowait(event)

    def _end(self, reason: Any) -> None:
        if self._ended is None:
            self._ended = reason
            self._queue.put_nowait(reason)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        item = await self._queue.get()
        if item is _END or isinstance(item, BaseException):
            self._queue.put_nowait(item)  # every later call ends the same way
            if item is _END:
                raise StopAsyncIteration
            raise _fresh(item)
        self.last_seq = item.seq
        return item

    async def next(self, timeout: float | None = None) -> Event:
        """The next event; raises TimeoutError after ``timeout`` seconds, StopAsyncIteration when
        the subscription is closed."""
        async with asyncio.timeout(timeout):
            return await self.__anext__()

    async def close(self) -> None:
        """Stop following the session (``session/unsubscribe`` once no other subscription of this
        client follows it). Iteration ends after the events already buffered. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._end(_END)
        await self._client._drop_subscription(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncClient:
    """A connection to a cowork server (JSON-RPC 2.0 over WebSocket,
    https://www.jsonrpc.org/specification).

    ::

        async with AsyncClient("ws://127.0.0.1:8765/ws", token=...) as client:
            session = await client.create_session("/path/to/project")
            sub = await client.subscribe(session.id)
            await client.start_turn(session.id, "List the files")
            async for event in sub:
                ...

    ``url``: ``ws(s)://host:port/ws``, or an ``http(s)://`` base URL (``/ws`` is appended).
    ``token``: sent as ``Authorization: Bearer`` on the handshake and as ``authToken`` in
    ``initialize``. ``reconnect``: reconnect when the connection drops, for at most
    ``reconnect_timeout`` seconds; otherwise the first drop is final.

    Every method raises :class:`CoworkError` for an error answer and :class:`ConnectionLost` when
    the server cannot be reached (see the module docstring for what is re-sent after a reconnect).
    """

    def __init__(self, url: str = DEFAULT_URL, *, token: str | None = None, client_name: str = "cowork-python",
                 reconnect: bool = True, reconnect_timeout: float = 30.0) -> None:
        self.url = ws_url(url)
        self.token = token
        self.client_name = client_name
        self.reconnect = reconnect
        self.reconnect_timeout = reconnect_timeout
        self.server_info: ServerInfo | None = None
        """``{name, version}`` of the server, from ``initialize``."""
        self.capabilities: Capabilities | None = None
        """``{methods, readOnly, maxRequestBytes, …}``, from ``initialize``."""
        self.protocol_version: str | None = None
        self._ws: ClientConnection | None = None
        self._gen = 0
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        self._subs: dict[str, list[Subscription]] = {}
        self._ready = asyncio.Event()
        self._failure: ConnectionLost | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._connect_lock = asyncio.Lock()
        self._unsubscribing: dict[str, asyncio.Future[None]] = {}

    # -- connection ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the connection is open and initialized (False while reconnecting)."""
        return self._ready.is_set() and self._failure is None

    async def connect(self) -> AsyncClient:
        """Open the connection and run ``initialize``. Raises :class:`ConnectionLost` when the
        server cannot be reached, :class:`CoworkError` when it refuses (``-32002`` bad token).
        Returns the client; calling it again while connected does nothing."""
        async with self._connect_lock:
            if self._reader is not None and self._failure is None:
                return self
            if self._closing:
                raise ConnectionLost("the client is closed")
            try:
                ws, init = await self._open(_OPEN_TIMEOUT)
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                raise ConnectionLost(f"cannot connect to {self.url}: {exc}") from exc
            self._install(ws, init)
            self._failure = None
            self._ready.set()
            self._reader = asyncio.create_task(self._run(), name=f"cowork client {self.url}")
            return self

    async def close(self) -> None:
        """Close the connection. Requests still waiting fail with :class:`ConnectionLost`;
        subscriptions end (their iteration stops after the events already buffered)."""
        if self._closing:
            return
        self._closing = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        self._finish(ConnectionLost("the client is closed"), end_subscriptions_with=_END)

    async def __aenter__(self) -> AsyncClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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
                await ws.send(_frame(request_id, "initialize", _dump(params)))
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
            if self._closing:
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
        # Re-subscribe, then re-send what was in flight, before any new request goes out.
        resending = {p.params.get("sessionId") for p in self._pending.values()
                     if p.gen is None and p.method == "session/subscribe"}
        for session_id, subs in self._subs.items():
            if session_id not in resending and subs:
                self._resubscribe(session_id)
        for pending in sorted(self._pending.values(), key=lambda p: p.id):
            if pending.gen is not None:
                continue
            if pending.method == "session/subscribe":
                pending.params["afterSeq"] = self._after_seq(pending.params["sessionId"], pending.params["afterSeq"])
            await self._write(pending)
        self._ready.set()

    def _resubscribe(self, session_id: str) -> None:
        params = _dump(SubscribeParams(session_id=session_id, after_seq=self._after_seq(session_id)))
        pending = self._register("session/subscribe", params, internal=True)

        def answered(future: asyncio.Future[Any]) -> None:
            if future.cancelled():
                return
            exc = future.exception()
            if isinstance(exc, CoworkError):
                for sub in self._subs.pop(session_id, []):
                    sub._end(exc)
            # ConnectionLost: the next reconnect (or the final failure) deals with the subscriptions

        pending.future.add_done_callback(answered)

    def _after_seq(self, session_id: str, default: int | None = None) -> int:
        seqs = [sub._received_seq for sub in self._subs.get(session_id, [])]
        if default is not None:
            seqs.append(default)
        return min(seqs) if seqs else 0

    def _finish(self, failure: ConnectionLost, end_subscriptions_with: Any = None) -> None:
        """For good: fail every waiting request and end every subscription."""
        self._failure = failure
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(_fresh(failure))
        self._pending.clear()
        for subs in self._subs.values():
            for sub in subs:
                sub._end(end_subscriptions_with if end_subscriptions_with is not None else failure)
        self._subs.clear()
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

    def _on_event(self, params: dict[str, Any]) -> None:
        subs = self._subs.get(params.get("session_id"))  # type: ignore[arg-type]
        seq = params.get("seq")
        if not subs or not isinstance(seq, int):
            return
        event: Event | None
        try:
            event = EventAdapter.validate_python(params)
        except ValueError as exc:
            log.warning("event %s/%s does not parse, skipped: %s", params.get("session_id"), seq, exc)
            event = None
        for sub in subs:
            sub._push(seq, event)

    # -- requests -----------------------------------------------------------------------------

    def _register(self, method: str, params: dict[str, Any], internal: bool = False) -> _Pending:
        self._next_id += 1
        pending = _Pending(self._next_id, method, params, asyncio.get_running_loop().create_future(),
                           internal=internal)
        self._pending[pending.id] = pending
        return pending

    async def _write(self, pending: _Pending) -> None:
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
        if self._reader is None and self._failure is None:
            raise RuntimeError("not connected: call `await client.connect()` or use `async with AsyncClient(...)`")
        while not self._ready.is_set():
            await self._ready.wait()
        if self._failure is not None:
            raise _fresh(self._failure)

    async def call(self, method: str, params: Mapping[str, Any] | BaseModel | None = None) -> Any:
        """Send one request and return its ``result`` as sent (a dict for every cowork method).

        ``params``: the wire shape (camelCase keys) or a params model of
        :mod:`cowork.protocol.rpc`. Raises :class:`CoworkError` for an error answer,
        :class:`ConnectionLost` (see the class)."""
        if isinstance(params, BaseModel):
            params = _dump(params)
        await self._wait_ready()
        pending = self._register(method, dict(params or {}))
        try:
            await self._write(pending)
            return await pending.future
        finally:
            self._pending.pop(pending.id, None)

    async def _request(self, method: str, params: BaseModel) -> Any:
        spec = METHODS[method]
        return spec.result.model_validate(await self.call(method, params))

    # -- sessions -----------------------------------------------------------------------------

    async def create_session(self, workspace: str, *, model: str | None = None, title: str | None = None,
                             mode: Mode | None = None) -> SessionInfo:
        """``session/create``: a new session in ``workspace`` (absolute path of an existing folder
        on the server). ``model``: ``provider:model`` (default: the server's); ``mode``:
        ``default`` | ``accept-edits`` | ``read-only`` | ``yolo``. Raises CoworkError ``-32004`` (no such folder),
        ``-32020`` (model not usable), ``-32602``."""
        params = SessionCreateParams(workspace=str(workspace), model=model, title=title, mode=mode)
        result: SessionResult = await self._request("session/create", params)
        return result.session

    async def list_sessions(self, *, workspace: str | None = None, cursor: str | None = None,
                            limit: int = 50) -> SessionListResult:
        """``session/list``: one page of sessions, newest first: ``.sessions`` and ``.next_cursor``
        (pass it as ``cursor`` for the next page; None on the last)."""
        params = SessionListParams(workspace=None if workspace is None else str(workspace), cursor=cursor,
                                   limit=limit)
        return await self._request("session/list", params)

    async def get_session(self, session_id: str) -> SessionInfo:
        """``session/get``. Raises CoworkError ``-32004`` for an unknown session."""
        result: SessionResult = await self._request("session/get", SessionIdParams(session_id=session_id))
        return result.session

    async def update_session(self, session_id: str, *, title: str | None = None, model: str | None = None,
                             mode: Mode | None = None) -> SessionInfo:
        """``session/update``: change what is given; returns the session as it now is."""
        params = SessionUpdateParams(session_id=session_id, title=title, model=model, mode=mode)
        result: SessionResult = await self._request("session/update", params)
        return result.session

    async def delete_session(self, session_id: str) -> None:
        """``session/delete``: the session, its journal and history. Raises CoworkError ``-32004``,
        ``-32010`` (a turn is running: interrupt it first)."""
        await self._request("session/delete", SessionIdParams(session_id=session_id))

    async def fork_session(self, session_id: str, turn_id: str | None = None) -> SessionInfo:
        """``session/fork``: a copy of the session's conversation up to and including ``turn_id``
        (default: all of it)."""
        result: SessionResult = await self._request(
            "session/fork", SessionForkParams(session_id=session_id, turn_id=turn_id))
        return result.session

    async def subscribe(self, session_id: str, after_seq: int = 0) -> Subscription:
        """``session/subscribe``: follow the session's events, first the journaled ones with
        ``seq > after_seq``, then live ones. Several subscriptions (of the same or different
        sessions) may be open at once. Raises CoworkError ``-32004`` for an unknown session."""
        await self._unsubscribed(session_id)
        sub = Subscription(self, session_id, after_seq)
        wire_after = self._after_seq(session_id, after_seq)  # the lowest any subscription of it still needs
        self._subs.setdefault(session_id, []).append(sub)  # buffer events from now on
        try:
            result: SubscribeResult = await self._request(
                "session/subscribe", SubscribeParams(session_id=session_id, after_seq=wire_after))
        except BaseException:
            self._remove_subscription(sub)
            raise
        sub.subscribed_seq = result.last_seq
        return sub

    def _remove_subscription(self, sub: Subscription) -> bool:
        """Forget ``sub``; True when it was the session's last subscription."""
        subs = self._subs.get(sub.session_id)
        if subs is None or sub not in subs:
            return False
        subs.remove(sub)
        if subs:
            return False
        del self._subs[sub.session_id]
        return True

    async def _drop_subscription(self, sub: Subscription) -> None:
        if self._remove_subscription(sub) and self._failure is None and not self._closing:
            with contextlib.suppress(CoworkError, ConnectionLost):
                await self._unsubscribe(sub.session_id)

    async def _unsubscribe(self, session_id: str) -> None:
        # The server runs a connection's requests concurrently: a subscribe sent while this
        # unsubscribe is in flight could be undone by it, so subscribe() waits for it first.
        done = asyncio.get_running_loop().create_future()
        self._unsubscribing[session_id] = done
        try:
            await self._request("session/unsubscribe", SessionIdParams(session_id=session_id))
        finally:
            done.set_result(None)
            if self._unsubscribing.get(session_id) is done:
                del self._unsubscribing[session_id]

    async def _unsubscribed(self, session_id: str) -> None:
        while (pending := self._unsubscribing.get(session_id)) is not None:
            await asyncio.wait([pending])

    async def unsubscribe(self, session_id: str) -> None:
        """``session/unsubscribe``: stop the session's events; every :class:`Subscription` of it
        on this client ends."""
        for sub in self._subs.pop(session_id, []):
            sub._closed = True
            sub._end(_END)
        await self._unsubscribe(session_id)

    # -- turns --------------------------------------------------------------------------------

    async def start_turn(self, session_id: str, text: str | Sequence[Mapping[str, Any] | TextInput], *,
                         client_message_id: str | None = None) -> TurnStartResult:
        """``turn/start``: start a turn with the user's message; follow it with :meth:`subscribe`.
        Returns ``.turn_id`` and ``.replayed`` (True when ``client_message_id`` matched a turn
        already started: the same turn is returned, nothing new starts). Without
        ``client_message_id`` a fresh uuid4 is sent, so the re-send after a reconnect is safe.
        Raises CoworkError ``-32010`` (a turn is running; use :meth:`steer_turn`), ``-32013``
        (the id was used for another message), ``-32020`` (model not usable), ``-32004``."""
        params = TurnStartParams(session_id=session_id, input=_inputs(text),
                                 client_message_id=client_message_id or str(uuid.uuid4()))
        return await self._request("turn/start", params)

    async def steer_turn(self, session_id: str, text: str | Sequence[Mapping[str, Any] | TextInput]) -> str:
        """``turn/steer``: add a user message to the running turn; returns its turn id. Raises
        CoworkError ``-32011`` when no turn is running."""
        result: TurnSteerResult = await self._request(
            "turn/steer", TurnSteerParams(session_id=session_id, input=_inputs(text)))
        return result.turn_id

    async def interrupt_turn(self, session_id: str) -> bool:
        """``turn/interrupt``: True when a running turn was interrupted, False when none ran."""
        result: TurnInterruptResult = await self._request("turn/interrupt", SessionIdParams(session_id=session_id))
        return result.interrupted

    async def respond_approval(self, approval_id: str, decision: ApprovalDecision, reason: str | None = None) -> None:
        """``approval/respond``: ``decision`` is ``once`` | ``session`` | ``deny`` (``reason`` is
        shown to the model on deny). Raises CoworkError ``-32012`` when the approval is unknown or
        already answered."""
        await self._request("approval/respond",
                            ApprovalRespondParams(approval_id=approval_id, decision=decision, reason=reason))

    async def respond_approvals(self, approval_ids: Sequence[str], decision: ApprovalDecision,
                                reason: str | None = None) -> list[ApprovalAnswer]:
        """``approval/respond`` with ``approvalIds``: answer several pending approvals alike, each on
        its own. Returns one :class:`ApprovalAnswer` per id, in order (``answered``, ``error``); an
        id that is not pending is reported there, not raised."""
        result: ApprovalRespondResult = await self._request("approval/respond", ApprovalRespondParams(
            approval_ids=list(approval_ids), decision=decision, reason=reason))
        return result.results or []

    # -- catalogue ----------------------------------------------------------------------------

    async def list_models(self) -> ModelsListResult:
        """``models/list``: ``.models`` (``model``, ``provider``, ``usable``, ``detail``,
        ``default``) and ``.default``."""
        return await self._request("models/list", Empty())

    async def list_tools(self, session_id: str | None = None) -> list[ToolEntry]:
        """``tools/list``: name, description, JSON Schema of the arguments, ``mutating``; with
        ``session_id`` also the session's ``permission`` (allow/ask/deny)."""
        result: ToolsListResult = await self._request("tools/list", ToolsListParams(session_id=session_id))
        return result.tools

    async def list_workspaces(self) -> list[WorkspaceEntry]:
        """``workspace/list``: workspaces that have sessions, most recently active first."""
        result: WorkspaceListResult = await self._request("workspace/list", Empty())
        return result.workspaces

    # -- checkpoints (docs/checkpoints.md) ------------------------------------------------------

    async def list_checkpoints(self, session_id: str, limit: int = 200) -> list[CheckpointInfo]:
        """``checkpoint/list``: the session's checkpoints, newest first. Raises CoworkError ``-32004``."""
        result: CheckpointListResult = await self._request(
            "checkpoint/list", CheckpointListParams(session_id=session_id, limit=limit))
        return result.checkpoints

    async def diff_checkpoint(self, checkpoint_id: str, paths: Sequence[str] | None = None) -> CheckpointDiffResult:
        """``checkpoint/diff``: what changed in the workspace since the checkpoint (``.changes``
        with unified diffs, ``.not_restorable``). Raises CoworkError ``-32004``, ``-32030``."""
        return await self._request("checkpoint/diff", CheckpointDiffParams(
            checkpoint_id=checkpoint_id, paths=list(paths) if paths is not None else None))

    async def restore_checkpoint(self, checkpoint_id: str, paths: Sequence[str] | None = None, *,
                                 preview: bool = True, overwrite: Sequence[str] = (),
                                 force: bool = False) -> CheckpointRestoreResult:
        """``checkpoint/restore``: with ``preview`` (the default) only what would change, else
        restore it (``.restored``; ``.conflicts`` a person edited are ``.skipped`` unless named in
        ``overwrite`` or ``force``; ``.checkpoint_id`` undoes the restore). Raises CoworkError
        ``-32004``, ``-32602`` (a path outside the workspace), ``-32030``."""
        return await self._request("checkpoint/restore", CheckpointRestoreParams(
            checkpoint_id=checkpoint_id, paths=list(paths) if paths is not None else None, preview=preview,
            overwrite=list(overwrite), force=force))

    async def rewind_turn(self, session_id: str, turn_id: str, restore: RestoreTarget = "both", *,
                          force: bool = False) -> TurnRewindResult:
        """``turn/rewind``: go back to before ``turn_id``; ``restore`` is ``code`` (files),
        ``conversation`` (the model's history) or ``both``. Raises CoworkError ``-32010`` (a turn is
        running), ``-32004``, ``-32030``."""
        return await self._request("turn/rewind", TurnRewindParams(
            session_id=session_id, turn_id=turn_id, restore=restore, force=force))


def _frame(request_id: int, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


def _dump(params: BaseModel) -> dict[str, Any]:
    return params.model_dump(mode="json", exclude_none=True)


def _inputs(text: str | Sequence[Mapping[str, Any] | TextInput]) -> list[TextInput]:
    if isinstance(text, str):
        return [TextInput(text=text)]
    return [part if isinstance(part, TextInput) else TextInput.model_validate(part) for part in text]


def _fresh(exc: BaseException) -> BaseException:
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


__all__ = ["DEFAULT_URL", "SAFE_TO_REPEAT", "AsyncClient", "ConnectionLost", "CoworkError", "Subscription", "ws_url"]
