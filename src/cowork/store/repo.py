"""The store: workspaces, sessions, turns, the event journal and model message history.

All methods are coroutines over one SQLAlchemy async engine. Each write commits before it
returns, so events are durable once :meth:`Store.append_events` returns. On SQLite the writes of
one process take turns (an asyncio lock: SQLite has one writer at a time, and waiting on a lock
costs nothing while waiting in SQLite's busy handler sleeps) and begin with ``BEGIN IMMEDIATE``
(see :mod:`cowork.store.db`), so concurrent sessions never fail with ``database is locked``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ..protocol import Event, EventAdapter, SessionInfo, utc_now
from ..protocol.events import TERMINAL_EVENT_TYPES
from .db import WRITE, create_engine, migrate
from .models import EventRow, MessageRow, SessionRow, TurnRow, WorkspaceRow

if TYPE_CHECKING:
    from pydantic import TypeAdapter
    from pydantic_ai.messages import ModelMessage


def _messages_adapter() -> TypeAdapter[list[ModelMessage]]:
    """pydantic-ai's message adapter, imported on first use (importing pydantic-ai takes ~0.5 s)."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    return ModelMessagesTypeAdapter


class NotFound(LookupError):
    """The session (or other object) does not exist."""


class StoredEvent(NamedTuple):
    """A journaled event as stored: ``data`` is its JSON text, exactly as sent to clients."""

    seq: int
    type: str
    data: str


def new_id(prefix: str) -> str:
    """A random id with a readable prefix, e.g. ``ses_1f3a...`` (32 hex digits of uuid4)."""
    return f"{prefix}_{uuid.uuid4().hex}"


class Store:
    """Persistence of everything cowork must not lose. Open with :meth:`Store.open`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = async_sessionmaker(engine, expire_on_commit=False)
        self._writer = async_sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False)
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect to ``url`` and migrate the schema to the newest revision."""
        engine = create_engine(url)
        await migrate(engine)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed on exit, rolled back on an exception."""
        async with self._write_lock, self._writer() as db, db.begin():
            yield db

    # -- sessions ---------------------------------------------------------------------------

    async def create_session(self, workspace: Path, model: str, mode: str, title: str = "") -> SessionInfo:
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
                status="idle", last_seq=0, allowed_tools=[], created_at=now, updated_at=now,
            )
            db.add(row)
        return _info(row, path)

    async def get_session(self, session_id: str) -> SessionInfo:
        """Raises :class:`NotFound`."""
        async with self._session() as db:
            return _info(*await _session_row(db, session_id))

    async def list_sessions(
        self, workspace: Path | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[SessionInfo], str | None]:
        """One page of sessions (of ``workspace`` when given), newest created first, and the
        opaque cursor of the next page (None on the last). Raises ``ValueError("invalid cursor")``
        for a cursor not made here, ValueError for ``limit < 1``."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        q = (
            select(SessionRow, WorkspaceRow.path)
            .join(WorkspaceRow, SessionRow.workspace_id == WorkspaceRow.id)
            .order_by(SessionRow.created_at.desc(), SessionRow.id.desc())
            .limit(limit + 1)
        )
        if workspace is not None:
            q = q.where(WorkspaceRow.path == str(workspace))
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
            .where(WorkspaceRow.path == str(workspace))
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
        """Delete a session with its journal, turns and history. Raises :class:`NotFound`."""
        async with self._write() as db:
            for table in (EventRow, MessageRow, TurnRow):
                await db.execute(delete(table).where(table.session_id == session_id))
            res = await db.execute(delete(SessionRow).where(SessionRow.id == session_id))
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
                           client_message_id=client_message_id, owner=process_owner()))
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

    async def claim_turn(self, turn_id: str) -> None:
        """Record this process as the owner of a running turn it resumes."""
        async with self._write() as db:
            await db.execute(update(TurnRow).where(TurnRow.id == turn_id).values(owner=process_owner()))

    async def running_turns(self) -> list[tuple[str, str]]:
        """``(session_id, turn_id)`` of turns journaled as running whose process is gone (left
        over by a crash): turns of another live process on this host, and of other hosts, are
        not listed — their own process (or host) is running or recovering them."""
        async with self._session() as db:
            rows = await db.execute(
                select(TurnRow.session_id, TurnRow.id, TurnRow.owner).where(TurnRow.status == "running"))
            return [(s, t) for s, t, owner in rows.all() if _orphaned(owner)]

    # -- journal ----------------------------------------------------------------------------

    async def append(
        self, events: Sequence[Event], encoded: Sequence[str] | None = None,
        messages: Sequence[tuple[str, str, ModelMessage]] = (),
    ) -> None:
        """Insert events and model messages (``(session_id, turn_id, message)``, added to the live
        history in order) in one transaction and commit. ``encoded`` holds each event's JSON when
        the caller has it already (else it is made here). ``(session_id, seq)`` is unique: a
        duplicate raises and nothing of the batch is written."""
        if not events and not messages:
            return
        datas = encoded if encoded is not None else [e.model_dump_json() for e in events]
        newest: dict[str, int] = {}
        for e in events:
            newest[e.session_id] = max(newest.get(e.session_id, 0), e.seq)
        rows = [{"session_id": s, "turn_id": t, "data": _messages_adapter().dump_json([m]).decode(), "compacted": False}
                for s, t, m in messages]
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


def process_owner() -> str:
    """This process, as recorded in ``turns.owner``: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _orphaned(owner: str | None) -> bool:
    """Whether the process that ran a turn is gone: unrecorded, this very process (a previous
    runtime in it), or a pid no longer alive on this host. Turns of other hosts are never taken."""
    if owner is None or owner == process_owner():
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _info(row: SessionRow, path: str) -> SessionInfo:
    return SessionInfo(
        id=row.id, title=row.title, workspace=path, model=row.model, mode=row.mode,  # type: ignore[arg-type]
        status=row.status, created_at=row.created_at, updated_at=row.updated_at,  # type: ignore[arg-type]
        last_seq=row.last_seq,
    )


__all__ = ["NotFound", "Store", "StoredEvent", "new_id"]
