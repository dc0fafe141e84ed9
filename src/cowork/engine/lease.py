"""Turn leases: which process owns a running turn, kept alive by a heartbeat.

The runtime leases every turn it starts or resumes (:meth:`TurnLeases.acquire`,
:meth:`TurnLeases.take_over`), renews its leases every third of the TTL
(:meth:`TurnLeases.renew`; a lease it is told it lost stops that turn without journaling its
end: the new owner does), and lets a turn go when it ends or is left waiting at shutdown
(:meth:`TurnLeases.release`). Recovery takes over only turns whose lease ran out, so several
processes, later on several machines, can share one database.

:class:`~cowork.store.leases.SqlTurnLeases` keeps leases in the database (the runtime's
default); :class:`MemoryTurnLeases` keeps them in this process (tests, and a runtime that is
alone with its database).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from ..protocol import utc_now
from ..store.leases import DEFAULT_TTL, Lease, SqlTurnLeases


class TurnLeases(Protocol):
    """Where leases live. ``owner``: this runtime's id; ``ttl``: seconds a lease holds unrenewed."""

    owner: str
    ttl: float

    async def acquire(self, turn_id: str) -> Lease:
        """Lease a turn about to start (attempt 1). Raises if it is leased already."""
        ...

    async def take_over(self, turn_id: str) -> Lease | None:
        """Lease a running turn nobody holds any more (attempt + 1); None while someone does."""
        ...

    async def renew(self, leases: Sequence[Lease]) -> list[Lease]:
        """Extend ``leases``; returns the ones that were lost to a take-over."""
        ...

    async def release(self, lease: Lease) -> None:
        """Let a turn go; anyone may take it over from now on."""
        ...


class MemoryTurnLeases:
    """:class:`TurnLeases` in a dict: every turn not leased in this object is free to take.
    ``clock`` returns the current UTC time (tests move it forward)."""

    def __init__(self, ttl: float = DEFAULT_TTL, owner: str | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.ttl = ttl
        self.owner = owner or f"memory:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.leases: dict[str, Lease] = {}

    def _lease(self, turn_id: str, attempt: int, owner: str | None = None) -> Lease:
        lease = Lease(turn_id, owner or self.owner, attempt, self.clock() + timedelta(seconds=self.ttl))
        self.leases[turn_id] = lease
        return lease

    async def acquire(self, turn_id: str) -> Lease:
        if turn_id in self.leases:
            raise ValueError(f"turn {turn_id} is leased already")
        return self._lease(turn_id, 1)

    async def take_over(self, turn_id: str) -> Lease | None:
        held = self.leases.get(turn_id)
        if held is not None and held.expires_at > self.clock():
            return None
        return self._lease(turn_id, held.attempt + 1 if held else 1)

    async def renew(self, leases: Sequence[Lease]) -> list[Lease]:
        lost = []
        for lease in leases:
            held = self.leases.get(lease.turn_id)
            if held is None or (held.owner, held.attempt) != (lease.owner, lease.attempt):
                lost.append(lease)
            else:
                self._lease(lease.turn_id, lease.attempt, lease.owner)
        return lost

    async def release(self, lease: Lease) -> None:
        held = self.leases.get(lease.turn_id)
        if held is not None and (held.owner, held.attempt) == (lease.owner, lease.attempt):
            del self.leases[lease.turn_id]


__all__ = ["Lease", "MemoryTurnLeases", "SqlTurnLeases", "TurnLeases"]
