"""The event journal: per-session ``seq`` assignment, commit, then fan-out to subscribers.

An event is written to the store before any subscriber sees it, so what a client was shown is
always in the journal. A subscriber first replays the journal after the ``seq`` it asks for, then
follows live events; the two are joined without gap or duplicate (live events already replayed
are skipped by ``seq``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from ..protocol import Event, utc_now
from ..store import Store

_PAGE = 1000


class Journal:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._seq: dict[str, int] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._subscribers: defaultdict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    async def emit(self, session_id: str, turn_id: str, event_type: type[Any], **fields: Any) -> Event:
        """Build an event of ``event_type`` with the next ``seq``, commit it, then publish it.

        Raises whatever the store raises; the seq counter only advances on success, so a failed
        write leaves no gap.
        """
        # Copy models given as fields: the caller keeps mutating its items, the event must not change.
        fields = {k: v.model_copy(deep=True) if isinstance(v, BaseModel) else v for k, v in fields.items()}
        async with self._locks[session_id]:
            seq = self._seq.get(session_id)
            if seq is None:
                seq = await self._store.last_seq(session_id)
            event = event_type(session_id=session_id, turn_id=turn_id, seq=seq + 1, ts=utc_now(), **fields)
            await self._store.append_event(event)
            self._seq[session_id] = event.seq
            for queue in self._subscribers.get(session_id, ()):
                queue.put_nowait(event)
        return event

    def forget(self, session_id: str) -> None:
        """Drop cached state of a deleted session."""
        self._seq.pop(session_id, None)
        self._locks.pop(session_id, None)

    async def subscribe(self, session_id: str, after_seq: int = 0) -> AsyncIterator[Event]:
        """Yield every event with ``seq > after_seq``: the journal first, then live, forever.

        Stop by breaking out of the loop (or closing the generator).
        """
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers[session_id].add(queue)
        try:
            last = after_seq
            while True:
                page = await self._store.events_after(session_id, last, _PAGE)
                for event in page:
                    yield event
                    last = event.seq
                if len(page) < _PAGE:
                    break
            while True:
                event = await queue.get()
                if event.seq > last:
                    yield event
                    last = event.seq
        finally:
            self._subscribers[session_id].discard(queue)
