"""The agent loop: runtime (sessions and turns), the turn itself, context, journal, approvals.

The store's errors and journal rows that callers of the runtime see (``NotFound``,
``StorageUnavailable``, ``StoredEvent``) are re-exported here, so the server reaches the store only
through the runtime.
"""

from ..store import NotFound, StorageUnavailable, StoredEvent
from .extensions import ContextSection, ContextSource, Extension, HookEvent, HookOutcome, HookRun, Hooks, NoHooks
from .runtime import (
    ApprovalNotPending,
    ClientMessageConflict,
    NoRunningTurn,
    Runtime,
    StartedTurn,
    TurnInProgress,
)

__all__ = [
    "ApprovalNotPending", "ClientMessageConflict", "ContextSection", "ContextSource", "Extension", "HookEvent",
    "HookOutcome", "HookRun", "Hooks", "NoHooks", "NoRunningTurn", "NotFound", "Runtime", "StartedTurn",
    "StorageUnavailable", "StoredEvent", "TurnInProgress",
]
