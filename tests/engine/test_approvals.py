"""The approval channel (where pending approvals wait) and the per-turn broker that asks through it.

The runtime and the turn use only the channel's four coroutines: a channel that is not the
in-memory one (here one that keeps its answers in a table and polls it, as a database-backed
channel would) serves a whole turn, answered through ``Runtime.answer_approval``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from engine_support import MODEL, Script, collect

from cowork.engine.approvals import ApprovalBroker, ApprovalNotPending, InMemoryApprovalChannel
from cowork.protocol import ApprovalRequested, ApprovalResolved, ToolCall


async def test_in_memory_channel_first_answer_wins_and_options_are_enforced():
    channel = InMemoryApprovalChannel()
    await channel.open("apr_1", "ses_1", ["once", "deny"])
    with pytest.raises(ValueError, match="offers once, deny"):
        await channel.resolve("apr_1", "session")
    waiting = asyncio.ensure_future(channel.wait("apr_1"))
    assert await channel.resolve("apr_1", "once", "fine") == "ses_1"
    assert await waiting == ("once", "fine")
    with pytest.raises(ApprovalNotPending):
        await channel.resolve("apr_1", "deny")
    await channel.close("apr_1")
    with pytest.raises(ApprovalNotPending):
        await channel.wait("apr_1")
    with pytest.raises(ApprovalNotPending):
        await channel.resolve("apr_unknown", "once")


async def test_broker_journals_the_request_then_the_answer_once():
    emitted: list[tuple[Any, dict]] = []

    async def emit(event_type, **fields):
        emitted.append((event_type, fields))

    channel = InMemoryApprovalChannel()
    broker = ApprovalBroker(channel, "ses_1", emit, timeout=None)
    item = ToolCall(id="item_1", call_id="c1", name="write", arguments={"path": "x"})
    ticket = await broker.ask(item, reason="asks in default mode", options=["once", "deny"], rule="mode:default",
                              suggestion=["write"], diff="+x", cwd="/w")
    assert [e for e, _ in emitted] == [ApprovalRequested]
    assert emitted[0][1]["suggestion"] == [] and emitted[0][1]["diff"] == "+x"  # no "session" offered
    answer = asyncio.ensure_future(ticket.answer())
    await asyncio.sleep(0)
    assert broker.waiting == ticket.approval_id
    channel.resolve_now(ticket.approval_id, "deny", "no")
    assert await answer == ("deny", "no") and broker.waiting is None
    assert await ticket.answer() == ("deny", "no")
    assert [e for e, _ in emitted] == [ApprovalRequested, ApprovalResolved]
    await ticket.close()
    assert ticket.approval_id not in channel._pending


async def test_broker_timeout_denies_and_counts_from_the_original_request():
    emitted: list[Any] = []

    async def emit(event_type, **fields):
        emitted.append(fields)

    channel = InMemoryApprovalChannel()
    broker = ApprovalBroker(channel, "ses_1", emit, timeout=0.3)
    item = ToolCall(id="item_1", call_id="c1", name="bash")
    from datetime import UTC, datetime
    asked = ApprovalRequested(session_id="ses_1", turn_id="t", seq=1, ts=datetime.fromtimestamp(time.time() - 0.25, UTC),
                              approval_id="apr_old", item_id="item_1", tool="bash", arguments={}, reason="r")
    await broker.reopen(asked)
    started = time.monotonic()
    ticket = await broker.ask(item, reason="r", options=["once", "deny"], asked=asked)
    assert await asyncio.wait_for(ticket.answer(), 5) == ("deny", "no answer within 0.3s")
    assert time.monotonic() - started < 0.25  # 0.05 s were left of the 0.3 s
    assert emitted[-1]["decision"] == "deny"  # journaled; the request itself was not journaled again
    await ticket.close()


class PollingChannel:
    """A channel that is not the in-memory one: answers land in a table that waiters poll."""

    def __init__(self) -> None:
        self.open_ids: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.answers: dict[str, tuple[str, str | None]] = {}

    async def open(self, approval_id, session_id, options=("once", "session", "deny")):
        self.open_ids[approval_id] = (session_id, (*options, "deny"))

    async def resolve(self, approval_id, decision, reason=None):
        if approval_id not in self.open_ids or approval_id in self.answers:
            raise ApprovalNotPending(approval_id)
        if decision not in self.open_ids[approval_id][1]:
            raise ValueError(decision)
        self.answers[approval_id] = (decision, reason)
        return self.open_ids[approval_id][0]

    async def wait(self, approval_id):
        while approval_id not in self.answers:
            if approval_id not in self.open_ids:
                raise ApprovalNotPending(approval_id)
            await asyncio.sleep(0.01)
        return self.answers[approval_id]

    async def close(self, approval_id):
        self.open_ids.pop(approval_id, None)


async def test_a_turn_runs_over_any_approval_channel(tmp_path, workspace):
    from cowork.config import EngineSettings
    from cowork.engine import Runtime

    channel = PollingChannel()
    rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", approvals=channel,
                            settings=EngineSettings(max_steps=5, stream_timeout=5, max_retries=0))
    try:
        rt.use_model(MODEL, Script([("write", {"path": "a.txt", "content": "hi"})], "done").model)
        session = await rt.create_session(workspace, MODEL, "default")

        async def on_event(ev):
            if ev.type == "approval.requested":
                assert ev.approval_id in channel.open_ids
                await rt.answer_approval(ev.approval_id, "once")

        await rt.start_turn(session.id, "go")
        events = await collect(rt, session.id, on_event=on_event)
        assert [e.decision for e in events if e.type == "approval.resolved"] == ["once"]
        assert events[-1].type == "turn.completed" and (workspace / "a.txt").read_text() == "hi"
        assert channel.open_ids == {}  # closed once answered
        with pytest.raises(TypeError):
            rt.respond_approval("apr_x", "once")  # the synchronous shortcut is for the in-memory channel
    finally:
        await rt.close()
