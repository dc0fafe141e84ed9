"""The ``memory`` tool: the model saves, searches and forgets memories.

``memory(action="save", text=..., kind=..., scope=...)`` remembers a short text (refused when it
looks like a credential, see :mod:`.credentials`); ``action="search"`` finds memories for a query;
``action="forget"`` drops one by id. It changes nothing in the workspace and nothing outside the
machine: only cowork's own memory, which a person reads and edits with ``cowork memory``. So it
has the read-only trait (every mode runs it without asking); a policy rule can still deny it. It is
also ``on_demand``: the compact harness of small local models offers it only in a turn whose
instructions carry memories (a tool more costs a 1.5B model the demo job; see engine/harness.py).
Private memories are offered only to local models (``local:``, ``ollama:``): the tool's search
leaves them out for a hosted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import Field

from cowork.tools import READ_ONLY, Tool, ToolArgs, ToolContext, ToolError, ToolResult

from ..protocol.memory import MAX_MEMORY_CHARS, MemoryKind, MemoryScope
from ..store.repo import NotFound
from .service import MemoryService

LOCAL_PROVIDERS = ("local:", "ollama:")
"""Models that run on this machine: only they are shown private memories."""


def is_local(model: str) -> bool:
    return model.startswith(LOCAL_PROVIDERS)


class MemoryArgs(ToolArgs):
    action: Literal["save", "search", "forget"] = Field(description="save a memory, search memories, or forget one.")
    text: str | None = Field(default=None, max_length=MAX_MEMORY_CHARS,
                             description="save: the memory, one short self-contained sentence.")
    kind: MemoryKind = Field(default="fact", description="save: preference (how the user likes things), fact, "
                                                         "lesson (learnt from a mistake) or rule.")
    scope: MemoryScope = Field(default="workspace", description="save: workspace (this project only) or user "
                                                                "(the user, in every project).")
    query: str | None = Field(default=None, max_length=1000, description="search: what to look for.")
    id: str | None = Field(default=None, max_length=40, description="forget: the memory's id.")


class MemoryTool(Tool):
    """Save, search or forget memories that last across sessions."""

    name = "memory"
    description = (
        "Long-term memory that lasts across sessions. action=save remembers one short, self-contained "
        "sentence worth knowing next time (a preference of the user, a fact about the project, a lesson, a "
        "rule); never secrets. action=search finds memories for a query. action=forget drops one by id."
    )
    Args = MemoryArgs
    traits = replace(READ_ONLY, on_demand=True)

    def __init__(self, service: MemoryService) -> None:
        self.service = service

    async def run(self, args: MemoryArgs, ctx: ToolContext) -> ToolResult:
        if args.action == "save":
            if not args.text or not args.text.strip():
                raise ToolError("save needs text: the memory to keep")
            try:
                saved = await self.service.save(args.text, kind=args.kind, scope=args.scope, workspace=ctx.workspace,
                                                session_id=ctx.session_id or None, turn_id=ctx.turn_id or None)
            except ValueError as exc:
                raise ToolError(str(exc)) from None
            return ToolResult(f"Remembered ({saved.kind}, {saved.scope}) as {saved.id}: {saved.text}",
                              summary=f"remembered {saved.kind}: {saved.text[:60]}",
                              metadata={"memory_id": saved.id})
        if args.action == "search":
            if not args.query or not args.query.strip():
                raise ToolError("search needs a query")
            local = await self._local(ctx)
            found = await self.service.search(args.query, ctx.workspace, limit=8, include_private=local)
            lines = [f"- {h.memory.id} ({h.memory.kind}, {h.memory.scope}): {h.memory.text}" for h in found.hits]
            head = f"{len(lines)} {'memory' if len(lines) == 1 else 'memories'} found" + (f" ({found.note})" if found.note else "")
            return ToolResult(head + (":\n" + "\n".join(lines) if lines else "."), summary=head)
        if not args.id:
            raise ToolError("forget needs the id of a memory (search first)")
        try:
            await self.service.forget(args.id.strip())
        except NotFound:
            raise ToolError(f"no memory {args.id!r}") from None
        return ToolResult(f"Forgot {args.id}.", summary=f"forgot {args.id}")

    async def _local(self, ctx: ToolContext) -> bool:
        try:
            return is_local((await self.service.store.get_session(ctx.session_id)).model)
        except NotFound:
            return False


class MemoryToolset:
    """The toolset of the ``memory`` tool (always offered)."""

    name = "memory"
    version = 0

    def __init__(self, service: MemoryService) -> None:
        self.tool = MemoryTool(service)

    def tools(self, session_id: str, workspace: Path) -> Sequence[Tool]:
        return [self.tool]


__all__ = ["LOCAL_PROVIDERS", "MemoryArgs", "MemoryTool", "MemoryToolset", "is_local"]
