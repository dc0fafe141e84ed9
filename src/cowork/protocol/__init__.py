"""The public contract of cowork: items, events and sessions (pydantic models).

Clients and the server exchange exactly these shapes; ``cowork protocol schema`` prints their
JSON Schema. See docs/protocol.md.
"""

from .checkpoints import CheckpointInfo, CheckpointStats, FileChange, NotRestored
from .events import (
    ApprovalDecision,
    ApprovalRequested,
    ApprovalResolved,
    CheckpointCreated,
    CheckpointRestored,
    ErrorInfo,
    Event,
    EventAdapter,
    HookRan,
    ItemCompleted,
    ItemDelta,
    ItemStarted,
    StopReason,
    SubagentRef,
    SubagentStatus,
    SubagentUpdated,
    TurnCompleted,
    TurnFailed,
    TurnInterrupted,
    TurnRewound,
    TurnStarted,
    TurnWarning,
    Usage,
    is_terminal,
    utc_now,
)
from .items import AssistantMessage, ErrorItem, Item, PolicyDecision, Reasoning, ToolCall, ToolCallStatus, UserMessage
from .runs import ENDED_RUN_STATES, RunApprovals, RunInfo, RunReason, RunState
from .sessions import Mode, SessionInfo, SessionStatus, SubagentLink

__all__ = [
    "ApprovalDecision", "ApprovalRequested", "ApprovalResolved", "AssistantMessage", "CheckpointCreated",
    "CheckpointInfo", "CheckpointRestored", "CheckpointStats", "ErrorInfo", "FileChange", "NotRestored", "TurnRewound",
    "ErrorItem", "Event", "EventAdapter", "HookRan", "Item", "ItemCompleted", "ItemDelta", "ItemStarted",
    "Mode", "PolicyDecision", "Reasoning", "ENDED_RUN_STATES", "RunApprovals", "RunInfo", "RunReason", "RunState", "SessionInfo", "SessionStatus", "StopReason", "SubagentLink", "SubagentRef", "SubagentStatus",
    "SubagentUpdated", "ToolCall", "ToolCallStatus",
    "TurnCompleted", "TurnFailed", "TurnInterrupted", "TurnStarted", "TurnWarning", "Usage", "UserMessage",
    "is_terminal", "utc_now",
]
