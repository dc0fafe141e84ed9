"""The asyncio client: the wire (:mod:`cowork.client._rpc`: requests in flight, reconnect,
resume), the subscriptions (:mod:`cowork.client.subscriptions`) and the typed methods derived
from the protocol's method table (:mod:`cowork.client.api`), put together.

See :mod:`cowork.protocol.rpc` for every method's parameters and result and docs/protocol.md for
the wire format (JSON-RPC 2.0, https://www.jsonrpc.org/specification).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ..protocol.rpc import METHODS, Capabilities, ServerInfo, Wire
from ._rpc import DEFAULT_URL, SAFE_TO_REPEAT, ConnectionLost, CoworkError, Rpc, ws_url
from .api import AsyncAPI
from .run_updates import RunSubscription, RunUpdates
from .subscriptions import Subscription, Subscriptions


class AsyncClient(AsyncAPI):
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

    The typed methods — one per protocol method (``session_create``, ``turn_start``…) and the
    friendly names (``create_session``, ``start_turn``…) — come from the method table; see
    :mod:`cowork.client.api`. Every method raises :class:`CoworkError` for an error answer and
    :class:`ConnectionLost` when the server cannot be reached (see :mod:`cowork.client._rpc` for
    what is re-sent after a reconnect).
    """

    def __init__(self, url: str = DEFAULT_URL, *, token: str | None = None, client_name: str = "cowork-python",
                 reconnect: bool = True, reconnect_timeout: float = 30.0) -> None:
        self._subscriptions = Subscriptions()
        self._runs = RunSubscription()
        self._rpc = Rpc(url, token=token, client_name=client_name, reconnect=reconnect,
                        reconnect_timeout=reconnect_timeout, on_event=self._subscriptions.on_event,
                        on_resume=self._resume, on_finish=self._finish,
                        on_notification=self._runs.on_notification)
        self._subscriptions.attach(self._rpc)
        self._runs.attach(self._rpc)

    def _resume(self) -> None:
        self._subscriptions.resume()
        self._runs.resume()

    def _finish(self, failure: ConnectionLost, end_with: Any) -> None:
        self._subscriptions.finish(failure, end_with)
        self._runs.finish(failure, end_with)

    # -- connection ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._rpc.url

    @property
    def token(self) -> str | None:
        return self._rpc.token

    @property
    def server_info(self) -> ServerInfo | None:
        """``{name, version}`` of the server, from ``initialize``."""
        return self._rpc.server_info

    @property
    def capabilities(self) -> Capabilities | None:
        """``{methods, readOnly, maxRequestBytes, …}``, from ``initialize``."""
        return self._rpc.capabilities

    @property
    def protocol_version(self) -> str | None:
        return self._rpc.protocol_version

    @property
    def connected(self) -> bool:
        """True while the connection is open and initialized (False while reconnecting)."""
        return self._rpc.connected

    async def connect(self) -> AsyncClient:
        """Open the connection and run ``initialize``. Raises :class:`ConnectionLost` when the
        server cannot be reached, :class:`CoworkError` when it refuses (``-32002`` bad token).
        Returns the client; calling it again while connected does nothing."""
        await self._rpc.connect()
        return self

    async def close(self) -> None:
        """Close the connection. Requests still waiting fail with :class:`ConnectionLost`;
        subscriptions end (their iteration stops after the events already buffered)."""
        await self._rpc.close()

    async def __aenter__(self) -> AsyncClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests -----------------------------------------------------------------------------

    async def call(self, method: str, params: Mapping[str, Any] | BaseModel | None = None) -> Any:
        """Send one request and return its ``result`` as sent (a dict for every cowork method).

        ``params``: the wire shape (camelCase keys) or a params model of
        :mod:`cowork.protocol.rpc`. Raises :class:`CoworkError` for an error answer,
        :class:`ConnectionLost`."""
        return await self._rpc.call(method, params)

    async def _request(self, method: str, params: Wire) -> Any:
        return METHODS[method].result.model_validate(await self._rpc.call(method, params))

    # -- subscriptions ------------------------------------------------------------------------

    async def subscribe(self, session_id: str, after_seq: int = 0) -> Subscription:
        """``session/subscribe``: follow the session's events, first the journaled ones with
        ``seq > after_seq``, then live ones. Several subscriptions (of the same or different
        sessions) may be open at once. Raises CoworkError ``-32004`` for an unknown session."""
        return await self._subscriptions.subscribe(session_id, after_seq)

    async def unsubscribe(self, session_id: str) -> None:
        """``session/unsubscribe``: stop the session's events; every :class:`Subscription` of it
        on this client ends."""
        await self._subscriptions.unsubscribe(session_id)

    session_subscribe = subscribe
    session_unsubscribe = unsubscribe

    async def watch_runs(self, workspace: str | None = None, limit: int = 50) -> RunUpdates:
        """``run/subscribe``: the newest ``limit`` runs now (``.runs``), then every change of a run
        (of ``workspace`` when given) as it happens, across reconnects; see :class:`RunUpdates`.
        One is open per client: a new one ends the one before. Close it to stop."""
        return await self._runs.open(str(workspace) if workspace is not None else None, limit)


__all__ = [
    "DEFAULT_URL", "SAFE_TO_REPEAT", "AsyncClient", "ConnectionLost", "CoworkError", "RunUpdates", "Subscription",
    "ws_url",
]
