"""Checkpoints on the wire: the objects ``checkpoint/*`` and ``turn/rewind`` carry (snake_case,
like sessions and events; their parameters and results are in :mod:`.rpc`).

See docs/checkpoints.md for what a checkpoint captures and docs/protocol.md for the methods.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

RestoreTarget = Literal["code", "conversation", "both"]
"""What ``turn/rewind`` takes back: the files (``code``), the model's history (``conversation``), or both."""


class CheckpointStats(BaseModel):
    files: int = Field(description="Entries captured (files, links, folders).")
    changed: int = Field(description="Entries added, changed or removed since the workspace's previous checkpoint.")
    hashed_bytes: int = Field(description="Bytes read because their stat changed.")
    large: int = Field(default=0, description="Files over the size limit: recorded by SHA-256 and size, not stored.")
    truncated: bool = Field(default=False, description="The file cap was reached: later entries are not captured.")
    ms: float = Field(description="Milliseconds the scan took.")


class CheckpointInfo(BaseModel):
    """A snapshot of a workspace, taken before a turn, a mutating tool call or a restore."""

    id: str
    session_id: str
    turn_id: str = Field(description="The turn it was taken in (before it started, for kind 'turn').")
    item_id: str | None = Field(default=None, description="The tool_call item it was taken before, if any.")
    workspace: str
    kind: str = Field(description="'turn', 'tool:write', 'tool:edit', 'tool:bash' or 'restore'.")
    created_at: AwareDatetime
    stats: CheckpointStats


class FileChange(BaseModel):
    """One path that differs between a checkpoint and the workspace now, named as a diff from the
    checkpoint: ``added`` (a restore deletes it), ``deleted`` (a restore brings it back),
    ``modified``."""

    path: str = Field(description="Relative to the workspace, '/'-separated.")
    change: Literal["added", "modified", "deleted"]
    kind: Literal["file", "symlink", "folder"]
    conflict: bool = Field(
        default=False, description="Edited by a person since the agent last changed the workspace: a restore "
                                   "leaves it alone unless it is in overwrite (or force is set).")
    diff: str | None = Field(default=None, description="Unified diff, checkpoint → now (text files and links).")


class NotRestored(BaseModel):
    path: str
    reason: str
