"""Runs as clients see them: turns started without a person at the keyboard (docs/automation.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

RunState = Literal["queued", "running", "waiting_for_approval", "completed", "failed", "cancelled", "interrupted"]
"""``queued``: waiting for a free slot (limits per server and per workspace); ``running``: its turn
runs; ``waiting_for_approval``: its turn waits on an approval (per its approval policy);
``completed`` / ``failed`` / ``interrupted``: how its turn ended; ``cancelled``: cancelled before
or while it ran."""

RunReason = Literal["person", "schedule", "webhook"]
"""Why a run started."""

RunApprovals = Literal["deny", "wait"]
"""What a run does with a tool call the policy asks a person about. ``deny``: the call is denied at
once (journaled as ``approval.resolved``, answered by ``run policy``; the model reads the denial and
carries on); ``wait``: the approval stays pending for every client until its deadline
(``approval_timeout`` seconds), then it is denied the same way. Pre-granted rules (``allow`` at
submission) are the session's "always" patterns: what they cover is never asked."""

class WebhookChannel(BaseModel):
    """POST the run (JSON) to ``url``, signed with ``$COWORK_DELIVERY_SECRET`` when it is set."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["webhook"] = "webhook"
    url: str = Field(max_length=2000, pattern=r"^https?://", description="http(s) URL to POST to.")


class EmailChannel(BaseModel):
    """Mail the run's outcome over SMTP (``$COWORK_SMTP_*``)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["email"] = "email"
    to: list[Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1, max_length=20)


Channel = Annotated[WebhookChannel | EmailChannel, Field(discriminator="type")]


class Deliver(BaseModel):
    """Where a run's outcome goes when it ends (and, with ``on_waiting``, when it waits for a
    person), besides the web UI and ``cowork runs``. ``only_if_not_empty``: nothing is sent for a
    completed run whose answer is empty (for noisy monitors)."""

    model_config = ConfigDict(extra="forbid")
    channels: list[Channel] = Field(min_length=1, max_length=10)
    only_if_not_empty: bool = False
    on_waiting: bool = True


DeliveryState = Literal["pending", "sent", "failed", "skipped"]


class DeliveryStatus(BaseModel):
    """One delivery of a run: a channel (its index in ``deliver.channels``) and an event."""

    channel: int
    kind: Literal["webhook", "email"]
    event: Literal["ended", "waiting"]
    state: DeliveryState
    attempts: int
    error: str | None = None
    sent_at: AwareDatetime | None = None


ENDED_RUN_STATES: tuple[RunState, ...] = ("completed", "failed", "cancelled", "interrupted")
"""The states a run ends in."""


class RunInfo(BaseModel):
    """One run and where it stands."""

    id: str
    session_id: str = Field(description="The session its turn runs in (open it like any other).")
    workspace: str = Field(description="Absolute path of the workspace folder.")
    prompt: str
    state: RunState
    reason: RunReason
    trigger: str | None = Field(default=None, description="What started it: a schedule's or webhook's id.")
    approvals: RunApprovals
    approval_timeout: float = Field(description="Seconds a `wait` approval stays pending before it is denied.")
    turn_id: str | None = Field(default=None, description="Its turn, once started.")
    pending_approvals: int = Field(default=0, description="Approvals of its turn waiting for an answer now.")
    stop_reason: str | None = Field(default=None, description="A completed turn's stop reason (end_turn, max_steps…).")
    error: str | None = Field(default=None, description="Why it failed, was cancelled or interrupted.")
    result: str | None = Field(default=None, description="The turn's last answer (at most 20,000 characters).")
    warnings: list[str] = Field(default_factory=list, description="A completed turn's warnings (e.g. it changed "
                                "nothing): shown in place of a success mark.")
    deliver: Deliver | None = Field(default=None, description="Where its outcome is delivered (docs/automation.md).")
    deliveries: list[DeliveryStatus] = Field(default_factory=list, description="What was delivered, or is being.")
    created_at: AwareDatetime
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = Field(
        default=None, description="When anything shown here last changed (its state, its pending approvals, its "
        "deliveries): a client keeps the newest of two copies of a run.")
