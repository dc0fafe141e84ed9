"""Session modes: what happens to a call that no rule decides.

- ``default``: reads run; edits (a file-editing tool, a shell redirection into a file), shell
  commands and other tools that can change something ask a person.
- ``accept-edits``: as ``default``, but edits inside the workspace run without asking (a call of a
  tool whose traits say it ``edits_files`` and is not ``destructive``, or a shell redirection).
- ``read-only``: nothing that can change anything runs, whatever the rules say (the plan-only
  mode); only the built-in read-only commands (``ls``, ``git status``...) run in ``bash``.
- ``plan``: plan first: the agent may only read (as in ``read-only``) and then proposes a
  numbered plan for the person to approve, edit or reject; once approved, the session leaves plan
  mode for the mode the plan is carried out in, and the same turn goes on (see docs/protocol.md,
  "Plan mode"). Calls denied here get :data:`PLAN_NOTE` so the model knows what to do instead.
- ``yolo``: everything runs without asking, except hard denies and deny rules.
"""

from __future__ import annotations

from .rules import Outcome

MODES = ("default", "accept-edits", "read-only", "plan", "yolo")
MODE_HELP = {
    "default": "ask before edits and commands",
    "accept-edits": "edits in the workspace without asking; commands ask",
    "read-only": "never change anything (plan only)",
    "plan": "read, then propose a plan to approve before anything changes",
    "yolo": "never ask, except for hard denies",
}


def check_mode(mode: str) -> str:
    """``mode`` itself, or ValueError naming the modes."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


PLAN_NOTE = ("The session is in plan mode: nothing may change until the user approves a plan. Read what you "
             "need, then propose your plan as numbered steps; once the user approves it you carry it out")
"""What a call denied in plan mode adds to its reason, for the model (no final period: the reason
is quoted in a sentence)."""


def policy_mode(mode: str) -> str:
    """The mode whose rules the policy applies for a session in ``mode``: ``plan`` is decided
    exactly as ``read-only`` (only what changes nothing runs); every other mode is itself."""
    return "read-only" if mode == "plan" else mode


def mode_outcome(mode: str, *, mutating: bool, edit_inside: bool = False) -> Outcome:
    """The outcome of ``mode`` for a call no rule decided. ``mutating``: it can change something;
    ``edit_inside``: it is a file edit inside the workspace."""
    if not mutating or mode == "yolo":
        return "allow"
    if mode in ("read-only", "plan"):
        return "deny"
    if mode == "accept-edits" and edit_inside:
        return "allow"
    return "ask"
