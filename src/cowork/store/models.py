"""SQLAlchemy tables of the store. Alembic migrations in ``migrations/`` create them.

Times are stored as UTC and always read back timezone-aware (UTC) on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as naive UTC and returned as an aware UTC datetime."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


def modelled(name: str) -> bool:
    """Whether table ``name`` is one of these models: the FTS5 table ``memories_fts`` (migration
    0010) and the shadow tables SQLite keeps for it (``memories_fts_data``, ``_idx``, ...) are not."""
    return not name.startswith("memories_fts")


class WorkspaceRow(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_updated", "updated_at", "id"),
        # Session listing, newest first, keyset-paginated (all sessions / one workspace's).
        Index("ix_sessions_created", "created_at", "id"),
        # (Subagents' sessions are listed apart: by parent, or left out with parent_session_id IS NULL.)
        Index("ix_sessions_workspace_created", "workspace_id", "parent_session_id", "created_at", "id"),
        Index("ix_sessions_parent", "parent_session_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(20), default="default")
    status: Mapped[str] = mapped_column(String(20), default="idle")
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    # Tools a person allowed "for the rest of this session" (approval decision 'session').
    allowed_tools: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A subagent's session (docs/subagents.md): the parent session, turn and spawn_agent item, the
    # task, the defined agent, the only tools it may use (null: its parent's) and the instructions
    # it works under. All null for a session a person started.
    parent_session_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    parent_turn_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    parent_item_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    agent_task: Mapped[str | None] = mapped_column(Text, nullable=True)
    agent_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    agent_tools: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    agent_instructions: Mapped[str | None] = mapped_column(Text, nullable=True)


class TurnRow(Base):
    __tablename__ = "turns"
    __table_args__ = (
        Index("uq_turns_session_client_message", "session_id", "client_message_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # running | completed | failed | interrupted
    input_text: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The client's id for the message that started the turn, unique per session (NULLs allowed
    # any number of times): a resent message finds its turn instead of starting another.
    client_message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Written before revision 0004 ("host:pid" of the process running the turn); no longer used:
    # who runs a turn is its lease (TurnLeaseRow).
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # When the conversation was rewound to before this turn (turn/rewind): the turn stays in the
    # journal, its messages leave the model's history.
    rewound_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TurnLeaseRow(Base):
    """Who runs a running turn (see :mod:`cowork.store.leases`): the owner's id and until when its
    lease holds unless renewed. ``attempt`` grows by one at every take-over (a fencing number).
    No row: nobody holds the turn (it was never leased, or its owner let it go)."""

    __tablename__ = "turn_leases"

    turn_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempt: Mapped[int] = mapped_column(Integer, default=1)


class RunRow(Base):
    """A run: a turn started without a person at the keyboard (see :mod:`cowork.jobs.runs`).

    ``state``: queued | running | completed | failed | cancelled | interrupted (``waiting_for_approval``
    is not stored: it is a running run whose turn waits on an approval). ``reason``: why it started
    (person | schedule | webhook), ``trigger`` what started it (a schedule's or hook's id).
    ``approvals``: deny | wait, ``approval_timeout``: seconds a ``wait`` approval stays pending.
    ``owner``: the server that claimed it; ``cancel_requested``: a cancel reached it while it ran.
    ``updated_at``: when anything a run shows last changed (its row, its turn's pending approvals,
    its deliveries): what ``run/subscribe`` follows across servers.
    """

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_state_created", "state", "created_at"), Index("ix_runs_updated", "updated_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    workspace: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approvals: Mapped[str] = mapped_column(String(10))
    approval_timeout: Mapped[float] = mapped_column(Float, default=0.0)
    turn_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    stop_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    deliver: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ScheduleRow(Base):
    """A schedule (see :mod:`cowork.jobs.schedules`): what its runs do (``prompt``, ``model``,
    ``mode``, approvals) and when (``trigger``: the protocol's trigger as JSON). ``next_fire_at``:
    when it is next due (null: paused or done); ``last_fire_at``: the newest fire time dealt with."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_due", "enabled", "next_fire_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text, nullable=True)
    mode: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON)
    overlap: Mapped[str] = mapped_column(String(10))
    missed: Mapped[str] = mapped_column(String(10))
    approvals: Mapped[str] = mapped_column(String(10))
    approval_timeout: Mapped[float] = mapped_column(Float)
    allow: Mapped[list[str]] = mapped_column(JSON, default=list)
    session: Mapped[str] = mapped_column(String(10))
    session_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    deliver: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    anchor: Mapped[datetime] = mapped_column(UTCDateTime())  # ``every`` counts from here
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScheduleFireRow(Base):
    """One fire of a schedule, keyed on (schedule, fire time): inserting it is how a server takes
    the fire, so a restart or a second server never fires it twice. ``run_id``: the run it
    started; ``skipped``: why not (missed, overlap)."""

    __tablename__ = "schedule_fires"

    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    skipped: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookRow(Base):
    """A webhook trigger (see :mod:`cowork.jobs.webhooks`): ``POST /hooks/ID`` starts a run of
    ``prompt`` (a template that may read the request's ``payload``). ``auth``: how a request proves
    it knows the secret (``hmac``: an ``X-Hub-Signature-256`` of the body; ``header``: the secret in
    ``X-Cowork-Webhook-Secret``); the secret itself is in the encrypted store, not here."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text, nullable=True)
    mode: Mapped[str] = mapped_column(String(20))
    approvals: Mapped[str] = mapped_column(String(10))
    approval_timeout: Mapped[float] = mapped_column(Float)
    allow: Mapped[list[str]] = mapped_column(JSON, default=list)
    session: Mapped[str] = mapped_column(String(10))
    session_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    auth: Mapped[str] = mapped_column(String(10))
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(default=True)
    deliver: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDeliveryRow(Base):
    """A request a webhook accepted, keyed on its delivery id and, separately, on its body's
    SHA-256: either seen again is a replay, which does nothing."""

    __tablename__ = "webhook_deliveries"

    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeliveryRow(Base):
    """One delivery of a run's outcome: channel ``channel`` (its index in the run's ``deliver``)
    for ``event`` (ended | waiting), once: the primary key. ``state``: pending | sent | failed |
    skipped; a pending one is tried again at ``next_attempt_at``."""

    __tablename__ = "deliveries"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(10), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EventRow(Base):
    """The event journal: one row per event, ``(session_id, seq)`` unique and gapless."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("session_id", "seq", name="uq_events_session_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    turn_id: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(40))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[str] = mapped_column(Text)  # the event as JSON, exactly as sent to clients


class MessageRow(Base):
    """Model message history (pydantic-ai ``ModelMessage`` JSON), what continues a session.

    Rows of compacted turns stay for the record with ``compacted`` set and ``compacted_by`` naming
    the turn whose compaction replaced them (NULL on rows compacted before revision 0002); the
    summary that replaced them is a row of its own.
    """

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_session", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    turn_id: Mapped[str] = mapped_column(String(40))
    data: Mapped[str] = mapped_column(Text)
    compacted: Mapped[bool] = mapped_column(default=False)
    compacted_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


class CheckpointRow(Base):
    """A workspace checkpoint: a commit of the workspace's shadow repository (see
    :mod:`cowork.checkpoints`), taken before a turn (``kind`` ``turn``), before a mutating tool
    call (``tool:<name>``, with ``item_id``) or before a restore (``restore``)."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        Index("ix_checkpoints_session", "session_id", "created_at"),
        Index("ix_checkpoints_workspace", "workspace", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    turn_id: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    workspace: Mapped[str] = mapped_column(Text)
    commit: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MemoryRow(Base):
    """A memory (see :mod:`cowork.memory`): a short ``text`` the agent keeps across sessions.
    ``scope``: ``workspace`` (seen in ``workspace`` only) or ``user`` (every workspace; ``workspace``
    null). ``kind``: preference | fact | lesson | rule. ``session_id``/``turn_id``: where it was
    saved (no foreign key: a memory outlives its session). ``private``: never shown to read-only
    callers, exported only when asked, offered only to local models. Full-text search reads
    ``memories_fts`` (SQLite FTS5, kept in step by triggers) or ``tsv`` (PostgreSQL)."""

    __tablename__ = "memories"
    __table_args__ = (Index("ix_memories_scope", "scope", "workspace", "updated_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))
    workspace: Mapped[str | None] = mapped_column(Text, nullable=True)
    kind: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(default=False)
    session_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    turn_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MemoryVectorRow(Base):
    """A memory's embedding: ``dim`` little-endian float32 values, L2-normalised, made by
    ``model`` (name and version; a row of another model is re-embedded in the background)."""

    __tablename__ = "memory_vectors"
    __table_args__ = (Index("ix_memory_vectors_embedded_at", "embedded_at"),)  # the index's freshness stamp

    memory_id: Mapped[str] = mapped_column(ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    embedded_at: Mapped[datetime] = mapped_column(UTCDateTime())
