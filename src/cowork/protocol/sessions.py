"""Sessions as clients see them."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

Mode = Literal["default", "accept-edits", "read-only", "plan", "yolo"]
"""Approval mode of a session (what happens to a call no policy rule decides). ``default``: reads
run, ``bash``/``write``/``edit`` ask a person; ``accept-edits``: edits inside the workspace run,
commands ask; ``read-only``: nothing that changes anything runs (plan only); ``plan``: as
``read-only``, and the agent proposes a plan a person approves (edits or rejects) before the session
switches to the mode it is carried out in (docs/protocol.md, "Plan mode"); ``yolo``: everything
runs without asking (``--yes``) except hard denies. See docs/security.md."""

SessionStatus = Literal["idle", "running"]


class SubagentLink(BaseModel):
    """Where a subagent's session sits under its parent (docs/subagents.md)."""

    parent_session_id: str
    parent_turn_id: str = Field(description="The parent's turn that spawned it.")
    item_id: str = Field(description="The parent's spawn_agent tool_call item.")
    task: str = Field(description="What it was asked to do.")
    agent: str | None = Field(default=None, description="The defined agent it was spawned as, if any.")
    tools: list[str] = Field(default_factory=list, description="The only tools it may use: a subset of those its "
                             "parent was offered when it was spawned (never the subagent tools).")


class SessionInfo(BaseModel):
    """A persistent conversation bound to a workspace."""

    id: str
    title: str
    workspace: str = Field(description="Absolute path of the workspace folder.")
    model: str = Field(description="'provider:model'")
    mode: Mode
    status: SessionStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime
    last_seq: int = Field(description="Seq of the newest journaled event (0 when none).")
    pending_approvals: int = Field(default=0, description="Approvals of the running turn waiting for an answer.")
    parent: SubagentLink | None = Field(default=None, description="Set for a subagent's session: its parent.")
