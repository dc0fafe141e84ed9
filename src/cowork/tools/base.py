"""The contract every tool implements: typed arguments, a context, a result.

A tool is a class with a pydantic ``Args`` model (its JSON schema is what the model sees), a
``run`` coroutine and two flags the engine reads: ``mutating`` (changes the workspace, so it needs
approval in the default mode and is refused in read-only mode) and ``name``.

Errors a model can act on are raised as :class:`ToolError`; the engine turns them into a failed
tool result the model reads. Any other exception is a bug in the tool and is reported the same way,
with its type name, so a broken tool never crashes a turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class ToolError(Exception):
    """A failure the model should read and can recover from (bad path, no match, timeout...)."""


class ToolArgs(BaseModel):
    """Base for tool argument models: unknown arguments are rejected so typos surface."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ToolContext:
    """What a tool may know about the call it serves.

    Attributes:
        workspace: absolute, resolved path of the folder the session works in.
        session_id: the session the call belongs to.
        max_output_chars: the engine truncates the model-facing output to this many characters
            (head and tail kept); tools with their own caps should stay under it.
        network: this call may use the network (the policy decides; the ``bash`` sandbox shares
            the host's network only when True).
        sandbox: how ``bash`` is isolated: ``"auto"`` (bubblewrap, else Landlock, else refuse),
            ``"bwrap"``, ``"landlock"`` (that backend or refuse), or ``"off"`` (no isolation, only
            when a person chose it). See :mod:`cowork.policy.sandbox`.
    """

    workspace: Path
    session_id: str = ""
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
    """Base class of built-in tools. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[ToolArgs]]
    mutating: ClassVar[bool] = False

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def parameters_schema(cls) -> dict[str, Any]:
        """The JSON schema of ``Args`` (draft 2020-12, as pydantic emits it), without titles."""
        return _without_titles(cls.Args.model_json_schema())


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
