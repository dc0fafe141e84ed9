"""Where cowork keeps its state and the knobs read from the environment.

Environment variables (all optional):

- ``COWORK_HOME``: state folder (database, model cache, keys); default ``~/.cowork``.
- ``COWORK_DATABASE_URL``: SQLAlchemy async URL; default ``sqlite+aiosqlite:///$COWORK_HOME/cowork.db``.
- ``COWORK_MODEL``: default model, ``provider:model``; default: the first configured provider's
  default model, else ``local:smollm2-135m``.
- ``COWORK_MAX_STEPS``: model requests per turn before the model must answer (default 50).
- ``COWORK_STREAM_TIMEOUT``: seconds a model stream may stay silent before it is abandoned and
  retried (default: 60 for hosted providers, 600 for the embedded model, whose first token can
  take minutes of prompt processing on a slow CPU).
- ``COWORK_MAX_RETRIES``: retries of a failed model request on 429/5xx/timeouts (4).
- ``COWORK_RETRY_BASE_DELAY``: first backoff delay in seconds, doubled each retry (1.0).
- ``COWORK_MAX_OUTPUT_TOKENS``: cap on tokens per model response (provider default when unset).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def cowork_home() -> Path:
    """The state folder, created (mode 0700) if missing."""
    home = Path(os.environ.get("COWORK_HOME") or "~/.cowork").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home


def database_url() -> str:
    return os.environ.get("COWORK_DATABASE_URL") or f"sqlite+aiosqlite:///{cowork_home() / 'cowork.db'}"


def _num(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class EngineSettings:
    """Limits of the turn engine; :meth:`from_env` reads the variables above."""

    max_steps: int = 50
    stream_timeout: float | None = None  # None: the model's own default (see module docstring)
    max_retries: int = 4
    retry_base_delay: float = 1.0
    max_output_tokens: int | None = None

    @classmethod
    def from_env(cls) -> EngineSettings:
        out = os.environ.get("COWORK_MAX_OUTPUT_TOKENS")
        return cls(
            max_steps=int(_num("COWORK_MAX_STEPS", cls.max_steps)),
            stream_timeout=_num("COWORK_STREAM_TIMEOUT", 0) or None,
            max_retries=int(_num("COWORK_MAX_RETRIES", cls.max_retries)),
            retry_base_delay=_num("COWORK_RETRY_BASE_DELAY", cls.retry_base_delay),
            max_output_tokens=int(out) if out else None,
        )
