"""Policy rules: what one rule says, how it is read from TOML, and what it matches.

A rule has an ``outcome`` (``allow``, ``ask`` or ``deny``) and a scope; a rule with several keys
matches only when all of them do:

- ``tool``: a tool name or glob (``write``, ``mcp__*``); alone it covers every call of the tool.
- ``command``: a shell command (of ``bash``, or any tool whose traits name a shell-command
  argument; with ``tool`` only that tool's), matched on the parsed argv of each simple command: one glob per
  word (``fnmatch``), the same number of words, except that a final ``*`` word matches any number
  of further words. ``git status`` matches only ``git status``; ``npm run *`` matches
  ``npm run test -- -x``. The pattern is split like a shell line (``shlex``).
- ``path``: a glob (``*``/``?`` within a name, ``**`` for any depth) on the path a tool reads or
  writes: relative patterns are taken from the workspace (``src/**``), absolute ones and ``~/...``
  match outside it (``/etc/**``, ``~/notes/**``). For ``bash``, deny and ask path rules also
  match every argument and redirection target of a command.
- ``domain``: a glob on a host name (``*.python.org``, ``pypi.org``, ``*``): the URL of
  ``web_fetch``, and for ``bash`` the hosts of URLs in the command; an allow rule gives ``bash``
  the network.
- ``mcp``: ``server/tool``, ``server/*`` or ``server`` (globs): tools of MCP servers, named
  ``mcp__server__tool``.
- ``network`` (with ``command``, allow only): the commands it allows may use the network.
- ``reason``: optional words shown with the decision.

TOML files (https://toml.io/en/v1.0.0, read with ``tomllib``) hold a list ``[[rules]]``::

    [[rules]]
    outcome = "allow"
    tool = "bash"
    command = "git status"

"""

from __future__ import annotations

import fnmatch
import os
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .._util.globs import glob_to_regex

Outcome = Literal["allow", "ask", "deny"]
OUTCOMES: tuple[Outcome, ...] = ("allow", "ask", "deny")
STRENGTH = {"allow": 0, "ask": 1, "deny": 2}
"""Deny wins over ask, ask over allow."""

_KEYS = {"outcome", "tool", "command", "path", "domain", "mcp", "network", "reason"}


class PolicyFileError(ValueError):
    """A policy file that cannot be used; the message names the file and the rule (1-based)."""


@dataclass(frozen=True)
class Rule:
    """One rule. ``id`` names it in decisions: ``builtin:...``, ``FILE#N`` (the Nth ``[[rules]]``
    of FILE, from 1), or ``session:PATTERN``. ``readonly`` marks built-in allow rules for
    commands that change nothing (they run even in the read-only mode)."""

    outcome: Outcome
    id: str
    tool: str | None = None
    command: tuple[str, ...] | None = None
    path: str | None = None
    domain: str | None = None
    mcp: tuple[str, str] | None = None
    network: bool = False
    reason: str | None = None
    readonly: bool = False

    @property
    def kind(self) -> str:
        """``command``, ``path``, ``domain``, ``mcp`` or ``tool``: what the rule looks at."""
        for kind in ("command", "path", "domain", "mcp"):
            if getattr(self, kind) is not None:
                return kind
        return "tool"

    def covers_tool(self, tool: str, *, shell: bool = False) -> bool:
        """The rule may apply to a call of ``tool`` (its ``tool`` glob matches; a ``command``
        rule only to a tool whose traits name a shell-command argument: ``shell``)."""
        if self.tool is not None and not fnmatch.fnmatchcase(tool, self.tool):
            return False
        if self.command is not None and not shell:
            return False
        if self.mcp is not None:
            found = split_mcp_name(tool)
            return found is not None and all(fnmatch.fnmatchcase(n, p) for n, p in zip(found, self.mcp, strict=True))
        return True

    def matches_argv(self, argv: tuple[str, ...], open_ended: bool = False) -> bool:
        """The ``command`` pattern against one simple command's argv (``open_ended``: more
        arguments follow at run time, so only a pattern ending in ``*`` can match)."""
        return self.command is not None and match_argv(self.command, argv, open_ended)

    def matches_path(self, path: Path, workspace: Path, home: Path) -> bool:
        """The ``path`` glob against an absolute, normalised ``path``."""
        if self.path is None:
            return False
        pattern = self.path
        if pattern == "~" or pattern.startswith("~/"):
            pattern = str(home) + pattern[1:]
        if os.path.isabs(pattern):
            return bool(glob_to_regex(pattern).fullmatch(path.as_posix().lstrip("/")))
        if path != workspace and not path.is_relative_to(workspace):
            return False
        rel = path.relative_to(workspace).as_posix()
        return bool(glob_to_regex(pattern).fullmatch("" if rel == "." else rel))

    def matches_host(self, host: str) -> bool:
        return self.domain is not None and fnmatch.fnmatchcase(host.lower(), self.domain)


def match_argv(pattern: tuple[str, ...], argv: tuple[str, ...], open_ended: bool = False) -> bool:
    """One glob per word; a final ``*`` word matches any number (zero or more) of further words."""
    if pattern and pattern[-1] == "*":
        head = pattern[:-1]
        return len(argv) >= len(head) and all(fnmatch.fnmatchcase(w, p) for w, p in zip(argv, head, strict=False))
    if open_ended or len(argv) != len(pattern):
        return False
    return all(fnmatch.fnmatchcase(w, p) for w, p in zip(argv, pattern, strict=True))


def split_mcp_name(tool: str) -> tuple[str, str] | None:
    """``mcp__server__tool`` -> ``("server", "tool")``; None for other names."""
    if not tool.startswith("mcp__"):
        return None
    server, sep, name = tool[5:].partition("__")
    return (server, name) if sep and server and name else None


def parse_rule(data: Any, rule_id: str, where: str) -> Rule:
    """A :class:`Rule` from one TOML table. Raises PolicyFileError naming ``where``."""

    def bad(message: str) -> PolicyFileError:
        return PolicyFileError(f"{where}: {message}")

    if not isinstance(data, dict):
        raise bad(f"must be a table, not {type(data).__name__}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise bad(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    outcome = data.get("outcome")
    if outcome not in OUTCOMES:
        raise bad(f"outcome must be one of allow, ask, deny, not {outcome!r}")
    for key in ("tool", "command", "path", "domain", "mcp", "reason"):
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            raise bad(f"{key} must be a non-empty string")
    if "network" in data and not isinstance(data["network"], bool):
        raise bad("network must be true or false")
    scopes = [k for k in ("command", "path", "domain", "mcp") if k in data]
    if len(scopes) > 1:
        raise bad(f"give one of command, path, domain, mcp, not {' and '.join(scopes)}")
    if not scopes and "tool" not in data:
        raise bad("give a scope: tool, command, path, domain or mcp")
    tool = data.get("tool")
    command = None
    if "command" in data:
        try:
            command = tuple(shlex.split(data["command"]))
        except ValueError as exc:
            raise bad(f"command {data['command']!r} cannot be split into words: {exc}") from None
        if not command:
            raise bad("command is empty")
    if data.get("network") and not (command and outcome == "allow"):
        raise bad("network = true goes with an allow rule that has a command")
    mcp = None
    if "mcp" in data:
        server, _, name = data["mcp"].partition("/")
        mcp = (server, name or "*")
    return Rule(
        outcome=outcome, id=rule_id, tool=tool, command=command, path=data.get("path"),
        domain=data["domain"].lower() if "domain" in data else None, mcp=mcp,
        network=bool(data.get("network")), reason=data.get("reason"),
    )


def load_rules(path: Path) -> tuple[Rule, ...]:
    """The rules of a policy file (``[[rules]]`` tables), ids ``PATH#N``. Raises PolicyFileError
    for unreadable TOML, a missing or malformed ``rules`` list, or a bad rule."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"rules"})
    if unknown:
        raise PolicyFileError(f"{path}: unknown top-level key {unknown[0]!r}; rules go in [[rules]] tables")
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise PolicyFileError(f"{path}: rules must be an array of tables ([[rules]])")
    return tuple(parse_rule(r, f"{path}#{n}", f"{path}: rule {n}") for n, r in enumerate(rules, 1))


def session_rule(pattern: str, shell_tools: tuple[str, ...] = ()) -> Rule:
    """The allow rule of an "always in this session" answer: a bare tool name covers the whole
    tool; ``bash:COMMAND`` (or ``TOOL:COMMAND`` for a tool in ``shell_tools``, those whose traits
    name a shell-command argument) a command pattern; ``web_fetch:HOST`` a domain; ``path:GLOB``
    a path written by any tool (a ``bash`` redirection included); ``TOOL:GLOB`` a path for one
    tool. Raises ValueError for an empty pattern or a command that cannot be split."""
    tool, sep, scope = pattern.partition(":")
    if not tool or (sep and not scope):
        raise ValueError(f"bad session pattern {pattern!r}")
    rule_id = f"session:{pattern}"
    if not sep:
        return Rule("allow", rule_id, tool=tool)
    if tool == "bash" or tool in shell_tools:
        return Rule("allow", rule_id, tool=tool, command=tuple(shlex.split(scope)))
    if tool == "web_fetch":
        return Rule("allow", rule_id, tool=tool, domain=scope.lower())
    return Rule("allow", rule_id, tool=None if tool == "path" else tool, path=scope)
