"""The event bus: who is told about committed events.

The journal publishes each batch of events once it is committed; subscribers (see
:meth:`cowork.engine.journal.Journal.subscribe`) listen per session. A bus delivers one session's
events in ``seq`` order and may deliver an event more than once or late (the journal's
subscribers skip what they have, by ``seq``, and replay from the store what they missed), so a
bus between processes (PostgreSQL ``LISTEN/NOTIFY``) can take the place of :class:`LocalEventBus`,
which tells subscribers of this process only.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from ..protocol import Event
from ..store import StoredEvent

Published = tuple[Event, StoredEvent]
"""A committed event, as an object and as its stored JSON."""


class EventBus(Protocol):
    def publish(self, session_id: str, events: Sequence[Published]) -> None:
        """Tell the session's listeners about committed events (in seq order). Never blocks."""
        ...

    def listen(self, session_id: str) -> AbstractContextManager[asyncio.Queue[Published]]:
        """A context manager: a queue receiving the session's events published while it is open."""
        ...


class LocalEventBus:
    """:class:`EventBus` within this process: one unbounded queue per listener."""

    def __init__(self) -> None:
        self._listeners: defaultdict[str, set[asyncio.Queue[Published]]] = defaultdict(set)

    def publish(self, session_id: str, events: Sequence[Published]) -> None:
        for queue in self._listeners.get(session_id, ()):
            for item in events:
                queue.put_nowait(item)

    @contextmanager
    def listen(self, session_id: str) -> Iterator[asyncio.Queue[Published]]:
        queue: asyncio.Queue[Published] = asyncio.Queue()
        self._listeners[session_id].add(queue)
        try:
            yield queue
        finally:
            listeners = self._listeners.get(session_id)
            if listeners is not None:
                listeners.discard(queue)
                if not listeners:
                    del self._listeners[session_id]


__all__ = ["EventBus", "LocalEventBus", "Published"]
