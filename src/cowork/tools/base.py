"""The contract every tool implements: typed arguments, a context, a result.

A tool is a class with a ``name``, a pydantic ``Args`` model (its JSON schema is what the model
sees), a ``run`` coroutine, its :class:`ToolTraits` and an optional :meth:`Tool.preview`. The
engine, the policy, the modes and the checkpoints read the traits, never the tool's name: a new
tool (an MCP server's, a test's) is asked, checkpointed, confined and previewed exactly as a
built-in with the same traits is. Tools reach the engine in :class:`~cowork.tools.toolset.Toolset` s.

Errors a model can act on are raised as :class:`ToolError`; the engine turns them into a failed
tool result the model reads. Any other exception is a bug in the tool and is reported the same way,
with its type name, so a broken tool never crashes a turn.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict


class ToolError(Exception):
    """A failure the model should read and can recover from (bad path, no match, timeout...)."""


class ToolArgs(BaseModel):
    """Base for tool argument models: unknown arguments are rejected so typos surface."""

    model_config = ConfigDict(extra="forbid")


PathAccess = Literal["read", "write"]


@dataclass(frozen=True)
class ToolTraits:
    """What a tool is, as the policy, the modes, approvals and checkpoints need to know it.

    The first three are named after MCP's tool annotations so that an MCP server's tools map onto
    them one to one (``readOnlyHint``, ``destructiveHint``, ``openWorldHint``); the defaults are
    MCP's too: a tool that says nothing may change anything, irreversibly, over the network.

    Attributes:
        read_only: changes nothing (MCP ``readOnlyHint``). Otherwise the tool is *mutating*: it
            asks in the default mode and is denied in read-only mode.
        destructive: its changes may not be undone (MCP ``destructiveHint``): accept-edits never
            lets it through without asking, even when it ``edits_files``. Meaningless when read-only.
        open_world: it reaches outside the machine (MCP ``openWorldHint``), e.g. the network.
        checkpoint: the workspace is checkpointed before the call runs (after its approval) and
            recorded after it, so its changes can be undone.
        edits_files: a call is a file edit: accept-edits runs it without asking when every path
            it names (``paths``) is inside the workspace.
        paths: argument name → ``"read"`` or ``"write"``: the arguments that name a workspace
            path (a missing or empty one means the workspace itself). The policy confines each
            (outside the workspace asks, protected places ask or are denied) before the call runs.
        command_arg: the argument holding a shell command, split and decided command by command
            (:mod:`cowork.policy.commands`); such a call gets ``ToolContext.network`` from the decision.
        url_arg: the argument holding a URL; ``domain`` rules match its host.
        must_exist: argument name → ``"file"``, ``"folder"`` or ``"any"``: the path arguments that
            must name something that already exists (``read``'s file, ``ls``'s folder, ``move``'s
            source). A grammar-constrained small model may then only pick existing entries.
        planning: a call only records the model's own plan (a checklist), nothing of the world.
            The compact harness for small models offers such a tool only for tasks of several
            steps, and two such calls with nothing done between them are answered with a nudge
            to do the next step instead (:mod:`cowork.engine.guards`).
        on_demand: the tool serves what the turn's instructions list (the ``skill`` tool loads a
            listed skill). The compact harness leaves the listing out and offers such a tool only
            when a context section invites it (``ContextSection.invites_on_demand``, a skill hint).
        turn_only: the tool acts on the model's running turn (``spawn_agent`` starts subagents that
            work for it), so only a model's turn can call it: ``tool/call`` (a client's call, the
            MCP toolbox) refuses it, and the toolbox does not list it.
        waits: a call waits for something outside the turn (``wait_agents``: subagents working), so
            the same call can answer differently with nothing changed by this turn; the repeated-call
            guard lets it repeat (:mod:`cowork.engine.guards`).
    """

    read_only: bool = False
    destructive: bool = True
    open_world: bool = True
    checkpoint: bool = False
    edits_files: bool = False
    paths: Mapping[str, PathAccess] = field(default_factory=dict)
    command_arg: str | None = None
    url_arg: str | None = None
    must_exist: Mapping[str, Literal["file", "folder", "any"]] = field(default_factory=dict)
    planning: bool = False
    on_demand: bool = False
    waits: bool = False
    turn_only: bool = False

    @property
    def mutating(self) -> bool:
        """The tool can change something (not ``read_only``)."""
        return not self.read_only


READ_ONLY = ToolTraits(read_only=True, destructive=False, open_world=False)
"""A tool that only reads and never leaves the machine (add ``paths`` with :func:`dataclasses.replace`)."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool may know about the call it serves.

    Attributes:
        workspace: absolute, resolved path of the folder the session works in.
        session_id: the session the call belongs to.
        turn_id: the turn the call belongs to ("" for a call a client made outside a turn).
        item_id: the call's ``tool_call`` item ("" outside the engine's pipeline).
        max_output_chars: the engine truncates the model-facing output to this many characters
            (head and tail kept); tools with their own caps should stay under it.
        network: this call may use the network (the policy decides, for a tool with a
            ``command_arg`` trait; the shell's sandbox shares the host's network only when True).
        sandbox: how ``bash`` is isolated: ``"auto"`` (bubblewrap, else Landlock, else refuse),
            ``"bwrap"``, ``"landlock"`` (that backend or refuse), or ``"off"`` (no isolation, only
            when a person chose it). See :mod:`cowork.sandbox`.
    """

    workspace: Path
    session_id: str = ""
    turn_id: str = ""
    item_id: str = ""
    max_output_chars: int = 30_000
    network: bool = False
    sandbox: str = "auto"


@dataclass
class ToolResult:
    """The outcome of one tool call.

    Attributes:
        output: the text the model reads.
        is_error: True when the call failed; the model still reads ``output``.
        summary: one short line for people ("exit 0 · 12 lines", "wrote 3 lines").
        metadata: structured data for clients, never sent to the model. Known keys:
            ``diff`` (unified diff text, write/edit), ``exit_code`` (int, bash),
            ``todos`` (list of {content, status}, todo_write), ``path`` (str, workspace-relative),
            ``sandbox`` (``"bwrap"`` or ``"landlock"``: what a bash command ran in),
            ``sandbox_denied`` (``"network"``: the command failed because the sandbox had no
            network; the engine offers to re-run it with network access).
    """

    output: str
    is_error: bool = False
    summary: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


class Tool:
    """Base class of tools. Subclasses set ``name``, ``description``, ``Args``, ``traits`` and
    implement ``run`` (and ``preview`` when an approval should show what the call would do)."""

    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[ToolArgs]]
    traits: ClassVar[ToolTraits] = ToolTraits()

    @property
    def mutating(self) -> bool:
        """The tool can change something (``not traits.read_only``)."""
        return self.traits.mutating

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def must_ask(self, args: Any) -> str | None:
        """Why a person must approve this call whatever the mode and the rules say (a call that
        grants something: ``spawn_agent`` with pre-granted rules), else None (the default). Only a
        hard deny overrides it."""
        return None

    def preview(self, args: Any, workspace: Path) -> str | None:
        """What an approval request shows of the call (e.g. the unified diff a write would
        make), computed without changing anything; None when there is nothing to show or the call
        would fail (the tool says why when it runs). Runs in a worker thread."""
        return None

    @classmethod
    def parameters_schema(cls) -> dict[str, Any]:
        """The JSON schema of ``Args`` (draft 2020-12, as pydantic emits it), without titles: a
        fresh copy of a schema built once per ``Args`` model (pydantic takes milliseconds)."""
        return copy.deepcopy(_schema_of(cls.Args))


@functools.cache
def _schema_of(args: type[ToolArgs]) -> dict[str, Any]:
    return _without_titles(args.model_json_schema())


def _without_titles(schema: Any) -> Any:
    """Drop pydantic's generated ``title`` keywords (noise for a model) at every level."""
    if isinstance(schema, list):
        return [_without_titles(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: _without_titles(sub) for name, sub in value.items()}
        else:
            out[key] = _without_titles(value)
    return out


def plural(n: int, word: str) -> str:
    """``1 line``, ``2 lines``, ``1,024 lines``."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def truncate_middle(text: str, max_chars: int) -> str:
    """Shorten ``text`` to about ``max_chars`` characters, keeping its head and tail.

    The cut is marked in the text itself, e.g. ``[... 12,345 characters truncated ...]``, so a model
    knows output is missing and where. Text at or under the limit is returned unchanged.
    """
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    keep = max(max_chars - 60, 2)
    head = text[: keep // 2]
    tail = text[len(text) - (keep - keep // 2) :]
    cut = len(text) - len(head) - len(tail)
    return f"{head}\n[... {cut:,} characters truncated ...]\n{tail}"
