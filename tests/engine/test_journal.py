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
