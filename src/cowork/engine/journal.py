"""The event journal: per-session ``seq`` assignment, group commit, then fan-out to subscribers.

``emit`` gives an event the next ``seq`` of its session at once and queues it; one writer task
commits everything queued in a single transaction, then publishes those events to subscribers in
order. So an event is on disk before any subscriber sees it, and a burst of events (the deltas of
a fast stream, many sessions at once) costs one commit instead of one per event.

By default ``emit`` returns once its event is committed. ``durable=False`` returns right away
(used for ``item.delta``): if the process dies first, that event and everything after it are lost
together, and none of them was ever shown, so the journal stays gapless and true.

A subscriber first replays the journal after the ``seq`` it asks for, then follows live events;
the two are joined without gap or duplicate (live events already replayed are skipped by seq).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from ..protocol import Event, utc_now
from ..store import Store

log = logging.getLogger(__name__)

_PAGE = 1000


class Journal:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._seq: dict[str, int] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._subscribers: defaultdict[str, set[asyncio.Queue[Event]]] = defaultdict(set)
        self._queued: list[tuple[Event, asyncio.Future[None] | None]] = []
        self._writer: asyncio.Task[None] | None = None

    async def emit(
        self, session_id: str, turn_id: str, event_type: type[Any], *, durable: bool = True, **fields: Any
    ) -> Event:
        """Journal an event of ``event_type`` built from ``fields`` with the next ``seq``.

        Returns once it is committed (unless ``durable=False``). Raises whatever the store
        raises on commit; the session's seq is then re-read from the store, so no gap is left.
        """
        # Copy models given as fields: the caller keeps mutating its items, the event must not change.
        fields = {k: v.model_copy(deep=True) if isinstance(v, BaseModel) else v for k, v in fields.items()}
        async with self._locks[session_id]:
            seq = self._seq.get(session_id)
            if seq is None:
                seq = await self._store.last_seq(session_id)
            event = event_type(session_id=session_id, turn_id=turn_id, seq=seq + 1, ts=utc_now(), **fields)
            self._seq[session_id] = event.seq
            done = asyncio.get_running_loop().create_future() if durable else None
            self._queued.append((event, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="journal writer")
        if done is not None:
            await asyncio.shield(done)
        return event

    async def _write(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                await self._store.append_events([event for event, _ in batch])
            except Exception as exc:  # the store is broken: fail the waiters, forget cached seqs
                log.error("journal commit of %d events failed: %s", len(batch), exc)
                for event, done in batch:
                    self._seq.pop(event.session_id, None)
                    if done is not None and not done.done():
                        done.set_exception(exc)
                continue
            for event, done in batch:
                for queue in self._subscribers.get(event.session_id, ()):
                    queue.put_nowait(event)
                if done is not None and not done.done():
                    done.set_result(None)

    async def drain(self) -> None:
        """Wait until every queued event is committed and published."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

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
