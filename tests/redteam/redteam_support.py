"""The red team's attack runner: one turn whose scripted model makes the given calls in one
response, every approval answered "once" (the worst case: the person said yes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine_support import MODEL, Script, collect, tool_returns


@dataclass
class Outcome:
    asked: list[str]  # reasons of the approvals asked (all answered "once")
    calls: list  # completed tool_call items
    sent: str  # everything the model read back
    journal: str  # every journaled event, as JSON


async def attack(runtime, ws: Path, mode: str, *calls: tuple[str, dict], timeout: float = 120) -> Outcome:
    """Run the turn in a new session of ``ws`` in ``mode``; it must complete."""
    script = Script(list(calls), "done")
    runtime.use_model(MODEL, script.model)
    session = await runtime.create_session(ws, MODEL, mode)
    asked: list[str] = []

    def answer(ev):
        if ev.type == "approval.requested":
            asked.append(ev.reason)
            runtime.respond_approval(ev.approval_id, "once")

    await runtime.start_turn(session.id, "do it")
    events = await collect(runtime, session.id, on_event=answer, timeout=timeout)
    assert events[-1].type == "turn.completed"
    items = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    sent = "\n".join(str(r.content) for r in tool_returns(script.calls[-1][0]))
    return Outcome(asked, items, sent, "\n".join(e.model_dump_json() for e in events))
