"""Asking the person at the terminal to approve tool calls.

Answers: ``y`` run it once, ``a`` allow what the request suggests for the rest of the session
(e.g. ``bash:git status``; not offered for hard denies), ``n`` deny (then an optional reason the
model will read). Several requests of one response are put together: ``y``/``a``/``n`` answer all
of them alike, ``o`` goes through them one by one. Without a terminal on stdin nobody can answer,
so the calls are denied with a reason that says how to allow them (``--yes``).

A plan approval (plan mode: the request's rule is ``plan``) is put on its own: the numbered plan,
then ``y`` approve (carried out in the mode the caller gives), ``e`` edit (the steps one per line
in ``$VISUAL``/``$EDITOR`` when set, else line by line at the prompt), ``n`` reject (then an
optional reason). A dry run (``cowork run --dry-run``) shows it and rejects it with
:data:`DRY_RUN_REASON` without asking.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
from typing import Any

from rich.console import Console
from rich.text import Text

from ..protocol import ApprovalDecision
from ..protocol.rpc import MAX_PLAN_STEP_CHARS, MAX_PLAN_STEPS

NO_TERMINAL = "nobody at a terminal could approve it; run with --yes to allow tools without asking"
NO_TERMINAL_PLAN = "nobody at a terminal could approve the plan"
DRY_RUN_REASON = "dry run: nothing is executed"
PLAN_RULE = "plan"
"""The ``rule`` of a plan approval's request."""

Answer = tuple[ApprovalDecision, "str | None"] | tuple[ApprovalDecision, "str | None", dict[str, Any]]
"""``(decision, reason)``, or with the keyword arguments of ``respond_approval`` a plan's answer
adds (``edited_plan``, ``mode``)."""


def is_plan(event: Any) -> bool:
    """``event`` (an ``approval.requested``) asks to approve a plan."""
    return getattr(event, "rule", None) == PLAN_RULE


def plan_steps(event: Any) -> list[str]:
    """The steps a plan approval proposes (its arguments' ``steps``)."""
    args = event.arguments if isinstance(event.arguments, dict) else {}
    steps = args.get("steps")
    return [str(s) for s in steps] if isinstance(steps, list) else []


def show_plan(console: Console, steps: list[str], summary: str | None = None, label: str = "proposed plan") -> None:
    console.print(Text(f"  {label}:", style="bold"))
    if summary:
        console.print(Text(f"  {summary}", style="dim"))
    for i, step in enumerate(steps, 1):
        console.print(f"  {i}. {step}", markup=False, highlight=False)


async def ask(event: Any, console: Console) -> Answer:
    """Prompt for ``event`` (an ``approval.requested``); returns (decision, reason), with a
    plan's extras (see :data:`Answer`)."""
    answer = await ask_many([event], console)
    assert answer is not None
    return answer


async def ask_many(events: list[Any], console: Console, *, plan_mode: str = "default",
                   dry_run: bool = False) -> Answer | None:
    """One answer for every request in ``events``; None when the person wants to answer them one
    by one (offered only for several; a plan approval among several is always answered on its
    own). ``plan_mode``: the mode an approved plan is carried out in; ``dry_run``: reject every
    request (a plan is shown first) with :data:`DRY_RUN_REASON`."""
    if any(is_plan(e) for e in events):
        if len(events) > 1:
            return None
        return await ask_plan(events[0], console, plan_mode=plan_mode, dry_run=dry_run)
    if dry_run:
        return "deny", DRY_RUN_REASON
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


async def ask_plan(event: Any, console: Console, *, plan_mode: str = "default", dry_run: bool = False) -> Answer:
    """Approve, edit or reject the plan ``event`` proposes (see the module docstring)."""
    steps = plan_steps(event)
    summary = event.arguments.get("summary") if isinstance(event.arguments, dict) else None
    show_plan(console, steps, summary if isinstance(summary, str) else None)
    if dry_run:
        return "deny", DRY_RUN_REASON
    if not sys.stdin.isatty():
        return "deny", NO_TERMINAL_PLAN
    from prompt_toolkit import PromptSession

    prompt: PromptSession[str] = PromptSession()
    edited: list[str] | None = None
    while True:
        try:
            answer = (await prompt.prompt_async(
                f"  carry out this plan ({plan_mode} mode)? [y] approve  [e] edit  [n] reject: ")).strip().lower()
        except (EOFError, KeyboardInterrupt):
            return "deny", "the user cancelled"
        if answer in ("y", "yes", ""):
            extra: dict[str, Any] = {"mode": plan_mode}
            if edited is not None and edited != steps:
                extra["edited_plan"] = edited
            return "once", None, extra
        if answer in ("e", "edit"):
            try:
                new = await edit_steps(edited if edited is not None else steps, prompt)
            except (EOFError, KeyboardInterrupt):
                continue
            problem = check_steps(new)
            if problem:
                console.print(Text(f"  {problem}; the plan is as it was", style="yellow"))
                continue
            edited = new
            show_plan(console, edited, label="your plan")
        elif answer in ("n", "no", "r", "reject"):
            try:
                reason = (await prompt.prompt_async("  reason for the agent (optional): ")).strip()
            except (EOFError, KeyboardInterrupt):
                reason = ""
            return "deny", reason or None


def check_steps(steps: list[str]) -> str | None:
    """Why ``steps`` is not a plan the server accepts, or None."""
    if not steps:
        return "a plan needs at least one step"
    if len(steps) > MAX_PLAN_STEPS:
        return f"a plan has at most {MAX_PLAN_STEPS} steps, not {len(steps)}"
    long = [str(i) for i, s in enumerate(steps, 1) if len(s) > MAX_PLAN_STEP_CHARS]
    if long:
        return f"step {', '.join(long)} is longer than {MAX_PLAN_STEP_CHARS} characters"
    return None


async def edit_steps(steps: list[str], prompt: Any) -> list[str]:
    """The steps as the person changed them: in ``$VISUAL``/``$EDITOR`` (one step a line; blank
    lines and lines starting with ``#`` are dropped) when set, else at the prompt, line by line
    (each step prefilled: change it, or clear it to drop it; then new steps, an empty line ends)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if editor:
        return await asyncio.to_thread(_in_editor, editor, steps)
    kept: list[str] = []
    for i, step in enumerate(steps, 1):
        line = (await prompt.prompt_async(f"  {i}. ", default=step)).strip()
        if line:
            kept.append(line)
    while len(kept) < MAX_PLAN_STEPS:
        line = (await prompt.prompt_async(f"  {len(kept) + 1}. (new step; empty to finish) ")).strip()
        if not line:
            break
        kept.append(line)
    return kept


def _in_editor(editor: str, steps: list[str]) -> list[str]:
    """Open ``steps`` in ``editor`` (a command line, e.g. ``code --wait``) and read them back."""
    with tempfile.NamedTemporaryFile("w+", suffix=".plan.txt", prefix="cowork-", delete=False) as f:
        f.write("# One step per line. Blank lines and lines starting with # are dropped.\n")
        f.write("".join(f"{s}\n" for s in steps))
        path = f.name
    try:
        subprocess.run([*shlex.split(editor), path], check=False)
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    finally:
        os.unlink(path)
    return [line for line in lines if line and not line.startswith("#")]
