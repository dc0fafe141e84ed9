"""Where cowork keeps its state and the knobs read from the environment.

The engine's knobs are one typed object, :class:`EngineSettings`: read from the environment
(:meth:`EngineSettings.from_env`), with a command's flags on top (:meth:`EngineSettings.with_flags`),
and handed to the runtime (``Runtime(settings=...)``); the CLI never writes them into ``os.environ``.

Environment variables (all optional):

- ``COWORK_HOME``: state folder (database, model cache, keys); default ``~/.cowork``.
- ``COWORK_DATABASE_URL``: SQLAlchemy async URL; default ``sqlite+aiosqlite:///$COWORK_HOME/cowork.db``.
- ``COWORK_MODEL``: default model, ``provider:model``; default: the first configured provider's
  default model, else ``local:qwen2.5-coder-1.5b`` (the embedded model).
- ``COWORK_MAX_STEPS``: model requests per turn before the model must answer (default 50).
- ``COWORK_STREAM_TIMEOUT``: seconds a model stream may stay silent before it is abandoned and
  retried (default: 60 for hosted providers, 600 for the embedded model, whose first token can
  take minutes of prompt processing on a slow CPU).
- ``COWORK_MAX_RETRIES``: retries of a failed model request on 429/5xx/timeouts (4).
- ``COWORK_RETRY_BASE_DELAY``: first backoff delay in seconds, doubled each retry (1.0).
- ``COWORK_MAX_OUTPUT_TOKENS``: cap on tokens per model response (provider default when unset).
- ``COWORK_CHECKPOINTS``, ``COWORK_CHECKPOINT_*``: workspace checkpoints (on/off, size limit, file
  cap, retention); see :mod:`cowork.checkpoints.settings` and docs/checkpoints.md.
- ``COWORK_APPROVAL_TIMEOUT``: seconds an approval request waits for a person before the call is
  denied ("no answer within Ns"); 0 or unset: wait for ever.
- Budgets (see :mod:`cowork.engine.budget`; unset: no limit): ``COWORK_TURN_MAX_TOKENS``,
  ``COWORK_TURN_MAX_SECONDS``, ``COWORK_TURN_MAX_COST`` (USD) for each turn;
  ``COWORK_SESSION_MAX_STEPS``, ``COWORK_SESSION_MAX_TOKENS``, ``COWORK_SESSION_MAX_SECONDS``,
  ``COWORK_SESSION_MAX_COST`` (USD) for all turns of a session together. Tokens are input plus
  output tokens of every model request; steps are model requests; seconds are wall time.
- ``COWORK_SANDBOX``: how ``bash`` commands are isolated: ``auto`` (default: bubblewrap, else
  Landlock, else refuse), ``bwrap``, ``landlock`` or ``off`` (see :mod:`cowork.sandbox`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def cowork_home() -> Path:
    """The state folder, created (mode 0700) if missing."""
    home = Path(os.environ.get("COWORK_HOME") or "~/.cowork").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home


def database_url() -> str:
    return os.environ.get("COWORK_DATABASE_URL") or f"sqlite+aiosqlite:///{cowork_home() / 'cowork.db'}"


BUDGET_FIELDS = (
    "turn_max_tokens", "turn_max_seconds", "turn_max_cost",
    "session_max_steps", "session_max_tokens", "session_max_seconds", "session_max_cost",
)
"""The budget settings of :class:`EngineSettings`; each is read from ``COWORK_`` + its name in capitals."""

SANDBOX_CHOICES = ("auto", "bwrap", "landlock", "off")
"""Values of :attr:`EngineSettings.sandbox` (``--sandbox``, ``COWORK_SANDBOX``)."""

BUDGET_FLAGS: dict[str, str] = {
    f"{scope}-{kind}": "max_steps" if (scope, kind) == ("turn", "steps") else f"{scope}_max_{kind}"
    for scope in ("turn", "session") for kind in ("steps", "tokens", "seconds", "cost")
}
"""``--budget`` names (``turn-tokens``…) → their :class:`EngineSettings` field (as
:class:`cowork.engine.budget.Limit` names them)."""


def parse_budget_flags(values: Sequence[str]) -> dict[str, int | float]:
    """``--budget`` values (``["turn-tokens=20000", "session-cost=2.5"]``) as settings
    (``{"turn_max_tokens": 20000, "session_max_cost": 2.5}``). Steps and tokens are whole numbers,
    seconds and cost may have decimals; all must be positive. Raises ValueError naming the flag and
    the known names."""
    out: dict[str, int | float] = {}
    for value in values:
        name, sep, raw = value.partition("=")
        setting = BUDGET_FLAGS.get(name.strip())
        if not sep or setting is None:
            raise ValueError(f"--budget {value!r}: write LIMIT=N with LIMIT one of {', '.join(BUDGET_FLAGS)}")
        whole = setting.endswith(("_steps", "_tokens"))
        try:
            number: int | float = int(raw) if whole else float(raw)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise ValueError(f"--budget {value!r}: {name.strip()} must be {kind}") from None
        if number <= 0:
            raise ValueError(f"--budget {value!r}: {name.strip()} must be positive")
        out[setting] = number
    return out


def _limit(field: str) -> float | None:
    name = f"COWORK_{field.upper()}"
    value = _num(name, 0) if os.environ.get(name) else None
    if value is not None and value <= 0:
        raise ValueError(f"{name} must be a positive number, got {os.environ[name]!r} (unset it for no limit)")
    return int(value) if value is not None and field.endswith(("_steps", "_tokens")) else value


def _approval_timeout() -> float | None:
    value = _num("COWORK_APPROVAL_TIMEOUT", 0)
    if value < 0:
        raise ValueError(f"COWORK_APPROVAL_TIMEOUT must be 0 (wait for ever) or a number of seconds, got {value:g}")
    return value or None


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
    approval_timeout: float | None = None  # seconds; None: wait for ever
    sandbox: str = "auto"  # auto | bwrap | landlock | off; carried into every ToolContext
    # Budgets (BUDGET_FIELDS, see cowork.engine.budget); None: no limit. Costs in USD.
    turn_max_tokens: int | None = None
    turn_max_seconds: float | None = None
    turn_max_cost: float | None = None
    session_max_steps: int | None = None
    session_max_tokens: int | None = None
    session_max_seconds: float | None = None
    session_max_cost: float | None = None

    def __post_init__(self) -> None:
        if self.sandbox not in SANDBOX_CHOICES:
            raise ValueError(f"sandbox must be one of auto, bwrap, landlock, off; got {self.sandbox!r}")

    def with_flags(self, *, sandbox: str | None = None, budget: Sequence[str] = ()) -> EngineSettings:
        """A copy with a command's ``--sandbox`` and ``--budget LIMIT=N`` flags applied (they win
        over the environment). Raises ValueError for a bad value."""
        overrides: dict[str, Any] = dict(parse_budget_flags(budget))
        if sandbox is not None:
            overrides["sandbox"] = sandbox
        return dataclasses.replace(self, **overrides)

    @classmethod
    def from_env(cls) -> EngineSettings:
        """The settings from the ``COWORK_*`` variables (module docstring). Raises ValueError
        naming the variable for a bad value."""
        out = os.environ.get("COWORK_MAX_OUTPUT_TOKENS")
        return cls(
            max_steps=int(_num("COWORK_MAX_STEPS", cls.max_steps)),
            stream_timeout=_num("COWORK_STREAM_TIMEOUT", 0) or None,
            max_retries=int(_num("COWORK_MAX_RETRIES", cls.max_retries)),
            retry_base_delay=_num("COWORK_RETRY_BASE_DELAY", cls.retry_base_delay),
            max_output_tokens=int(out) if out else None,
            approval_timeout=_approval_timeout(),
            sandbox=os.environ.get("COWORK_SANDBOX") or cls.sandbox,
            **{field: _limit(field) for field in BUDGET_FIELDS},  # type: ignore[arg-type]
        )
