"""The agent loop: runtime (sessions and turns), the turn itself, context, journal, approvals."""

from .runtime import (
    ApprovalNotPending,
    ClientMessageConflict,
    NoRunningTurn,
    Runtime,
    StartedTurn,
    TurnInProgress,
)

__all__ = ["ApprovalNotPending", "ClientMessageConflict", "NoRunningTurn", "Runtime", "StartedTurn", "TurnInProgress"]
