"""The seams extensions plug into: what an MCP server, a skill, an AGENTS.md file or a hook brings
the runtime, without the engine importing any of them.

An :class:`Extension` is given to :class:`~cowork.engine.Runtime` (``Runtime(extensions=[...])``)
and may bring:

- **toolsets** (:class:`~cowork.tools.Toolset`): tools offered next to the built-ins, under the
  same policy, approvals, sandbox and checkpoints (an MCP server's tools, the ``skill`` tool);
- **context sources** (:class:`ContextSource`): text that goes into the system instructions of a
  turn (AGENTS.md, the list of skills), and notes added to a tool's result when a call first
  reaches a part of the workspace (an AGENTS.md in a subfolder);
- **hooks** (:class:`Hooks`): the person's own checks, run at the five hook events
  (``session_start``, ``user_prompt_submit``, ``pre_tool_use``, ``post_tool_use``, ``stop``);
- ``start`` / ``close``: run when the runtime opens and closes (start MCP servers in the
  background, stop them); ``attach``: given the runtime's store first (memory keeps its records there);
- a **compaction prompt**: asked of the model, with the extension's tools, just before a turn's
  history is compacted (memory: save what is worth keeping before its details are dropped).

The concrete extensions live in ``cowork.mcp``, ``cowork.skills``, ``cowork.memory`` and ``cowork.hooks``; the CLI's
in-process server assembles them (:mod:`cowork.cli.inprocess`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from ..tools import Toolset

log = logging.getLogger(__name__)

HookEvent = Literal["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"]
"""The hook events (the names Claude Code's and Codex's hooks use, in snake case)."""


@dataclass(frozen=True)
class ContextSection:
    """One piece of text a turn's system instructions carry (or a note added to a tool result).

    Attributes:
        kind: what it is: ``"agents_md"``, ``"skills"``, ``"skill_hint"``, ...
        title: a short name for people (``"AGENTS.md"``, ``"Skills (3)"``).
        text: what the model reads.
        source: where it came from: a file's absolute path, ``"builtin"``, ... (shown by ``/context``).
        truncated: ``text`` was cut to the source's size cap.
        compact: also given to the compact harness of small local models (:mod:`.harness`);
            False for long optional listings such as the skills list, which distract a small model.
        invites_on_demand: the section points the model at a tool with the ``on_demand`` trait
            (a skill hint points at the ``skill`` tool): the compact harness offers such tools only
            when a section it keeps does this.
    """

    kind: str
    title: str
    text: str
    source: str = ""
    truncated: bool = False
    compact: bool = True
    invites_on_demand: bool = False


@runtime_checkable
class ContextSource(Protocol):
    """Text for the model that depends on the session's workspace (and the turn's request)."""

    name: str

    def sections(self, session_id: str, workspace: Path, prompt: str | None) -> Sequence[ContextSection]:
        """The sections of one turn's instructions, in order. ``prompt`` is the turn's user
        message (None when asked outside a turn, e.g. by ``/context``). Called once per turn, in a
        worker thread: it may read files. Must not raise for a missing or unreadable file (leave
        it out); the engine logs and skips a source that raises. A source whose ``sections`` and
        ``notes_for_paths`` are coroutine functions (``async def``) is awaited on the event loop
        instead (one that reads the store: memory)."""
        ...

    def notes_for_paths(self, session_id: str, workspace: Path, paths: Sequence[Path]) -> Sequence[ContextSection]:
        """Notes to add to a tool call's result when the call named ``paths`` (absolute). The
        engine adds each ``source`` at most once per turn. Called in a worker thread."""
        ...


@dataclass
class HookRun:
    """One command a hook ran (journaled as ``hook.ran``).

    Attributes:
        command: the command as configured.
        exit_code: its exit status; None when it timed out or could not start.
        duration_ms: wall time in milliseconds.
        output: the start of what it printed (stdout, then stderr), for people.
        error: why it did not run to completion (timeout, not found), else "".
        decision: what it answered: ``"allow"``, ``"deny"``, ``"ask"``, ``"block"``; None: nothing
            (or a non-blocking error).
        reason: why (a deny's or block's reason).
        source: where it was configured (``/path/hooks.toml#pre_tool_use.1``), else "".
    """

    command: str
    exit_code: int | None
    duration_ms: int
    output: str = ""
    error: str = ""
    decision: Literal["allow", "deny", "ask", "block"] | None = None
    reason: str = ""
    source: str = ""


@dataclass
class HookOutcome:
    """What the hooks of one event decided, combined.

    Attributes:
        decision: ``pre_tool_use`` only: ``"allow"`` (run without asking, unless the policy
            denies), ``"deny"`` (do not run; ``reason`` goes to the model), ``"ask"`` (ask the person
            even if the policy would allow); None: the policy decides as usual.
        block: ``user_prompt_submit``: the prompt is refused with ``reason``; ``stop``: the turn
            goes on, with ``reason`` as the next message to the model; ``post_tool_use``: ``reason``
            is added to the result the model reads.
        reason: why, in words the model or the person reads.
        context: extra text for the model (``user_prompt_submit``, ``post_tool_use``, ``session_start``).
        runs: every command run, in order.
    """

    decision: Literal["allow", "deny", "ask"] | None = None
    block: bool = False
    reason: str = ""
    context: str = ""
    runs: list[HookRun] = field(default_factory=list)


@runtime_checkable
class Hooks(Protocol):
    """The person's hook commands (see :mod:`cowork.hooks`)."""

    async def run(self, event: HookEvent, payload: Mapping[str, Any], *, session_id: str,
                  workspace: Path) -> HookOutcome:
        """Run the hooks configured for ``event`` with ``payload`` (sent as JSON on stdin) and
        combine their answers. Never raises for a failing hook: it is reported in ``runs``."""
        ...


class NoHooks:
    """No hook configured: every event is answered with an empty outcome."""

    async def run(self, event: HookEvent, payload: Mapping[str, Any], *, session_id: str,
                  workspace: Path) -> HookOutcome:
        return HookOutcome()


@dataclass
class Extension:
    """What one extension brings the runtime (see the module docstring).

    Attributes:
        name: ``"mcp"``, ``"skills"``, ``"agents_md"``, ``"hooks"``...; unique per runtime
            (``Runtime.extension(name)`` finds it).
        toolsets: offered after the built-in tools, in order.
        context_sources: their sections go into every turn's instructions, in order.
        hooks: run at the hook events (at most one extension brings hooks).
        start: awaited by ``Runtime.open`` after recovery; must not wait for slow things
            (start them in the background).
        close: awaited by ``Runtime.close`` before the store closes.
        attach: called with the runtime's :class:`~cowork.store.repo.Store` when the runtime is made.
        compaction_prompt: asked of the model (as a user message, with only this extension's
            tools offered) for one step before a turn's history is compacted; "" for none.
        service: the extension's own object, for the server's methods that manage it
            (e.g. the MCP server manager behind ``mcp/list``).
    """

    name: str
    toolsets: Sequence[Toolset] = ()
    context_sources: Sequence[ContextSource] = ()
    hooks: Hooks | None = None
    start: Callable[[], Awaitable[None]] | None = None
    close: Callable[[], Awaitable[None]] | None = None
    attach: Callable[[Any], None] | None = None
    compaction_prompt: str = ""
    service: Any = None


async def gather_sections(sources: Sequence[ContextSource], session_id: str, workspace: Path,
                          prompt: str | None) -> list[ContextSection]:
    """Every source's sections, in order, read in a worker thread; a source that raises is
    logged and left out (one broken AGENTS.md must not stop a turn)."""
    return await _gather(sources, lambda source: source.sections(session_id, workspace, prompt))  # type: ignore[arg-type,return-value]


async def gather_notes(sources: Sequence[ContextSource], session_id: str, workspace: Path,
                       paths: Sequence[Path]) -> list[ContextSection]:
    """Every source's notes for a call that named ``paths``, as :func:`gather_sections` does."""
    if not paths:
        return []
    return await _gather(sources, lambda source: source.notes_for_paths(session_id, workspace, paths))  # type: ignore[arg-type,return-value]


async def _gather(sources: Sequence[ContextSource],
                  ask: Callable[[ContextSource], Any]) -> list[ContextSection]:
    """Each source's answer in order: a synchronous source's in one worker thread, an
    asynchronous one's awaited here; a source that raises is logged and left out."""
    if not sources:
        return []
    out: list[list[ContextSection]] = [[] for _ in sources]
    sync = {i for i, s in enumerate(sources) if not inspect.iscoroutinefunction(s.sections)}

    def read() -> None:
        for i in sorted(sync):
            try:
                out[i] = list(ask(sources[i]))
            except Exception:
                log.exception("context source %s failed", getattr(sources[i], "name", sources[i]))

    if sync:
        await asyncio.to_thread(read)
    for i, source in enumerate(sources):
        if i not in sync:
            try:
                out[i] = list(await ask(source))
            except Exception:
                log.exception("context source %s failed", getattr(source, "name", source))
    return [section for part in out for section in part]


def render_sections(sections: Sequence[ContextSection], workspace: Path | None = None) -> str:
    """The sections as the instructions carry them: each under a ``# title (source)`` heading,
    a source inside ``workspace`` written relative to it (the same task in another folder gets the
    same prompt, which keeps a local model's prompt cache useful)."""
    parts = []
    for s in sections:
        source = s.source
        if source and workspace is not None and Path(source).is_absolute():
            try:
                source = Path(source).relative_to(workspace).as_posix()
            except ValueError:
                pass
        where = f" ({source})" if source and source != "builtin" else ""
        parts.append(f"# {s.title}{where}\n{s.text.strip()}")
    return "\n\n".join(parts)
