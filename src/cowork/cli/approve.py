"""Asking the person at the terminal to approve a tool call.

Answers: ``y`` run it once, ``a`` allow this tool for the rest of the session, ``n`` deny (then
an optional reason the model will read). Without a terminal on stdin nobody can answer, so the
call is denied with a reason that says how to allow it (``--yes``).
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

from ..protocol import ApprovalDecision

NO_TERMINAL = "nobody at a terminal could approve it; run with --yes to allow tools without asking"


async def ask(event: Any, console: Console) -> tuple[ApprovalDecision, str | None]:
    """Prompt for ``event`` (an ``approval.requested``); returns (decision, reason)."""
    if not sys.stdin.isatty():  # the renderer shows the denial when approval.resolved arrives
        return "deny", NO_TERMINAL
    from prompt_toolkit import PromptSession

    prompt: PromptSession[str] = PromptSession()
    while True:
        try:
            answer = (await prompt.prompt_async("  allow? [y] once  [a] always this session  [n] deny: ")).strip().lower()
        except (EOFError, KeyboardInterrupt):
            return "deny", "the user cancelled"
        if answer in ("y", "yes", ""):
            return "once", None
        if answer in ("a", "always"):
            return "session", None
        if answer in ("n", "no"):
            try:
                reason = (await prompt.prompt_async("  reason for the agent (optional): ")).strip()
            except (EOFError, KeyboardInterrupt):
                reason = ""
            return "deny", reason or None
