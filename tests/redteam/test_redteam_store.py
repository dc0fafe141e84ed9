"""Red team: the journal under storage faults, and the database replaced under a running server.

* Another process holds SQLite's write lock (``BEGIN IMMEDIATE``, then sleeping) for longer than
  the busy timeout while a turn streams: commits fail, are retried with the same events, and the
  journal stays gapless, with no UNIQUE error and deltas that add up to the final message.
* The lock is held for longer than the journal retries: the turn ends cleanly once storage is
  back, gapless, with no seq used twice and no item whose deltas disagree with its text.
* The database file is deleted, or replaced by another file, while a server runs: every write
  stops with a clear error (``/health`` answers 503 and says what to do; JSON-RPC answers -32040)
  and nothing is written to the file now at that path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic_ai.models.function import FunctionModel
from server_support import Rpc  # helpers: pyproject's pythonpath

from cowork.checkpoints import CheckpointSettings
from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.protocol import ItemCompleted, TurnStarted
from cowork.server import InProcessServer
from cowork.store import DatabaseReplaced, Store
from cowork.store.leases import SqlTurnLeases

MODEL = "openai:scripted"
TEXT = "".join(f"word{i} " for i in range(150))
SETTINGS = EngineSettings(max_steps=4, stream_timeout=30, max_retries=0, retry_base_delay=0.01)

LOCKER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
"""


async def hold_write_lock(db: Path, seconds: float) -> asyncio.subprocess.Process:
    """Another process takes the database's write lock and keeps it ``seconds``."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", LOCKER, str(db), str(seconds),
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"locked"
    return proc


def streaming_model(db: Path, lock_seconds: float, at_chunk: int = 15) -> tuple[FunctionModel, list[Any]]:
    """A model streaming TEXT in 4-character chunks; at chunk ``at_chunk`` another process takes
    the write lock for ``lock_seconds`` and the stream goes on meanwhile."""
    lockers: list[Any] = []

    async def stream(messages: Any, info: Any) -> AsyncIterator[str]:
        for n, i in enumerate(range(0, len(TEXT), 4)):
            if n == at_chunk and not lockers:
                lockers.append(await hold_write_lock(db, lock_seconds))
            yield TEXT[i : i + 4]
            await asyncio.sleep(0.003)

    return FunctionModel(stream_function=stream, model_name="scripted"), lockers


async def open_runtime(db: Path, busy_timeout: float, lease_ttl: float = 30.0) -> Runtime:
    store = await Store.open(f"sqlite+aiosqlite:///{db}", busy_timeout=busy_timeout)
    rt = Runtime(store, SETTINGS, checkpoint_settings=CheckpointSettings(enabled=False),
                 leases=SqlTurnLeases(store, ttl=lease_ttl))
    await rt._recover()
    rt._start_heartbeat()
    return rt


def assert_gapless(seqs: list[int]) -> None:
    assert seqs == list(range(1, len(seqs) + 1)), f"seq not gapless from 1: {seqs}"


def assert_deltas_add_up(events: list[Any]) -> list[str]:
    """Every completed message's text is what its deltas carried; returns the texts."""
    deltas: dict[str, list[str]] = {}
    texts = []
    for e in events:
        if e.type == "item.delta":
            deltas.setdefault(e.item_id, []).append(e.delta)
        elif e.type == "item.completed" and e.item.type == "assistant_message":
            assert "".join(deltas.get(e.item.id, [])) == e.item.text, "deltas do not add up to the message"
            texts.append(e.item.text)
    return texts


async def test_commit_failures_while_another_process_holds_the_lock_leave_no_gap(
        tmp_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture):
    db = tmp_path / "cowork.db"
    rt = await open_runtime(db, busy_timeout=0.2)
    model, lockers = streaming_model(db, lock_seconds=1.5)
    rt.use_model(MODEL, model)
    seen: list[int] = []
    try:
        session = await rt.create_session(workspace, MODEL, "yolo")
        caplog.set_level(logging.WARNING, "cowork.engine.journal")
        started = await rt.start_turn(session.id, "stream a long answer")

        async def follow() -> Any:
            async for ev in rt.subscribe(session.id):
                seen.append(ev.seq)
                if ev.type.startswith("turn.") and ev.type != "turn.started":
                    return ev

        end = await asyncio.wait_for(follow(), 30)
        assert end.type == "turn.completed", end
        assert lockers and await lockers[0].wait() == 0
        assert any("failed" in r.getMessage() for r in caplog.records), "the lock never made a commit fail"
        assert not any("UNIQUE" in r.getMessage() or "gave up" in r.getMessage() for r in caplog.records)

        events = await rt.store.events_after(session.id, 0, 100_000)
        assert_gapless([e.seq for e in events])
        assert seen == [e.seq for e in events]  # the subscriber saw every event, in order, once
        assert assert_deltas_add_up(events) == [TEXT]
        assert (await rt.store.get_turn_status(started.turn_id))[1] == "completed"
        # The journal goes on numbering from where it is, with no UNIQUE error.
        ev = await rt.journal.emit(session.id, started.turn_id, TurnStarted, model="m", text="after")
        assert ev.seq == events[-1].seq + 1
    finally:
        await rt.close()


async def test_storage_that_stays_locked_ends_the_turn_cleanly_without_gap(tmp_path: Path, workspace: Path):
    db = tmp_path / "cowork.db"
    rt = await open_runtime(db, busy_timeout=0.1, lease_ttl=0.6)
    rt.journal.retry_for = 0.5
    model, lockers = streaming_model(db, lock_seconds=2.5)
    rt.use_model(MODEL, model)
    try:
        session = await rt.create_session(workspace, MODEL, "yolo")
        started = await rt.start_turn(session.id, "stream a long answer")
        for _ in range(200):  # the lock goes away after 2.5 s; the turn must end by itself
            await asyncio.sleep(0.1)
            status = await rt.store.get_turn_status(started.turn_id) if lockers and lockers[0].returncode is not None \
                else None
            if status is not None and status[1] != "running":
                break
        assert lockers and lockers[0].returncode == 0
        assert (await rt.store.get_turn_status(started.turn_id))[1] in ("failed", "interrupted")
        await rt.wait(session.id)
        await rt.journal.drain()
        events = await rt.store.events_after(session.id, 0, 100_000)
        assert_gapless([e.seq for e in events])
        ends = [e.type for e in events if e.type in ("turn.completed", "turn.failed", "turn.interrupted")]
        assert len(ends) == 1 and ends[0] != "turn.completed", ends
        assert_deltas_add_up(events)
        started_items = {e.item.id for e in events if e.type == "item.started"}
        assert started_items <= {e.item.id for e in events if isinstance(e, ItemCompleted)}, "an item left open"
        # The next turn works and numbers on.
        model2 = FunctionModel(stream_function=_answer("fine again"), model_name="scripted")
        rt.use_model(MODEL, model2)
        second = await rt.start_turn(session.id, "are you there?")
        await asyncio.wait_for(rt.wait(session.id), 20)
        assert (await rt.store.get_turn_status(second.turn_id))[1] == "completed"
        events = await rt.store.events_after(session.id, 0, 100_000)
        assert_gapless([e.seq for e in events])
        assert assert_deltas_add_up(events)[-1] == "fine again"
    finally:
        await rt.close()


def _answer(text: str) -> Any:
    async def stream(messages: Any, info: Any) -> AsyncIterator[str]:
        yield text

    return stream


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_database_deleted_or_replaced_under_a_running_server_stops_writes(
        tmp_path: Path, workspace: Path, how: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # openai: models need no key (never called)
    db = tmp_path / "cowork.db"
    rt = await Runtime.open(f"sqlite+aiosqlite:///{db}", settings=SETTINGS,
                            checkpoint_settings=CheckpointSettings(enabled=False))
    server = await InProcessServer.start(rt)
    try:
        session = await rt.create_session(workspace, MODEL, "yolo")
        async with httpx.AsyncClient(base_url=server.url) as http:
            health = await http.get("/api/v1/health")
            assert health.status_code == 200 and health.json()["status"] == "ok"

            if how == "deleted":
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
            else:
                other = tmp_path / "other.db"
                sqlite3.connect(other).execute("CREATE TABLE unrelated (x)").connection.close()
                os.replace(other, db)

            health = await http.get("/api/v1/health")
            assert health.status_code == 503, health.text
            body = health.json()
            assert body["status"] == "unavailable"
            assert how in body["storage"] and "Restart the server" in body["storage"], body

        async with Rpc.open(server.url.replace("http://", "ws://") + "/ws") as c:
            error = await c.error("session/create", {"workspace": str(workspace), "model": MODEL})
            assert error["code"] == -32040 and "Restart the server" in error["message"], error
            error = await c.error("turn/start", {"sessionId": session.id, "input": [{"type": "text", "text": "hi"}]})
            assert error["code"] == -32040, error

        with pytest.raises(DatabaseReplaced):
            await rt.journal.emit(session.id, "turn_x", TurnStarted, model="m", text="lost?")
        with pytest.raises(DatabaseReplaced):
            await rt.store.update_session(session.id, title="lost?")
    finally:
        await server.stop()
    # Nothing of cowork's was written to the file now at the path (read from a copy of it alone:
    # SQLite would replay the old database's -wal file, left beside it, into it).
    if db.exists():
        copy = tmp_path / "copy.db"
        copy.write_bytes(db.read_bytes())
        con = sqlite3.connect(copy)
        tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        con.close()
        assert "events" not in tables and "sessions" not in tables, tables
