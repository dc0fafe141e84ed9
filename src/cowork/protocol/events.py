"""Events: every journaled change to a turn or an item.

Each event carries ``session_id``, ``turn_id``, ``seq`` and ``ts``. ``seq`` is gapless per session
and starts at 1: a client that saw seq N asks for everything after N and misses nothing. ``ts`` is
a UTC timestamp (RFC 3339 with offset on the wire). Events are committed to the store before any
client is shown them. The ``type`` field is the discriminator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from .items import Item
from .sessions import Mode

ApprovalDecision = Literal["once", "session", "deny"]
"""``once``: run this call; ``session``: run it and allow what the request's ``suggestion`` says
for the rest of the session; ``deny``: do not run it (an optional reason is passed to the model)."""

StopReason = Literal["end_turn", "max_steps", "max_tokens"]
"""Why a completed turn stopped: the model answered (``end_turn``); the step limit was reached and
the model was asked to answer without tools (``max_steps``); the model hit its output limit
(``max_tokens``)."""


class Usage(BaseModel):
    """Token usage, summed over every model request of a turn."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = Field(
        default=0,
        description="Of input_tokens, those the provider reused from its prompt cache instead of processing again "
        "(llama.cpp's slot cache for the embedded model); 0 when the provider does not say.",
    )
    requests: int = Field(default=0, description="Number of model requests made.")
    cost: float | None = Field(
        default=None,
        description="Price in USD of the requests whose price is known (genai-prices); null when none was.",
    )

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.requests += other.requests
        if other.cost is not None:
            self.cost = (self.cost or 0.0) + other.cost


class ErrorInfo(BaseModel):
    """A machine-readable ``code`` (e.g. ``provider_unavailable``, ``budget_exceeded``, ``missing_api_key``,
    ``stream_timeout``, ``internal``) and a message for people."""

    code: str
    message: str


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str
    turn_id: str
    seq: int = Field(ge=1, description="Gapless per-session sequence number, from 1.")
    ts: AwareDatetime = Field(description="When the event was journaled, UTC.")

    @field_validator("ts")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class TurnStarted(_Event):
    type: Literal["turn.started"] = "turn.started"
    model: str = Field(description="The model serving this turn, 'provider:model'.")
    text: str = Field(description="The user's message that started the turn.")


class ItemStarted(_Event):
    type: Literal["item.started"] = "item.started"
    item: Item


class ItemDelta(_Event):
    """A fragment appended to an item: text for messages and reasoning, a JSON fragment of the
    arguments for tool calls."""

    type: Literal["item.delta"] = "item.delta"
    item_id: str
    delta: str


class ItemCompleted(_Event):
    type: Literal["item.completed"] = "item.completed"
    item: Item


class SubagentRef(BaseModel):
    """Which subagent an event of its parent's journal is about."""

    session_id: str = Field(description="The subagent's session.")
    task: str = Field(description="What it was asked to do (what clients label it with).")
    agent: str | None = Field(default=None, description="The defined agent it was spawned as, if any.")


SubagentStatus = Literal["running", "waiting_approval", "completed", "failed", "interrupted"]
"""What a subagent is doing: working, waiting for a person, or ended (its turn's outcome)."""


class ApprovalRequested(_Event):
    """A tool call waits for a person's decision. Answer with the approval id."""

    type: Literal["approval.requested"] = "approval.requested"
    approval_id: str
    item_id: str = Field(description="The tool_call item waiting.")
    tool: str
    arguments: dict | str
    reason: str = Field(description="Why the call needs approval.")
    options: list[ApprovalDecision] = Field(
        default_factory=lambda: ["once", "session", "deny"],
        description="The answers accepted: a hard deny offers only once and deny.")
    cwd: str | None = Field(default=None, description="The folder the call runs in (the workspace).")
    diff: str | None = Field(default=None, description="For write and edit: the unified diff the call would make.")
    rule: str | None = Field(default=None, description="The policy rule that asked (e.g. 'mode:default').")
    agent: SubagentRef | None = Field(
        default=None, description="Set on the copy in a parent's journal when one of its subagents asks: answer it "
        "by approval_id like any other (the request is journaled in the subagent's session too).")
    suggestion: list[str] = Field(
        default_factory=list,
        description="What 'session' allows for the rest of the session: the narrowest patterns, e.g. 'bash:git status'.")


class ApprovalResolved(_Event):
    type: Literal["approval.resolved"] = "approval.resolved"
    approval_id: str
    item_id: str
    decision: ApprovalDecision
    reason: str | None = Field(default=None, description="The person's reason, shown to the model on deny.")
    edited_plan: list[str] | None = Field(
        default=None, description="A plan approval only: the steps as the person edited them (docs/protocol.md, "
        "\"Plan mode\").")
    mode: Mode | None = Field(default=None, description="A plan approval only: the mode the plan is carried out in.")
    answered_by: str | None = Field(
        default=None, description="Who answered: the answering client's clientInfo ('NAME VERSION'), a REST client's "
        "X-Cowork-Client header or 'rest'; null for an answer no client gave (the approval timed out).")
    agent: SubagentRef | None = Field(default=None, description="Set on the copy in a parent's journal: the "
                                      "subagent whose approval this answers.")


TurnWarningCode = Literal["no_changes", "unparsed_tool_call", "invented_tool_result"]
"""Why a completed turn's answer should not be taken at its word: ``no_changes``: the answer says
files were changed, but no tool call of the turn changed anything; ``unparsed_tool_call``: the
model wrote a tool call cowork could not read, so it never ran; ``invented_tool_result``: the model
wrote tool results itself instead of calling the tools."""


class TurnWarning(BaseModel):
    """Something a client must show instead of a success mark when the turn ends."""

    code: TurnWarningCode
    message: str


class TurnCompleted(_Event):
    type: Literal["turn.completed"] = "turn.completed"
    usage: Usage
    stop_reason: StopReason
    duration_ms: int
    warnings: list[TurnWarning] = Field(
        default_factory=list,
        description="Empty when the answer can be taken as it is; otherwise each reason it cannot (clients show "
        "them in place of a success mark).",
    )


class TurnFailed(_Event):
    type: Literal["turn.failed"] = "turn.failed"
    error: ErrorInfo
    usage: Usage
    duration_ms: int


class TurnInterrupted(_Event):
    type: Literal["turn.interrupted"] = "turn.interrupted"
    usage: Usage
    duration_ms: int
    reason: str = "interrupted by the user"


class CheckpointCreated(_Event):
    """A checkpoint of the workspace was taken (see docs/checkpoints.md)."""

    type: Literal["checkpoint.created"] = "checkpoint.created"
    checkpoint_id: str
    kind: str = Field(description="'turn', 'tool:write', 'tool:edit', 'tool:bash' or 'restore'.")
    item_id: str | None = Field(default=None, description="The tool_call item it was taken before, if any.")
    changed: int = Field(description="Entries added, changed or removed since the workspace's previous checkpoint.")


class CheckpointRestored(_Event):
    """Files were restored from a checkpoint (checkpoint/restore, turn/rewind, /undo)."""

    type: Literal["checkpoint.restored"] = "checkpoint.restored"
    checkpoint_id: str = Field(description="The checkpoint restored.")
    restored: list[str] = Field(description="Paths changed back.")
    skipped: list[str] = Field(default_factory=list, description="Conflicting paths left alone.")
    undo_checkpoint_id: str | None = Field(
        default=None, description="The checkpoint taken just before: restore it to undo this restore.")


class TurnRewound(_Event):
    """The conversation went back to before ``turn_id``: it and the later turns left the model's
    history (the journal keeps them)."""

    type: Literal["turn.rewound"] = "turn.rewound"
    rewound_turn_ids: list[str]
    restore: Literal["code", "conversation", "both"]


class SubagentUpdated(_Event):
    """In a parent's journal: one of its turn's subagents started, waits for a person, works again,
    or ended. Its work is journaled in its own session (``agent.session_id``); these events are what
    a client needs to show the tree of running agents (docs/subagents.md)."""

    type: Literal["subagent.updated"] = "subagent.updated"
    agent: SubagentRef
    item_id: str = Field(description="The parent's spawn_agent tool_call item.")
    agent_turn_id: str = Field(description="The subagent's turn this is about.")
    status: SubagentStatus
    result: str | None = Field(default=None, description="Ended: the start of its final answer (or why it failed).")
    usage: Usage | None = Field(default=None, description="Ended: what its turn used.")


class HookRan(_Event):
    """One of the person's hook commands ran (docs/extensions.md, "Hooks")."""

    type: Literal["hook.ran"] = "hook.ran"
    event: Literal["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"]
    command: str = Field(description="The command as configured.")
    source: str | None = Field(default=None, description="The hooks file and entry it came from.")
    exit_code: int | None = Field(description="Its exit status; null when it timed out or could not start.")
    duration_ms: int
    decision: Literal["allow", "deny", "ask", "block"] | None = Field(
        default=None, description="What it answered; null: nothing (or a non-blocking error, see 'error').")
    reason: str = Field(default="", description="Why it denied or blocked (what the model or the person reads).")
    output: str = Field(default="", description="The start of what it printed (stdout, then stderr).")
    error: str = Field(default="", description="Why it failed without blocking: a timeout, an exit status other "
                       "than 0 and 2, a command that could not start.")
    tool_name: str | None = Field(default=None, description="pre_tool_use and post_tool_use: the tool called.")
    item_id: str | None = Field(default=None, description="pre_tool_use and post_tool_use: the tool_call item.")


Event = Annotated[
    TurnStarted
    | ItemStarted
    | ItemDelta
    | ItemCompleted
    | ApprovalRequested
    | ApprovalResolved
    | TurnCompleted
    | TurnFailed
    | TurnInterrupted
    | CheckpointCreated
    | CheckpointRestored
    | TurnRewound
    | HookRan
    | SubagentUpdated,
    Field(discriminator="type"),
]

EventAdapter: TypeAdapter[Event] = TypeAdapter(Event)
"""Validates/serialises any event: ``EventAdapter.validate_json(b)``, ``EventAdapter.dump_json(e)``."""

TERMINAL_EVENT_TYPES = frozenset({"turn.completed", "turn.failed", "turn.interrupted"})


def is_terminal(event: _Event) -> bool:
    """True for the event that ends a turn (completed, failed or interrupted)."""
    return getattr(event, "type", None) in TERMINAL_EVENT_TYPES


def utc_now() -> datetime:
    return datetime.now(UTC)
