"""What the checkpoint operations answer, as plain domain types (the server maps them onto the
protocol's result models; field names match, see ``cowork.server.methods``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol import CheckpointInfo
from .restore import Change


@dataclass
class NotRestorable:
    """A path a restore cannot (or could not) bring back, and why."""

    path: str
    reason: str


@dataclass
class Difference:
    """What changed in the workspace since ``checkpoint`` (``changes`` with diffs)."""

    checkpoint: CheckpointInfo
    changes: list[Change]
    not_restorable: list[NotRestorable]


@dataclass
class Restored:
    """A restore's preview (``preview`` true) or outcome: ``changes`` differ, ``conflicts`` are
    paths a person edited, ``restored`` / ``skipped`` / ``not_restored`` what was done, and
    ``checkpoint_id`` the checkpoint taken just before applying (restore it to undo)."""

    preview: bool
    changes: list[Change]
    conflicts: list[str]
    restored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_restored: list[NotRestorable] = field(default_factory=list)
    checkpoint_id: str | None = None


@dataclass
class Rewound:
    """A rewind: the turns dropped from the history, and the restore of files (None when not asked)."""

    rewound_turn_ids: list[str]
    files: Restored | None = None
