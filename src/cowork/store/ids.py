"""Ids a person can type: a unique prefix of a session, turn, checkpoint, approval, run, schedule or webhook id stands for
the whole id, as a short commit hash does in git.

Ids are ``<kind>_<32 hex digits>`` (:func:`cowork.store.repo.new_id`); one of that full length is
taken as it is, without a query, so programs that send whole ids pay nothing.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from .models import CheckpointRow, EventRow, MemoryRow, RunRow, ScheduleRow, SessionRow, TurnRow, WebhookRow
from .repo import Store

FULL_HEX = 32
"""Hex digits after the ``<kind>_`` of a whole id."""

KINDS = {"session_id": "session", "turn_id": "turn", "checkpoint_id": "checkpoint", "approval_id": "approval",
         "run_id": "run", "schedule_id": "schedule", "webhook_id": "webhook",
         "memory_id": "memory"}
"""The parameters whose value may be a prefix, and what they name."""

_SHOWN = 3


class AmbiguousId(ValueError):
    """A prefix that starts more than one id (the server answers ``-32602``)."""


def is_whole(ref: str) -> bool:
    """True when ``ref`` has the length of a whole id (``kind_`` + 32 hex digits)."""
    kind, sep, rest = ref.partition("_")
    return not sep or len(rest) >= FULL_HEX


async def complete_id(store: Store, field: str, ref: str, session_id: str | None = None) -> str:
    """The whole id that ``ref`` starts, for the parameter ``field`` (a key of :data:`KINDS`);
    turns and checkpoints are looked for in ``session_id`` when it is given. ``ref`` itself when
    it is whole, when it is an id, or when nothing starts with it (the method then says that the
    id is unknown, in its own words). Raises :class:`AmbiguousId` when several ids start with it."""
    if is_whole(ref) or not ref:
        return ref
    found = await _matches(store, field, ref, session_id)
    if ref in found or not found:
        return ref
    if len(found) == 1:
        return found[0]
    kind = KINDS[field]
    shown = ", ".join(found[:_SHOWN]) + (", …" if len(found) > _SHOWN else "")
    raise AmbiguousId(f"{ref} is the start of more than one {kind} id ({shown}): give more of the id")


async def _matches(store: Store, field: str, ref: str, session_id: str | None) -> list[str]:
    async with store._session() as db:
        if field == "approval_id":  # approvals live in the journal: approval.requested events
            query = select(EventRow.data).where(EventRow.type == "approval.requested",
                                                EventRow.data.contains(f'"approval_id":"{ref}', autoescape=True))
            ids = {json.loads(data).get("approval_id", "") for data in (await db.execute(query.limit(50))).scalars()}
        else:
            row = {"session_id": SessionRow, "turn_id": TurnRow, "checkpoint_id": CheckpointRow, "run_id": RunRow,
                   "schedule_id": ScheduleRow, "webhook_id": WebhookRow, "memory_id": MemoryRow}[field]
            query = select(row.id).where(row.id.startswith(ref, autoescape=True))
            if session_id is not None and field not in ("session_id", "memory_id"):
                query = query.where(row.session_id == session_id)  # type: ignore[attr-defined]
            ids = set((await db.execute(query.limit(50))).scalars())
    return sorted(i for i in ids if i.startswith(ref))  # LIKE ignores case on SQLite
