"""The agent loop: runtime (sessions and turns), the turn itself, context, journal, approvals."""

from .runtime import ApprovalNotPending, Runtime, TurnInProgress

__all__ = ["ApprovalNotPending", "Runtime", "TurnInProgress"]
