"""Approvals through the real turn engine: context, several at once, hard denies, timeouts,
session answers, the decision on the item, and resuming after a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from engine_support import MODEL, Script, collect, tool_returns

from cowork.config import EngineSettings
from cowork.engine import Runtime, recovery
from cowork.protocol import ApprovalRequested, ApprovalResolved, ItemCompleted, ItemStarted, ToolCall

SETTINGS = EngineSettings(max_steps=10, stream_timeout=5, max_retries=0, retry_base_delay=0.01)


@pytest.fixture
async def runtime(places, tmp_path: Path):
    rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}", settings=SETTINGS)
    yield rt
    await rt.close()


async def start(rt: Runtime, ws: Path, script: Script, mode: str = "default"):
    rt.use_model(MODEL, script.model)
    session = await rt.create_session(ws, MODEL, mode)
    await rt.start_turn(session.id, "do it")
    return session


def calls_of(events) -> list[ToolCall]:
    return [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]


async def test_several_requests_up_front_answered_together_then_run_in_order(runtime, places):
    ws = places[0]
    (ws / "a.txt").write_text("old\n")
    script = Script([("write", {"path": "a.txt", "content": "new\n"}), ("bash", {"command": "echo hi > b.txt"}),
                     ("read", {"path": "a.txt"})], "done")
    types: list[str] = []

    async def answer(ev):
        types.append(ev.type)
        asked = [e for e in seen if e.type == "approval.requested"]
        if ev.type == "approval.requested" and len(asked) == 2:
            errors = runtime.respond_approvals([a.approval_id for a in asked] + ["apr_nope"], "once")
            assert errors[:2] == [None, None] and "not pending" in errors[2]

    seen: list = []

    async def on_event(ev):
        seen.append(ev)
        await answer(ev)

    session = await start(runtime, ws, script)
    events = await collect(runtime, session.id, on_event=on_event)
    requests = [e for e in events if e.type == "approval.requested"]
    assert [r.tool for r in requests] == ["write", "bash"]
    first_done = next(i for i, e in enumerate(events) if e.type == "item.completed" and e.item.type == "tool_call")
    assert max(events.index(r) for r in requests) < first_done  # both asked before anything ran
    write, bash = requests
    assert write.cwd == str(ws) and write.rule == "mode:default" and write.suggestion == ["write"]
    assert write.diff is not None and "-old" in write.diff and "+new" in write.diff
    assert bash.diff is None and bash.suggestion == ["path:b.txt"] and bash.options == ["once", "session", "deny"]
    assert [(c.name, c.status) for c in calls_of(events)] == [("write", "completed"), ("bash", "completed"),
                                                             ("read", "completed")]
    assert (ws / "a.txt").read_text() == "new\n" and (ws / "b.txt").read_text() == "hi\n"
    policies = [(c.policy.outcome, c.policy.rule) for c in calls_of(events)]
    assert policies == [("ask", "mode:default"), ("ask", "mode:default"), ("allow", "mode:default")]


async def test_an_answer_is_journaled_when_given_even_for_a_later_call(runtime, places):
    ws = places[0]
    script = Script([("write", {"path": "a.txt", "content": "1"}), ("write", {"path": "b.txt", "content": "2"})], "ok")
    order: list[str] = []

    async def on_event(ev):
        if ev.type == "approval.requested":
            order.append(ev.approval_id)
            if len(order) == 2:  # answer the second first: it is journaled at once, run in its turn
                runtime.respond_approval(order[1], "deny", "not b")
        elif ev.type == "approval.resolved" and ev.approval_id == order[1]:
            runtime.respond_approval(order[0], "once")

    session = await start(runtime, ws, script)
    events = await collect(runtime, session.id, on_event=on_event)
    resolved = [e.approval_id for e in events if e.type == "approval.resolved"]
    assert resolved == [order[1], order[0]]
    assert [c.status for c in calls_of(events)] == ["completed", "denied"]
    assert (ws / "a.txt").exists() and not (ws / "b.txt").exists()
    assert "not b" in tool_returns(script.calls[1][0])[1].content


async def test_a_hard_deny_offers_once_and_deny_even_in_yolo(runtime, places):
    ws = places[0]
    (ws / ".git").mkdir()
    script = Script([("write", {"path": ".git/info", "content": "x"})], [("write", {"path": ".git/info", "content": "y"})],
                    "ok")

    async def on_event(ev):
        if ev.type == "approval.requested":
            assert ev.options == ["once", "deny"] and ev.suggestion == []
            assert ev.rule == "builtin:hard-deny:git-internals" and "writes inside .git" in ev.reason
            with pytest.raises(ValueError, match="offers once, deny"):
                runtime.respond_approval(ev.approval_id, "session")
            runtime.respond_approval(ev.approval_id, "once")

    session = await start(runtime, ws, script, mode="yolo")
    events = await collect(runtime, session.id, on_event=on_event)
    assert [e.type for e in events].count("approval.requested") == 2  # "once" is for that one call
    assert (ws / ".git" / "info").read_text() == "y"
    assert await runtime.store.allowed_tools(session.id) == []


async def test_read_only_denies_a_hard_deny_without_asking(runtime, places):
    script = Script([("bash", {"command": "cat ~/.ssh/id_rsa"})], "ok")
    session = await start(runtime, places[0], script, mode="read-only")
    events = await collect(runtime, session.id)
    assert "approval.requested" not in [e.type for e in events]
    (call,) = calls_of(events)
    assert call.status == "denied" and call.policy.rule == "builtin:hard-deny:ssh"
    assert "credential store" in call.output


async def test_an_unanswered_approval_is_denied_after_the_timeout(runtime, places):
    runtime.settings = EngineSettings(max_steps=10, stream_timeout=5, max_retries=0, approval_timeout=0.2)
    script = Script([("bash", {"command": "touch x"})], "ok")
    session = await start(runtime, places[0], script)
    events = await collect(runtime, session.id)
    (resolved,) = [e for e in events if e.type == "approval.resolved"]
    assert resolved.decision == "deny" and resolved.reason == "no answer within 0.2s"
    assert calls_of(events)[0].status == "denied" and not (places[0] / "x").exists()
    assert "no answer within 0.2s" in tool_returns(script.calls[1][0])[0].content


async def test_a_session_answer_allows_the_narrowest_pattern(runtime, places):
    script = Script([("bash", {"command": "make lint"})], [("bash", {"command": "make lint"})],
                    [("bash", {"command": "make deploy"})], "ok")
    asked: list[str] = []

    def on_event(ev):
        if ev.type == "approval.requested":
            asked.append(ev.arguments["command"])
            runtime.respond_approval(ev.approval_id, "session" if ev.arguments["command"] == "make lint" else "deny")

    session = await start(runtime, places[0], script)
    events = await collect(runtime, session.id, on_event=on_event)
    assert asked == ["make lint", "make deploy"]  # the second make lint ran without asking
    assert await runtime.store.allowed_tools(session.id) == ["bash:make lint"]
    rules = [c.policy.rule for c in calls_of(events)]
    assert rules == ["mode:default", "session:bash:make lint", "mode:default"]


async def test_a_bad_policy_file_fails_the_turn_with_a_clear_error(runtime, places):
    bad = places[2] / "policy.toml"
    bad.write_text("[[rules]]\noutcome = 'allow'\ncommand = 'ls'\n[[rules]]\noutcome = 'allow'\n")
    script = Script([("bash", {"command": "ls"})], "ok")
    session = await start(runtime, places[0], script)
    events = await collect(runtime, session.id)
    assert events[-1].type == "turn.failed" and events[-1].error.code == "policy_error"
    assert events[-1].error.message == f"{bad}: rule 2: give a scope: tool, command, path, domain or mcp"


async def test_tools_list_shows_the_policy(runtime, places):
    from cowork.protocol import rpc
    from cowork.server.auth import Caller
    from cowork.server.methods import Service

    session = await runtime.create_session(places[0], MODEL, "accept-edits")
    result = await Service(runtime).tools_list(rpc.ToolsListParams(session_id=session.id), Caller(read_only=False))
    permission = {t.name: t.permission for t in result.tools}
    assert permission["read"] == "allow" and permission["bash"] == "ask"


# -- resuming after a restart -------------------------------------------------------------------------

def _events(*specs):
    ids = {"session_id": "ses_x", "turn_id": "turn_x", "ts": datetime.now(UTC)}
    return [kind(**ids, seq=n, **fields) for n, (kind, fields) in enumerate(specs, 1)]


def _call(n: int, status: str = "pending") -> ToolCall:
    return ToolCall(id=f"item_{n}", call_id=f"call_{n}", name="bash", arguments={"command": f"c{n}"}, status=status)


def _asked(n: int) -> tuple:
    return ApprovalRequested, {"approval_id": f"apr_{n}", "item_id": f"item_{n}", "tool": "bash",
                               "arguments": {"command": f"c{n}"}, "reason": "r"}


def _answered(n: int) -> tuple:
    return ApprovalResolved, {"approval_id": f"apr_{n}", "item_id": f"item_{n}", "decision": "once"}


def test_recovery_resumes_a_turn_waiting_on_its_first_unfinished_call():
    events = _events((ItemStarted, {"item": _call(1)}), (ItemStarted, {"item": _call(2)}),
                     (ItemStarted, {"item": _call(3)}), _asked(1), _asked(2), _asked(3), _answered(1),
                     (ItemCompleted, {"item": _call(1, "completed")}), _answered(3))
    resume = recovery.pending_approval(events)
    assert resume is not None
    assert set(resume.done) == {"call_1"} and set(resume.pending) == {"call_2"} and set(resume.answered) == {"call_3"}
    assert resume.items["call_2"].status == "awaiting_approval"


@pytest.mark.parametrize("tail", [
    [_answered(1)],  # answered: it may have been running, so it is never run again
    [],  # call 1 needed no approval: it was running
])
def test_recovery_does_not_resume_a_call_that_may_have_run(tail):
    specs = [(ItemStarted, {"item": _call(1)}), (ItemStarted, {"item": _call(2)}), _asked(2)]
    if tail:
        specs.insert(2, _asked(1))
    assert recovery.pending_approval(_events(*specs, *tail)) is None


async def test_pending_and_answered_approvals_survive_a_restart(places, tmp_path):
    """A turn waiting on the first of two approvals (the second already answered) is left waiting
    by a shutdown and resumed by the next start, over the scripted model server (real HTTP)."""
    from fakemodel import FakeModelServer, reply, text, tool_call

    ws = places[0]
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    with FakeModelServer() as fake:
        fake.script(reply(tool_call("write", {"path": "a.txt", "content": "1"}, id="call_a"),
                          tool_call("write", {"path": "b.txt", "content": "2"}, id="call_b")),
                    reply(text("written")))
        rt = await Runtime.open(url, settings=SETTINGS, openai_base_url=fake.base_url)
        asked: list[str] = []
        second_answered = asyncio.Event()

        def on_event(ev):
            if ev.type == "approval.requested":
                asked.append(ev.approval_id)
                if len(asked) == 2:
                    rt.respond_approval(asked[1], "once")  # the second, while the turn waits on the first
            elif ev.type == "approval.resolved":
                second_answered.set()

        session = await rt.create_session(ws, "openai:fake", "default")
        await rt.start_turn(session.id, "write two files")
        follow = asyncio.ensure_future(collect(rt, session.id, on_event=on_event))
        await asyncio.wait_for(second_answered.wait(), 10)
        follow.cancel()
        await rt.close()
        assert not (ws / "a.txt").exists() and not (ws / "b.txt").exists()

        rt = await Runtime.open(url, settings=SETTINGS, openai_base_url=fake.base_url)
        try:
            with pytest.raises(LookupError):
                rt.respond_approval(asked[1], "once")  # answered before the restart: kept, not asked again
            rt.respond_approval(asked[0], "once")
            await asyncio.wait_for(rt.wait(session.id), 10)
            events = await collect(rt, session.id)
            assert [e.type for e in events].count("approval.requested") == 2
            assert [e.approval_id for e in events if e.type == "approval.resolved"] == [asked[1], asked[0]]
            assert (ws / "a.txt").read_text() == "1" and (ws / "b.txt").read_text() == "2"
            assert events[-1].type == "turn.completed"
        finally:
            await rt.close()
