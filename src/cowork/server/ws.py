"""JSON-RPC 2.0 over WebSocket (``/ws``): one :class:`Connection` per socket.

Frames are JSON-RPC 2.0 requests, notifications or batches (https://www.jsonrpc.org/specification).
``initialize`` must come first and is handled before the next frame is read; after it, requests
run concurrently (at most :data:`MAX_IN_FLIGHT` per connection; reading pauses when that many are
running, each member of a batch counting as one, so a flood slows the sender down instead of
growing memory) and their responses may come back in any order, matched by ``id``. A batch holds at
most :data:`MAX_BATCH` requests and an answer at most :data:`MAX_ANSWER_BYTES`. A bad frame gets an
error response and the connection stays.

``session/subscribe`` starts a pump: after the response is sent, every journaled event of the
session after ``afterSeq`` goes out as an ``event`` notification, then live events, in seq order.
A client that declared ``capabilities.eventBatches`` in ``initialize`` gets the notifications that
are ready together (a page of the replay, a burst of live events) as JSON-RPC 2.0 batches of up to
:data:`~cowork.protocol.rpc.EVENT_BATCH_MAX`: one frame instead of hundreds, which is what makes a
100,000-event replay take well under a second. ``run/subscribe`` answers with the newest runs and
then sends a ``run.updated`` notification whenever a run changes (:mod:`cowork.jobs.run_feed`).
Closing the socket stops the pumps; it never stops a turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from .. import __version__
from ..protocol import rpc
from ..jobs.run_feed import RunWatch
from ..protocol.rpc import (
    EVENT_BATCH_MAX, EVENT_NOTIFICATION, METHODS, PROTOCOL_VERSION, RUN_NOTIFICATION, ErrorCode, RpcError,
)
from .auth import Auth, AuthError, Caller, bearer, redact
from .methods import Service, rpc_errors

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""Larger requests get ``-32600`` and the connection stays open (frames over 16 MiB, the
WebSocket layer's own limit, close it with code 1009)."""
MAX_IN_FLIGHT = 64
"""Requests running at once per connection; each member of a batch counts as one."""
MAX_BATCH = MAX_IN_FLIGHT
"""Longest batch: a longer one gets one ``-32600`` (``id`` null) and none of it runs."""
MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""Largest answer frame. A response over it is replaced by ``-32006`` (its ``id`` kept); in a
batch, so is every response after the one that would take the frame over it."""


def _error(id_: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": error.to_wire()}


def invalid_params(exc: ValidationError) -> RpcError:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in errors)
    return RpcError(ErrorCode.INVALID_PARAMS, f"invalid params: {problems}", errors)


def _decode(frame: str) -> Any:
    """The JSON of a frame, or the :class:`RpcError` it is answered with: ``-32600`` when it is
    larger than :data:`MAX_REQUEST_BYTES`, ``-32700`` when it is not JSON (or nested deeper than
    the parser goes)."""
    size = len(frame) if len(frame) * 4 <= MAX_REQUEST_BYTES else len(frame.encode("utf-8", "replace"))
    if size > MAX_REQUEST_BYTES:
        return RpcError(ErrorCode.INVALID_REQUEST,
                        f"request of {size:,} bytes is larger than the limit of {MAX_REQUEST_BYTES:,}")
    try:
        return json.loads(frame)
    except (ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        return RpcError(ErrorCode.PARSE_ERROR, f"not JSON: {why}")


def _capped(answers: list[dict[str, Any]]) -> str:
    """``answers`` as one JSON array, each over :data:`MAX_ANSWER_BYTES` (or taking the frame
    over it) replaced by a ``-32006`` error with its id."""
    parts: list[str] = []
    total = 2
    for answer in answers:
        text = json.dumps(answer)
        if total + len(text) + 1 > MAX_ANSWER_BYTES:
            error = RpcError(ErrorCode.RESPONSE_TOO_LARGE,
                             f"the answer ({len(text):,} bytes) would make a frame larger than the limit of "
                             f"{MAX_ANSWER_BYTES:,} bytes; ask for less (a smaller limit, fewer paths)")
            text = json.dumps(_error(answer.get("id"), error))
        total += len(text) + 1
        parts.append(text)
    return "[" + ",".join(parts) + "]"


class Connection:
    """One WebSocket client: its auth, its subscriptions, its requests in flight."""

    def __init__(self, ws: WebSocket, service: Service, auth: Auth, header_caller: Caller | None) -> None:
        self.ws = ws
        self.service = service
        self.auth = auth
        self.header_caller = header_caller
        self.caller: Caller | None = None  # set by initialize
        self.event_batches = False  # set by initialize: the client takes event notifications in batches
        self._send_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._run_pump: asyncio.Task[None] | None = None  # run/subscribe
        # subscribe/unsubscribe take effect in the order they arrived, though requests run concurrently
        self._subscriptions_lock = asyncio.Lock()
        self._closed = False

    # -- the socket ------------------------------------------------------------------------------

    async def run(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                frame = message.get("text")
                if frame is None:
                    raw = message.get("bytes") or b""
                    frame = raw.decode("utf-8", "replace")
                message = _decode(frame)
                if self.caller is None:  # initialize (or whatever comes first) is handled in order
                    await self._frame(message)
                    continue
                slots = len(message) if isinstance(message, list) and 0 < len(message) <= MAX_BATCH else 1
                for _ in range(slots):  # each member of a batch takes a slot
                    await self._slots.acquire()
                task = asyncio.create_task(self._frame(message, release=slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except WebSocketDisconnect:
            pass
        finally:
            self._closed = True
            for pump in self._pumps.values():
                pump.cancel()
            self._stop_runs()
            # Requests already running finish (a half-done turn/start must not be cut); their
            # answers go nowhere.

    async def _send(self, text: str) -> None:
        await self._send_all((text,))

    async def _send_all(self, texts: Iterable[str]) -> None:
        """Send frames in order, with no other sender's frame in between."""
        if self._closed:
            return
        async with self._send_lock:
            try:
                for text in texts:
                    await self.ws.send_text(text)
            except Exception:  # the client went away; the reader loop sees the disconnect
                self._closed = True

    # -- frames ----------------------------------------------------------------------------------

    async def _frame(self, message: Any, release: int = 0) -> None:
        """Run one decoded frame (see :func:`_decode`) and send its answer; then give back
        ``release`` in-flight slots."""
        try:
            after: list[asyncio.Event] = []
            if isinstance(message, RpcError):
                await self._send(json.dumps(_error(None, message)))
                return
            if isinstance(message, list):
                if not message or len(message) > MAX_BATCH:
                    why = "empty batch" if not message else (
                        f"a batch of {len(message):,} requests is longer than the limit of {MAX_BATCH:,}")
                    await self._send(json.dumps(_error(None, RpcError(ErrorCode.INVALID_REQUEST, why))))
                    return
                answers = []
                for member in message:
                    answer = await self._request(member, after)
                    if answer is not None:
                        answers.append(answer)
                    await asyncio.sleep(0)  # let other connections (and /health) in between members
                if answers:
                    await self._send(_capped(answers))
            else:
                answer = await self._request(message, after)
                if answer is not None:
                    await self._send(_capped([answer])[1:-1])
            for sent in after:  # subscriptions start once their response is out
                sent.set()
        finally:
            for _ in range(release):
                self._slots.release()

    async def _request(self, message: Any, after: list[asyncio.Event]) -> dict[str, Any] | None:
        """Answer one request object; None for a notification (no ``id``). An ``id`` that is not
        a string, an integer or null makes the request invalid: it is answered with ``id`` null
        and not run."""
        id_ = message.get("id") if isinstance(message, dict) else None
        bad_id = id_ is not None and (not isinstance(id_, str | int) or isinstance(id_, bool))
        if bad_id:
            id_ = None
        notification = isinstance(message, dict) and "id" not in message  # answered with nothing
        try:
            if bad_id:
                raise RpcError(ErrorCode.INVALID_REQUEST, "a request id is a string, an integer or null")
            if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or not isinstance(
                message.get("method"), str
            ):
                raise RpcError(ErrorCode.INVALID_REQUEST,
                               'a request is an object with "jsonrpc": "2.0", a string "method" and an "id"')
            result = await self._dispatch(message["method"], message.get("params"), after)
        except RpcError as exc:
            return None if notification else _error(id_, exc)
        except Exception as exc:
            log.exception("%s failed", message.get("method"))
            error = RpcError(ErrorCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
            return None if notification else _error(id_, error)
        if notification:
            return None
        return {"jsonrpc": "2.0", "id": id_, "result": result}

    async def _dispatch(self, method: str, params: Any, after: list[asyncio.Event]) -> dict[str, Any]:
        spec = METHODS.get(method)
        if spec is None:
            raise RpcError(ErrorCode.METHOD_NOT_FOUND, f"no method {method!r}", {"methods": list(METHODS)})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise RpcError(ErrorCode.INVALID_PARAMS, "params must be an object (named parameters)")
        try:
            p = spec.params.model_validate(params)
        except ValidationError as exc:
            raise invalid_params(exc) from None
        if method == "initialize":
            return self._initialize(p)  # type: ignore[arg-type]
        if self.caller is None:
            raise RpcError(ErrorCode.NOT_INITIALIZED, f"call initialize before {method}")
        if method == "session/subscribe":
            async with self._subscriptions_lock:
                return await self._subscribe(p, after)  # type: ignore[arg-type]
        if method == "session/unsubscribe":
            async with self._subscriptions_lock:
                pump = self._pumps.pop(p.session_id, None)  # type: ignore[attr-defined]
                if pump is not None:
                    pump.cancel()
            return {}
        if method == "run/subscribe":
            async with self._subscriptions_lock:
                return await self._subscribe_runs(p, after)  # type: ignore[arg-type]
        if method == "run/unsubscribe":
            async with self._subscriptions_lock:
                self._stop_runs()
            return {}
        return await self.service.call(method, p, self.caller)

    def _initialize(self, p: rpc.InitializeParams) -> dict[str, Any]:
        if self.caller is not None:
            raise RpcError(ErrorCode.INVALID_REQUEST, "already initialized")
        if p.protocol_version != PROTOCOL_VERSION:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"protocol version {p.protocol_version!r} is not supported",
                           {"supported": [PROTOCOL_VERSION]})
        if p.auth_token:
            try:
                caller = self.auth.caller(p.auth_token)
            except AuthError as exc:
                raise RpcError(ErrorCode.UNAUTHORIZED, str(exc)) from None
        elif self.header_caller is not None:
            caller = self.header_caller
        else:
            try:
                caller = self.auth.caller(None)
            except AuthError as exc:
                raise RpcError(ErrorCode.UNAUTHORIZED, str(exc)) from None
        self.caller = caller.named(p.client_info.name, p.client_info.version)
        self.event_batches = p.capabilities.event_batches
        return rpc.InitializeResult(
            protocol_version=PROTOCOL_VERSION,
            server_info=rpc.ServerInfo(name="cowork", version=__version__),
            capabilities=rpc.Capabilities(methods=list(METHODS), read_only=caller.read_only,
                                          max_request_bytes=MAX_REQUEST_BYTES, event_batches=self.event_batches),
        ).model_dump(mode="json")

    # -- subscriptions -----------------------------------------------------------------------------

    async def _subscribe(self, p: rpc.SubscribeParams, after: list[asyncio.Event]) -> dict[str, Any]:
        runtime = self.service.runtime
        with rpc_errors():
            session = await runtime.get_session(p.session_id)
        old = self._pumps.pop(p.session_id, None)
        if old is not None:
            old.cancel()
        sent = asyncio.Event()
        after.append(sent)
        hidden = {session.workspace} | (await self.service.workspaces() if self.caller and self.caller.read_only else set())
        self._pumps[p.session_id] = asyncio.create_task(self._pump(p.session_id, p.after_seq, sent, hidden))
        return rpc.SubscribeResult(last_seq=await runtime.last_seq(p.session_id)).model_dump(mode="json")

    async def _pump(self, session_id: str, after_seq: int, sent: asyncio.Event, hidden: set[str]) -> None:
        await sent.wait()
        read_only = self.caller is not None and self.caller.read_only
        head = '{"jsonrpc":"2.0","method":"%s","params":' % EVENT_NOTIFICATION
        batches = self.service.runtime.subscribe_stored(session_id, after_seq)
        try:
            async for batch in batches:
                frames = [head + (json.dumps(redact(json.loads(e.data), hidden)) if read_only else e.data) + "}"
                          for e in batch]
                if self.event_batches and len(frames) > 1:  # a JSON-RPC 2.0 batch of notifications
                    frames = ["[" + ",".join(frames[i : i + EVENT_BATCH_MAX]) + "]"
                              for i in range(0, len(frames), EVENT_BATCH_MAX)]
                await self._send_all(frames)
                if self._closed:
                    return
        finally:
            await batches.aclose()  # type: ignore[attr-defined]

    async def _subscribe_runs(self, p: rpc.RunSubscribeParams, after: list[asyncio.Event]) -> dict[str, Any]:
        """One run subscription per connection: a second one replaces the first."""
        self._stop_runs()
        runs = self.service.runs
        workspace = str(Path(p.workspace).resolve()) if p.workspace else None
        watch = runs.feed.watch(workspace)  # before the list: a change in between is told, not lost
        try:
            listed = await runs.list(workspace=workspace, limit=p.limit) if p.limit else []
        except BaseException:
            watch.close()
            raise
        watch.told(listed)
        sent = asyncio.Event()
        after.append(sent)
        self._run_pump = asyncio.create_task(self._pump_runs(watch, sent), name="cowork run notifications")
        assert self.caller is not None
        return await self.service.visible(rpc.RunListResult(runs=listed).model_dump(mode="json"), self.caller)

    async def _pump_runs(self, watch: RunWatch, sent: asyncio.Event) -> None:
        try:
            await sent.wait()
            async for run in watch:
                params = await self.service.visible(rpc.RunUpdatedParams(run=run).model_dump(mode="json"),
                                                    self.caller)  # type: ignore[arg-type]
                await self._send(json.dumps({"jsonrpc": "2.0", "method": RUN_NOTIFICATION, "params": params}))
                if self._closed:
                    return
        finally:
            watch.close()

    def _stop_runs(self) -> None:
        if self._run_pump is not None:
            self._run_pump.cancel()
            self._run_pump = None


async def serve_websocket(ws: WebSocket, service: Service, auth: Auth) -> None:
    """The ``/ws`` endpoint: check the handshake's token, then run a :class:`Connection` (Host
    and Origin were checked by :mod:`.guard`). A wrong token refuses the handshake with HTTP 401
    and the error object as its body."""
    try:
        token = bearer(ws.headers.get("authorization"))
        header_caller = auth.caller(token) if token else None
    except AuthError as exc:
        log.info("refused a WebSocket: %s", exc)
        if "websocket.http.response" in ws.scope.get("extensions", {}):
            error = RpcError(ErrorCode.UNAUTHORIZED, str(exc))
            await ws.send_denial_response(JSONResponse({"error": error.to_wire()}, status_code=401))
        else:
            await ws.close(code=1008, reason=str(exc)[:120])
        return
    await ws.accept()
    await Connection(ws, service, auth, header_caller).run()
