"""Schedule records in the store, and their fires (see :mod:`cowork.jobs.schedules`).

A fire is taken by inserting its ``(schedule, fire time)`` row: the primary key makes the second
insert fail, so two servers on one store (or one restarted) never fire the same time twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .models import ScheduleFireRow, ScheduleRow
from .repo import NotFound, Store


async def add_schedule(store: Store, row: ScheduleRow) -> None:
    async with store._write() as db:
        db.add(row)


async def get_schedule(store: Store, schedule_id: str) -> ScheduleRow:
    """Raises :class:`NotFound`."""
    async with store._session() as db:
        row = await db.get(ScheduleRow, schedule_id)
    if row is None:
        raise NotFound(f"no schedule {schedule_id!r}")
    return row


async def list_schedules(store: Store, workspace: str | None = None) -> list[ScheduleRow]:
    """Schedules, oldest first."""
    query = select(ScheduleRow).order_by(ScheduleRow.created_at, ScheduleRow.id)
    if workspace is not None:
        query = query.where(ScheduleRow.workspace == workspace)
    async with store._session() as db:
        return list((await db.execute(query)).scalars())


async def due_schedules(store: Store, now: datetime) -> list[ScheduleRow]:
    """Enabled schedules whose next fire time has come."""
    async with store._session() as db:
        rows = await db.execute(select(ScheduleRow).where(ScheduleRow.enabled.is_(True),
                                                          ScheduleRow.next_fire_at <= now)
                                .order_by(ScheduleRow.next_fire_at))
        return list(rows.scalars())


async def next_due(store: Store) -> datetime | None:
    """The earliest next fire time of the enabled schedules."""
    async with store._session() as db:
        rows = await db.execute(select(ScheduleRow.next_fire_at).where(
            ScheduleRow.enabled.is_(True), ScheduleRow.next_fire_at.is_not(None))
            .order_by(ScheduleRow.next_fire_at).limit(1))
        return rows.scalar_one_or_none()


async def update_schedule(store: Store, schedule_id: str, **fields: Any) -> None:
    """Raises :class:`NotFound`."""
    async with store._write() as db:
        done = await db.execute(update(ScheduleRow).where(ScheduleRow.id == schedule_id).values(**fields))
    if not done.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no schedule {schedule_id!r}")


async def delete_schedule(store: Store, schedule_id: str) -> None:
    """Raises :class:`NotFound` (its fires go with it)."""
    async with store._write() as db:
        await db.execute(delete(ScheduleFireRow).where(ScheduleFireRow.schedule_id == schedule_id))
        done = await db.execute(delete(ScheduleRow).where(ScheduleRow.id == schedule_id))
    if not done.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no schedule {schedule_id!r}")


async def take_fire(store: Store, row: ScheduleFireRow) -> bool:
    """Record a fire; False when it was taken already (by this server before, or another)."""
    try:
        async with store._write() as db:
            db.add(row)
    except IntegrityError:
        return False
    return True


async def set_fire(store: Store, schedule_id: str, scheduled_for: datetime, **fields: Any) -> None:
    async with store._write() as db:
        await db.execute(update(ScheduleFireRow).where(ScheduleFireRow.schedule_id == schedule_id,
                                                       ScheduleFireRow.scheduled_for == scheduled_for)
                         .values(**fields))


async def fires(store: Store, schedule_id: str, limit: int = 50) -> list[ScheduleFireRow]:
    """A schedule's fires, newest first."""
    async with store._session() as db:
        rows = await db.execute(select(ScheduleFireRow).where(ScheduleFireRow.schedule_id == schedule_id)
                                .order_by(ScheduleFireRow.scheduled_for.desc()).limit(limit))
        return list(rows.scalars())


__all__ = ["add_schedule", "delete_schedule", "due_schedules", "fires", "get_schedule", "list_schedules",
           "next_due", "set_fire", "take_fire", "update_schedule"]
