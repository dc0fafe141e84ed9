"""Hybrid search: full text and vector similarity merged by reciprocal rank fusion.

RRF (Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and individual
rank learning methods", SIGIR 2009, https://doi.org/10.1145/1571941.1572114): a document's score is
the sum over the rankings that hold it of ``1 / (k + rank)``, rank from 1, ``k = 60``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

RRF_K = 60
"""The constant of reciprocal rank fusion (the paper's value)."""


def fuse(rankings: dict[str, Sequence[str]], k: int = RRF_K) -> list[tuple[str, float, list[str]]]:
    """``(id, score, names of the rankings that hold it)``, best first (ties: first seen first).
    ``rankings`` maps a ranking's name to its ids, best first."""
    scores: dict[str, float] = {}
    found: dict[str, list[str]] = {}
    for name, ids in rankings.items():
        for rank, doc in enumerate(ids, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
            found.setdefault(doc, []).append(name)
    order = sorted(scores, key=lambda d: -scores[d])
    return [(d, scores[d], found[d]) for d in order]


@dataclass
class VectorIndex:
    """Every embedding of one model in memory, as one matrix (a search is one product).

    ``stamp`` is :func:`cowork.store.memories.vector_stamp` when it was read: the service reads it
    again when that changed (another process may share the database)."""

    model: str
    stamp: tuple[int, datetime | None, int]
    ids: list[str] = field(default_factory=list)
    user_scope: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    workspaces: list[str | None] = field(default_factory=list)
    private: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    _masks: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, model: str, dim: int, stamp: tuple[int, datetime | None, int],
              rows: Sequence[tuple[str, str, str | None, bool, bytes]]) -> VectorIndex:
        rows = [r for r in rows if len(r[4]) == 4 * dim]
        matrix = (np.frombuffer(b"".join(r[4] for r in rows), dtype="<f4").reshape(len(rows), dim)
                  if rows else np.zeros((0, dim), dtype=np.float32))
        return cls(model, stamp, [r[0] for r in rows], np.array([r[1] == "user" for r in rows], dtype=bool),
                   [r[2] for r in rows], np.array([bool(r[3]) for r in rows], dtype=bool), matrix)

    def _seen_in(self, workspace: str) -> np.ndarray:
        """Which rows a session of ``workspace`` sees (cached per workspace)."""
        mask = self._masks.get(workspace)
        if mask is None:
            mask = self._masks[workspace] = self.user_scope | np.array([w == workspace for w in self.workspaces],
                                                                       dtype=bool)
        return mask

    def nearest(self, query: np.ndarray, workspace: str | None, limit: int,
                include_private: bool = True) -> list[tuple[str, float]]:
        """``(id, cosine similarity)`` of the ``limit`` nearest memories seen in ``workspace``."""
        if not self.ids:
            return []
        sims = self.matrix @ query.astype(np.float32)
        keep = np.ones(len(self.ids), dtype=bool)
        if workspace is not None:
            keep &= self._seen_in(workspace)
        if not include_private:
            keep &= ~self.private
        sims = np.where(keep, sims, -np.inf)
        n = min(limit, int(keep.sum()))
        if n <= 0:
            return []
        top = np.argpartition(-sims, n - 1)[:n]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.ids[i], float(sims[i])) for i in top]


__all__ = ["RRF_K", "VectorIndex", "fuse"]
