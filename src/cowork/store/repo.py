"""The store: workspaces, sessions, turns, the event journal and model message history.

All methods are coroutines over one SQLAlchemy async engine. Each write commits before it
returns, so events are durable once :meth:`Store.append_events` returns. On SQLite the writes of
one process take turns (an asyncio lock: SQLite has one writer at a time, and waiting on a lock
costs nothing while waiting in SQLite's busy handler sleeps) and begin with ``BEGIN IMMEDIATE``
(see :mod:`cowork.store.db`), so concurrent sessions never fail with ``database is locked``
(another *process* holding the lock longer than the busy timeout still can: the journal retries).

The journal's writes (:meth:`Store.append`) are cowork's hot path. On SQLite they skip
SQLAlchemy and aiosqlite: a plain ``sqlite3`` connection with no busy timeout runs each batch
(``BEGIN IMMEDIATE``, ``executemany``, ``COMMIT``: tens of microseconds in WAL mode with
``synchronous=NORMAL``, which does not sync on commit) right on the event loop. Only when another
connection holds the write lock does the batch go to a second connection, confined to one
thread, that waits the busy timeout there, off the loop. WAL checkpoints (which do sync) run in
that thread too, every few hundred commits.

The database file's identity (``st_dev``, ``st_ino``) is taken at open and checked before every
operation: when the file is deleted or replaced while cowork runs, every later call raises
:class:`DatabaseReplaced` (and :meth:`Store.problem` says why) instead of writing to an unlinked
file whose data would be gone after a restart.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ..protocol import Event, EventAdapter, SessionInfo, SubagentLink, utc_now
from ..protocol.events import TERMINAL_EVENT_TYPES
from .db import BUSY_TIMEOUT, WRITE, create_engine, migrate, sqlite_pragmas
from .models import EventRow, MessageRow, SessionRow, TurnLeaseRow, TurnRow, WorkspaceRow

if TYPE_CHECKING:
    from pydantic import TypeAdapter
    from pydantic_ai.messages import ModelMessage


def _messages_adapter() -> TypeAdapter[list[ModelMessage]]:
    """pydantic-ai's message adapter, imported on first use (importing pydantic-ai takes ~0.5 s)."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    return ModelMessagesTypeAdapter


class NotFound(LookupError):
    """The session (or other object) does not exist."""


class StorageUnavailable(RuntimeError):
    """The database cannot be used (now or any more); ``str()`` says why and what to do."""


class DatabaseReplaced(StorageUnavailable):
    """The database file was deleted or replaced while cowork ran. Permanent for this process:
    nothing more is read or written; the server must be restarted."""


class StoredEvent(NamedTuple):
    """A journaled event as stored: ``data`` is its JSON text, exactly as sent to clients."""

    seq: int
    type: str
    data: str


def new_id(prefix: str) -> str:
    """A random id with a readable prefix, e.g. ``ses_1f3a...`` (32 hex digits of uuid4)."""
    return f"{prefix}_{uuid.uuid4().hex}"


_CHECKPOINT_EVERY = 200
"""Inline journal commits between two WAL checkpoints (run in the journal's thread)."""


class Store:
    """Persistence of everything cowork must not lose. Open with :meth:`Store.open`."""

    def __init__(self, engine: AsyncEngine, busy_timeout: float = BUSY_TIMEOUT, raw_journal: bool = True) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._writer = async_sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False)
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        self._busy_timeout = busy_timeout
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self.path: Path | None = Path(database).absolute() if database and database != ":memory:" else None
        """The SQLite database file (None for PostgreSQL or an in-memory database)."""
        self._identity = _file_identity(self.path) if self.path is not None else None
        self._broken: StorageUnavailable | None = None
        self._raw: sqlite3.Connection | None = None  # used in _raw_thread only
        self._inline: sqlite3.Connection | None = None  # used on the event loop only, busy timeout 0
        self._inline_commits = 0
        self._raw_thread = ThreadPoolExecutor(1, "cowork-journal") if self.path is not None and raw_journal else None

    @classmethod
    async def open(cls, url: str, *, busy_timeout: float = BUSY_TIMEOUT, raw_journal: bool = True) -> Store:
        """Connect to ``url`` and migrate the schema to the newest revision. ``busy_timeout``:
        seconds a SQLite write waits for another process's lock before it fails;
        ``raw_journal=False`` sends the journal's writes through SQLAlchemy too (benchmarks)."""
        engine = create_engine(url, busy_timeout)
        await migrate(engine)
        return cls(engine, busy_timeout, raw_journal)

    async def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._raw_thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._raw_thread, self._close_raw)
            self._raw_thread.shutdown(wait=False)
        await self.engine.dispose()

    def problem(self) -> str | None:
        """Why the store cannot be used any more (:class:`DatabaseReplaced`), else None. Checks
        the database file now (a ``stat``: microseconds)."""
        try:
            self._check()
        except StorageUnavailable as exc:
            return str(exc)
        return None

    def _check(self) -> None:
        """Raise :class:`DatabaseReplaced` if the database file is gone or is another file than
        the one opened (and from then on, always)."""
        if self._broken is not None:
            raise self._broken
        if self.path is None:
            return
        now = _file_identity(self.path)
        if now == self._identity:
            return
        what = "deleted" if now is None else "replaced by another file"
        self._broken = DatabaseReplaced(
            f"the database {self.path} was {what} while cowork was running; cowork stopped reading and "
            "writing it (what it wrote since is lost). Restart the server: it opens the database now at "
            "that path (a new, empty one if there is none; restore a backup there first to keep your sessions)"
        )
        raise self._broken

    def _session(self) -> AsyncSession:
        """A read session (after the file identity check)."""
        self._check()
        return self._sessions()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed on exit, rolled back on an exception."""
        self._check()
        async with self._write_lock, self._writer() as db, db.begin():
            self._check()
            yield db

    # -- sessions ---------------------------------------------------------------------------

    async def create_session(self, workspace: Path, model: str, mode: str, title: str = "", *,
                             parent: SubagentLink | None = None, instructions: str = "",
                             allowed_tools: list[str] | None = None) -> SessionInfo:
        """A new session; with ``parent``, a subagent's (``instructions``: what it works under;
        ``allowed_tools``: its pre-granted "always" patterns)."""
        now = utc_now()
        path = str(workspace)
        async with self._write() as db:
            ws = (await db.execute(select(WorkspaceRow).where(WorkspaceRow.path == path))).scalar_one_or_none()
            if ws is None:
                ws = WorkspaceRow(id=new_id("ws"), path=path, created_at=now)
                db.add(ws)
                await db.flush()
            row = SessionRow(
                id=new_id("ses"), workspace_id=ws.id, title=title, model=model, mode=mode,
                status="idle", last_seq=0, allowed_tools=sorted(set(allowed_tools or ())), created_at=now,
                updated_at=now,
            )
            if parent is not None:
                row.parent_session_id, row.parent_turn_id = parent.parent_session_id, parent.parent_turn_id
                row.parent_item_id, row.agent_task, row.agent_name = parent.item_id, parent.task, parent.agent
                row.agent_tools, row.agent_instructions = parent.tools, instructions
            db.add(row)
        return _info(row, path)

    async def agent_instructions(self, session_id: str) -> str:
        """What a subagent's session works under ('' for any other session or an unknown one)."""
        async with self._session() as db:
            found = await db.scalar(select(SessionRow.agent_instructions).where(SessionRow.id == session_id))
        return found or ""

    async def get_session(self, session_id: str) -> SessionInfo:
        """Raises :class:`NotFound`."""
        async with self._session() as db:
            return _info(*await _session_row(db, session_id))

    async def list_sessions(
        self, workspace: Path | None = None, limit: int = 50, cursor: str | None = None, query: str | None = None,
        parent: str | None = None,
    ) -> tuple[list[SessionInfo], str | None]:
        """One page of sessions (of ``workspace`` when given; whose title contains ``query``,
        case-insensitively, when given: ``%`` and ``_`` match themselves), newest created first,
        and the opaque cursor of the next page (None on the last). Subagents' sessions are not
        listed, unless ``parent`` is given: then only the subagents of that session are. Raises
        ``ValueError("invalid cursor")`` for a cursor not made here, ValueError for ``limit < 1``."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        q = (
            select(SessionRow, WorkspaceRow.path)
            .join(WorkspaceRow, SessionRow.workspace_id == WorkspaceRow.id)
            .order_by(SessionRow.created_at.desc(), SessionRow.id.desc())
            .limit(limit + 1)
            .where(SessionRow.parent_session_id.is_(None) if parent is None else SessionRow.parent_session_id == parent)
        )
        if workspace is not None:
            q = q.where(WorkspaceRow.path == str(workspace))
        if query:
            escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(func.lower(SessionRow.title).like(f"%{escaped.lower()}%", escape="\\"))
        if cursor is not None:
            created_at, last_id = _decode_cursor(cursor)
            # Row-value comparison spelled out so that both SQLite and PostgreSQL walk the index.
            q = q.where(
                SessionRow.created_at <= created_at,
                or_(SessionRow.created_at < created_at, SessionRow.id < last_id),
            )
        async with self._session() as db:
            rows = (await db.execute(q)).all()
        page = [_info(*r) for r in rows[:limit]]
        more = len(rows) > limit
        return page, _encode_cursor(page[-1].created_at, page[-1].id) if more else None

    async def latest_session(self, workspace: Path) -> SessionInfo | None:
        """The most recently updated session of ``workspace``, or None."""
        q = (
            select(SessionRow, WorkspaceRow.path)
            .join(WorkspaceRow, SessionRow.workspace_id == WorkspaceRow.id)
            .where(WorkspaceRow.path == str(workspace), SessionRow.parent_session_id.is_(None))
            .order_by(SessionRow.updated_at.desc(), SessionRow.id.desc())
            .limit(1)
        )
        async with self._session() as db:
            found = (await db.execute(q)).first()
        return None if found is None else _info(*found)

    async def list_workspaces(self) -> list[tuple[str, int, datetime | None]]:
        """``(path, number of sessions, newest session updated_at)`` of every workspace that has
        a session, most recently active first."""
        newest = func.max(SessionRow.updated_at).label("newest")
        q = (
            select(WorkspaceRow.path, func.count(SessionRow.id), newest)
            .join(SessionRow, SessionRow.workspace_id == WorkspaceRow.id)
            .group_by(WorkspaceRow.id, WorkspaceRow.path)
            .order_by(newest.desc(), WorkspaceRow.path)
        )
        async with self._session() as db:
            return [(path, count, at) for path, count, at in (await db.execute(q)).all()]

    async def fork_session(self, session_id: str, turn_id: str | None = None) -> SessionInfo:
        """A new session in the same workspace (same model, mode, allowed_tools; title + " (fork)")
        holding copies of the source's ended turns up to and including ``turn_id`` (all when None),
        ordered by start. Copies get new turn ids; their events are renumbered from seq 1 with the
        new session and turn ids; the model history is copied as it stood at the end of the last
        copied turn. Raises :class:`NotFound` for an unknown session or a ``turn_id`` that is not
        an ended turn of it."""
        now = utc_now()
        async with self._write() as db:
            src, path = await _session_row(db, session_id)
            turns = list(
                (
                    await db.execute(
                        select(TurnRow).where(TurnRow.session_id == session_id, TurnRow.status != "running")
                        .order_by(TurnRow.started_at, TurnRow.id)
                    )
                ).scalars()
            )
            if turn_id is not None:
                upto = next((i for i, t in enumerate(turns) if t.id == turn_id), None)
                if upto is None:
                    raise NotFound(f"no ended turn {turn_id!r} in session {session_id!r}")
                turns = turns[: upto + 1]
            new_turn = {t.id: new_id("turn") for t in turns}
            fork_id = new_id("ses")

            old_events: list[tuple[int, str]] = []
            old_messages: list[MessageRow] = []
            for chunk in _chunks(list(new_turn), 500):  # bounded IN lists (SQLite/asyncpg parameter limits)
                old_events += [
                    (seq, data) for seq, data in await db.execute(
                        select(EventRow.seq, EventRow.data)
                        .where(EventRow.session_id == session_id, EventRow.turn_id.in_(chunk))
                    )
                ]
                old_messages += (
                    await db.execute(
                        select(MessageRow).where(MessageRow.session_id == session_id, MessageRow.turn_id.in_(chunk))
                    )
                ).scalars().all()
            old_events.sort()
            old_messages.sort(key=lambda m: m.id)

            events = []
            for seq, (_, data) in enumerate(old_events, start=1):
                e = EventAdapter.validate_json(data)
                e = e.model_copy(update={"session_id": fork_id, "turn_id": new_turn[e.turn_id], "seq": seq})
                events.append(dict(session_id=fork_id, seq=seq, turn_id=e.turn_id, type=e.type, ts=e.ts,
                                   data=e.model_dump_json()))
            messages = []
            for m in old_messages:
                # Live at the end of the last copied turn unless compacted by a copied turn. Rows
                # compacted before revision 0002 (compacted_by NULL) stay compacted. Compacted rows
                # are copied too, for the record, as the source keeps them.
                still = m.compacted and (m.compacted_by is None or m.compacted_by in new_turn)
                messages.append(dict(
                    session_id=fork_id, turn_id=new_turn[m.turn_id], data=m.data, compacted=still,
                    compacted_by=new_turn[m.compacted_by] if still and m.compacted_by else None,
                ))

            fork = SessionRow(
                id=fork_id, workspace_id=src.workspace_id,
                title=f"{src.title} (fork)" if src.title else f"fork of {src.id}",
                model=src.model, mode=src.mode, status="idle", last_seq=len(events),
                allowed_tools=list(src.allowed_tools), created_at=now, updated_at=now,
            )
            db.add(fork)
            await db.flush()
            if turns:
                await db.execute(insert(TurnRow), [
                    dict(id=new_turn[t.id], session_id=fork_id, status=t.status, input_text=t.input_text,
                         model=t.model, input_tokens=t.input_tokens, output_tokens=t.output_tokens,
                         started_at=t.started_at, ended_at=t.ended_at, client_message_id=None)
                    for t in turns
                ])
            if events:
                await db.execute(insert(EventRow), events)
            if messages:
                await db.execute(insert(MessageRow), messages)
        return _info(fork, path)

    async def update_session(self, session_id: str, **fields: object) -> None:
        """Set columns of a session (title, model, mode, status, allowed_tools) and bump updated_at."""
        async with self._write() as db:
            res = await db.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(**fields, updated_at=utc_now())
            )
            if res.rowcount == 0:
                raise NotFound(f"no session {session_id!r}")

    async def allowed_tools(self, session_id: str) -> list[str]:
        async with self._session() as db:
            return list(
                (await db.execute(select(SessionRow.allowed_tools).where(SessionRow.id == session_id))).scalar_one()
            )

    async def delete_session(self, session_id: str) -> None:
        """Delete a session with its journal, turns and history, and its subagents' sessions.
        Raises :class:`NotFound`."""
        async with self._write() as db:
            children = (await db.execute(select(SessionRow.id).where(SessionRow.parent_session_id == session_id)))
            for sid in [session_id, *children.scalars()]:
                turns = select(TurnRow.id).where(TurnRow.session_id == sid)
                await db.execute(delete(TurnLeaseRow).where(TurnLeaseRow.turn_id.in_(turns)))
                for table in (EventRow, MessageRow, TurnRow):
                    await db.execute(delete(table).where(table.session_id == sid))
                res = await db.execute(delete(SessionRow).where(SessionRow.id == sid))
                if res.rowcount == 0:
                    raise NotFound(f"no session {session_id!r}")

    # -- turns ------------------------------------------------------------------------------

    async def start_turn(
        self, session_id: str, turn_id: str, text: str, model: str, client_message_id: str | None = None
    ) -> None:
        """Journal a running turn. A ``client_message_id`` already used in the session (or a used
        ``turn_id``) raises :class:`sqlalchemy.exc.IntegrityError` and nothing is written."""
        now = utc_now()
        async with self._write() as db:
            db.add(TurnRow(id=turn_id, session_id=session_id, status="running", input_text=text,
                           model=model, input_tokens=0, output_tokens=0, started_at=now,
                           client_message_id=client_message_id))
            await db.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(status="running", updated_at=now)
            )

    async def end_turn(self, turn_id: str, status: str, input_tokens: int, output_tokens: int) -> None:
        now = utc_now()
        async with self._write() as db:
            session_id = (
                await db.execute(
                    update(TurnRow).where(TurnRow.id == turn_id)
                    .values(status=status, input_tokens=input_tokens, output_tokens=output_tokens, ended_at=now)
                    .returning(TurnRow.session_id)
                )
            ).scalar_one()
            await db.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(status="idle", updated_at=now)
            )

    async def find_turn_by_client_message(self, session_id: str, client_message_id: str) -> tuple[str, str] | None:
        """``(turn_id, input_text)`` of the session's turn started with ``client_message_id``, or None."""
        async with self._session() as db:
            found = (
                await db.execute(
                    select(TurnRow.id, TurnRow.input_text)
                    .where(TurnRow.session_id == session_id, TurnRow.client_message_id == client_message_id)
                )
            ).first()
        return None if found is None else (found[0], found[1])

    async def get_turn_status(self, turn_id: str) -> tuple[str, str] | None:
        """``(session_id, status)`` of a turn, or None when there is no such turn."""
        async with self._session() as db:
            found = (await db.execute(select(TurnRow.session_id, TurnRow.status).where(TurnRow.id == turn_id))).first()
        return None if found is None else (found[0], found[1])

    async def running_turns(self) -> list[tuple[str, str]]:
        """``(session_id, turn_id)`` of every turn journaled as running, oldest first. Which of
        them are someone's to recover is the turn leases' business (:mod:`cowork.store.leases`)."""
        async with self._session() as db:
            rows = await db.execute(
                select(TurnRow.session_id, TurnRow.id).where(TurnRow.status == "running")
                .order_by(TurnRow.started_at, TurnRow.id))
            return [(s, t) for s, t in rows.all()]

    # -- journal ----------------------------------------------------------------------------

    async def append(
        self, events: Sequence[Event], encoded: Sequence[str] | None = None,
        messages: Sequence[tuple[str, str, ModelMessage]] = (),
    ) -> None:
        """Insert events and model messages (``(session_id, turn_id, message)``, added to the live
        history in order) in one transaction and commit. ``encoded`` holds each event's JSON when
        the caller has it already (else it is made here). ``(session_id, seq)`` is unique: a
        duplicate raises (``sqlite3.IntegrityError`` or SQLAlchemy's) and nothing of the batch is
        written; so does anything else that fails the commit (e.g. ``database is locked``), and
        :class:`DatabaseReplaced`."""
        if not events and not messages:
            return
        datas = encoded if encoded is not None else [e.model_dump_json() for e in events]
        newest: dict[str, int] = {}
        for e in events:
            newest[e.session_id] = max(newest.get(e.session_id, 0), e.seq)
        rows = [{"session_id": s, "turn_id": t, "data": _messages_adapter().dump_json([m]).decode(), "compacted": False}
                for s, t, m in messages]
        self._check()
        if self._raw_thread is not None:
            ev_rows = [(e.session_id, e.seq, e.turn_id, e.type, _sqlite_ts(e.ts), data)
                       for e, data in zip(events, datas, strict=True)]
            msg_rows = [(r["session_id"], r["turn_id"], r["data"]) for r in rows]
            last = [(seq, sid) for sid, seq in newest.items()]
            loop = asyncio.get_running_loop()
            async with self._write_lock:
                try:
                    self._transaction(self._inline_connection(), ev_rows, last, msg_rows)
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                        raise
                    # Another process holds the write lock: wait for it off the loop.
                    await loop.run_in_executor(self._raw_thread, self._append_raw, ev_rows, last, msg_rows)
                else:
                    self._inline_commits += 1
                    if self._inline_commits % _CHECKPOINT_EVERY == 0:
                        loop.run_in_executor(self._raw_thread, self._wal_checkpoint)
            return
        await self._append_sqlalchemy(events, datas, newest, rows)

    def _connect_raw(self, busy_timeout: float) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)  # type: ignore[arg-type]
        sqlite_pragmas(con, busy_timeout)
        return con

    def _inline_connection(self) -> sqlite3.Connection:
        if self._inline is None:
            self._inline = self._connect_raw(0)
            self._inline.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints sync: _raw_thread does them
        return self._inline

    def _raw_connection(self) -> sqlite3.Connection:
        if self._raw is None:
            self._raw = self._connect_raw(self._busy_timeout)
        return self._raw

    def _wal_checkpoint(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._raw_connection().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _append_raw(self, events: list[tuple], last: list[tuple[int, str]], messages: list[tuple]) -> None:
        """:meth:`append`'s transaction on the thread's connection, waiting up to the busy timeout."""
        self._transaction(self._raw_connection(), events, last, messages)

    def _transaction(self, con: sqlite3.Connection, events: list[tuple], last: list[tuple[int, str]],
                     messages: list[tuple]) -> None:
        """:meth:`append`'s transaction on a plain sqlite3 connection."""
        self._check()
        con.execute("BEGIN IMMEDIATE")
        try:
            self._check()  # after taking the lock: the file may have been replaced meanwhile
            if events:
                con.executemany(
                    "INSERT INTO events (session_id, seq, turn_id, type, ts, data) VALUES (?, ?, ?, ?, ?, ?)", events)
                con.executemany("UPDATE sessions SET last_seq = ? WHERE id = ?", last)
            if messages:
                con.executemany(
                    "INSERT INTO messages (session_id, turn_id, data, compacted) VALUES (?, ?, ?, 0)", messages)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    def _close_raw(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    async def _append_sqlalchemy(self, events: Sequence[Event], datas: Sequence[str], newest: dict[str, int],
                                 rows: list[dict[str, object]]) -> None:
        """:meth:`append` through SQLAlchemy (PostgreSQL)."""
        async with self._write() as db:
            if events:
                await db.execute(insert(EventRow), [
                    {"session_id": e.session_id, "seq": e.seq, "turn_id": e.turn_id, "type": e.type, "ts": e.ts,
                     "data": data}
                    for e, data in zip(events, datas, strict=True)
                ])
            for session_id, seq in newest.items():
                await db.execute(update(SessionRow).where(SessionRow.id == session_id).values(last_seq=seq))
            if rows:
                await db.execute(insert(MessageRow), rows)

    async def append_events(self, events: Sequence[Event]) -> None:
        """:meth:`append` of events alone."""
        await self.append(events)

    async def last_seq(self, session_id: str) -> int:
        async with self._session() as db:
            return (
                await db.execute(select(func.coalesce(func.max(EventRow.seq), 0)).where(EventRow.session_id == session_id))
            ).scalar_one()

    async def events_after(self, session_id: str, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        """Journaled events with ``seq > after_seq``, in order, at most ``limit``."""
        async with self._session() as db:
            rows = await db.execute(
                select(EventRow.data).where(EventRow.session_id == session_id, EventRow.seq > after_seq)
                .order_by(EventRow.seq).limit(limit)
            )
            return [EventAdapter.validate_json(d) for (d,) in rows.all()]

    async def stored_events_after(self, session_id: str, after_seq: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Like :meth:`events_after`, without parsing: each event's seq, type and stored JSON."""
        async with self._session() as db:
            rows = await db.execute(
                select(EventRow.seq, EventRow.type, EventRow.data)
                .where(EventRow.session_id == session_id, EventRow.seq > after_seq)
                .order_by(EventRow.seq).limit(limit)
            )
            return [StoredEvent(*row) for row in rows.all()]

    async def turn_events(self, session_id: str, turn_id: str) -> list[Event]:
        """The journaled events of one turn, in seq order ([] when none)."""
        async with self._session() as db:
            rows = await db.execute(
                select(EventRow.data).where(EventRow.session_id == session_id, EventRow.turn_id == turn_id)
                .order_by(EventRow.seq)
            )
            return [EventAdapter.validate_json(d) for (d,) in rows.all()]

    async def ended_turns(self, session_id: str) -> list[Event]:
        """The terminal event (``turn.completed``, ``.failed``, ``.interrupted``) of each ended turn
        of the session, in order: what every turn used (session budgets add them up)."""
        async with self._session() as db:
            rows = await db.execute(
                select(EventRow.data)
                .where(EventRow.session_id == session_id, EventRow.type.in_(sorted(TERMINAL_EVENT_TYPES)))
                .order_by(EventRow.seq)
            )
            return [EventAdapter.validate_json(d) for (d,) in rows.all()]

    # -- model message history ----------------------------------------------------------------

    async def append_messages(self, session_id: str, turn_id: str, messages: Sequence[ModelMessage]) -> None:
        """:meth:`append` of one turn's messages alone."""
        await self.append((), None, [(session_id, turn_id, m) for m in messages])

    async def history(self, session_id: str) -> list[ModelMessage]:
        """The live model messages (not compacted, not of a rewound turn), oldest first."""
        rewound = select(TurnRow.id).where(TurnRow.session_id == session_id, TurnRow.rewound_at.is_not(None))
        async with self._session() as db:
            rows = await db.execute(
                select(MessageRow.data)
                .where(MessageRow.session_id == session_id, MessageRow.compacted.is_(False),
                       MessageRow.turn_id.not_in(rewound))
                .order_by(MessageRow.id)
            )
            return [_messages_adapter().validate_json(d)[0] for (d,) in rows.all()]

    async def replace_history(self, session_id: str, turn_id: str, messages: Sequence[ModelMessage]) -> None:
        """Make ``messages`` the live history (after compaction by ``turn_id``). Replaced rows stay,
        marked compacted with ``compacted_by=turn_id``."""
        async with self._write() as db:
            await db.execute(
                update(MessageRow).where(MessageRow.session_id == session_id, MessageRow.compacted.is_(False))
                .values(compacted=True, compacted_by=turn_id)
            )
            for m in messages:
                data = _messages_adapter().dump_json([m]).decode()
                db.add(MessageRow(session_id=session_id, turn_id=turn_id, data=data, compacted=False))


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _encode_cursor(created_at: datetime, session_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), session_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise ValueError
        created_at, session_id = value
        at = datetime.fromisoformat(created_at)
        if at.tzinfo is None:
            raise ValueError
        return at, session_id
    except (ValueError, TypeError, binascii.Error) as exc:  # JSON and Unicode errors are ValueErrors
        raise ValueError("invalid cursor") from exc


async def _session_row(db: AsyncSession, session_id: str) -> tuple[SessionRow, str]:
    """The session's row and its workspace path. Raises :class:`NotFound`."""
    found = (
        await db.execute(
            select(SessionRow, WorkspaceRow.path)
            .join(WorkspaceRow, SessionRow.workspace_id == WorkspaceRow.id)
            .where(SessionRow.id == session_id)
        )
    ).first()
    if found is None:
        raise NotFound(f"no session {session_id!r}")
    return found[0], found[1]


def _file_identity(path: Path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the file at ``path``, None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _sqlite_ts(ts: datetime) -> str:
    """A UTC-aware time as SQLAlchemy stores :class:`~cowork.store.models.UTCDateTime` on SQLite."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _info(row: SessionRow, path: str) -> SessionInfo:
    return SessionInfo(
        id=row.id, title=row.title, workspace=path, model=row.model, mode=row.mode,  # type: ignore[arg-type]
        status=row.status, created_at=row.created_at, updated_at=row.updated_at,  # type: ignore[arg-type]
        last_seq=row.last_seq, parent=None if row.parent_session_id is None else SubagentLink(
            parent_session_id=row.parent_session_id, parent_turn_id=row.parent_turn_id or "",
            item_id=row.parent_item_id or "", task=row.agent_task or "", agent=row.agent_name, tools=row.agent_tools or []),
    )


__all__ = ["DatabaseReplaced", "NotFound", "StorageUnavailable", "Store", "StoredEvent", "new_id"]
