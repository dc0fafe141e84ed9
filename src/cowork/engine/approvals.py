"""Pending approvals: a tool call waits on a future until a person answers.

The first answer wins; a second answer, or an answer to an unknown id, raises
:class:`ApprovalNotPending`; an answer the request does not offer (``session`` for a hard deny)
raises ValueError. The waiting turn journals ``approval.resolved``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ..protocol import ApprovalDecision

_ALL: tuple[ApprovalDecision, ...] = ("once", "session", "deny")


class ApprovalNotPending(LookupError):
    """No approval with this id is waiting (unknown, already answered, or its turn ended)."""


class ApprovalBroker:
    def __init__(self) -> None:
        self._pending: dict[str, tuple[str, asyncio.Future[tuple[ApprovalDecision, str | None]],
                                       Sequence[str]]] = {}

    def open(self, approval_id: str, session_id: str,
             options: Sequence[str] = _ALL) -> asyncio.Future[tuple[ApprovalDecision, str | None]]:
        """A future that gets ``(decision, reason)`` when the approval is answered; ``options``
        are the decisions accepted (``deny`` always is)."""
        future: asyncio.Future[tuple[ApprovalDecision, str | None]] = asyncio.get_running_loop().create_future()
        self._pending[approval_id] = (session_id, future, (*options, "deny"))
        return future

    def close(self, approval_id: str) -> None:
        self._pending.pop(approval_id, None)

    def resolve(self, approval_id: str, decision: ApprovalDecision, reason: str | None = None) -> str:
        """Answer a pending approval; returns its session id. Raises :class:`ApprovalNotPending`,
        ValueError (a decision that is not one of the request's options)."""
        if decision not in _ALL:
            raise ValueError(f"decision must be once, session or deny, not {decision!r}")
        entry = self._pending.get(approval_id)
        if entry is None or entry[1].done():
            raise ApprovalNotPending(f"approval {approval_id!r} is not pending")
        if decision not in entry[2]:
            raise ValueError(f"approval {approval_id!r} offers {', '.join(dict.fromkeys(entry[2]))}, not {decision!r}")
        entry[1].set_result((decision, reason))
        return entry[0]
