"""The journal: gapless seq, commit before publish, group commit, resume without gap."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cowork.engine.journal import Journal
from cowork.protocol import ItemDelta, TurnStarted
from cowork.store import Store


async def test_events_are_committed_before_subscribers_see_them_and_seq_is_gapless(tmp_path: Path):
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    journal = Journal(store)
    sessions = [await store.create_session(tmp_path, "local:x", "default") for _ in range(3)]
    seen: dict[str, list[int]] = {s.id: [] for s in sessions}

    async def watch(session_id: str) -> None:
        async for ev in journal.subscribe(session_id):
            # Whatever a subscriber is shown is already in the store.
            assert [e.seq for e in await store.events_after(session_id, ev.seq - 1, 1)] == [ev.seq]
            seen[session_id].append(ev.seq)
            if ev.seq == 501:
                return

    watchers = [asyncio.create_task(watch(s.id)) for s in sessions]
    await asyncio.sleep(0.05)

    async def produce(session_id: str) -> None:
        await journal.emit(session_id, "t", TurnStarted, model="m", text="go")
        for i in range(499):
            await journal.emit(session_id, "t", ItemDelta, item_id="i", delta=str(i), durable=False)
        await journal.emit(session_id, "t", TurnStarted, model="m", text="end")  # durable: all before it too

    await asyncio.gather(*(produce(s.id) for s in sessions))
    for s in sessions:
        assert [e.seq for e in await store.events_after(s.id, 0, 10_000)] == list(range(1, 502))
    await asyncio.wait_for(asyncio.gather(*watchers), 10)
    assert all(seqs == list(range(1, 502)) for seqs in seen.values())

    # A new journal over the same store (a restart) continues the numbering.
    again = Journal(store)
    ev = await again.emit(sessions[0].id, "t2", TurnStarted, model="m", text="later")
    assert ev.seq == 502
    resumed = []
    async for e in again.subscribe(sessions[0].id, after_seq=499):
        resumed.append(e.seq)
        if e.seq == 502:
            break
    assert resumed == [500, 501, 502]
    await store.close()


async def test_a_given_up_commit_uses_no_seq_and_leaves_the_session_able_only_to_end(tmp_path: Path):
    """Another process holds the write lock past the journal's retries: the queued events are
    dropped together (none was shown), the seq goes back to the last committed one, and the
    session takes nothing but a turn's end until one is committed."""
    import subprocess
    import sys

    import pytest

    from cowork.protocol import TurnFailed
    from cowork.store import StorageUnavailable

    db = tmp_path / "j.db"
    store = await Store.open(f"sqlite+aiosqlite:///{db}", busy_timeout=0.05)
    journal = Journal(store, retry_for=0.3)
    session = await store.create_session(tmp_path, "local:x", "default")
    await journal.emit(session.id, "t", TurnStarted, model="m", text="go")
    locker = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
         "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(1.5); c.execute('COMMIT')", str(db)],
        stdout=subprocess.PIPE)
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == b"locked"
        for i in range(5):
            await journal.emit(session.id, "t", ItemDelta, item_id="i", delta=str(i), durable=False)
        with pytest.raises(StorageUnavailable):
            await journal.emit(session.id, "t", TurnStarted, model="m", text="durable")
    finally:
        locker.wait()
    seen = []
    async for ev in journal.subscribe(session.id):
        seen.append(ev.seq)
        break
    assert seen == [1] and [e.seq for e in await store.events_after(session.id)] == [1]
    with pytest.raises(StorageUnavailable):  # its deltas would no longer add up: only the end
        await journal.emit(session.id, "t", ItemDelta, item_id="i", delta="more", durable=False)
    end = await journal.emit(session.id, "t", TurnFailed, usage={}, duration_ms=1,
                             error={"code": "storage", "message": "lost"})
    assert end.seq == 2  # the dropped events' seqs are used again, nothing skipped
    ev = await journal.emit(session.id, "t2", TurnStarted, model="m", text="next turn")
    assert ev.seq == 3 and [e.seq for e in await store.events_after(session.id)] == [1, 2, 3]
    await store.close()


async def test_subscribers_read_back_what_the_bus_skipped(tmp_path: Path):
    """A bus between processes may lose a notification: the subscriber fills the hole from the
    store, so it still sees every event once, in order."""
    from cowork.engine.bus import LocalEventBus

    class Lossy(LocalEventBus):
        def publish(self, session_id, events):
            super().publish(session_id, [e for e in events if e[0].seq % 3])  # drops every third

    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    journal = Journal(store, bus=Lossy())
    session = await store.create_session(tmp_path, "local:x", "default")
    seen: list[int] = []

    async def watch() -> None:
        async for ev in journal.subscribe(session.id):
            seen.append(ev.seq)
            if ev.seq == 40:
                return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.05)
    for i in range(40):
        await journal.emit(session.id, "t", TurnStarted, model="m", text=str(i))
    await asyncio.wait_for(watcher, 10)
    assert seen == list(range(1, 41))
    await store.close()


async def test_one_sessions_bad_event_costs_the_other_sessions_of_its_batch_nothing(tmp_path: Path):
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    journal = Journal(store)
    gone = await store.create_session(tmp_path, "local:x", "default")
    kept = await store.create_session(tmp_path, "local:x", "default")
    await journal.emit(gone.id, "t", TurnStarted, model="m", text="go")
    await journal.emit(kept.id, "t", TurnStarted, model="m", text="go")
    await store.delete_session(gone.id)  # the journal does not know: its next event breaks a constraint
    # Queued in the same tick (seqs are cached, nothing awaits): one batch of both sessions.
    await journal.emit(gone.id, "t", ItemDelta, item_id="i", delta="x", durable=False)
    for i in range(3):
        await journal.emit(kept.id, "t", ItemDelta, item_id="i", delta=str(i), durable=False)
    await journal.drain()
    assert [e.seq for e in await store.events_after(kept.id)] == [1, 2, 3, 4]
    assert await store.events_after(gone.id) == []
    await store.close()
