"""Run updates: ``run/subscribe`` and its ``run.updated`` notifications, across reconnects.

Sits on the wire (:class:`cowork.client._rpc.Rpc`) beside the session subscriptions. The server
keeps one run subscription per connection, so a client has at most one :class:`RunUpdates` open;
opening another ends the first.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..protocol import RunInfo
from ..protocol.rpc import RUN_NOTIFICATION, Empty, RunListResult, RunSubscribeParams, RunUpdatedParams
from ._rpc import CLOSED, ConnectionLost, CoworkError, Rpc, dump, fresh

log = logging.getLogger("cowork.client")


class RunUpdates:
    """The changes of runs, as an async iterator of :class:`~cowork.protocol.RunInfo`.

    ``runs`` is the server's answer when it began: the newest runs (of ``workspace`` when given),
    newest first. ``async for run in updates`` then yields a run each time it changes, as it
    stands after the change; several changes close together may come as one (the newest state is
    always yielded; a state older than one already yielded never is). After a reconnect the
    server's new answer is compared with what was yielded and every run among it that changed
    meanwhile is yielded. Iteration ends after :meth:`close`; it raises :class:`ConnectionLost`
    once the buffered runs are consumed if the client cannot reconnect."""

    def __init__(self, owner: RunSubscription, workspace: str | None, limit: int) -> None:
        self._owner = owner
        self.workspace = workspace
        self.limit = limit
        self.runs: list[RunInfo] = []
        self._newest: dict[str, datetime | None] = {}
        self._early: list[RunInfo] | None = []  # notifications that came before the answer
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._ended: Any = None
        self._closed = False

    def _begin(self, runs: list[RunInfo]) -> None:
        self.runs = runs
        for run in runs:
            self._newest[run.id] = run.updated_at
        early, self._early = self._early or [], None
        for run in early:
            self._push(run)

    def _push(self, run: RunInfo) -> None:
        if self._ended is not None:
            return
        if self._early is not None:
            self._early.append(run)
            return
        if run.id in self._newest:
            known = self._newest[run.id]
            if known is not None and (run.updated_at is None or run.updated_at <= known):
                return  # told already, or older than what was told
        self._newest[run.id] = run.updated_at
        self._queue.put_nowait(run)

    def _end(self, reason: Any) -> None:
        if self._ended is None:
            self._ended = reason
            self._queue.put_nowait(reason)

    @property
    def closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> RunUpdates:
        return self

    async def __anext__(self) -> RunInfo:
        item = await self._queue.get()
        if item is CLOSED or isinstance(item, BaseException):
            self._queue.put_nowait(item)  # every later call ends the same way
            if item is CLOSED:
                raise StopAsyncIteration
            raise fresh(item)
        return item

    async def next(self, timeout: float | None = None) -> RunInfo:
        """The next changed run; raises TimeoutError after ``timeout`` seconds, StopAsyncIteration
        once closed."""
        async with asyncio.timeout(timeout):
            return await self.__anext__()

    async def close(self) -> None:
        """Stop the updates (``run/unsubscribe``). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._end(CLOSED)
        await self._owner.drop(self)

    async def __aenter__(self) -> RunUpdates:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class RunSubscription:
    """The client's one :class:`RunUpdates`. Give :meth:`on_notification`, :meth:`resume` and
    :meth:`finish` to the :class:`Rpc` as hooks, then :meth:`attach` it."""

    def __init__(self) -> None:
        self._rpc: Rpc | None = None
        self._current: RunUpdates | None = None

    def attach(self, rpc: Rpc) -> None:
        self._rpc = rpc

    async def open(self, workspace: str | None = None, limit: int = 50) -> RunUpdates:
        """``run/subscribe``: see :meth:`cowork.client.AsyncClient.watch_runs`."""
        assert self._rpc is not None
        if self._current is not None:
            old, self._current = self._current, None
            old._closed = True
            old._end(CLOSED)
        updates = RunUpdates(self, workspace, limit)
        self._current = updates  # notifications may arrive before the answer: they are kept
        try:
            got = await self._rpc.call("run/subscribe", self._params(updates))
        except BaseException:
            if self._current is updates:
                self._current = None
            raise
        updates._begin(RunListResult.model_validate(got).runs)
        return updates

    async def drop(self, updates: RunUpdates) -> None:
        if self._current is not updates:
            return
        self._current = None
        rpc = self._rpc
        if rpc is not None and rpc.failure is None and not rpc.closing:
            try:
                await rpc.call("run/unsubscribe", Empty())
            except (CoworkError, ConnectionLost):
                pass

    @staticmethod
    def _params(updates: RunUpdates) -> dict[str, Any]:
        return dump(RunSubscribeParams(workspace=updates.workspace, limit=updates.limit))

    # -- the wire's hooks -------------------------------------------------------------------------

    def on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method != RUN_NOTIFICATION or self._current is None:
            log.debug("ignored notification %s", method)
            return
        try:
            run = RunUpdatedParams.model_validate(params).run
        except ValidationError as exc:
            log.warning("run.updated does not parse, skipped: %s", exc)
            return
        self._current._push(run)

    def resume(self) -> None:
        """After a reconnect: subscribe again, and yield every listed run that changed meanwhile."""
        updates, rpc = self._current, self._rpc
        if updates is None or rpc is None:
            return
        if any(p.method == "run/subscribe" and p.gen is None for p in rpc.in_flight()):
            return  # the first subscribe is being re-sent: its answer begins the updates
        pending = rpc.register("run/subscribe", self._params(updates), internal=True)

        def answered(future: asyncio.Future[Any]) -> None:
            if future.cancelled():
                return
            exc = future.exception()
            if isinstance(exc, CoworkError):
                updates._end(exc)
            elif exc is None:
                for run in RunListResult.model_validate(future.result()).runs:
                    updates._push(run)

        pending.future.add_done_callback(answered)

    def finish(self, failure: ConnectionLost, end_with: Any) -> None:
        if self._current is not None:
            self._current._end(end_with if end_with is not None else failure)
            self._current = None


__all__ = ["RunSubscription", "RunUpdates"]
