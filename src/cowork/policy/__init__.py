"""Whether a tool call may run: ``allow``, ``ask`` a person, or ``deny``.

This is the first form of the policy: decided per tool from the session's mode and the tools a
person allowed "for the rest of this session". A denial is never an error for the turn: the model
reads it as the tool's result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["allow", "ask", "deny"]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str


def decide(tool: str, mutating: bool, mode: str, session_allowed: frozenset[str] | set[str]) -> Decision:
    """Decide one call of ``tool`` (``mutating``: it can change the workspace) in ``mode``.

    Modes: ``read-only`` denies every mutating tool; ``yolo`` allows everything; ``default``
    asks for mutating tools unless the person allowed the tool for this session.
    """
    if not mutating:
        return Decision("allow", f"{tool} does not change anything")
    if mode == "read-only":
        return Decision("deny", f"the session is read-only: {tool} could change the workspace")
    if mode == "yolo":
        return Decision("allow", "yolo mode allows every tool")
    if tool in session_allowed:
        return Decision("allow", f"{tool} was allowed for this session")
    return Decision("ask", f"{tool} can change the workspace")
