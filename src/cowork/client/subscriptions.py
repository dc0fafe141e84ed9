"""Subscriptions: the events of a session, in ``seq`` order, without gap or duplicate across
reconnects. Sits on the wire (:class:`cowork.client._rpc.Rpc`): it owns ``session/subscribe`` and
``session/unsubscribe``, takes every ``event`` notification, and re-subscribes after a reconnect
from the newest seq it has received."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..protocol import Event, EventAdapter
from ..protocol.rpc import SessionIdParams, SessionResult, SubscribeParams, SubscribeResult
from ._rpc import CLOSED, ConnectionLost, CoworkError, Rpc, dump, fresh

log = logging.getLogger("cowork.client")

WHOLE_ID_HEX = 32
"""Hex digits after the ``kind_`` of a whole id; a shorter one is a prefix (completed by the server)."""


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

    def __init__(self, owner: Subscriptions, session_id: str, after_seq: int) -> None:
        self._owner = owner
        self.session_id = session_id
        self.last_seq = after_seq
        self.subscribed_seq: int | None = None
        self._received_seq = after_seq  # newest seq put in the queue; >= last_seq
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._ended: Any = None  # CLOSED or an exception, once the subscription is over
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
        if item is CLOSED or isinstance(item, BaseException):
            self._queue.put_nowait(item)  # every later call ends the same way
            if item is CLOSED:
                raise StopAsyncIteration
            raise fresh(item)
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
        self._end(CLOSED)
        await self._owner.drop(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Subscriptions:
    """Every open :class:`Subscription` of one client, by session. Give :meth:`on_event`,
    :meth:`resume` and :meth:`finish` to the :class:`Rpc` as its hooks, then :meth:`attach` it."""

    def __init__(self) -> None:
        self._rpc: Rpc | None = None
        self._subs: dict[str, list[Subscription]] = {}
        self._unsubscribing: dict[str, asyncio.Future[None]] = {}

    def attach(self, rpc: Rpc) -> None:
        self._rpc = rpc

    @property
    def rpc(self) -> Rpc:
        assert self._rpc is not None, "Subscriptions.attach(rpc) first"
        return self._rpc

    async def subscribe(self, session_id: str, after_seq: int = 0) -> Subscription:
        """``session/subscribe``: see :meth:`cowork.client.AsyncClient.subscribe`. A prefix of
        the session id is completed first (``session/get``): events carry the whole id."""
        if len(session_id.partition("_")[2]) < WHOLE_ID_HEX:
            got = await self.rpc.call("session/get", SessionIdParams(session_id=session_id))
            session_id = SessionResult.model_validate(got).session.id
        await self._unsubscribed(session_id)
        sub = Subscription(self, session_id, after_seq)
        wire_after = self._after_seq(session_id, after_seq)  # the lowest any subscription of it still needs
        self._subs.setdefault(session_id, []).append(sub)  # buffer events from now on
        try:
            result = SubscribeResult.model_validate(await self.rpc.call(
                "session/subscribe", SubscribeParams(session_id=session_id, after_seq=wire_after)))
        except BaseException:
            self._remove(sub)
            raise
        sub.subscribed_seq = result.last_seq
        return sub

    async def unsubscribe(self, session_id: str) -> None:
        """``session/unsubscribe``: every subscription of the session on this client ends."""
        for sub in self._subs.pop(session_id, []):
            sub._closed = True
            sub._end(CLOSED)
        await self._unsubscribe(session_id)

    async def drop(self, sub: Subscription) -> None:
        """``sub`` was closed: unsubscribe when it was its session's last one."""
        rpc = self.rpc
        if self._remove(sub) and rpc.failure is None and not rpc.closing:
            with contextlib.suppress(CoworkError, ConnectionLost):
                await self._unsubscribe(sub.session_id)

    def _remove(self, sub: Subscription) -> bool:
        """Forget ``sub``; True when it was the session's last subscription."""
        subs = self._subs.get(sub.session_id)
        if subs is None or sub not in subs:
            return False
        subs.remove(sub)
        if subs:
            return False
        del self._subs[sub.session_id]
        return True

    async def _unsubscribe(self, session_id: str) -> None:
        # The server runs a connection's requests concurrently: a subscribe sent while this
        # unsubscribe is in flight could be undone by it, so subscribe() waits for it first.
        done = asyncio.get_running_loop().create_future()
        self._unsubscribing[session_id] = done
        try:
            await self.rpc.call("session/unsubscribe", SessionIdParams(session_id=session_id))
        finally:
            done.set_result(None)
            if self._unsubscribing.get(session_id) is done:
                del self._unsubscribing[session_id]

    async def _unsubscribed(self, session_id: str) -> None:
        while (pending := self._unsubscribing.get(session_id)) is not None:
            await asyncio.wait([pending])

    def _after_seq(self, session_id: str, default: int | None = None) -> int:
        seqs = [sub._received_seq for sub in self._subs.get(session_id, [])]
        if default is not None:
            seqs.append(default)
        return min(seqs) if seqs else 0

    # -- the wire's hooks -------------------------------------------------------------------------

    def on_event(self, params: dict[str, Any]) -> None:
        """An ``event`` notification: parsed and handed to the session's subscriptions."""
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

    def resume(self) -> None:
        """After a reconnect: subscribe again after the newest seq received, for every session
        not already being subscribed by a request in flight (whose ``afterSeq`` is moved up)."""
        rpc = self.rpc
        resending = set()
        for pending in rpc.in_flight():
            if pending.gen is None and pending.method == "session/subscribe":
                session_id = pending.params["sessionId"]
                resending.add(session_id)
                pending.params["afterSeq"] = self._after_seq(session_id, pending.params["afterSeq"])
        for session_id, subs in self._subs.items():
            if session_id not in resending and subs:
                self._resubscribe(session_id)

    def _resubscribe(self, session_id: str) -> None:
        params = dump(SubscribeParams(session_id=session_id, after_seq=self._after_seq(session_id)))
        pending = self.rpc.register("session/subscribe", params, internal=True)

        def answered(future: asyncio.Future[Any]) -> None:
            if future.cancelled():
                return
            exc = future.exception()
            if isinstance(exc, CoworkError):
                for sub in self._subs.pop(session_id, []):
                    sub._end(exc)
            # ConnectionLost: the next reconnect (or the final failure) deals with the subscriptions

        pending.future.add_done_callback(answered)

    def finish(self, failure: ConnectionLost, end_with: Any) -> None:
        """The connection is over for good: every subscription ends (``end_with``, else ``failure``)."""
        for subs in self._subs.values():
            for sub in subs:
                sub._end(end_with if end_with is not None else failure)
        self._subs.clear()
