"""Workspace checkpoints: snapshots in a shadow git repository, restore, diff, rewind, retention
(see docs/checkpoints.md)."""

from .manager import Checkpoints, CheckpointUnavailable
from .results import Difference, NotRestorable, Restored, Rewound
from .settings import CheckpointSettings

__all__ = ["CheckpointSettings", "CheckpointUnavailable", "Checkpoints", "Difference", "NotRestorable", "Restored",
           "Rewound"]
