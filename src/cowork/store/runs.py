"""Run records in the store: the queue of turns started without a person (see :mod:`cowork.jobs`).

Every change of a run's state is a compare-and-set (``UPDATE … WHERE state = <expected>``), so two
servers on one store never both claim a queued run, and a run that ended is never ended twice.
Every change also sets ``updated_at``, which :func:`changed_since` reads to follow the runs other
servers of the store change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from ..protocol import utc_now
from .models import RunRow
from .repo import NotFound, Store

ACTIVE = ("queued", "running")
"""States of a run that has not ended."""


async def add_run(store: Store, row: RunRow) -> None:
    row.updated_at = row.updated_at or row.created_at
    async with store._write() as db:
        db.add(row)


async def get_run(store: Store, run_id: str) -> RunRow:
    """Raises :class:`NotFound`."""
    async with store._session() as db:
        row = await db.get(RunRow, run_id)
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return row


async def list_runs(store: Store, *, workspace: str | None = None, states: Sequence[str] = (),
                    trigger: str | None = None, limit: int = 50) -> list[RunRow]:
    """Runs, newest first; only of ``workspace`` / in ``states`` / started by ``trigger`` when given."""
    query = select(RunRow).order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(limit)
    if trigger is not None:
        query = query.where(RunRow.trigger == trigger)
    if workspace is not None:
        query = query.where(RunRow.workspace == workspace)
    if states:
        query = query.where(RunRow.state.in_(list(states)))
    async with store._session() as db:
        return list((await db.execute(query)).scalars())


async def queued_runs(store: Store, limit: int = 100) -> list[RunRow]:
    """Queued runs, oldest first (the order they start in)."""
    async with store._session() as db:
        rows = await db.execute(select(RunRow).where(RunRow.state == "queued")
                                .order_by(RunRow.created_at, RunRow.id).limit(limit))
        return list(rows.scalars())


async def running_counts(store: Store) -> tuple[int, dict[str, int]]:
    """``(all, per workspace)``: how many runs are running, on every server of the store."""
    async with store._session() as db:
        rows = (await db.execute(select(RunRow.workspace, func.count()).where(RunRow.state == "running")
                                 .group_by(RunRow.workspace))).all()
    per = {w: n for w, n in rows}
    return sum(per.values()), per


async def transition(store: Store, run_id: str, expected: str | Sequence[str], **fields: Any) -> bool:
    """Set ``fields`` on the run if its state is (one of) ``expected``; whether it was."""
    states = [expected] if isinstance(expected, str) else list(expected)
    async with store._write() as db:
        done = await db.execute(update(RunRow).where(RunRow.id == run_id, RunRow.state.in_(states))
                                .values(updated_at=utc_now(), **fields))
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def touch(store: Store, run_id: str) -> None:
    """Set ``updated_at``: something the run shows that is not in its row changed (an approval of
    its turn was asked or answered, a delivery was sent)."""
    async with store._write() as db:
        await db.execute(update(RunRow).where(RunRow.id == run_id).values(updated_at=utc_now()))


async def changed_since(store: Store, since: datetime) -> list[tuple[str, datetime]]:
    """``(run id, updated_at)`` of the runs changed at or after ``since``, oldest change first."""
    async with store._session() as db:
        rows = await db.execute(select(RunRow.id, RunRow.updated_at).where(RunRow.updated_at >= since)
                                .order_by(RunRow.updated_at))
        return [(i, t) for i, t in rows.all() if t is not None]


async def claim(store: Store, run_id: str, owner: str) -> bool:
    """Take a queued run for ``owner`` (it becomes ``running``); False when another server did."""
    return await transition(store, run_id, "queued", state="running", owner=owner, started_at=utc_now())


__all__ = [
    "ACTIVE", "add_run", "changed_since", "claim", "get_run", "list_runs", "queued_runs", "running_counts", "touch",
    "transition",
]
