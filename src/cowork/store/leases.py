"""Turn leases in the database: which process runs a running turn, until when, which attempt.

A process that starts (or takes over) a turn holds a lease on it: a row of ``turn_leases`` with
its owner id and an expiry that its heartbeat pushes forward (:meth:`SqlTurnLeases.renew`).
Whoever recovers turns (:meth:`SqlTurnLeases.take_over`) takes only those whose lease has run
out, was let go, or never existed; each take-over adds one to ``attempt``, so an owner that was
only slow (not dead) learns at its next renewal that the turn is no longer its own, and stops.
Every change is a compare-and-set on ``(owner, attempt, expires_at)``, so two processes (or
machines) sharing the database never both take a turn.

One shortcut: a lease whose owner was a process of this host and PID namespace that no longer
exists has run out at once (a restart after ``kill -9`` recovers its turns without waiting for
the expiry). A PID reused by another process only makes the taker wait for the expiry.

Times are the local clock's (UTC); machines sharing a database need clocks closer than the TTL.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..protocol import utc_now
from .models import TurnLeaseRow
from .repo import Store

DEFAULT_TTL = 30.0
"""Seconds a lease holds without renewal (the heartbeat renews it every third of that)."""


@dataclass(frozen=True)
class Lease:
    """One owner's hold on one running turn. ``attempt`` is the fencing number: 1 for the turn's
    first owner, one more at each take-over. ``expires_at`` is UTC-aware."""

    turn_id: str
    owner: str
    attempt: int
    expires_at: datetime


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def new_owner_id() -> str:
    """A unique owner id for one runtime: ``host:pidns:pid:random`` (the random part tells two
    runtimes of one process apart)."""
    return f"{socket.gethostname()}:{_pid_namespace()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_gone(owner: str) -> bool:
    """Whether ``owner`` names a process of this host and PID namespace that no longer exists."""
    host, _, rest = owner.partition(":")
    ns, _, rest = rest.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or ns != _pid_namespace() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # this process: a runtime of it renews (or released) its own leases
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class SqlTurnLeases:
    """:class:`cowork.engine.lease.TurnLeases` over the store's ``turn_leases`` table."""

    def __init__(self, store: Store, ttl: float = DEFAULT_TTL, owner: str | None = None) -> None:
        self.store = store
        self.ttl = ttl
        self.owner = owner or new_owner_id()

    def _until(self) -> datetime:
        return utc_now() + timedelta(seconds=self.ttl)

    async def acquire(self, turn_id: str) -> Lease:
        """Lease a turn this runtime is about to start (attempt 1). Raises IntegrityError if
        the turn is leased already."""
        lease = Lease(turn_id, self.owner, 1, self._until())
        async with self.store._write() as db:
            db.add(TurnLeaseRow(turn_id=turn_id, owner=lease.owner, expires_at=lease.expires_at, attempt=1))
        return lease

    async def take_over(self, turn_id: str) -> Lease | None:
        """Lease a running turn left by its owner (expired, released, never leased, or its
        process gone); None while another owner's lease holds."""
        now = utc_now()
        held = await self.holder(turn_id)  # a read first: a sweep takes no write lock for live leases
        if held is not None and held.expires_at > now and not _owner_gone(held.owner):
            return None
        async with self.store._write() as db:
            row = await db.get(TurnLeaseRow, turn_id)
            if row is None:
                lease = Lease(turn_id, self.owner, 1, self._until())
                try:
                    async with db.begin_nested():
                        db.add(TurnLeaseRow(turn_id=turn_id, owner=self.owner, expires_at=lease.expires_at, attempt=1))
                except IntegrityError:  # another process took it just now
                    return None
                return lease
            if row.expires_at > now and not _owner_gone(row.owner):
                return None
            lease = Lease(turn_id, self.owner, row.attempt + 1, self._until())
            res = await db.execute(
                update(TurnLeaseRow)
                .where(TurnLeaseRow.turn_id == turn_id, TurnLeaseRow.owner == row.owner,
                       TurnLeaseRow.attempt == row.attempt, TurnLeaseRow.expires_at == row.expires_at)
                .values(owner=self.owner, attempt=lease.attempt, expires_at=lease.expires_at)
            )
            return lease if res.rowcount == 1 else None

    async def renew(self, leases: Sequence[Lease]) -> list[Lease]:
        """Push the expiry of ``leases`` forward; returns those no longer held (taken over)."""
        if not leases:
            return []
        until, lost = self._until(), []
        async with self.store._write() as db:
            for lease in leases:
                res = await db.execute(
                    update(TurnLeaseRow)
                    .where(TurnLeaseRow.turn_id == lease.turn_id, TurnLeaseRow.owner == lease.owner,
                           TurnLeaseRow.attempt == lease.attempt)
                    .values(expires_at=until)
                )
                if res.rowcount != 1:
                    lost.append(lease)
        return lost

    async def release(self, lease: Lease) -> None:
        """Let a turn go (it ended, or is left for the next start to resume): anyone may take it."""
        async with self.store._write() as db:
            await db.execute(
                delete(TurnLeaseRow).where(TurnLeaseRow.turn_id == lease.turn_id, TurnLeaseRow.owner == lease.owner,
                                           TurnLeaseRow.attempt == lease.attempt))

    async def holder(self, turn_id: str) -> Lease | None:
        """The lease on a turn as stored (expired or not), None when there is none."""
        async with self.store._session() as db:
            row = (await db.execute(select(TurnLeaseRow).where(TurnLeaseRow.turn_id == turn_id))).scalar_one_or_none()
        return None if row is None else Lease(row.turn_id, row.owner, row.attempt, row.expires_at)
