"""Memory records in the store, their embeddings and full-text search (see :mod:`cowork.memory`).

Full text: SQLite FTS5 ranked by bm25 (https://www.sqlite.org/fts5.html#the_bm25_function), or
PostgreSQL's ``tsvector`` ranked by ``ts_rank_cd``
(https://www.postgresql.org/docs/15/textsearch-controls.html#TEXTSEARCH-RANKING). A query matches
a memory holding any of its words (OR): memories are short, and the ranking puts the ones that
hold more of them, and rarer ones, first.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import column, delete, func, or_, select, table, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import MemoryRow, MemoryVectorRow
from .repo import NotFound, Store

MAX_QUERY_WORDS = 32
"""A full-text query uses at most this many distinct words of the text it is given."""


_FTS = table("memories_fts", column("memory_id"))
"""The FTS5 table (created by migration 0010; not an ORM table)."""


def _visible(query: Any, workspace: str | None) -> Any:
    """Only memories seen in ``workspace`` (its own and the user's); None: every memory."""
    if workspace is None:
        return query
    return query.where(or_(MemoryRow.scope == "user", MemoryRow.workspace == workspace))


async def add_memory(store: Store, row: MemoryRow) -> None:
    async with store._write() as db:
        db.add(row)


async def get_memory(store: Store, memory_id: str) -> MemoryRow:
    """Raises :class:`NotFound`."""
    async with store._session() as db:
        row = await db.get(MemoryRow, memory_id)
    if row is None:
        raise NotFound(f"no memory {memory_id!r}")
    return row


def reading(store: Store) -> AsyncSession:
    """One read session (``async with``) for several of the reads below (``db=``): each session
    costs SQLite a ``BEGIN`` and a ``ROLLBACK``, two trips to aiosqlite's thread, so a search makes
    its reads in one."""
    return store._session()


@contextlib.asynccontextmanager
async def _reader(store: Store, db: AsyncSession | None) -> AsyncIterator[AsyncSession]:
    if db is not None:
        yield db
        return
    async with store._session() as own:
        yield own


async def get_memories(store: Store, ids: Sequence[str], db: AsyncSession | None = None) -> dict[str, MemoryRow]:
    if not ids:
        return {}
    async with _reader(store, db) as s:
        rows = (await s.execute(select(MemoryRow).where(MemoryRow.id.in_(list(ids))))).scalars()
        return {row.id: row for row in rows}


async def find_memory(store: Store, text: str, scope: str, workspace: str | None) -> MemoryRow | None:
    """The memory of exactly ``text`` in that scope and workspace, if there is one."""
    query = select(MemoryRow).where(MemoryRow.text == text, MemoryRow.scope == scope,
                                    MemoryRow.workspace.is_(None) if workspace is None else MemoryRow.workspace == workspace)
    async with store._session() as db:
        return (await db.execute(query.limit(1))).scalars().first()


async def list_memories(store: Store, workspace: str | None = None, *, kinds: Sequence[str] = (),
                        include_private: bool = True, limit: int | None = None) -> list[MemoryRow]:
    """Newest first (by ``updated_at``)."""
    query = _visible(select(MemoryRow), workspace).order_by(MemoryRow.updated_at.desc(), MemoryRow.id)
    if kinds:
        query = query.where(MemoryRow.kind.in_(list(kinds)))
    if not include_private:
        query = query.where(MemoryRow.private.is_(False))
    if limit is not None:
        query = query.limit(limit)
    async with store._session() as db:
        return list((await db.execute(query)).scalars())


async def update_memory(store: Store, memory_id: str, **fields: Any) -> None:
    """Raises :class:`NotFound`. A new ``text`` drops the memory's embedding (it is made again)."""
    async with store._write() as db:
        done = await db.execute(update(MemoryRow).where(MemoryRow.id == memory_id).values(**fields))
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no memory {memory_id!r}")
        if "text" in fields:
            await db.execute(delete(MemoryVectorRow).where(MemoryVectorRow.memory_id == memory_id))


async def delete_memory(store: Store, memory_id: str) -> None:
    """Raises :class:`NotFound` (its embedding goes with it)."""
    async with store._write() as db:
        await db.execute(delete(MemoryVectorRow).where(MemoryVectorRow.memory_id == memory_id))
        done = await db.execute(delete(MemoryRow).where(MemoryRow.id == memory_id))
    if not done.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no memory {memory_id!r}")


def query_words(query: str) -> list[str]:
    """The distinct words of ``query`` (letters and digits, lower case, in order), at most
    :data:`MAX_QUERY_WORDS`: what a full-text query is built from, so no character of the person's
    text ever reaches FTS5's or PostgreSQL's query syntax."""
    seen: dict[str, None] = {}
    for word in re.findall(r"\w+", query.lower()):
        seen.setdefault(word, None)
    return list(seen)[:MAX_QUERY_WORDS]


async def full_text(store: Store, query: str, workspace: str | None, limit: int,
                    include_private: bool = True, db: AsyncSession | None = None) -> list[str]:
    """Ids of the memories matching any word of ``query``, best first (at most ``limit``): by
    bm25 on SQLite (FTS5's ``rank``, which it sorts itself), ``ts_rank_cd`` on PostgreSQL."""
    words = query_words(query)
    if not words:
        return []
    postgres = store.engine.dialect.name == "postgresql"
    if postgres:
        match = text("memories.tsv @@ to_tsquery('english', :q)").bindparams(
            q=" | ".join(f"'{w}'" for w in words))
        rank = text("ts_rank_cd(memories.tsv, to_tsquery('english', :q)) DESC").bindparams(
            q=" | ".join(f"'{w}'" for w in words))
        query_ = select(MemoryRow.id).where(match).order_by(rank, MemoryRow.id)
    else:
        fts = " OR ".join(f'"{w}"' for w in words)
        query_ = (select(MemoryRow.id)
                  .join(_FTS, _FTS.c.memory_id == MemoryRow.id)
                  .where(text("memories_fts MATCH :q").bindparams(q=fts))
                  .order_by(text("memories_fts.rank")))
    query_ = _visible(query_, workspace)
    if not include_private:
        query_ = query_.where(MemoryRow.private.is_(False))
    async with _reader(store, db) as s:
        return list((await s.execute(query_.limit(limit))).scalars())


async def vectors(store: Store, model: str) -> list[tuple[str, str, str | None, bool, bytes]]:
    """``(memory_id, scope, workspace, private, vector)`` of every memory embedded by ``model``."""
    query = (select(MemoryRow.id, MemoryRow.scope, MemoryRow.workspace, MemoryRow.private, MemoryVectorRow.vector)
             .join(MemoryVectorRow, MemoryVectorRow.memory_id == MemoryRow.id)
             .where(MemoryVectorRow.model == model))
    async with store._session() as db:
        return [tuple(r) for r in (await db.execute(query)).all()]  # type: ignore[misc]


async def vector_stamp(store: Store, db: AsyncSession | None = None) -> tuple[int, datetime | None, int]:
    """``(embeddings, newest embedding time, memories)``: changes whenever the set of embeddings
    or memories changes (what a cached vector index compares). One query (the newest time is an
    index lookup: ``ix_memory_vectors_embedded_at``)."""
    memories = select(func.count()).select_from(MemoryRow).scalar_subquery()
    async with _reader(store, db) as s:
        count, newest, total = (await s.execute(
            select(func.count(), func.max(MemoryVectorRow.embedded_at), memories))).one()
    return int(count), newest, int(total)


async def unembedded(store: Store, model: str, limit: int) -> list[tuple[str, str]]:
    """``(memory_id, text)`` of up to ``limit`` memories with no embedding by ``model``."""
    query = (select(MemoryRow.id, MemoryRow.text)
             .outerjoin(MemoryVectorRow, MemoryVectorRow.memory_id == MemoryRow.id)
             .where(or_(MemoryVectorRow.memory_id.is_(None), MemoryVectorRow.model != model))
             .order_by(MemoryRow.id).limit(limit))
    async with store._session() as db:
        return [(i, t) for i, t in (await db.execute(query)).all()]


async def count_unembedded(store: Store, model: str) -> int:
    query = (select(func.count()).select_from(MemoryRow)
             .outerjoin(MemoryVectorRow, MemoryVectorRow.memory_id == MemoryRow.id)
             .where(or_(MemoryVectorRow.memory_id.is_(None), MemoryVectorRow.model != model)))
    async with store._session() as db:
        return int((await db.execute(query)).scalar_one())


async def put_vectors(store: Store, model: str, dim: int, rows: Sequence[tuple[str, bytes]], at: datetime) -> None:
    """Store the embeddings ``(memory_id, vector)`` (replacing older ones); a memory deleted
    meanwhile is skipped."""
    if not rows:
        return
    insert = pg_insert if store.engine.dialect.name == "postgresql" else sqlite_insert
    async with store._write() as db:
        alive = set((await db.execute(select(MemoryRow.id).where(MemoryRow.id.in_([i for i, _ in rows])))).scalars())
        values = [{"memory_id": i, "model": model, "dim": dim, "vector": v, "embedded_at": at}
                  for i, v in rows if i in alive]
        if values:
            stmt = insert(MemoryVectorRow).values(values)
            stmt = stmt.on_conflict_do_update(index_elements=["memory_id"], set_={
                "model": stmt.excluded.model, "dim": stmt.excluded.dim, "vector": stmt.excluded.vector,
                "embedded_at": stmt.excluded.embedded_at})
            await db.execute(stmt)


__all__ = ["MAX_QUERY_WORDS", "add_memory", "count_unembedded", "delete_memory", "find_memory", "full_text", "get_memories",
           "get_memory", "list_memories", "put_vectors", "query_words", "unembedded", "update_memory", "vector_stamp",
           "vectors"]
