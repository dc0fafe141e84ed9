"""The memory service: saving, finding and forgetting memories, and keeping their vectors current.

One per server (the ``memory`` extension's ``service``); the store is the source of truth
(:mod:`cowork.store.memories`). Vectors are made by the :class:`~.embedding.Embedder` when a memory
is saved and, in the background, for every memory whose vector is missing or was made by another
model or version (after an upgrade, or when the model changes). Until that is done — and when no
embedding model could be loaded — search runs on full text alone and says so in its ``note``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..protocol.memory import MAX_MEMORY_CHARS, MemoryHit, MemoryInfo, MemoryKind, MemoryScope, SearchMode
from ..store import memories as db
from ..store.models import MemoryRow
from ..store.repo import Store, new_id
from . import markdown
from .credentials import safe_text
from .embedding import Embedder, default_embedder
from .search import VectorIndex, fuse

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

CANDIDATES = 50
"""How many memories each ranking (full text, vectors) gives the fusion."""

REINDEX_BATCH = 256
"""Memories embedded per background step."""


@dataclass
class SearchResult:
    hits: list[MemoryHit]
    mode: SearchMode
    note: str = ""
    similarity: dict[str, float] | None = None  # memory id -> cosine similarity (vector hits)


def info(row: MemoryRow) -> MemoryInfo:
    return MemoryInfo(id=row.id, scope=row.scope, workspace=row.workspace, kind=row.kind,  # type: ignore[arg-type]
                      text=row.text, private=row.private, session_id=row.session_id, turn_id=row.turn_id,
                      created_at=row.created_at, updated_at=row.updated_at)


def _now() -> datetime:
    return datetime.now(UTC)


def _checked(text: str) -> str:
    """``text`` stripped and as it may be stored (:func:`~.credentials.safe_text`). Raises
    ValueError for an empty or too long text, MemoryRefused for a credential."""
    text = text.strip()
    if not text:
        raise ValueError("a memory needs some text")
    if len(text) > MAX_MEMORY_CHARS:
        raise ValueError(f"a memory is at most {MAX_MEMORY_CHARS} characters (this one has {len(text)})")
    return safe_text(text)


class MemoryService:
    """Memories over a :class:`Store` (given by :meth:`attach` when the runtime opens).

    Args:
        embedder: the embedding model; ``"default"`` loads :func:`~.embedding.default_embedder` in
            the background at :meth:`start`; None: full text only.
    """

    def __init__(self, embedder: Embedder | Literal["default"] | None = "default") -> None:
        self._store: Store | None = None
        self._want_default = embedder == "default"
        self.embedder: Embedder | None = None if embedder == "default" else embedder  # type: ignore[assignment]
        self._loading = self._want_default
        self._index: VectorIndex | None = None
        self._index_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.pending = 0  # memories without a current vector, as last counted
        self._closing = False

    # -- life ------------------------------------------------------------------------------------

    def attach(self, store: Store) -> None:
        self._store = store

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the memory service has no store (Runtime.open attaches it)")
        return self._store

    async def start(self) -> None:
        """Start the background indexer (which first loads the default model, in a thread)."""
        self._task = asyncio.create_task(self._indexer(), name="cowork memory indexer")

    async def close(self) -> None:
        """Stop the indexer between two steps (a step in a database call is let finish, up to
        5 s, so no connection is cancelled half-way)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
            except TimeoutError:
                self._task.cancel()
            except Exception:  # noqa: BLE001 - logged by the indexer
                pass

    async def _indexer(self) -> None:
        if self._want_default:
            self.embedder = await asyncio.to_thread(default_embedder)
            self._loading = False
        while self.embedder is not None and not self._closing:
            try:
                await self.reindex_step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a vanished or locked database: try again later
                log.exception("memory indexing failed; retrying in 5 s")
                await asyncio.sleep(5)
                continue
            if self.pending == 0 and not self._closing:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=30)
                except TimeoutError:
                    pass

    async def reindex_step(self) -> int:
        """Embed up to :data:`REINDEX_BATCH` memories without a current vector; how many it did."""
        embedder = self.embedder
        if embedder is None:
            return 0
        todo = await db.unembedded(self.store, embedder.model, REINDEX_BATCH)
        await self._embed(todo)
        self.pending = await db.count_unembedded(self.store, embedder.model)
        return len(todo)

    async def reindex(self) -> None:
        """Embed every memory that needs it, now (what the background indexer does in steps)."""
        while await self.reindex_step():
            pass

    def status(self) -> dict[str, object]:
        """``{model, state, pending}``: state ``ready`` | ``loading`` | ``indexing`` | ``unavailable``."""
        if self.embedder is None:
            return {"model": None, "state": "loading" if self._loading else "unavailable", "pending": self.pending}
        return {"model": self.embedder.model, "state": "indexing" if self.pending else "ready",
                "pending": self.pending}

    # -- records ---------------------------------------------------------------------------------

    async def save(self, text: str, *, kind: MemoryKind = "fact", scope: MemoryScope = "workspace",
                   workspace: Path | str | None = None, private: bool = False, session_id: str | None = None,
                   turn_id: str | None = None) -> MemoryInfo:
        """Remember ``text``. The same text already remembered in the same place is refreshed
        instead of repeated. Raises :class:`~.credentials.MemoryRefused` (a ValueError) for a text
        that looks like a credential, ValueError for an empty or too long text or a workspace
        memory without a workspace."""
        text = _checked(" ".join(text.split()) if "\n" not in text.strip() else text)
        where = None if scope == "user" else (str(workspace) if workspace else None)
        if scope == "workspace" and where is None:
            raise ValueError("a workspace memory needs its workspace")
        now = _now()
        same = await db.find_memory(self.store, text, scope, where)
        if same is not None:
            await db.update_memory(self.store, same.id, updated_at=now, kind=kind, private=same.private or private)
            return info(await db.get_memory(self.store, same.id))
        row = MemoryRow(id=new_id("mem"), scope=scope, workspace=where, kind=kind, text=text, private=private,
                        session_id=session_id, turn_id=turn_id, created_at=now, updated_at=now)
        await db.add_memory(self.store, row)
        await self._embed([(row.id, text)])
        return info(row)

    async def _embed(self, rows: Sequence[tuple[str, str]]) -> None:
        """Embed and store ``(memory_id, text)`` rows; without a model, wake the indexer instead."""
        embedder = self.embedder
        if embedder is None:
            self._wake.set()
            return
        if not rows:
            return
        vectors = await asyncio.to_thread(embedder.embed, [t for _, t in rows])
        await db.put_vectors(self.store, embedder.model, embedder.dim,
                             [(i, v.astype("<f4").tobytes()) for (i, _), v in zip(rows, vectors)], _now())

    async def update(self, memory_id: str, *, text: str | None = None, kind: MemoryKind | None = None,
                     private: bool | None = None) -> MemoryInfo:
        """Change a memory. Raises NotFound, MemoryRefused, ValueError (as :meth:`save`)."""
        fields: dict[str, object] = {"updated_at": _now()}
        if text is not None:
            fields["text"] = _checked(text)
        if kind is not None:
            fields["kind"] = kind
        if private is not None:
            fields["private"] = private
        await db.update_memory(self.store, memory_id, **fields)
        if text is not None:
            await self._embed([(memory_id, str(fields["text"]))])
        return info(await db.get_memory(self.store, memory_id))

    async def forget(self, memory_id: str) -> None:
        """Raises NotFound."""
        await db.delete_memory(self.store, memory_id)

    async def get(self, memory_id: str) -> MemoryInfo:
        """Raises NotFound."""
        return info(await db.get_memory(self.store, memory_id))

    async def list(self, workspace: Path | str | None = None, *, kinds: Sequence[str] = (),
                   include_private: bool = True, limit: int | None = None) -> list[MemoryInfo]:
        """Memories seen in ``workspace`` (its own and the user's; None: all), newest first."""
        rows = await db.list_memories(self.store, None if workspace is None else str(workspace), kinds=kinds,
                                      include_private=include_private, limit=limit)
        return [info(r) for r in rows]

    # -- Markdown (see .markdown) ----------------------------------------------------------------

    async def export(self, workspace: Path | str | None = None, *, include_private: bool = False) -> str:
        """The memories seen in ``workspace`` (None: all) as Markdown, oldest first; private
        ones only when asked."""
        found = await self.list(workspace, include_private=include_private)
        return markdown.dump(sorted(found, key=lambda m: (m.created_at, m.id)))

    async def import_markdown(self, text: str) -> dict[str, int]:
        """Read an export back: a memory whose id exists is updated where it differs, any other
        is added (with its id and times when it has them). ``{added, updated, unchanged}``.
        Raises ValueError (a section it cannot read, naming its line) before anything is stored,
        MemoryRefused for a text that looks like a credential."""
        entries = markdown.load(text)
        for entry in entries:
            entry.text = _checked(entry.text)
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        known = await db.get_memories(self.store, [e.id for e in entries if e.id])
        for entry in entries:
            row = known.get(entry.id or "")
            if row is not None:
                if (row.text, row.kind, row.private) == (entry.text, entry.kind, entry.private):
                    counts["unchanged"] += 1
                    continue
                await self.update(row.id, text=entry.text if entry.text != row.text else None, kind=entry.kind,
                                  private=entry.private)
                counts["updated"] += 1
                continue
            now = _now()
            new = MemoryRow(id=entry.id or new_id("mem"), scope=entry.scope, workspace=entry.workspace,
                            kind=entry.kind, text=entry.text, private=entry.private,
                            created_at=entry.created_at or now, updated_at=entry.updated_at or now)
            await db.add_memory(self.store, new)
            await self._embed([(new.id, new.text)])
            counts["added"] += 1
        return counts

    # -- search ----------------------------------------------------------------------------------

    async def search(self, query: str, workspace: Path | str | None = None, *, limit: int = 10,
                     include_private: bool = True, mode: SearchMode | Literal["vector"] | None = None) -> SearchResult:
        """The memories seen in ``workspace`` that best match ``query``: full text and vector
        similarity, fused (see :mod:`.search`). ``mode`` forces one ranking (``full_text``,
        ``vector``) or the fusion (``hybrid``); the default is hybrid when the vectors are current.
        A vector-only search with no current vectors raises ValueError."""
        where = None if workspace is None else str(workspace)
        rankings: dict[str, list[str]] = {}
        similarity: dict[str, float] | None = None
        note = ""
        vectors_ok = self.embedder is not None and self.pending == 0
        if mode == "vector" and not vectors_ok:
            raise ValueError(f"no vector search: {self._why_full_text()}")
        if mode in (None, "hybrid") and not vectors_ok:
            note = self._why_full_text()

        async with db.reading(self.store) as reads:  # one session for the reads (see db.reading)
            if mode in (None, "hybrid", "full_text"):
                rankings["full_text"] = await db.full_text(self.store, query, where, CANDIDATES, include_private,
                                                           db=reads)
            if mode in (None, "hybrid", "vector") and vectors_ok:  # after the words: overlapping was slower (bench)
                index = await self._current_index(reads)
                embedder = self.embedder
                assert embedder is not None
                # one short query: on the loop when the model says it is quick (a thread hop costs more)
                qv = (embedder.embed([query]) if getattr(embedder, "quick", False)
                      else await asyncio.to_thread(embedder.embed, [query]))[0]
                near = index.nearest(qv, where, CANDIDATES, include_private)
                rankings["vector"] = [i for i, _ in near]
                similarity = dict(near)
            fused = fuse(rankings)[:limit]
            rows = await db.get_memories(self.store, [i for i, _, _ in fused], db=reads)
        hits = [MemoryHit(memory=info(rows[i]), score=round(s, 6), matched=m)  # type: ignore[arg-type]
                for i, s, m in fused if i in rows]
        used: SearchMode = "hybrid" if "vector" in rankings and "full_text" in rankings else "full_text"
        return SearchResult(hits, used, note, similarity)

    def _why_full_text(self) -> str:
        if self.embedder is None:
            return ("the embedding model is still loading: searching full text alone" if self._loading else
                    "no embedding model is installed: searching full text alone")
        return (f"re-embedding memories for {self.embedder.model} ({self.pending} left): "
                "searching full text alone until it is done")

    async def _current_index(self, reads: AsyncSession | None = None) -> VectorIndex:
        assert self.embedder is not None
        stamp = await db.vector_stamp(self.store, reads)
        index = self._index
        if index is not None and index.stamp == stamp and index.model == self.embedder.model:
            return index
        async with self._index_lock:
            if self._index is None or self._index.stamp != stamp or self._index.model != self.embedder.model:
                rows = await db.vectors(self.store, self.embedder.model)
                self._index = VectorIndex.build(self.embedder.model, self.embedder.dim, stamp, rows)
            return self._index


__all__ = ["CANDIDATES", "MemoryService", "SearchResult", "info"]
