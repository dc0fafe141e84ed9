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

A commit that fails (another process holding SQLite's write lock past the busy timeout, a full
disk) is retried with the same events, in order, with backoff, for up to ``retry_for`` seconds;
events emitted meanwhile wait behind it. Nothing is published before it is committed, so readers
never see a gap. If storage stays unavailable (or the database file was replaced, which is never
retried) the batch is given up: its waiters get :class:`~cowork.store.StorageUnavailable`, the
session's events still queued are dropped with it and its ``seq`` goes back to the last one
committed, so no ``seq`` is ever used twice or skipped. The session is then *broken*: any event
of it but a turn's terminal one raises :class:`~cowork.store.StorageUnavailable` (the turn can
only end: its items' deltas would no longer add up), until a terminal event is committed or
:meth:`Journal.reopen` is called (recovery does, before closing the items from what was committed).

Subscribers are told through an :class:`~cowork.engine.bus.EventBus` (this process's
:class:`~cowork.engine.bus.LocalEventBus` unless given another).

A subscriber first replays the journal after the ``seq`` it asks for, then follows live events;
the two are joined without gap or duplicate (live events already replayed are skipped by seq).
:meth:`Journal.subscribe` yields event objects (for code in this process);
:meth:`Journal.subscribe_stored` yields batches of :class:`~cowork.store.StoredEvent` whose JSON is
sent to clients as it is: a replay never parses or re-encodes an event, and a live event is
encoded once, whatever the number of subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from ..protocol import Event, utc_now
from ..protocol.events import TERMINAL_EVENT_TYPES
from ..providers.redaction import known_secrets, redact
from ..store import DatabaseReplaced, StorageUnavailable, Store, StoredEvent
from .bus import EventBus, LocalEventBus

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


RETRY_FOR = 30.0
"""Seconds a failing commit is retried before the journal gives it up."""

_PERMANENT = (DatabaseReplaced, IntegrityError, sqlite3.IntegrityError)
"""Commit failures that retrying cannot mend."""


class Journal:
    """Events and model messages of every session, committed in order, then published.

    ``retry_for``: seconds a failing commit is retried (backoff from 50 ms to 2 s) before it is
    given up; ``bus``: where committed events are published."""

    def __init__(self, store: Store, *, bus: EventBus | None = None, retry_for: float = RETRY_FOR) -> None:
        self._store = store
        self.bus: EventBus = bus or LocalEventBus()
        self.retry_for = retry_for
        self._seq: dict[str, int] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._queued: list[tuple[Event | _Messages, asyncio.Future[None] | None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._broken: dict[str, StorageUnavailable] = {}

    async def emit(
        self, session_id: str, turn_id: str, event_type: type[Any], *, durable: bool = True, **fields: Any
    ) -> Event:
        """Journal an event of ``event_type`` built from ``fields`` with the next ``seq``.

        Returns once it is committed (unless ``durable=False``). Raises
        :class:`~cowork.store.StorageUnavailable` when the commit was given up (see the module
        docstring) or the session is broken, and whatever else the store raises (e.g. a unique
        violation); no ``seq`` is then left unused.
        """
        # Copy models given as fields: the caller keeps mutating its items, the event must not change.
        fields = {k: v.model_copy(deep=True) if isinstance(v, BaseModel) else v for k, v in fields.items()}
        async with self._locks[session_id]:
            seq = self._seq.get(session_id)
            if seq is None:
                seq = await self._store.last_seq(session_id)
            event = event_type(session_id=session_id, turn_id=turn_id, seq=seq + 1, ts=utc_now(), **fields)
            broken = self._broken.get(session_id)
            if broken is not None and event.type not in TERMINAL_EVENT_TYPES:
                raise StorageUnavailable(f"events of this session were lost ({broken}); only the turn's end "
                                         "can be journaled now") from broken
            self._seq[session_id] = event.seq
            done = asyncio.get_running_loop().create_future() if durable else None
            self._queued.append((event, done))
        await self._flush(done)
        return event

    async def record_messages(self, session_id: str, turn_id: str, messages: Sequence[ModelMessage]) -> None:
        """Add model messages to the session's history (:meth:`Store.append_messages`) in the next
        group commit; returns once committed. Raises whatever the store raises."""
        if session_id in self._broken:
            raise StorageUnavailable("events of this session were lost; its history is not extended") \
                from self._broken[session_id]
        done = asyncio.get_running_loop().create_future()
        self._queued.append((_Messages(session_id, turn_id, messages), done))
        await self._flush(done)

    def reopen(self, session_id: str) -> None:
        """Accept every kind of event of a broken session again (recovery, once it knows what
        was committed)."""
        self._broken.pop(session_id, None)

    async def _flush(self, done: asyncio.Future[None] | None) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="journal writer")
        if done is not None:
            await asyncio.shield(done)

    async def _write(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[tuple[Event | _Messages, asyncio.Future[None] | None]]) -> None:
        """Commit one batch, then publish its events and resolve its waiters. A batch of several
        sessions that fails for good is tried again session by session, so that one session's
        bad event (e.g. of a session deleted meanwhile) costs no other session anything."""
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
            await self._commit(
                [e for e, _, _ in events], [row.data for _, row, _ in events],
                [(m.session_id, m.turn_id, message) for m in messages for message in m.messages],
            )
        except Exception as exc:
            sessions = list(dict.fromkeys(entry.session_id for entry, _ in batch))
            if len(sessions) > 1 and not isinstance(exc, StorageUnavailable):
                for session_id in sessions:
                    await self._write_batch([(e, d) for e, d in batch if e.session_id == session_id])
            else:
                self._give_up(batch, exc)
            return
        by_session: dict[str, list[_Live]] = {}
        for event, row, _ in events:
            by_session.setdefault(event.session_id, []).append((event, row))
            if event.type in TERMINAL_EVENT_TYPES:
                self._broken.pop(event.session_id, None)
        for session_id, live in by_session.items():
            self.bus.publish(session_id, live)
        for _, _, done in events:
            if done is not None and not done.done():
                done.set_result(None)
        for entry, done in batch:
            if isinstance(entry, _Messages) and done is not None and not done.done():
                done.set_result(None)

    async def _commit(self, events: list[Event], datas: list[str],
                      messages: list[tuple[str, str, ModelMessage]]) -> None:
        """Commit one batch, retrying the same batch with backoff for up to ``retry_for`` s.
        Raises StorageUnavailable (given up) or a permanent error (see ``_PERMANENT``)."""
        deadline = time.monotonic() + self.retry_for
        delay, failures = 0.05, 0
        while True:
            try:
                await self._store.append(events, datas, messages)
                if failures:
                    log.warning("journal commit of %d events went through after %d failed attempts",
                                len(events), failures)
                return
            except _PERMANENT as exc:
                if failures and events and isinstance(exc, IntegrityError | sqlite3.IntegrityError) \
                        and await self._landed(events[0], datas[0]):
                    return  # an attempt that reported failure had committed after all
                raise
            except Exception as exc:
                failures += 1
                if time.monotonic() + delay > deadline:
                    raise StorageUnavailable(
                        f"the store did not accept the journal's writes for {self.retry_for:g} s "
                        f"({failures} attempts; last: {exc})") from exc
                log.warning("journal commit of %d events failed (attempt %d, again in %.2f s): %s",
                            len(events), failures, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _landed(self, event: Event, data: str) -> bool:
        with contextlib.suppress(Exception):
            found = await self._store.stored_events_after(event.session_id, event.seq - 1, 1)
            return bool(found) and found[0].seq == event.seq and found[0].data == data
        return False

    def _give_up(self, batch: list[tuple[Event | _Messages, asyncio.Future[None] | None]], exc: Exception) -> None:
        """A batch that will never be committed: fail its waiters and those of everything queued
        after it for the same sessions, whose seqs go back to the last committed one."""
        error = exc if isinstance(exc, StorageUnavailable) else StorageUnavailable(f"journal commit failed: {exc}")
        if error is not exc:
            error.__cause__ = exc
        sessions = {entry.session_id for entry, _ in batch}
        log.error("journal gave up a batch of %d entries of %d sessions: %s", len(batch), len(sessions), exc)
        dropped = batch + [(e, d) for e, d in self._queued if e.session_id in sessions]
        self._queued = [(e, d) for e, d in self._queued if e.session_id not in sessions]
        for session_id in sessions:
            self._seq.pop(session_id, None)  # re-read from the store by the next emit
            self._broken[session_id] = error
        for _, done in dropped:
            if done is not None and not done.done():
                done.set_exception(error)

    async def drain(self) -> None:
        """Wait until every queued event is committed and published."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    def forget(self, session_id: str) -> None:
        """Drop cached state of a deleted session."""
        self._seq.pop(session_id, None)
        self._locks.pop(session_id, None)
        self._broken.pop(session_id, None)

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
        with self.bus.listen(session_id) as queue:
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
                out: list[_T] = []
                for x in live:
                    seq = x[0].seq
                    if seq <= last:
                        continue  # replayed already, or told twice
                    if seq > last + 1:  # the bus skipped some: read them back from the store
                        if out:
                            yield out
                            out = []
                        while last < seq - 1:
                            rows = await page(session_id, last, min(_PAGE, seq - 1 - last))
                            if not rows:
                                break
                            yield rows
                            last = rows[-1].seq  # type: ignore[attr-defined]
                        if seq <= last:
                            continue
                    out.append(pick(x))
                    last = seq
                if out:
                    yield out
