"""The blocking client: :class:`AsyncClient` run on a private event loop in a daemon thread.

Same methods (the typed ones generated from the method table by :mod:`cowork.client.api`), same
results and errors (:class:`CoworkError`, :class:`ConnectionLost`), as plain functions; see
:mod:`cowork.client.connection` and the JSON-RPC 2.0 specification
(https://www.jsonrpc.org/specification) for the wire format.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from ..protocol import Event, RunInfo
from ..protocol.rpc import Capabilities, ServerInfo
from .api import SyncAPI
from .connection import DEFAULT_URL, AsyncClient, RunUpdates, Subscription

T = TypeVar("T")


class SyncSubscription:
    """A blocking iterator over a session's events (see :class:`Subscription`): ``for event in
    sub``; ``sub.next(timeout)``; ``sub.last_seq``; ``sub.close()``."""

    def __init__(self, client: Client, subscription: Subscription) -> None:
        self._client = client
        self._sub = subscription

    @property
    def session_id(self) -> str:
        return self._sub.session_id

    @property
    def last_seq(self) -> int:
        """Seq of the newest event yielded."""
        return self._sub.last_seq

    @property
    def subscribed_seq(self) -> int | None:
        return self._sub.subscribed_seq

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        try:
            return self._client._run(self._sub.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def next(self, timeout: float | None = None) -> Event:
        """The next event. Raises TimeoutError after ``timeout`` seconds, StopIteration once
        closed, :class:`ConnectionLost` when the client cannot reconnect."""
        try:
            return self._client._run(self._sub.next(timeout))
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        """Unsubscribe (see :meth:`Subscription.close`). Idempotent."""
        if not self._client._stopped:
            self._client._run(self._sub.close())

    def __enter__(self) -> SyncSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncRunUpdates:
    """A blocking iterator over run changes (see :class:`RunUpdates`): ``updates.runs``; ``for
    run in updates``; ``updates.next(timeout)``; ``updates.close()``."""

    def __init__(self, client: Client, updates: RunUpdates) -> None:
        self._client = client
        self._updates = updates

    @property
    def runs(self) -> list[RunInfo]:
        """The newest runs when the updates began."""
        return self._updates.runs

    def __iter__(self) -> Iterator[RunInfo]:
        return self

    def __next__(self) -> RunInfo:
        try:
            return self._client._run(self._updates.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def next(self, timeout: float | None = None) -> RunInfo:
        """The next changed run. Raises TimeoutError after ``timeout`` seconds, StopIteration once
        closed, :class:`ConnectionLost` when the client cannot reconnect."""
        try:
            return self._client._run(self._updates.next(timeout))
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        """``run/unsubscribe``. Idempotent."""
        if not self._client._stopped:
            self._client._run(self._updates.close())

    def __enter__(self) -> SyncRunUpdates:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Client(SyncAPI):
    """A blocking connection to a cowork server. Connects in the constructor::

        with Client("ws://127.0.0.1:8765/ws") as client:
            session = client.create_session("/path/to/project")
            sub = client.subscribe(session.id)
            client.start_turn(session.id, "hello")
            for event in sub:
                if event.type in ("turn.completed", "turn.failed", "turn.interrupted"):
                    break

    Arguments as for :class:`AsyncClient`. Do not call it from its own event-loop thread.
    """

    def __init__(self, url: str = DEFAULT_URL, *, token: str | None = None, client_name: str = "cowork-python",
                 reconnect: bool = True, reconnect_timeout: float = 30.0) -> None:
        self._stopped = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cowork-client", daemon=True)
        self._thread.start()
        self._client = AsyncClient(url, token=token, client_name=client_name, reconnect=reconnect,
                                   reconnect_timeout=reconnect_timeout)
        try:
            self._run(self._client.connect())
        except BaseException:
            self.close()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._stopped:
            coro.close()
            raise RuntimeError("the client is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a cowork Client cannot be called from its own event loop thread")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except (KeyboardInterrupt, concurrent.futures.CancelledError):
            future.cancel()
            raise

    @property
    def url(self) -> str:
        return self._client.url

    @property
    def server_info(self) -> ServerInfo | None:
        return self._client.server_info

    @property
    def capabilities(self) -> Capabilities | None:
        return self._client.capabilities

    @property
    def connected(self) -> bool:
        return self._client.connected

    def close(self) -> None:
        """Close the connection and stop the thread. Idempotent."""
        if self._stopped:
            return
        try:
            if self._thread.is_alive():
                asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(timeout=15)
        finally:
            self._stopped = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=15)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the methods, as in AsyncClient (the typed ones come from SyncAPI) ----------------------

    def call(self, method: str, params: Mapping[str, Any] | BaseModel | None = None) -> Any:
        """Raw request; see :meth:`AsyncClient.call`."""
        return self._run(self._client.call(method, params))

    def subscribe(self, session_id: str, after_seq: int = 0) -> SyncSubscription:
        """See :meth:`AsyncClient.subscribe`; returns a blocking iterator."""
        return SyncSubscription(self, self._run(self._client.subscribe(session_id, after_seq)))

    def unsubscribe(self, session_id: str) -> None:
        """See :meth:`AsyncClient.unsubscribe`."""
        self._run(self._client.unsubscribe(session_id))

    session_subscribe = subscribe
    session_unsubscribe = unsubscribe

    def watch_runs(self, workspace: str | None = None, limit: int = 50) -> SyncRunUpdates:
        """See :meth:`AsyncClient.watch_runs`; returns a blocking iterator."""
        return SyncRunUpdates(self, self._run(self._client.watch_runs(workspace, limit)))


__all__ = ["Client", "SyncRunUpdates", "SyncSubscription"]
