"""Ids as a person reads and types them: the shortest prefix that tells an id apart from the
others shown (at least 8 hex digits after the ``kind_``, as git shortens commit hashes). The
server takes any unique prefix wherever an id is taken (:mod:`cowork.engine.ids`)."""

from __future__ import annotations

from collections.abc import Iterable

MIN_HEX = 8


def _common(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def short_ids(ids: Iterable[str], min_hex: int = MIN_HEX) -> dict[str, str]:
    """Each id → its shortest prefix unique among ``ids`` with at least ``min_hex`` characters
    after the ``kind_`` (an id without ``_`` counts from its start). Equal ids share one entry."""
    ordered = sorted(set(ids))
    out: dict[str, str] = {}
    for i, full in enumerate(ordered):
        need = max((_common(full, ordered[j]) for j in (i - 1, i + 1) if 0 <= j < len(ordered)), default=0) + 1
        floor = full.find("_") + 1 + min_hex
        out[full] = full[:max(need, floor)]
    return out
