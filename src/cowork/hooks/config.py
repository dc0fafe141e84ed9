"""The hooks files: ``$COWORK_HOME/hooks.toml`` (the person's) and the workspace's
``.cowork/hooks.toml`` (read only once the workspace is trusted: ``cowork trust DIR``).

Shape (one array of tables per event; every key but ``command`` is optional)::

    [[pre_tool_use]]
    matcher = "bash|write"      # the tool events only: which tools (see :meth:`HookCommand.matches`)
    command = "./check.sh"      # run with /bin/sh -c in the workspace
    timeout = 10                # seconds, default 30; the hook's process group is killed after it

    [[stop]]
    command = "python3 ~/.cowork/hooks/tests_pass.py"

The events are :data:`EVENTS`. Both files' hooks run: the person's first, then the workspace's.
A file that cannot be read, is not valid TOML, or names an unknown event or key is refused as a
whole with :class:`HookConfigError` (a team's check must never be skipped quietly because of a typo).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ..config import cowork_home
from ..engine.extensions import HookEvent
from ..policy import is_trusted

EVENTS: tuple[HookEvent, ...] = ("session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop")
"""The hook events, in the order a turn meets them."""

TOOL_EVENTS = frozenset({"pre_tool_use", "post_tool_use"})
"""The events that concern one tool call (the only ones with a ``matcher``)."""

DEFAULT_TIMEOUT = 30.0
"""Seconds a hook may run when its entry gives no ``timeout``."""

MAX_TIMEOUT = 3600.0
"""The longest ``timeout`` accepted, in seconds."""

_KEYS = frozenset({"command", "matcher", "timeout"})


class HookConfigError(ValueError):
    """A hooks file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class HookCommand:
    """One configured hook.

    Attributes:
        event: the event it runs at.
        command: a shell command line (``/bin/sh -c``), run in the workspace.
        matcher: tool events only: which tool names it runs for; None: every tool.
        timeout: seconds before it is killed (with its process group).
        source: the hooks file it came from (absolute path) and ``#N``, its entry's number.
    """

    event: HookEvent
    command: str
    matcher: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    source: str = ""
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, tool_name: str | None) -> bool:
        """Whether this hook runs for a call of ``tool_name`` (None: not a tool event: always).

        ``matcher`` is a regular expression that must match the whole name (``bash|write``,
        ``mcp__.*``) or ``|``-separated globs (``mcp__github__*``); ``""`` and ``"*"`` match every tool.
        """
        if tool_name is None or self.matcher is None or self.matcher in ("", "*"):
            return True
        if self._regex is not None and self._regex.fullmatch(tool_name):
            return True
        return any(fnmatchcase(tool_name, alt.strip()) for alt in self.matcher.split("|"))


@dataclass(frozen=True)
class HookConfig:
    """The hooks of one workspace, by event, in order (the person's, then the workspace's).

    Attributes:
        hooks: event → its hooks.
        files: the hooks files read (absolute paths), for people.
        ignored: a workspace hooks file present but not read, because the workspace is not trusted.
    """

    hooks: Mapping[str, tuple[HookCommand, ...]] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    ignored: str | None = None

    def for_event(self, event: str, tool_name: str | None = None) -> list[HookCommand]:
        """The hooks that run at ``event`` (for a call of ``tool_name``, on the tool events)."""
        return [h for h in self.hooks.get(event, ()) if h.matches(tool_name if event in TOOL_EVENTS else None)]


def user_file(home: Path | None = None) -> Path:
    """``$COWORK_HOME/hooks.toml``."""
    return (home or cowork_home()) / "hooks.toml"


def workspace_file(workspace: Path) -> Path:
    """The workspace's ``.cowork/hooks.toml``."""
    return workspace / ".cowork" / "hooks.toml"


def parse_hooks(text: str, source: str) -> dict[str, list[HookCommand]]:
    """The hooks in one file's ``text`` (``source``: its path, for messages). Raises HookConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HookConfigError(f"{source}: not valid TOML: {exc}") from None
    out: dict[str, list[HookCommand]] = {}
    for event, entries in data.items():
        if event not in EVENTS:
            raise HookConfigError(f"{source}: unknown hook event {event!r}; the events are {', '.join(EVENTS)}")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise HookConfigError(f"{source}: {event} must be an array of tables: [[{event}]] with command = \"...\"")
        for n, entry in enumerate(entries, 1):
            out.setdefault(event, []).append(_entry(event, entry, f"{source}: [[{event}]] #{n}", f"{source}#{event}.{n}"))
    return out


def _entry(event: HookEvent, entry: dict[str, Any], where: str, source: str) -> HookCommand:
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise HookConfigError(f"{where}: unknown key {', '.join(map(repr, unknown))} (the keys are command, "
                              "matcher, timeout)")
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        raise HookConfigError(f"{where}: command must be a non-empty string")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) \
            or not 0 < timeout <= MAX_TIMEOUT:
        raise HookConfigError(f"{where}: timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, "
                              f"not {timeout!r}")
    matcher = entry.get("matcher")
    regex = None
    if matcher is not None:
        if event not in TOOL_EVENTS:
            raise HookConfigError(f"{where}: matcher applies to pre_tool_use and post_tool_use only")
        if not isinstance(matcher, str):
            raise HookConfigError(f"{where}: matcher must be a string (a regular expression or globs), not {matcher!r}")
        try:
            regex = re.compile(matcher)
        except re.error:
            regex = None  # not a regular expression: matched as globs ("*", "mcp__*")
    return HookCommand(event, command, matcher, float(timeout), source, regex)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise HookConfigError(f"{path}: cannot read the hooks file: {exc}") from None


def load_hooks(workspace: Path, home: Path | None = None) -> HookConfig:
    """The hooks of ``workspace``: ``$COWORK_HOME/hooks.toml``, then the workspace's
    ``.cowork/hooks.toml`` when the workspace is trusted (else it is only named in ``ignored``).
    Missing files are no hooks. Raises HookConfigError (a bad file, a malformed trusted.json)."""
    home = home or cowork_home()
    merged: dict[str, list[HookCommand]] = {}
    files: list[str] = []
    ignored = None
    for path, needs_trust in ((user_file(home), False), (workspace_file(workspace), True)):
        if needs_trust and not path.is_file():
            continue
        if needs_trust:
            try:
                trusted = is_trusted(workspace, home)
            except ValueError as exc:
                raise HookConfigError(str(exc)) from None
            if not trusted:
                ignored = str(path)
                continue
        text = _read(path)
        if text is None:
            continue
        for event, hooks in parse_hooks(text, str(path)).items():
            merged.setdefault(event, []).extend(hooks)
        files.append(str(path))
    return HookConfig({e: tuple(h) for e, h in merged.items()}, tuple(files), ignored)
