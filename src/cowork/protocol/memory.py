"""Memories as clients see them (docs/memory.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

MemoryScope = Literal["workspace", "user"]
"""``workspace``: seen by sessions of that workspace only; ``user``: by every session."""

MemoryKind = Literal["preference", "fact", "lesson", "rule"]
"""What a memory is: how the user likes things done, something true about a project, something
learnt from a mistake, or a rule to follow."""

SearchMode = Literal["hybrid", "full_text"]
"""``hybrid``: full text and vector similarity merged (reciprocal rank fusion); ``full_text``: full
text alone (no embedding model, or the index is being rebuilt: ``note`` says which)."""

MAX_MEMORY_CHARS = 2000
"""The longest text a memory may have: memories are short; documents belong in the workspace."""


class MemoryInfo(BaseModel):
    """One memory."""

    id: str
    scope: MemoryScope
    workspace: str | None = Field(default=None, description="Absolute path; null for a user-scope memory.")
    kind: MemoryKind
    text: str
    private: bool = Field(description="Never shown to read-only callers, exported only when asked, "
                                      "offered only to local models.")
    session_id: str | None = Field(default=None, description="The session that saved it, if any.")
    turn_id: str | None = Field(default=None, description="The turn that saved it, if any.")
    created_at: AwareDatetime
    updated_at: AwareDatetime


class MemoryHit(BaseModel):
    """A memory a search found."""

    memory: MemoryInfo
    score: float = Field(description="Reciprocal rank fusion score: the sum of 1/(60 + rank) over the "
                                     "rankings that found it (higher is better).")
    matched: list[Literal["full_text", "vector"]] = Field(description="The rankings that found it.")
