"""The store on PostgreSQL (a private server, tests/pgserver.py): the migrations build the models'
schema; sessions, turns and the journal round-trip; memories are found by PostgreSQL's own full-text
search (a generated tsvector, ts_rank_cd) and fused with vectors, scoped and private as on SQLite."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from cowork.memory import MemoryService, WordLlamaEmbedder
from cowork.protocol import TurnStarted
from cowork.store import Store
from cowork.store import memories as records
from cowork.store.models import Base, modelled


async def test_the_migrated_schema_is_the_models_schema_on_postgresql(postgres):
    url = await postgres.database()
    store = await Store.open(url)  # migrates to the newest revision
    await store.close()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync, opts={
                "compare_type": True,
                # the generated tsvector column and its GIN index are PostgreSQL's, not the models'
                "include_object": lambda obj, name, kind, *_: (kind != "table" or modelled(name)) and name not in (
                    "tsv", "ix_memories_tsv")}), Base.metadata))
    finally:
        await engine.dispose()
    assert diff == [], diff


async def test_sessions_turns_and_the_journal_on_postgresql(postgres, tmp_path: Path):
    store = await Store.open(await postgres.database())
    try:
        session = await store.create_session(tmp_path, "local:x", "default", "on postgres")
        await store.start_turn(session.id, "turn_1", "hello", "local:x")
        from cowork.engine.journal import Journal

        journal = Journal(store)
        await journal.emit(session.id, "turn_1", TurnStarted, model="local:x", text="hello")
        await journal.drain()
        events = await store.events_after(session.id, 0)
        assert [(e.seq, e.type) for e in events] == [(1, "turn.started")]
        assert (await store.get_session(session.id)).last_seq == 1
        listed, _ = await store.list_sessions(query="POSTGRES")
        assert [s.id for s in listed] == [session.id]
    finally:
        await store.close()


async def test_memory_search_on_postgresql(postgres):
    store = await Store.open(await postgres.database())
    service = MemoryService(WordLlamaEmbedder())
    service.attach(store)
    try:
        port = await service.save("The test database listens on port 5433", workspace="/ws", kind="fact")
        await service.save("The user wants dates written as YYYY-MM-DD", scope="user", kind="preference")
        await service.save("Deploys go out on Fridays", workspace="/elsewhere")
        secret = await service.save("The on-call phone number is 555-0100", workspace="/ws", private=True)
        # PostgreSQL's full text: stemmed ("listening" finds "listens"), ranked, scoped to the workspace
        assert await records.full_text(store, "who is listening on which port", "/ws", 10) == [port.id]
        assert await records.full_text(store, "deploys", "/ws", 10) == []  # another workspace's
        assert await records.full_text(store, "phone", "/ws", 10, include_private=False) == []
        assert await records.full_text(store, "phone", "/ws", 10) == [secret.id]
        # query syntax never reaches to_tsquery
        for nasty in ("'; DROP TABLE memories; --", "a & | ! ( ) :* <->", "\\", "''"):
            await records.full_text(store, nasty, "/ws", 10)
        await service.reindex()
        found = await service.search("what port is the db on", "/ws")
        assert found.mode == "hybrid" and found.hits[0].memory.id == port.id
        dates = await service.search("date format", "/ws")
        assert dates.hits[0].memory.text == "The user wants dates written as YYYY-MM-DD"
        await service.forget(port.id)
        assert port.id not in [h.memory.id for h in (await service.search("port", "/ws")).hits]
    finally:
        await service.close()
        await store.close()
