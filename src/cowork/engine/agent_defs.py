"""Defined agents: Markdown files a team keeps so the model can spawn a reviewer, a tester... by name.

A defined agent is ``NAME.md`` in the workspace's ``.cowork/agents/`` or in ``$COWORK_HOME/agents/``
(the workspace's wins a clash of names). The file starts with YAML front matter between two ``---``
lines, the format Claude Code's subagent files use
(https://docs.anthropic.com/en/docs/claude-code/sub-agents)::

    ---
    name: reviewer
    description: Reviews a change for bugs and missing tests; changes nothing.
    tools: read, grep, glob        # or a YAML list; optional: the parent's tools
    model: openai:gpt-4.1-mini     # optional: the parent's model
    mode: read-only                # optional: the parent's mode
    ---
    You are a careful reviewer. ...

The body is the agent's instructions. ``name`` defaults to the file's stem and must match
``[a-z0-9][a-z0-9_-]{0,63}``; a file that cannot be read as such is skipped with a warning (one bad
file must not hide the others). The YAML is read with PyYAML's safe loader.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_FILE_BYTES = 64 * 1024
MAX_AGENTS = 50
"""Most defined agents read from one folder."""


class AgentFileError(ValueError):
    """A defined agent's file is not front matter followed by instructions (the message says why)."""


@dataclass(frozen=True)
class AgentDefinition:
    """One defined agent: ``tools``, ``model`` and ``mode`` are None where the file leaves them to the parent."""

    name: str
    description: str
    instructions: str
    path: Path
    tools: tuple[str, ...] | None = None
    model: str | None = None
    mode: str | None = None


def parse_agent_file(text: str, path: Path) -> AgentDefinition:
    """The definition in ``text`` (read from ``path``). Raises :class:`AgentFileError`."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise AgentFileError("must start with YAML front matter (---)")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise AgentFileError("the front matter is not closed with ---")
    try:
        meta = yaml.safe_load("".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise AgentFileError(f"invalid YAML in the front matter: {exc}") from None
    if not isinstance(meta, dict):
        raise AgentFileError("the front matter must be a mapping")
    unknown = sorted(set(meta) - {"name", "description", "tools", "model", "mode", "color"})
    if unknown:
        raise AgentFileError(f"unknown front-matter key(s): {', '.join(map(str, unknown))}")
    name = str(meta.get("name") or path.stem)
    if not NAME.fullmatch(name):
        raise AgentFileError(f"name {name!r} must be lower-case letters, digits, '-' or '_' (at most 64)")
    description = str(meta.get("description") or "").strip()
    if not description:
        raise AgentFileError("description is required (the model reads it to choose an agent)")
    tools = meta.get("tools")
    if isinstance(tools, str):
        tools = [t.strip() for t in tools.split(",") if t.strip()]
    if tools is not None and not (isinstance(tools, list) and all(isinstance(t, str) for t in tools)):
        raise AgentFileError("tools must be a list of tool names or a comma-separated string")
    instructions = "".join(lines[end + 1:]).strip()
    if not instructions:
        raise AgentFileError("the instructions (the text after the front matter) are empty")
    return AgentDefinition(name=name, description=description, instructions=instructions, path=path,
                           tools=tuple(tools) if tools is not None else None,
                           model=str(meta["model"]) if meta.get("model") else None,
                           mode=str(meta["mode"]) if meta.get("mode") else None)


def agent_folders(workspace: Path, home: Path) -> list[Path]:
    """Where defined agents are looked for, the first winning a clash of names."""
    return [workspace / ".cowork" / "agents", home / "agents"]


def load_agents(workspace: Path, home: Path) -> dict[str, AgentDefinition]:
    """The defined agents of ``workspace`` and ``home`` by name, sorted by name. Unreadable or
    malformed files, and symlinks leading out of their folder, are skipped with a warning."""
    found: dict[str, AgentDefinition] = {}
    for folder in agent_folders(workspace, home):
        try:
            files = sorted(p for p in folder.iterdir() if p.suffix == ".md")[:MAX_AGENTS]
        except OSError:
            continue
        for path in files:
            try:
                real = path.resolve(strict=True)
                if real.parent != folder.resolve() or not real.is_file():
                    raise AgentFileError("is not a file in its folder")
                with real.open("rb") as f:
                    data = f.read(MAX_FILE_BYTES + 1)
                if len(data) > MAX_FILE_BYTES:
                    raise AgentFileError(f"is larger than {MAX_FILE_BYTES} bytes")
                definition = parse_agent_file(data.decode("utf-8"), path)
            except (OSError, UnicodeDecodeError, AgentFileError) as exc:
                log.warning("defined agent %s skipped: %s", path, exc)
                continue
            found.setdefault(definition.name, definition)
    return dict(sorted(found.items()))


__all__ = ["AgentDefinition", "AgentFileError", "agent_folders", "load_agents", "parse_agent_file"]
