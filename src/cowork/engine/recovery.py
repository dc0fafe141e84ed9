"""What a turn left behind when cowork stopped: read back from its journal on the next start.

A turn still marked ``running`` in the store was cut off by a crash, a ``kill -9`` or a shutdown.
Its journal says where it stood:

- waiting for an approval (``approval.requested`` with no ``approval.resolved``): nothing was run
  for that call yet, so the turn is resumed and the approval stays pending;
- anything else: the turn is ended as interrupted. Items it had open are closed — a tool call as
  ``interrupted`` (it is never run again: its side effects may have happened), a message with the
  text that had arrived.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..protocol import ApprovalRequested, ApprovalResolved, Event, ItemCompleted, ItemDelta, ItemStarted, ToolCall
from .turn import Resume

STOPPED_CALL = "cowork stopped while this call was running; it was not run again"


def open_items(events: Sequence[Event]) -> list:
    """Items started but never completed, ready to close: a message with the text its deltas
    carried, a tool call with the arguments its deltas carried (a JSON object when they parse)."""
    items: dict[str, object] = {}
    fragments: dict[str, list[str]] = {}
    for ev in events:
        if isinstance(ev, ItemStarted):
            items[ev.item.id] = ev.item.model_copy(deep=True)
            fragments[ev.item.id] = []
        elif isinstance(ev, ItemDelta) and ev.item_id in items:
            fragments[ev.item_id].append(ev.delta)
        elif isinstance(ev, ItemCompleted):
            items.pop(ev.item.id, None)
    closed = []
    for item_id, item in items.items():
        delta = "".join(fragments[item_id])
        if isinstance(item, ToolCall):
            if delta and not item.arguments:
                try:
                    parsed = json.loads(delta)
                except ValueError:
                    parsed = None
                item.arguments = parsed if isinstance(parsed, dict) else delta
            item.status, item.output = "interrupted", STOPPED_CALL
            item.summary = STOPPED_CALL
        elif hasattr(item, "text"):
            item.text += delta  # type: ignore[attr-defined]
        closed.append(item)
    return closed


def pending_approval(events: Sequence[Event]) -> Resume | None:
    """The approval the turn was waiting on, with what is needed to resume it; None if it was not
    waiting for one."""
    requested: ApprovalRequested | None = None
    for ev in events:
        if isinstance(ev, ApprovalRequested):
            requested = ev
        elif isinstance(ev, ApprovalResolved) and requested is not None and ev.approval_id == requested.approval_id:
            requested = None
    if requested is None:
        return None
    call: ToolCall | None = None
    done: dict[str, ToolCall] = {}
    for ev in events:
        if isinstance(ev, ItemStarted | ItemCompleted) and isinstance(ev.item, ToolCall):
            if ev.item.id == requested.item_id:
                call = ev.item.model_copy(deep=True)
            elif isinstance(ev, ItemCompleted) and ev.seq < requested.seq:
                done[ev.item.call_id] = ev.item
    if call is None:
        return None
    call.arguments, call.status = requested.arguments, "awaiting_approval"
    return Resume(approval=requested, item=call, done=done)
