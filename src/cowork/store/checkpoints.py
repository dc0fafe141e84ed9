"""Checkpoint records and rewound turns in the store (the snapshots themselves live in the
workspace's shadow repository, see :mod:`cowork.checkpoints`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from ..protocol import utc_now
from .models import CheckpointRow, MessageRow, TurnRow
from .repo import NotFound, Store


async def add_checkpoint(store: Store, row: CheckpointRow) -> None:
    async with store._write() as db:
        db.add(row)


async def get_checkpoint(store: Store, checkpoint_id: str) -> CheckpointRow:
    """Raises :class:`NotFound`."""
    async with store._session() as db:
        row = await db.get(CheckpointRow, checkpoint_id)
    if row is None:
        raise NotFound(f"no checkpoint {checkpoint_id!r}")
    return row


async def session_checkpoints(store: Store, session_id: str, limit: int = 1000) -> list[CheckpointRow]:
    """The session's checkpoints, newest first."""
    async with store._session() as db:
        rows = await db.execute(
            select(CheckpointRow).where(CheckpointRow.session_id == session_id)
            .order_by(CheckpointRow.created_at.desc(), CheckpointRow.id.desc()).limit(limit))
        return list(rows.scalars())


async def workspace_checkpoints(store: Store, workspace: str) -> list[tuple[str, str, datetime]]:
    """``(id, commit, created_at)`` of every checkpoint of ``workspace``, oldest first."""
    async with store._session() as db:
        rows = await db.execute(
            select(CheckpointRow.id, CheckpointRow.commit, CheckpointRow.created_at)
            .where(CheckpointRow.workspace == workspace).order_by(CheckpointRow.created_at, CheckpointRow.id))
        return [(i, c, at) for i, c, at in rows.all()]


async def delete_checkpoints(store: Store, ids: Sequence[str]) -> None:
    async with store._write() as db:
        for i in range(0, len(ids), 500):
            await db.execute(delete(CheckpointRow).where(CheckpointRow.id.in_(ids[i : i + 500])))


async def turn_checkpoint(store: Store, session_id: str, turn_id: str) -> CheckpointRow | None:
    """The checkpoint taken before ``turn_id`` started, or None."""
    async with store._session() as db:
        rows = await db.execute(
            select(CheckpointRow).where(CheckpointRow.session_id == session_id, CheckpointRow.turn_id == turn_id,
                                        CheckpointRow.kind == "turn").order_by(CheckpointRow.created_at).limit(1))
        return rows.scalars().first()


async def live_turns(store: Store, session_id: str) -> list[tuple[str, str, datetime]]:
    """``(turn id, status, started_at)`` of the session's turns not rewound, oldest first."""
    async with store._session() as db:
        rows = await db.execute(
            select(TurnRow.id, TurnRow.status, TurnRow.started_at)
            .where(TurnRow.session_id == session_id, TurnRow.rewound_at.is_(None))
            .order_by(TurnRow.started_at, TurnRow.id))
        return [(i, s, at) for i, s, at in rows.all()]


async def rewind_turns(store: Store, session_id: str, turn_id: str) -> list[str]:
    """Mark ``turn_id`` and every later turn of the session rewound; their messages leave the
    model's history (rows stay), and messages that their compactions had replaced come back.
    Returns the ids rewound, oldest first. Raises :class:`NotFound` (unknown or already rewound
    turn), ValueError (the turn is still running)."""
    turns = await live_turns(store, session_id)
    index = next((i for i, t in enumerate(turns) if t[0] == turn_id), None)
    if index is None:
        raise NotFound(f"no turn {turn_id!r} in session {session_id!r} (or it was rewound already)")
    ids = [t[0] for t in turns[index:]]
    if any(t[1] == "running" for t in turns[index:]):
        raise ValueError("a turn to rewind is still running")
    now = utc_now()
    async with store._write() as db:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            await db.execute(update(TurnRow).where(TurnRow.id.in_(chunk)).values(rewound_at=now))
            await db.execute(update(MessageRow).where(MessageRow.session_id == session_id,
                                                      MessageRow.compacted_by.in_(chunk))
                             .values(compacted=False, compacted_by=None))
    return ids


def row_dict(row: CheckpointRow) -> dict[str, Any]:
    return {"id": row.id, "session_id": row.session_id, "turn_id": row.turn_id, "item_id": row.item_id,
            "workspace": row.workspace, "kind": row.kind, "created_at": row.created_at, "stats": row.stats}
