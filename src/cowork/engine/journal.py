"""The event journal: per-session ``seq`` assignment, group commit, then fan-out to subscribers.

``emit`` gives an event the next ``seq`` of its session at once and queues it; one writer task
commits everything queued in a single transaction, then publishes those events to subscribers in
order. So an event is on disk before any subscriber sees it, and a burst of events (the deltas of
a fast stream, many sessions at once) costs one commit instead of one per event. Model messages
added to a session's history (:meth:`Journal.record_messages`) ride in the same commits. Each
event is encoded to JSON once, there, with every known provider key replaced by ``[redacted]``
(:mod:`cowork.providers.redaction`), so no event stored or sent holds a key.

By default ``emit`` returns once its event is committed. ``durable=False`` returns right away
(used for ``item.delta``): if the process dies first, that event and everything after it are lost
together, and none of them was ever shown, so the journal stays gapless and true.

A subscriber first replays the journal after the ``seq`` it asks for, then follows live events;
the two are joined without gap or duplicate (live events already replayed are skipped by seq).
:meth:`Journal.subscribe` yields event objects (for code in this process);
:meth:`Journal.subscribe_stored` yields batches of :class:`~cowork.store.StoredEvent` whose JSON is
sent to clients as it is: a replay never parses or re-encodes an event, and a live event is
encoded once, whatever the number of subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from pydantic import BaseModel

from ..protocol import Event, utc_now
from ..providers.redaction import known_secrets, redact
from ..store import Store, StoredEvent

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage

log = logging.getLogger(__name__)

_PAGE = 1000

_T = TypeVar("_T")
_Live = tuple[Event, StoredEvent]


class _Messages(NamedTuple):
    """Model messages to add to a session's history, committed with the events queued beside them."""

    session_id: str
    turn_id: str
    messages: Sequence[ModelMessage]


class Journal:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._seq: dict[str, int] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._subscribers: defaultdict[str, set[asyncio.Queue[_Live]]] = defaultdict(set)
        self._queued: list[tuple[Event | _Messages, asyncio.Future[None] | None]] = []
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
        await self._flush(done)
        return event

    async def record_messages(self, session_id: str, turn_id: str, messages: Sequence[ModelMessage]) -> None:
        """Add model messages to the session's history (:meth:`Store.append_messages`) in the next
        group commit; returns once committed. Raises whatever the store raises."""
        done = asyncio.get_running_loop().create_future()
        self._queued.append((_Messages(session_id, turn_id, messages), done))
        await self._flush(done)

    async def _flush(self, done: asyncio.Future[None] | None) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="journal writer")
        if done is not None:
            await asyncio.shield(done)

    async def _write(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            secrets = known_secrets()
            events: list[tuple[Event, StoredEvent, asyncio.Future[None] | None]] = []
            messages = []
            for entry, done in batch:
                if isinstance(entry, _Messages):
                    messages.append(entry)
                    continue
                data = entry.model_dump_json()
                if secrets and (clean := redact(data, secrets)) != data:  # a provider error echoing a key...
                    data, entry = clean, type(entry).model_validate_json(clean)
                events.append((entry, StoredEvent(entry.seq, entry.type, data), done))
            try:
                await self._store.append(
                    [e for e, _, _ in events], [row.data for _, row, _ in events],
                    [(m.session_id, m.turn_id, message) for m in messages for message in m.messages],
                )
            except Exception as exc:  # the store is broken: fail the waiters, forget cached seqs
                log.error("journal commit of %d events failed: %s", len(batch), exc)
                for entry, done in batch:
                    self._seq.pop(entry.session_id, None)
                    if done is not None and not done.done():
                        done.set_exception(exc)
                continue
            for event, row, done in events:
                for queue in self._subscribers.get(event.session_id, ()):
                    queue.put_nowait((event, row))
                if done is not None and not done.done():
                    done.set_result(None)
            for entry, done in batch:
                if isinstance(entry, _Messages) and done is not None and not done.done():
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
        pages = self._follow(session_id, after_seq, self._store.events_after, lambda live: live[0])
        try:
            async for page in pages:
                for event in page:
                    yield event
        finally:
            await pages.aclose()

    def subscribe_stored(self, session_id: str, after_seq: int = 0) -> AsyncIterator[list[StoredEvent]]:
        """Like :meth:`subscribe`, in batches of stored events: pages of the journal (up to 1,000),
        then the live events that arrived since the last batch was taken (at least one)."""
        return self._follow(session_id, after_seq, self._store.stored_events_after, lambda live: live[1])

    async def _follow(
        self, session_id: str, after_seq: int,
        page: Callable[[str, int, int], Awaitable[list[_T]]], pick: Callable[[_Live], _T],
    ) -> AsyncIterator[list[_T]]:
        queue: asyncio.Queue[_Live] = asyncio.Queue()
        self._subscribers[session_id].add(queue)
        try:
            last = after_seq
            while True:
                rows = await page(session_id, last, _PAGE)
                if rows:
                    yield rows
                    last = rows[-1].seq  # type: ignore[attr-defined]
                if len(rows) < _PAGE:
                    break
            while True:
                live = [await queue.get()]
                while not queue.empty():
                    live.append(queue.get_nowait())
                fresh = [pick(x) for x in live if x[0].seq > last]
                if fresh:
                    yield fresh
                    last = live[-1][0].seq
        finally:
            self._subscribers[session_id].discard(queue)
