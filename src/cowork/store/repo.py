"""The store: workspaces, sessions, turns, the event journal and model message history.

All methods are coroutines over one SQLAlchemy async engine. Each write commits before it
returns, so an event returned by :meth:`Store.append_event` is durable.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from ..protocol import Event, EventAdapter, SessionInfo, utc_now
from .db import create_engine, migrate
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


def new_id(prefix: str) -> str:
    """A random id with a readable prefix, e.g. ``ses_1f3a...`` (32 hex digits of uuid4)."""
    return f"{prefix}_{uuid.uuid4().hex}"


class Store:
    """Persistence of everything cowork must not lose. Open with :meth:`Store.open`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect to ``url`` and migrate the schema to the newest revision."""
        engine = create_engine(url)
        await migrate(engine)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    # -- sessions ---------------------------------------------------------------------------

    async def create_session(self, workspace: Path, model: str, mode: str, title: str = "") -> SessionInfo:
        now = utc_now()
        path = str(workspace)
        async with self._session() as db, db.begin():
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
            found = (
                await db.execute(
                    select(SessionRow, WorkspaceRow.path)
                    .join(WorkspaceRow, SessionRow.workspace_id == WorkspaceRow.id)
                    .where(SessionRow.id == session_id)
                )
            ).first()
        if found is None:
            raise NotFound(f"no session {session_id!r}")
        return _info(*found)

    async def list_sessions(self, workspace: Path | None = None, limit: int = 50) -> list[SessionInfo]:
        """Sessions, most recently updated first."""
        q = (
            select(SessionRow, WorkspaceRow.path)
            .join(WorkspaceRow, SessionRow.workspace_id == WorkspaceRow.id)
            .order_by(SessionRow.updated_at.desc(), SessionRow.id.desc())
            .limit(limit)
        )
        if workspace is not None:
            q = q.where(WorkspaceRow.path == str(workspace))
        async with self._session() as db:
            return [_info(*r) for r in (await db.execute(q)).all()]

    async def update_session(self, session_id: str, **fields: object) -> None:
        """Set columns of a session (title, model, mode, status, allowed_tools) and bump updated_at."""
        async with self._session() as db, db.begin():
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
        async with self._session() as db, db.begin():
            for table in (EventRow, MessageRow, TurnRow):
                await db.execute(delete(table).where(table.session_id == session_id))
            res = await db.execute(delete(SessionRow).where(SessionRow.id == session_id))
            if res.rowcount == 0:
                raise NotFound(f"no session {session_id!r}")

    # -- turns ------------------------------------------------------------------------------

    async def start_turn(self, session_id: str, turn_id: str, text: str, model: str) -> None:
        now = utc_now()
        async with self._session() as db, db.begin():
            db.add(TurnRow(id=turn_id, session_id=session_id, status="running", input_text=text,
                           model=model, input_tokens=0, output_tokens=0, started_at=now))
            await db.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(status="running", updated_at=now)
            )

    async def end_turn(self, turn_id: str, status: str, input_tokens: int, output_tokens: int) -> None:
        now = utc_now()
        async with self._session() as db, db.begin():
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

    async def running_turns(self) -> list[tuple[str, str]]:
        """``(session_id, turn_id)`` of turns journaled as running (left over by a crash)."""
        async with self._session() as db:
            rows = await db.execute(select(TurnRow.session_id, TurnRow.id).where(TurnRow.status == "running"))
            return [(s, t) for s, t in rows.all()]

    # -- journal ----------------------------------------------------------------------------

    async def append_events(self, events: Sequence[Event]) -> None:
        """Insert events in one transaction and commit. ``(session_id, seq)`` is unique: a
        duplicate raises and nothing of the batch is written."""
        newest: dict[str, int] = {}
        async with self._session() as db, db.begin():
            db.add_all(
                EventRow(session_id=e.session_id, seq=e.seq, turn_id=e.turn_id, type=e.type, ts=e.ts,
                         data=e.model_dump_json())
                for e in events
            )
            for e in events:
                newest[e.session_id] = max(newest.get(e.session_id, 0), e.seq)
            for session_id, seq in newest.items():
                await db.execute(update(SessionRow).where(SessionRow.id == session_id).values(last_seq=seq))

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

    # -- model message history ----------------------------------------------------------------

    async def append_messages(self, session_id: str, turn_id: str, messages: Sequence[ModelMessage]) -> None:
        if not messages:
            return
        async with self._session() as db, db.begin():
            for m in messages:
                data = _messages_adapter().dump_json([m]).decode()
                db.add(MessageRow(session_id=session_id, turn_id=turn_id, data=data, compacted=False))

    async def history(self, session_id: str) -> list[ModelMessage]:
        """The live (not compacted) model messages, oldest first."""
        async with self._session() as db:
            rows = await db.execute(
                select(MessageRow.data)
                .where(MessageRow.session_id == session_id, MessageRow.compacted.is_(False))
                .order_by(MessageRow.id)
            )
            return [_messages_adapter().validate_json(d)[0] for (d,) in rows.all()]

    async def replace_history(self, session_id: str, turn_id: str, messages: Sequence[ModelMessage]) -> None:
        """Make ``messages`` the live history (after compaction). Replaced rows stay, marked compacted."""
        async with self._session() as db, db.begin():
            await db.execute(
                update(MessageRow).where(MessageRow.session_id == session_id, MessageRow.compacted.is_(False))
                .values(compacted=True)
            )
            for m in messages:
                data = _messages_adapter().dump_json([m]).decode()
                db.add(MessageRow(session_id=session_id, turn_id=turn_id, data=data, compacted=False))


def _info(row: SessionRow, path: str) -> SessionInfo:
    return SessionInfo(
        id=row.id, title=row.title, workspace=path, model=row.model, mode=row.mode,  # type: ignore[arg-type]
        status=row.status, created_at=row.created_at, updated_at=row.updated_at,  # type: ignore[arg-type]
        last_seq=row.last_seq,
    )


__all__ = ["NotFound", "Store", "new_id"]
