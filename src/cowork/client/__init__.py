"""Python SDK for a cowork server: JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over a
WebSocket, with reconnect and gapless event subscriptions.

::

    from cowork.client import AsyncClient, Client

    async with AsyncClient("ws://127.0.0.1:8765/ws") as client:   # or Client(...) without async
        session = await client.create_session("/path/to/project")
        sub = await client.subscribe(session.id)
        await client.start_turn(session.id, "Summarise README.md")
        async for event in sub:              # cowork.protocol events, seq 1, 2, 3…
            ...

Errors: :class:`CoworkError` (an error answer; ``.code`` from
:class:`cowork.protocol.rpc.ErrorCode`, ``.message``, ``.data``) and :class:`ConnectionLost`.
"""

from .connection import AsyncClient, ConnectionLost, CoworkError, RunUpdates, Subscription
from .sync import Client, SyncRunUpdates, SyncSubscription

__all__ = [
    "AsyncClient", "Client", "ConnectionLost", "CoworkError", "RunUpdates", "Subscription", "SyncRunUpdates",
    "SyncSubscription",
]
