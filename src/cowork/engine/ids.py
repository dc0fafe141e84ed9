"""Whole ids for the prefixes a person types (``ckpt_6985a42e`` for ``ckpt_6985a42e9…``), in any
method's parameters: every ``session_id``, ``turn_id``, ``checkpoint_id``, ``approval_id``,
``run_id``, ``schedule_id``, ``webhook_id``, ``memory_id`` and ``approval_ids`` field is completed (see :mod:`cowork.store.ids`). The server runs every request
through :func:`complete_ids`, so every client (CLI, web UI, SDK, scripts) accepts prefixes."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from ..store.ids import KINDS, AmbiguousId, complete_id, is_whole

if TYPE_CHECKING:
    from .runtime import Runtime

P = TypeVar("P", bound=BaseModel)

__all__ = ["AmbiguousId", "complete_ids"]


async def complete_ids(runtime: Runtime, params: P) -> P:
    """``params`` with each id prefix replaced by the whole id it starts (a copy; ``params``
    itself when every id is whole, which costs no query). Raises :class:`AmbiguousId` (a
    ValueError) for a prefix that starts several ids."""
    fields = type(params).model_fields
    values = {name: getattr(params, name) for name in (*KINDS, "approval_ids") if name in fields}
    if all(is_whole(v) for v in values.values() if isinstance(v, str)) and \
            all(is_whole(v) for v in values.get("approval_ids") or ()):
        return params
    session_id = values.get("session_id")
    update: dict[str, object] = {}
    if isinstance(session_id, str):
        session_id = update["session_id"] = await complete_id(runtime.store, "session_id", session_id)
    for name in ("turn_id", "checkpoint_id", "approval_id", "run_id", "schedule_id", "webhook_id", "memory_id"):
        if isinstance(values.get(name), str):
            update[name] = await complete_id(runtime.store, name, values[name], session_id)
    if values.get("approval_ids"):
        update["approval_ids"] = [await complete_id(runtime.store, "approval_id", v) for v in values["approval_ids"]]
    return params.model_copy(update=update)
