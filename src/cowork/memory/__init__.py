"""Memory that lasts across sessions (docs/memory.md).

A memory is a short text with a scope (a workspace, or the user across workspaces), a kind
(preference, fact, lesson, rule), where it was saved, timestamps and a ``private`` flag, kept in
the store (:mod:`cowork.store.memories`). Search is hybrid: full text (SQLite FTS5 / PostgreSQL)
and vector similarity from a local embedding model (:mod:`.embedding`), merged by reciprocal rank
fusion (:mod:`.search`). The model uses the ``memory`` tool (:mod:`.tool`); each turn is offered
the memories relevant to it (:mod:`.context`); people use ``cowork memory`` and the ``memory/*``
methods; Markdown export and import round-trip them (:mod:`.markdown`). Credentials are never
stored (:mod:`.credentials`).

:func:`extension` is what a cowork server is given.
"""

from __future__ import annotations

from typing import Literal

from cowork.engine.extensions import Extension

from .context import MemoryContext
from .credentials import MemoryRefused
from .embedding import Embedder, WordLlamaEmbedder, default_embedder
from .service import MemoryService, SearchResult
from .tool import MemoryTool, MemoryToolset

COMPACTION_PROMPT = (
    "The older part of this conversation is about to be summarised and its details dropped. If it holds "
    "anything worth knowing in later sessions (a preference of the user, a fact about the project, a lesson "
    "learnt, a rule) that is not saved yet, save it now with the memory tool, one short sentence each. "
    "If there is nothing to save, answer 'nothing to save'."
)


def extension(*, embedder: Embedder | Literal["default"] | None = "default") -> Extension:
    """The memory extension: the ``memory`` tool, the memories offered to each turn, the request
    to save what is worth keeping before a history is compacted, and the :class:`MemoryService`
    (``service``) the server's ``memory/*`` methods use."""
    service = MemoryService(embedder)
    return Extension("memory", toolsets=[MemoryToolset(service)], context_sources=[MemoryContext(service)],
                     attach=service.attach, start=service.start, close=service.close,
                     compaction_prompt=COMPACTION_PROMPT, service=service)


__all__ = ["COMPACTION_PROMPT", "Embedder", "MemoryContext", "MemoryRefused", "MemoryService", "MemoryTool",
           "MemoryToolset", "SearchResult", "WordLlamaEmbedder", "default_embedder", "extension"]
