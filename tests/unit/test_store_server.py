"""Store features the server needs: session pages, client message ids, turn journals, forks, workspaces,
and the 0001 -> 0002 migration."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from cowork.store.db import _alembic_config

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelRequest, ModelResponse, TextPart, UserPromptPart
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import IntegrityError

from cowork.protocol import TurnCompleted, TurnStarted, Usage, utc_now
from cowork.store import NotFound, Store, new_id
from cowork.store.db import MIGRATIONS, create_engine
from cowork.store.models import MessageRow, SessionRow


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    yield s
    await s.close()


def _request(text: str) -> ModelRequest:
    return ModelRequest(parts=[UserPromptPart(content=text)])


def _response(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(content=text)])


def _texts(messages: list) -> list[str]:
    return [part.content for m in messages for part in m.parts]


async def _turn(store: Store, session_id: str, prompt: str, *, end: bool = True, compact: list[str] | None = None,
                client_message_id: str | None = None) -> str:
    """A turn journaled like the engine does: turn.started, messages, turn.completed, end_turn."""
    turn_id = new_id("turn")
    await store.start_turn(session_id, turn_id, prompt, "local:x", client_message_id)
    seq = await store.last_seq(session_id)
    await store.append_events([TurnStarted(session_id=session_id, turn_id=turn_id, seq=seq + 1, ts=utc_now(),
                                           model="local:x", text=prompt)])
    if compact is not None:
        await store.replace_history(session_id, turn_id, [_response(t) for t in compact])
    await store.append_messages(session_id, turn_id, [_request(prompt), _response(f"re: {prompt}")])
    if end:
        await store.append_events([TurnCompleted(session_id=session_id, turn_id=turn_id, seq=seq + 2, ts=utc_now(),
                                                 usage=Usage(), stop_reason="end_turn", duration_ms=1)])
        await store.end_turn(turn_id, "completed", 1, 2)
    return turn_id


# -- listing ---------------------------------------------------------------------------------


async def test_pages_cover_every_session_once_newest_first(store: Store, tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    ids = [(await store.create_session(a if i % 3 else b, "local:x", "default", f"s{i}")).id for i in range(23)]
    same = datetime(2030, 1, 1, tzinfo=UTC)  # ties on created_at are broken by id across page boundaries
    for session_id in ids[5:12]:
        await store.update_session(session_id, created_at=same)
    everything = [await store.get_session(i) for i in ids]
    expected = [s.id for s in sorted(everything, key=lambda s: (s.created_at, s.id), reverse=True)]

    for workspace, want in ((None, expected), (a, [i for i in expected if (await store.get_session(i)).workspace == str(a)])):
        seen, cursor, pages = [], None, 0
        while True:
            page, cursor = await store.list_sessions(workspace, limit=4, cursor=cursor)
            assert 1 <= len(page) <= 4
            seen += [s.id for s in page]
            pages += 1
            if cursor is None:
                break
            assert len(page) == 4
        assert seen == want and len(set(seen)) == len(seen)
        assert pages == -(-len(want) // 4)

    page, cursor = await store.list_sessions(limit=len(ids))
    assert [s.id for s in page] == expected and cursor is None
    assert await store.list_sessions(tmp_path / "nowhere") == ([], None)


@pytest.mark.parametrize("cursor", [
    "", "%%%", "bm90IGpzb24", base64.urlsafe_b64encode(b'{"a":1,"b":2}').decode(),
    base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00", "ses_x"]).encode()).decode(),  # naive time
    base64.urlsafe_b64encode(json.dumps(["yesterday", "ses_x"]).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode(),
])
async def test_malformed_cursor_is_rejected(store: Store, cursor: str):
    with pytest.raises(ValueError, match="invalid cursor"):
        await store.list_sessions(cursor=cursor)


async def test_limit_must_be_positive(store: Store):
    with pytest.raises(ValueError):
        await store.list_sessions(limit=0)


async def test_first_page_of_many_sessions_walks_an_index(store: Store, tmp_path: Path):
    first = await store.create_session(tmp_path, "local:x", "default")
    async with store.engine.connect() as conn:
        ws_id = (await conn.execute(select(SessionRow.workspace_id).where(SessionRow.id == first.id))).scalar_one()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [dict(id=new_id("ses"), workspace_id=ws_id, title="", model="local:x", mode="default", status="idle",
                 last_seq=0, allowed_tools=[], created_at=start + timedelta(seconds=i),
                 updated_at=start + timedelta(seconds=i)) for i in range(10_000)]
    async with store.engine.begin() as conn:
        await conn.execute(insert(SessionRow), rows)

    statements: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
    try:
        for workspace in (None, tmp_path):
            statements.clear()
            t0 = time.perf_counter()
            page, cursor = await store.list_sessions(workspace, limit=50)
            elapsed = time.perf_counter() - t0
            assert len(page) == 50 and cursor is not None and page[0].id == first.id
            assert elapsed < 1.0
            page2, _ = await store.list_sessions(workspace, limit=50, cursor=cursor)
            assert page2[0].created_at < page[-1].created_at
            for statement, parameters in statements:
                assert "COUNT(" not in statement.upper()
                if statement.rstrip().endswith("OFFSET ?"):  # SQLite's rendering of a bare LIMIT
                    assert parameters[-1] == 0
                async with store.engine.connect() as conn:
                    plan = " | ".join(r[-1] for r in await conn.exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + statement, parameters))
                assert "TEMP B-TREE" not in plan, plan
                # subagents are left out (parent_session_id IS NULL): the index that starts with it, in order
                assert ("ix_sessions_parent" if workspace is None else "ix_sessions_workspace_created") in plan, plan
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", capture)


async def test_latest_session_is_the_most_recently_updated(store: Store, tmp_path: Path):
    assert await store.latest_session(tmp_path) is None
    older = await store.create_session(tmp_path, "local:x", "default", "older")
    newer = await store.create_session(tmp_path, "local:x", "default", "newer")
    await store.create_session(tmp_path / "elsewhere", "local:x", "default")
    assert (await store.latest_session(tmp_path)).id == newer.id
    await _turn(store, older.id, "hi")  # a turn bumps updated_at
    assert (await store.latest_session(tmp_path)).id == older.id
    assert await store.latest_session(tmp_path / "nowhere") is None


async def test_list_workspaces_most_recently_active_first(store: Store, tmp_path: Path):
    assert await store.list_workspaces() == []
    a1 = await store.create_session(tmp_path / "a", "local:x", "default")
    await store.create_session(tmp_path / "a", "local:x", "default")
    b = await store.create_session(tmp_path / "b", "local:x", "default")
    gone = await store.create_session(tmp_path / "c", "local:x", "default")
    await store.delete_session(gone.id)  # workspace row stays, with no session
    await store.update_session(a1.id, title="touched")
    a1 = await store.get_session(a1.id)
    b = await store.get_session(b.id)
    assert await store.list_workspaces() == [(str(tmp_path / "a"), 2, a1.updated_at), (str(tmp_path / "b"), 1, b.updated_at)]
    assert a1.updated_at.tzinfo is not None


# -- turns -----------------------------------------------------------------------------------


async def test_client_message_ids_are_unique_per_session(store: Store, tmp_path: Path):
    s1 = await store.create_session(tmp_path, "local:x", "default")
    s2 = await store.create_session(tmp_path, "local:x", "default")
    t1 = await _turn(store, s1.id, "hello", client_message_id="m-1")
    assert await store.find_turn_by_client_message(s1.id, "m-1") == (t1, "hello")
    assert await store.find_turn_by_client_message(s1.id, "m-2") is None
    assert await store.find_turn_by_client_message(s2.id, "m-1") is None
    with pytest.raises(IntegrityError):
        await store.start_turn(s1.id, new_id("turn"), "hello again", "local:x", client_message_id="m-1")
    assert (await store.get_session(s1.id)).status == "idle"  # nothing of the failed start was written
    t2 = await _turn(store, s2.id, "same id, other session", client_message_id="m-1")
    assert await store.find_turn_by_client_message(s2.id, "m-1") == (t2, "same id, other session")
    await _turn(store, s1.id, "no id")
    await _turn(store, s1.id, "no id either")  # NULLs do not collide


async def test_turn_status_and_turn_events(store: Store, tmp_path: Path):
    session = await store.create_session(tmp_path, "local:x", "default")
    assert await store.get_turn_status("turn_nope") is None
    first = await _turn(store, session.id, "one")
    running = await _turn(store, session.id, "two", end=False)
    assert await store.get_turn_status(first) == (session.id, "completed")
    assert await store.get_turn_status(running) == (session.id, "running")
    events = await store.turn_events(session.id, first)
    assert [(e.type, e.seq, e.turn_id) for e in events] == [("turn.started", 1, first), ("turn.completed", 2, first)]
    assert [e.seq for e in await store.turn_events(session.id, running)] == [3]
    assert await store.turn_events(session.id, "turn_nope") == []
    assert await store.turn_events("ses_nope", first) == []


# -- forks -----------------------------------------------------------------------------------


async def test_fork_copies_ended_turns_with_new_ids(store: Store, tmp_path: Path):
    source = await store.create_session(tmp_path, "local:x", "yolo", "work")
    await store.update_session(source.id, allowed_tools=["bash"])
    turns = [await _turn(store, source.id, f"q{i}") for i in range(3)]
    running = await _turn(store, source.id, "still going", end=False)

    fork = await store.fork_session(source.id)
    assert fork.id != source.id and fork.workspace == source.workspace
    assert (fork.title, fork.model, fork.mode, fork.status) == ("work (fork)", "local:x", "yolo", "idle")
    assert await store.allowed_tools(fork.id) == ["bash"]
    events = await store.events_after(fork.id)
    assert [e.seq for e in events] == list(range(1, 7)) and fork.last_seq == 6
    assert (await store.get_session(fork.id)).last_seq == 6 == await store.last_seq(fork.id)
    assert {e.session_id for e in events} == {fork.id}
    new_turns = list(dict.fromkeys(e.turn_id for e in events))
    assert len(new_turns) == 3 and not set(new_turns) & set(turns + [running])
    assert [e.text for e in events if e.type == "turn.started"] == ["q0", "q1", "q2"]
    for new in new_turns:
        assert await store.get_turn_status(new) == (fork.id, "completed")
        assert [e.type for e in await store.turn_events(fork.id, new)] == ["turn.started", "turn.completed"]
    assert _texts(await store.history(fork.id)) == ["q0", "re: q0", "q1", "re: q1", "q2", "re: q2"]
    # the source is untouched
    assert _texts(await store.history(source.id))[-2:] == ["still going", "re: still going"]
    assert [e.seq for e in await store.events_after(source.id)] == list(range(1, 8))

    upto = await store.fork_session(source.id, turns[1])
    events = await store.events_after(upto.id)
    assert [e.seq for e in events] == [1, 2, 3, 4] and upto.last_seq == 4
    assert [e.text for e in events if e.type == "turn.started"] == ["q0", "q1"]
    assert {e.session_id for e in events} == {upto.id} and not {e.turn_id for e in events} & set(turns)
    assert _texts(await store.history(upto.id)) == ["q0", "re: q0", "q1", "re: q1"]

    # a fork can continue like any session
    await _turn(store, upto.id, "next")
    assert [e.seq for e in await store.events_after(upto.id, 4)] == [5, 6]


async def test_fork_restores_history_as_of_the_fork_point(store: Store, tmp_path: Path):
    source = await store.create_session(tmp_path, "local:x", "default")
    t1 = await _turn(store, source.id, "a")
    t2 = await _turn(store, source.id, "b", compact=["summary of a"])
    t3 = await _turn(store, source.id, "c", compact=["summary of a and b"])
    assert _texts(await store.history(source.id)) == ["summary of a and b", "c", "re: c"]

    at1 = await store.fork_session(source.id, t1)
    assert _texts(await store.history(at1.id)) == ["a", "re: a"]
    at2 = await store.fork_session(source.id, t2)
    assert _texts(await store.history(at2.id)) == ["summary of a", "b", "re: b"]
    at3 = await store.fork_session(source.id, t3)
    assert _texts(await store.history(at3.id)) == ["summary of a and b", "c", "re: c"]

    # rows compacted by a copied turn stay for the record, pointing at the copy of that turn
    new_t2 = [e.turn_id for e in await store.events_after(at2.id) if e.type == "turn.started"][1]
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(MessageRow.compacted, MessageRow.compacted_by)
                                   .where(MessageRow.session_id == at2.id).order_by(MessageRow.id))).all()
    assert [tuple(r) for r in rows] == [(True, new_t2), (True, new_t2), (False, None), (False, None), (False, None)]

    # a later compaction by a turn that was running is undone in the fork
    t4 = await _turn(store, source.id, "d", end=False, compact=["everything"])
    assert _texts(await store.history(source.id)) == ["everything", "d", "re: d"]
    again = await store.fork_session(source.id)
    assert _texts(await store.history(again.id)) == ["summary of a and b", "c", "re: c"]
    with pytest.raises(NotFound):
        await store.fork_session(source.id, t4)


async def test_fork_errors_and_empty_forks(store: Store, tmp_path: Path):
    source = await store.create_session(tmp_path, "local:x", "default")
    other = await store.create_session(tmp_path, "local:x", "default")
    other_turn = await _turn(store, other.id, "x")
    with pytest.raises(NotFound):
        await store.fork_session("ses_nope")
    with pytest.raises(NotFound):
        await store.fork_session(source.id, "turn_nope")
    with pytest.raises(NotFound):
        await store.fork_session(source.id, other_turn)
    empty = await store.fork_session(source.id)
    assert empty.title == f"fork of {source.id}" and empty.last_seq == 0
    assert await store.events_after(empty.id) == [] and await store.history(empty.id) == []
    page, _ = await store.list_sessions(tmp_path)
    assert len(page) == 3  # failed forks wrote nothing


# -- migration -------------------------------------------------------------------------------


async def test_database_at_0001_is_upgraded_and_keeps_its_data(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    engine = create_engine(url)

    def to_0001(connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")

    now = "2026-01-02 03:04:05.000000"
    async with engine.begin() as conn:
        await conn.run_sync(to_0001)
        columns = [r[1] for r in await conn.exec_driver_sql("PRAGMA table_info(turns)")]
        assert "client_message_id" not in columns
        await conn.execute(text(
            "INSERT INTO workspaces (id, path, created_at) VALUES ('ws_1', :path, :now)"), {"path": str(tmp_path), "now": now})
        await conn.execute(text(
            "INSERT INTO sessions (id, workspace_id, title, model, mode, status, last_seq, allowed_tools, created_at,"
            " updated_at) VALUES ('ses_old', 'ws_1', 'old', 'local:x', 'default', 'idle', 2, '[]', :now, :now)"),
            {"now": now})
        await conn.execute(text(
            "INSERT INTO turns (id, session_id, status, input_text, model, input_tokens, output_tokens, started_at,"
            " ended_at) VALUES ('turn_old', 'ses_old', 'completed', 'hi', 'local:x', 1, 2, :now, :now)"), {"now": now})
        for payload, compacted in [(_request("legacy"), 1), (_response("kept"), 0)]:
            await conn.execute(text(
                "INSERT INTO messages (session_id, turn_id, data, compacted) VALUES ('ses_old', 'turn_old', :d, :c)"),
                {"d": ModelMessagesTypeAdapter.dump_json([payload]).decode(), "c": compacted})
        for seq, ev in enumerate([
            TurnStarted(session_id="ses_old", turn_id="turn_old", seq=1, ts=utc_now(), model="local:x", text="hi"),
            TurnCompleted(session_id="ses_old", turn_id="turn_old", seq=2, ts=utc_now(), usage=Usage(),
                          stop_reason="end_turn", duration_ms=1),
        ], start=1):
            await conn.execute(text(
                "INSERT INTO events (session_id, seq, turn_id, type, ts, data) VALUES ('ses_old', :seq, 'turn_old',"
                " :type, :now, :data)"), {"seq": seq, "type": ev.type, "now": now, "data": ev.model_dump_json()})
    await engine.dispose()

    store = await Store.open(url)
    try:
        async with store.engine.connect() as conn:
            newest = ScriptDirectory.from_config(_alembic_config()).get_current_head()
            assert (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar_one() == newest
        old = await store.get_session("ses_old")
        assert (old.title, old.last_seq, old.created_at) == ("old", 2, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
        assert [e.seq for e in await store.turn_events("ses_old", "turn_old")] == [1, 2]
        assert await store.get_turn_status("turn_old") == ("ses_old", "completed")
        assert await store.find_turn_by_client_message("ses_old", "m") is None
        assert _texts(await store.history("ses_old")) == ["kept"]
        await _turn(store, "ses_old", "new", client_message_id="m")
        assert (await store.find_turn_by_client_message("ses_old", "m"))[1] == "new"
        # a legacy compacted row (no compacted_by) stays compacted in a fork
        fork = await store.fork_session("ses_old", "turn_old")
        assert _texts(await store.history(fork.id)) == ["kept"]
        assert [s.id for s in (await store.list_sessions(tmp_path))[0]] == [fork.id, "ses_old"]
    finally:
        await store.close()
    store = await Store.open(url)  # reopening at head is a no-op
    await store.close()


async def test_subagent_sessions_are_listed_apart_and_deleted_with_their_parent(store: Store, tmp_path: Path):
    from cowork.protocol import SubagentLink

    parent = await store.create_session(tmp_path, "local:x", "default", "parent")
    link = SubagentLink(parent_session_id=parent.id, parent_turn_id="turn_1", item_id="item_1", task="check it",
                        agent="reviewer", tools=["read"])
    child = await store.create_session(tmp_path, "local:x", "read-only", "child", parent=link,
                                       instructions="You review.", allowed_tools=["write", "write"])
    other = await store.create_session(tmp_path, "local:x", "default", "other")
    assert (await store.get_session(child.id)).parent == link
    assert await store.agent_instructions(child.id) == "You review."
    assert await store.agent_instructions(parent.id) == ""
    assert await store.allowed_tools(child.id) == ["write"]
    listed, _ = await store.list_sessions()
    assert [s.id for s in listed] == [other.id, parent.id]
    assert [s.id for s in (await store.list_sessions(tmp_path))[0]] == [other.id, parent.id]
    assert [s.id for s in (await store.list_sessions(parent=parent.id))[0]] == [child.id]
    assert (await store.latest_session(tmp_path)).id != child.id
    await store.delete_session(parent.id)
    for gone in (parent.id, child.id):
        with pytest.raises(NotFound):
            await store.get_session(gone)
    assert (await store.get_session(other.id)).parent is None
