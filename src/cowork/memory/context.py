"""The memories offered at the start of each turn.

A turn's instructions carry, under a budget of :data:`DEFAULT_BUDGET_CHARS` characters (about 600
tokens), first the memories most relevant to its request (hybrid search; a vector-only match
must reach :data:`MIN_SIMILARITY`), then the rules and preferences seen in its workspace, newest
first, so a preference is applied even to a request that does not mention it. Private memories
are offered to local models only (:func:`~.tool.is_local`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ..engine.extensions import ContextSection
from ..protocol.memory import MemoryInfo
from ..store.repo import NotFound
from .service import MemoryService
from .tool import is_local

log = logging.getLogger(__name__)

DEFAULT_BUDGET_CHARS = 2400
MIN_SIMILARITY = 0.3
"""Cosine similarity a memory found by vectors alone needs to be offered (WordLlama's scale:
related sentences score about 0.25 to 0.6)."""


class MemoryContext:
    """The context source of the memory extension (asynchronous: it reads the store)."""

    name = "memory"

    def __init__(self, service: MemoryService, budget_chars: int = DEFAULT_BUDGET_CHARS) -> None:
        self.service = service
        self.budget_chars = budget_chars

    async def sections(self, session_id: str, workspace: Path, prompt: str | None) -> Sequence[ContextSection]:
        try:
            session = await self.service.store.get_session(session_id)
            local = is_local(session.model)
        except NotFound:
            local = False
        chosen = await self.select(workspace, prompt, include_private=local)
        if not chosen:
            return []
        lines = [f"- [{m.kind}] {m.text} ({m.id[:12]})" for m in chosen]
        text = ("What you remember from earlier sessions (the user's preferences and rules apply unless the user "
                "says otherwise; save new lasting facts or preferences with the memory tool):\n" + "\n".join(lines))
        return [ContextSection("memory", f"Memories ({len(chosen)})", text, source="memory", invites_on_demand=True)]

    async def notes_for_paths(self, session_id: str, workspace: Path, paths: Sequence[Path]) -> Sequence[ContextSection]:
        return []

    async def select(self, workspace: Path, prompt: str | None, *, include_private: bool) -> list[MemoryInfo]:
        """The memories one turn is offered, in order, within the budget."""
        picked: dict[str, MemoryInfo] = {}
        if prompt and prompt.strip():
            found = await self.service.search(prompt, workspace, limit=10, include_private=include_private)
            sims = found.similarity or {}
            for hit in found.hits:
                if "full_text" in hit.matched or sims.get(hit.memory.id, 0.0) >= MIN_SIMILARITY:
                    picked.setdefault(hit.memory.id, hit.memory)
        for m in await self.service.list(workspace, kinds=("rule", "preference"), include_private=include_private,
                                         limit=50):
            picked.setdefault(m.id, m)
        out, used = [], 0
        for m in picked.values():
            cost = len(m.text) + 30
            if used + cost > self.budget_chars:
                continue
            out.append(m)
            used += cost
        return out


__all__ = ["DEFAULT_BUDGET_CHARS", "MIN_SIMILARITY", "MemoryContext"]
