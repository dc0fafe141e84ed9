"""Schedules as clients see them: triggers that start runs (docs/automation.md, "Schedules")."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .runs import Deliver, RunApprovals, RunState
from .sessions import Mode


class CronTrigger(BaseModel):
    """A five-field cron expression (minute hour day-of-month month day-of-week, as crontab(5)),
    evaluated in ``timezone`` with its daylight-saving changes: a time skipped by a spring-forward
    fires at the first minute after the jump, a time repeated by a fall-back fires once (the
    behaviour of Debian's cron, as the ``cronsim`` library implements it)."""

    model_config = ConfigDict(extra="forbid")
    cron: str = Field(max_length=200, description="e.g. '0 9 * * 1-5': 09:00 on weekdays.")
    timezone: str = Field(max_length=100, description="An IANA time zone, e.g. 'Europe/Berlin' (or 'UTC').")


class EveryTrigger(BaseModel):
    """Every ``every`` seconds, counted from when the schedule was created (or resumed)."""

    model_config = ConfigDict(extra="forbid")
    every: float = Field(ge=1, le=366 * 86400, description="Seconds between fires.")


class AtTrigger(BaseModel):
    """Once, at ``at`` (the schedule is done afterwards)."""

    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime


Trigger = CronTrigger | EveryTrigger | AtTrigger

Overlap = Literal["skip", "queue", "cancel"]
"""A fire while the schedule's previous run is still queued or running: ``skip`` it (recorded),
``queue`` it behind the previous one, or ``cancel`` the previous run and start this one."""

Missed = Literal["skip", "once", "each"]
"""Fires missed while no server ran (more than a minute late): ``skip`` them all (each
recorded), run ``once`` for the latest of them, or run ``each`` (at most 10, the latest)."""

FireOutcome = Literal["started", "skipped"]


class ScheduleInfo(BaseModel):
    """A schedule and when it fires next."""

    id: str
    workspace: str = Field(description="Absolute path of the workspace folder.")
    prompt: str
    model: str | None = Field(default=None, description="'provider:model'; null: the server's default model.")
    mode: Mode
    trigger: Trigger
    description: str = Field(description="The trigger in words, e.g. 'At 09:00 on Monday through Friday (Europe/Berlin)'.")
    overlap: Overlap
    missed: Missed
    approvals: RunApprovals
    approval_timeout: float
    allow: list[str] = Field(description="Pre-granted patterns of its runs (as `run/submit`'s `allow`).")
    session: Literal["new", "continue"] = Field(description="Each run in a new session, or all in one.")
    session_id: str | None = Field(default=None, description="With `continue`: the session its runs continue.")
    enabled: bool
    deliver: Deliver | None = Field(default=None, description="Where each run's outcome goes.")
    next_fires: list[AwareDatetime] = Field(description="The next (at most five) fire times, UTC; empty when "
                                            "paused or done.")
    last_fire_at: AwareDatetime | None = Field(default=None, description="The newest fire time dealt with.")
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ScheduleFire(BaseModel):
    """One fire of a schedule: the run it started, or why it was skipped."""

    scheduled_for: AwareDatetime = Field(description="The fire time (UTC); a fire happens at most once.")
    outcome: FireOutcome
    reason: str | None = Field(default=None, description="Why it was skipped, or how it was started late.")
    run_id: str | None = None
    run_state: RunState | None = None
    created_at: AwareDatetime = Field(description="When it was dealt with.")
