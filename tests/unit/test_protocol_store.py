"""The protocol models and the store underneath the journal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from cowork.protocol import EventAdapter, ItemCompleted, ToolCall, TurnStarted, utc_now
from cowork.protocol.schema import protocol_json_schema
from cowork.store import NotFound, Store


def test_schema_names_every_event_and_item():
    defs = protocol_json_schema()["$defs"]
    for name in ("TurnStarted", "ItemStarted", "ItemDelta", "ItemCompleted", "ApprovalRequested", "ApprovalResolved",
                 "TurnCompleted", "TurnFailed", "TurnInterrupted", "UserMessage", "AssistantMessage", "Reasoning",
                 "ToolCall", "ErrorItem", "SessionInfo", "Usage"):
        assert name in defs
    statuses = defs["ToolCall"]["properties"]["status"]["enum"]
    assert statuses == ["pending", "awaiting_approval", "running", "completed", "failed", "denied", "interrupted"]


def test_events_round_trip_and_reject_bad_input():
    ev = ItemCompleted(session_id="s", turn_id="t", seq=3, ts=utc_now(),
                       item=ToolCall(id="i", call_id="c", name="bash", arguments={"command": "ls"}, status="completed"))
    assert EventAdapter.validate_json(ev.model_dump_json()) == ev
    with pytest.raises(ValidationError):
        TurnStarted(session_id="s", turn_id="t", seq=0, ts=utc_now(), model="m", text="x")  # seq starts at 1
    with pytest.raises(ValidationError):
        TurnStarted(session_id="s", turn_id="t", seq=1, ts=datetime(2026, 1, 1), model="m", text="x")  # naive time
    with pytest.raises(ValidationError):
        EventAdapter.validate_python({"type": "turn.exploded", "session_id": "s", "turn_id": "t", "seq": 1, "ts": utc_now()})


async def test_store_keeps_times_utc_and_seq_unique(tmp_path: Path):
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    try:
        session = await store.create_session(tmp_path, "local:x", "default", "t")
        plus2 = datetime.now(timezone(timedelta(hours=2)))
        await store.append_events([TurnStarted(session_id=session.id, turn_id="t", seq=1, ts=plus2, model="m", text="x")])
        with pytest.raises(Exception):
            await store.append_events([TurnStarted(session_id=session.id, turn_id="t", seq=1, ts=plus2, model="m", text="y")])
        (back,) = await store.events_after(session.id)
        assert back.ts.utcoffset() == timedelta(0) and back.ts == plus2 and back.text == "x"
        got = await store.get_session(session.id)
        assert got.created_at.tzinfo is not None and got.created_at.astimezone(UTC) == got.created_at
        assert got.last_seq == 1
        await store.delete_session(session.id)
        with pytest.raises(NotFound):
            await store.get_session(session.id)
        assert await store.events_after(session.id) == []
    finally:
        await store.close()


async def test_journal_survives_reopen_and_migrations_are_idempotent(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    store = await Store.open(url)
    session = await store.create_session(tmp_path, "local:x", "default")
    await store.append_events([TurnStarted(session_id=session.id, turn_id="t", seq=1, ts=utc_now(), model="m", text="x")])
    await store.close()
    store = await Store.open(url)
    try:
        assert [e.seq for e in await store.events_after(session.id)] == [1]
        assert [s.id for s in (await store.list_sessions(tmp_path))[0]] == [session.id]
    finally:
        await store.close()
