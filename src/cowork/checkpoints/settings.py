"""Limits of workspace checkpoints, read from the environment.

Environment variables (all optional):

- ``COWORK_CHECKPOINTS``: ``off`` turns automatic checkpoints off (default on).
- ``COWORK_CHECKPOINT_MAX_FILE_BYTES``: files larger than this are recorded by SHA-256 and size
  but their content is not stored (default 10 MiB).
- ``COWORK_CHECKPOINT_MAX_FILES``: entries (files, links, folders) captured per checkpoint; past
  it the checkpoint is marked truncated (default 100,000).
- ``COWORK_CHECKPOINT_KEEP``: checkpoints kept per workspace (default 500).
- ``COWORK_CHECKPOINT_MAX_AGE_DAYS``: older checkpoints are dropped (default 30).
- ``COWORK_CHECKPOINT_MAX_BYTES``: disk budget of a workspace's shadow repository; the oldest
  checkpoints are dropped until it fits (default 2 GiB).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


@dataclass(frozen=True)
class CheckpointSettings:
    """What a checkpoint captures and how many are kept; :meth:`from_env` reads the variables above."""

    enabled: bool = True
    max_file_bytes: int = 10 * 1024 * 1024
    max_files: int = 100_000
    keep: int = 500
    max_age_days: float = 30
    max_bytes: int = 2 * 1024 * 1024 * 1024

    @classmethod
    def from_env(cls) -> CheckpointSettings:
        return cls(
            enabled=os.environ.get("COWORK_CHECKPOINTS", "on").strip().lower() not in ("off", "0", "false", "no"),
            max_file_bytes=_int("COWORK_CHECKPOINT_MAX_FILE_BYTES", cls.max_file_bytes),
            max_files=max(1, _int("COWORK_CHECKPOINT_MAX_FILES", cls.max_files)),
            keep=max(1, _int("COWORK_CHECKPOINT_KEEP", cls.keep)),
            max_age_days=_int("COWORK_CHECKPOINT_MAX_AGE_DAYS", int(cls.max_age_days)),
            max_bytes=_int("COWORK_CHECKPOINT_MAX_BYTES", cls.max_bytes),
        )
