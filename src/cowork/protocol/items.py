"""Items: the units a turn is made of (user message, assistant message, reasoning, tool call, error).

An item is announced by ``item.started``, may grow through ``item.delta`` events, and is final in
``item.completed``, which always carries the whole item. A client that only reads
``item.completed`` events sees the full transcript.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ToolCallStatus = Literal[
    "pending", "awaiting_approval", "running", "completed", "failed", "denied", "interrupted"
]
"""Life of a tool call: ``pending`` (parsed, not yet started) → ``awaiting_approval`` (a person
must decide) → ``running`` → one of ``completed`` / ``failed`` / ``denied`` / ``interrupted``."""


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="Item id, unique within the session (e.g. 'item_3f2a...').")


class UserMessage(_Item):
    """What the person typed to start (or steer) the turn."""

    type: Literal["user_message"] = "user_message"
    text: str


class AssistantMessage(_Item):
    """Text the model wrote for the person (Markdown). Streams through ``item.delta``."""

    type: Literal["assistant_message"] = "assistant_message"
    text: str = ""


class Reasoning(_Item):
    """The model's visible reasoning ("thinking"), when the provider exposes it."""

    type: Literal["reasoning"] = "reasoning"
    text: str = ""


class PolicyDecision(BaseModel):
    """What the policy decided for a tool call, and the rule that decided it (e.g.
    ``builtin:read-only:git status``, ``/home/u/.cowork/policy.toml#3``, ``mode:default``,
    ``session:bash:npm test``, ``builtin:hard-deny:ssh``). See docs/security.md."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["allow", "ask", "deny"]
    rule: str
    reason: str


class ToolCall(_Item):
    """One call of a tool by the model, with its outcome once known.

    ``arguments`` is the parsed JSON object, or the raw string when the model sent invalid JSON
    (the call then fails and the model is told why). ``output`` is exactly what the model read
    (possibly truncated, with a marker). ``metadata`` is for people and clients only: ``diff``
    (unified diff of a write/edit), ``exit_code`` (bash), ``todos`` (todo_write).
    """

    type: Literal["tool_call"] = "tool_call"
    call_id: str = Field(description="The provider's id for this call, echoed in the result.")
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)
    status: ToolCallStatus = "pending"
    output: str | None = None
    summary: str | None = Field(default=None, description="One line for people, e.g. 'exit 0 · 3 lines'.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    duration_ms: int | None = None
    policy: PolicyDecision | None = Field(
        default=None, description="The policy's decision, once made (null for calls never decided).")


class ErrorItem(_Item):
    """Something went wrong inside the turn that the person should see (a retried model error,
    a malformed tool call). A fatal error ends the turn with ``turn.failed`` instead."""

    type: Literal["error"] = "error"
    code: str
    message: str


Item = Annotated[
    UserMessage | AssistantMessage | Reasoning | ToolCall | ErrorItem, Field(discriminator="type")
]
