"""Asking the person at the terminal to approve tool calls.

Answers: ``y`` run it once, ``a`` allow what the request suggests for the rest of the session
(e.g. ``bash:git status``; not offered for hard denies), ``n`` deny (then an optional reason the
model will read). Several requests of one response are put together: ``y``/``a``/``n`` answer all
of them alike, ``o`` goes through them one by one. Without a terminal on stdin nobody can answer,
so the calls are denied with a reason that says how to allow them (``--yes``).
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

from ..protocol import ApprovalDecision

NO_TERMINAL = "nobody at a terminal could approve it; run with --yes to allow tools without asking"


async def ask(event: Any, console: Console) -> tuple[ApprovalDecision, str | None]:
    """Prompt for ``event`` (an ``approval.requested``); returns (decision, reason)."""
    answer = await ask_many([event], console)
    assert answer is not None
    return answer


async def ask_many(events: list[Any], console: Console) -> tuple[ApprovalDecision, str | None] | None:
    """One answer for every request in ``events``; None when the person wants to answer them one
    by one (offered only for several)."""
    if not sys.stdin.isatty():  # the renderer shows the denial when approval.resolved arrives
        return "deny", NO_TERMINAL
    from prompt_toolkit import PromptSession

    session = all("session" in e.options for e in events)
    choices = "[y] once" if len(events) == 1 else "[y] all once"
    if session:
        choices += "  [a] always this session"
    choices += "  [n] deny" if len(events) == 1 else "  [n] deny all  [o] one by one"
    prompt: PromptSession[str] = PromptSession()
    while True:
        try:
            answer = (await prompt.prompt_async(f"  allow? {choices}: ")).strip().lower()
        except (EOFError, KeyboardInterrupt):
            return "deny", "the user cancelled"
        if answer in ("y", "yes", ""):
            return "once", None
        if answer in ("a", "always") and session:
            return "session", None
        if answer in ("o", "one") and len(events) > 1:
            return None
        if answer in ("n", "no"):
            try:
                reason = (await prompt.prompt_async("  reason for the agent (optional): ")).strip()
            except (EOFError, KeyboardInterrupt):
                reason = ""
            return "deny", reason or None
