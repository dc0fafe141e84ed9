"""Budgets: what one turn, and one session, may spend before the turn is stopped.

Four kinds of limit at two scopes. Each is a setting of :class:`~cowork.config.EngineSettings`,
read from ``COWORK_`` + the setting's name in capitals, and given on the command line as
``--budget SCOPE-KIND=N`` (``cowork run``, ``chat``, ``serve``); unset means no limit.

======================  =======================  =====================
kind                    turn                     session
======================  =======================  =====================
steps (model requests)  ``max_steps`` (soft)     ``session_max_steps``
tokens (input+output)   ``turn_max_tokens``      ``session_max_tokens``
seconds (wall time)     ``turn_max_seconds``     ``session_max_seconds``
cost (US dollars)       ``turn_max_cost``        ``session_max_cost``
======================  =======================  =====================

A session's spending is the sum over its ended turns (the ``usage`` and ``duration_ms`` of their
terminal events; a turn cut off by a crash counts nothing) plus the running turn. The turn step
limit is soft: the last step asks the model to answer without tools and the turn completes with
``stop_reason: max_steps``. Every other limit is hard: reaching it ends the turn with
``turn.failed``, code ``budget_exceeded``, and a message naming the limit, what was used and how to
raise it. The limits are checked before each model request and after each response that asks
for tools (those calls are then answered "not run" so the history stays valid, and nothing runs);
a response that answers is kept and the turn completes. Wall time is a timer: when it runs out,
the turn is stopped wherever it is (streaming, in a tool, waiting for an approval) the way an
interrupt stops it.

Cost is priced per response with genai-prices (https://github.com/pydantic/genai-prices) from the
model name and provider the response reports. Where no price is known (the embedded model, most
OpenAI-compatible servers) ``usage.cost`` stays null and cost limits do not apply; a turn with a
cost limit says so once in an ``error`` item (code ``cost_unknown``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import config
from ..config import EngineSettings
from ..protocol import Usage

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelResponse

SCOPES = ("turn", "session")
KINDS = ("steps", "tokens", "seconds", "cost")


class BudgetExceeded(Exception):
    """A budget ran out; ends the turn with ``turn.failed`` (code :attr:`code`)."""

    code = "budget_exceeded"


@dataclass(frozen=True)
class Limit:
    """One limit: ``scope`` (turn or session) and ``kind`` (steps, tokens, seconds, cost)."""

    scope: str
    kind: str

    @property
    def setting(self) -> str:
        """Its :class:`EngineSettings` field, e.g. ``turn_max_tokens``."""
        return "max_steps" if (self.scope, self.kind) == ("turn", "steps") else f"{self.scope}_max_{self.kind}"

    @property
    def env(self) -> str:
        return f"COWORK_{self.setting.upper()}"

    @property
    def flag(self) -> str:
        """Its name for ``--budget``, e.g. ``turn-tokens``."""
        return f"{self.scope}-{self.kind}"


LIMITS = tuple(Limit(scope, kind) for scope in SCOPES for kind in KINDS)


def session_limited(settings: EngineSettings) -> bool:
    """Whether any session limit is set (only then are earlier turns' usages read)."""
    return any(getattr(settings, limit.setting) is not None for limit in LIMITS if limit.scope == "session")


def parse_budget_flags(values: Sequence[str]) -> dict[Limit, int | float]:
    """``--budget`` values (``["turn-tokens=20000", "session-cost=2.5"]``) as
    ``{Limit("turn", "tokens"): 20000, Limit("session", "cost"): 2.5}``, parsed by
    :func:`cowork.config.parse_budget_flags`. Raises ValueError naming the flag and the known names."""
    by_setting = {limit.setting: limit for limit in LIMITS}
    return {by_setting[setting]: n for setting, n in config.parse_budget_flags(values).items()}


@dataclass(frozen=True)
class Spent:
    """What was used: model requests, tokens (input + output), wall seconds, cost (USD; None: unpriced)."""

    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    cost: float | None = None

    @classmethod
    def of(cls, usage: Usage, seconds: float) -> Spent:
        return cls(usage.requests, usage.input_tokens + usage.output_tokens, seconds, usage.cost)

    def __add__(self, other: Spent) -> Spent:
        cost = None if self.cost is None and other.cost is None else (self.cost or 0.0) + (other.cost or 0.0)
        return Spent(self.steps + other.steps, self.tokens + other.tokens, self.seconds + other.seconds, cost)


def spent_by(ended_turns: Iterable[object]) -> Spent:
    """The sum over the terminal events of ended turns (``usage``, ``duration_ms``)."""
    total = Spent()
    for event in ended_turns:
        usage = getattr(event, "usage", None) or Usage()
        total += Spent.of(usage, getattr(event, "duration_ms", 0) / 1000)
    return total


def response_cost(response: ModelResponse) -> float | None:
    """The price of ``response`` in USD from genai-prices, or None when none is known."""
    try:
        return float(response.cost().total_price)
    except (LookupError, ValueError, AssertionError):
        return None


class Budget:
    """The budgets of one running turn: ``before`` is what the session's ended turns used,
    ``started`` the turn's :func:`time.monotonic` start."""

    def __init__(self, settings: EngineSettings, before: Spent, started: float) -> None:
        self.settings = settings
        self.before = before
        self.started = started
        self._said_unpriced = False

    def seconds_left(self) -> float | None:
        """Wall seconds until a time limit runs out (may be negative), or None without one."""
        left = [
            limit - used for limit, used in (
                (self.settings.turn_max_seconds, 0.0), (self.settings.session_max_seconds, self.before.seconds))
            if limit is not None
        ]
        return min(left) - (time.monotonic() - self.started) if left else None

    def check(self, usage: Usage) -> None:
        """Raise :class:`BudgetExceeded` for the first hard limit that ``usage`` (the running
        turn's) reaches or passes, counting the session's earlier turns for session limits."""
        turn = Spent.of(usage, time.monotonic() - self.started)
        spent = {"turn": turn, "session": self.before + turn}
        for limit in LIMITS:
            cap = getattr(self.settings, limit.setting)
            value = getattr(spent[limit.scope], limit.kind)
            if limit.setting != "max_steps" and cap is not None and value is not None and value >= cap:
                raise BudgetExceeded(_message(limit, value, cap))

    def unpriced(self, usage: Usage, model: str) -> str | None:
        """Once per turn: the note that a cost limit does not apply because no price is known
        for ``model`` (None when there is nothing to say)."""
        limited = self.settings.turn_max_cost is not None or self.settings.session_max_cost is not None
        if not limited or not usage.requests or usage.cost is not None or self._said_unpriced:
            return None
        self._said_unpriced = True
        return f"no price is known for {model}: the cost budget does not apply to this turn"

    def out_of_time(self, usage: Usage) -> BudgetExceeded:
        """The error for a time limit that ran out (the turn's, or else the session's)."""
        elapsed = time.monotonic() - self.started
        turn_cap = self.settings.turn_max_seconds
        if turn_cap is not None and (self.settings.session_max_seconds is None
                                     or turn_cap <= self.settings.session_max_seconds - self.before.seconds):
            return BudgetExceeded(_message(Limit("turn", "seconds"), elapsed, turn_cap))
        cap = self.settings.session_max_seconds or 0.0
        return BudgetExceeded(_message(Limit("session", "seconds"), self.before.seconds + elapsed, cap))


def _message(limit: Limit, used: float, cap: float) -> str:
    def show(x: float) -> str:
        if limit.kind == "cost":
            return f"${x:.4f}"
        if limit.kind == "seconds":
            return f"{x:.1f} s"
        return f"{int(x):,} {limit.kind}"

    where = "this turn" if limit.scope == "turn" else "this session"
    also = ", or start a new session" if limit.scope == "session" else ""
    return (
        f"{limit.scope} {limit.kind} budget reached: {where} used {show(used)}, its limit is {show(cap)} "
        f"({limit.setting}). Raise it with {limit.env}=N or `--budget {limit.flag}=N`{also}."
    )
