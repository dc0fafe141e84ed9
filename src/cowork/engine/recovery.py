"""What a turn left behind when cowork stopped: read back from its journal on the next start.

A turn still marked ``running`` in the store was cut off by a crash, a ``kill -9`` or a shutdown.
Its journal says where it stood:

- waiting for an approval (the first unfinished tool call has an ``approval.requested`` with no
  ``approval.resolved``): nothing was run for that call yet, so the turn is resumed and its
  approvals stay pending (answers already given to later calls are kept);
- anything else: the turn is ended as interrupted. Items it had open are closed — a tool call as
  ``interrupted`` (it is never run again: its side effects may have happened), a message with the
  text that had arrived.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..protocol import (
    ApprovalRequested,
    ApprovalResolved,
    Event,
    ItemCompleted,
    ItemDelta,
    ItemStarted,
    ToolCall,
    is_terminal,
)
from .tool_calls import Resume

STOPPED_CALL = "cowork stopped while this call was running; it was not run again"


def terminal(events: Sequence[Event]) -> Event | None:
    """The turn's terminal event (``turn.completed``, ``.failed``, ``.interrupted``), if journaled."""
    return next((ev for ev in reversed(events) if is_terminal(ev)), None)


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
    """What is needed to resume a turn that was waiting for a person when cowork stopped; None if
    it was not waiting.

    The calls of a response run in order, and the approvals they need are all requested up front.
    The turn was waiting when the first tool call not completed has an approval request with no
    answer. If that call had been answered (or needed no approval), it may have been running:
    the turn is not resumed, so it is never run twice."""
    requested: dict[str, ApprovalRequested] = {}
    resolved: dict[str, ApprovalResolved] = {}
    items: dict[str, ToolCall] = {}
    completed: set[str] = set()
    for ev in events:
        if isinstance(ev, ApprovalRequested):
            requested[ev.item_id] = ev
        elif isinstance(ev, ApprovalResolved):
            resolved[ev.item_id] = ev
        elif isinstance(ev, ItemStarted | ItemCompleted) and isinstance(ev.item, ToolCall):
            items.setdefault(ev.item.id, ev.item.model_copy(deep=True))
            if isinstance(ev, ItemCompleted):
                items[ev.item.id] = ev.item
                completed.add(ev.item.id)
    # a call asked again (its decision re-checked before it ran) waits on its latest request
    resolved = {i: r for i, r in resolved.items() if i in requested and r.approval_id == requested[i].approval_id}
    waiting = [item_id for item_id in items if item_id not in completed]
    if not waiting or waiting[0] not in requested or waiting[0] in resolved:
        return None
    resume = Resume(pending={}, answered={}, items={}, done={})
    for item_id in completed:
        resume.done[items[item_id].call_id] = items[item_id]
    for item_id in waiting:
        asked = requested.get(item_id)
        if asked is None:
            continue
        item = items[item_id]
        item.arguments, item.status = asked.arguments, "awaiting_approval"
        resume.done.pop(item.call_id, None)  # an earlier attempt of the same call (a sandbox escalation's first run)
        resume.items[item.call_id] = item
        if item_id in resolved:
            resume.answered[item.call_id] = (asked, resolved[item_id])
        else:
            resume.pending[item.call_id] = asked
    return resume
