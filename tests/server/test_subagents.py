"""Subagents over the real server: a turn fans out to child sessions whose approvals reach every
client, under the same safety (tools, mode, budgets, interrupts, restarts). The scripted model
answers each request by who is asking: a subagent's requests carry the subagent preamble."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from cowork.config import EngineSettings

from fakemodel import reply, system_text, text, tool_call, tool_texts
from fanout_script import TASKS, fan_out
from fanout_script import is_subagent as _is_child
from server_support import FAST, TERMINAL, Rpc, running_server

async def _subagents(server, session_id: str) -> list[Any]:
    """The subagents' sessions of ``session_id`` (``session/list`` with ``parentSessionId``, from the store)."""
    return (await server.runtime.store.list_sessions(parent=session_id))[0]


async def _answer_agents(rpc: Rpc, n: int, decision: str = "once") -> list[dict[str, Any]]:
    """Answer the first ``n`` subagent approvals seen in the parent's stream."""
    answered: list[dict[str, Any]] = []
    while len(answered) < n:
        ev = await rpc.wait_event(lambda e: e["type"] == "approval.requested" and e.get("agent")
                                  and e["approval_id"] not in {a["approval_id"] for a in answered}, timeout=20)
        await rpc.ok("approval/respond", {"approvalId": ev["approval_id"], "decision": decision})
        answered.append(ev)
    return answered


async def test_three_subagents_in_parallel_have_their_approvals_answered_by_a_second_client(server, fake, workspace):
    fake.handler = fan_out()
    async with Rpc.open(server.ws_url) as a, Rpc.open(server.ws_url) as b:
        sid = await a.create_session(workspace)
        await b.ok("session/subscribe", {"sessionId": sid})
        turn_id = await a.start(sid, "Fan out the three writes")
        asked = await _answer_agents(b, 3)
        end = await b.wait_event(lambda e: e["type"] in TERMINAL and e["session_id"] == sid, timeout=30)
    assert end["type"] == "turn.completed", end
    # all three were waiting at once: the approvals were requested before any was answered
    assert {e["agent"]["task"] for e in asked} == set(TASKS.values())
    assert all(e["turn_id"] == turn_id and e["tool"] == "bash" for e in asked)
    for name in TASKS:
        assert (workspace / f"{name}.txt").read_text() == f"{name}\n"
    children = await _subagents(server, sid)
    assert len(children) == 3
    for child in children:
        assert child.parent is not None and child.parent.parent_session_id == sid
        assert child.parent.parent_turn_id == turn_id and child.workspace == str(workspace)
        assert "spawn_agent" not in child.parent.tools and "bash" in child.parent.tools
        # its own journal holds its work and the approval it asked for
        types = [e.type for e in await server.runtime.store.events_after(child.id, 0)]
        assert "approval.requested" in types and types[-1] == "turn.completed"
    updates = [e for e in b.events if e["type"] == "subagent.updated"]
    for child in children:
        statuses = [e["status"] for e in updates if e["agent"]["session_id"] == child.id]
        assert statuses == ["running", "waiting_approval", "running", "completed"], statuses
        done = [e for e in updates if e["agent"]["session_id"] == child.id][-1]
        assert "report" in done["result"] and done["usage"]["requests"] == 2
    # the parent's wait_agents result carried the three reports, and its usage counts the children
    wait_result = [r for r in tool_texts(fake.requests[-1]) if "report: wrote" in r]
    assert len(wait_result) == 1 and all(f"{n} report" in wait_result[0] for n in TASKS)
    assert end["usage"]["requests"] == 3 + 3 * 2
    # sessions list shows the parent only; a child opens like any session
    listed = [s["id"] for s in (await _list(server))]
    assert listed == [sid]


async def _list(server) -> list[dict[str, Any]]:
    async with Rpc.open(server.ws_url) as c:
        return (await c.ok("session/list", {}))["sessions"]


async def test_a_subagent_gets_no_tool_its_parent_lacks(server, fake, workspace):
    def handler(body: dict) -> Any:
        results = tool_texts(body)
        if _is_child(body):
            if not results:
                return reply(tool_call("bash", {"command": "echo no > no.txt"}))
            return reply(text("child done"))
        if not results:  # propose_plan is offered in plan mode only: the parent does not have it
            return reply(tool_call("spawn_agent", {"task": "try", "tools": ["propose_plan", "read"]}))
        if len(results) == 1:
            return reply(tool_call("spawn_agent", {"task": "try", "mode": "default"}))
        if len(results) == 2:
            return reply(tool_call("spawn_agent", {"task": "try", "tools": ["read"]}))
        if len(results) == 3:
            return reply(tool_call("wait_agents", {}))
        return reply(text("ok"))
    fake.handler = handler
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, mode="read-only")
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "delegate")
        end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["session_id"] == sid, timeout=20)
    assert end["type"] == "turn.completed"
    results = tool_texts(fake.requests[-1])
    assert "subset of its parent's: propose_plan is not among yours" in results[0]
    assert "mode is its parent's or stricter" in results[1]
    assert "Started subagent" in results[2]
    children = await _subagents(server, sid)
    assert len(children) == 1 and children[0].parent.tools == ["read"] and children[0].mode == "read-only"
    # the child asked for bash anyway: refused as a tool it does not have, nothing ran
    child_requests = [r for r in fake.requests if _is_child(r)]
    assert [t["function"]["name"] for t in child_requests[0]["tools"]] == ["read"]
    assert "Unknown tool 'bash'" in tool_texts(child_requests[1])[0]
    assert not (workspace / "no.txt").exists()
    async with Rpc.open(server.ws_url) as c:
        listed = (await c.ok("tools/list", {"sessionId": children[0].id}))["tools"]
        assert [t["name"] for t in listed] == ["read"]  # tools/list shows a subagent only what it was given
        parents = {t["name"]: t for t in (await c.ok("tools/list", {"sessionId": sid}))["tools"]}
        assert parents["spawn_agent"]["turnOnly"] is True and parents["read"]["turnOnly"] is False
        called = await c.ok("tool/call", {"sessionId": sid, "name": "spawn_agent", "arguments": {"task": "x"}})
        assert called["item"]["status"] == "failed" and "only in a model's turn" in called["item"]["output"]


async def test_interrupting_the_parent_stops_its_subagents(server, fake, workspace):
    fake.handler = fan_out()
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "Fan out")
        for _ in range(3):  # all three wait for a person
            await c.wait_event(lambda e: e["type"] == "subagent.updated" and e["status"] == "waiting_approval"
                               and sum(1 for x in c.events if x["type"] == "subagent.updated"
                                       and x["status"] == "waiting_approval") >= 3, timeout=20)
        await c.ok("turn/interrupt", {"sessionId": sid})
        end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["session_id"] == sid, timeout=20)
    assert end["type"] == "turn.interrupted"
    ended = [e for e in c.events if e["type"] == "subagent.updated" and e["status"] == "interrupted"]
    assert len(ended) == 3 and all("parent turn was stopped" in e["result"] for e in ended)
    assert c.events.index(ended[-1]) < c.events.index(end)  # the children end inside the parent's turn
    for child in await _subagents(server, sid):
        assert child.status == "idle"
        last = (await server.runtime.store.events_after(child.id, 0))[-1]
        assert last.type == "turn.interrupted"
    assert not any((workspace / f"{n}.txt").exists() for n in TASKS)  # denied by nobody, run by nobody


async def test_spawning_with_pre_granted_rules_asks_once_and_the_subagents_run_without_asking(server, fake, workspace):
    fake.handler = fan_out({"allow": ["path:*.txt"]})
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "Fan out")
        answered: set[str] = set()
        for _ in range(3):
            ev = await c.wait_event(lambda e: e["type"] == "approval.requested" and not e.get("agent")
                                    and e["approval_id"] not in answered, timeout=20)
            answered.add(ev["approval_id"])
            assert ev["tool"] == "spawn_agent" and "path:*.txt" in ev["reason"]
            await c.ok("approval/respond", {"approvalId": ev["approval_id"], "decision": "once"})
        end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["session_id"] == sid, timeout=30)
    assert end["type"] == "turn.completed"
    assert not [e for e in c.events if e["type"] == "approval.requested" and e.get("agent")]
    for name in TASKS:
        assert (workspace / f"{name}.txt").exists()


async def test_a_defined_agent_is_spawned_by_name(server, fake, workspace):
    agents = workspace / ".cowork" / "agents"
    agents.mkdir(parents=True)
    (agents / "reviewer.md").write_text("---\nname: reviewer\ndescription: Reviews changes.\ntools: read, grep\n"
                                        "mode: read-only\nmodel: openai:elsewhere\n---\n"
                                        "You review code and never change it.\n")
    (agents / "broken.md").write_text("no front matter\n")

    def handler(body: dict) -> Any:
        results = tool_texts(body)
        if _is_child(body):
            return reply(text("looks fine"))
        if not results:
            return reply(tool_call("spawn_agent", {"agent": "reviewer", "task": "Review the change"}))
        if len(results) == 1:
            return reply(tool_call("wait_agents", {}))
        return reply(text("reviewed"))
    fake.handler = handler
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "review")
        await c.wait_event(lambda e: e["type"] in TERMINAL and e["session_id"] == sid, timeout=20)
    assert "reviewer: Reviews changes." in system_text(fake.requests[0])  # the parent is told it exists
    child_request = next(r for r in fake.requests if _is_child(r))
    assert "You review code and never change it." in system_text(child_request)
    assert sorted(t["function"]["name"] for t in child_request["tools"]) == ["grep", "read"]
    (child,) = await _subagents(server, sid)
    assert child.parent.agent == "reviewer" and child.mode == "read-only"
    assert child.model == "openai:fake"  # an untrusted workspace's agent file does not pick the model
    assert "looks fine" in tool_texts(fake.requests[-1])[-1]


async def _fan_out_with(tmp_path: Path, fake, workspace: Path, settings: EngineSettings) -> list[dict[str, Any]]:
    async with running_server(tmp_path / f"cowork-{settings.turn_max_tokens}.db", fake.base_url, settings) as server:
        async with Rpc.open(server.ws_url) as c:
            sid = await c.create_session(workspace, mode="yolo")
            await c.ok("session/subscribe", {"sessionId": sid})
            await c.start(sid, "Fan out")
            await c.wait_event(lambda e: e["type"] in TERMINAL and e["session_id"] == sid, timeout=30)
            return [e for e in c.events if e["session_id"] == sid]


async def test_subagents_spend_the_parents_budget(tmp_path, fake, workspace, monkeypatch):
    monkeypatch.setenv("COWORK_HOME", str(tmp_path / "home"))
    fake.handler = fan_out()
    free = await _fan_out_with(tmp_path, fake, workspace, FAST)
    end = free[-1]
    assert end["type"] == "turn.completed"
    children = sum(e["usage"]["input_tokens"] + e["usage"]["output_tokens"]
                   for e in free if e["type"] == "subagent.updated" and e["status"] == "completed")
    total = end["usage"]["input_tokens"] + end["usage"]["output_tokens"]
    own = total - children
    assert children > 0 and end["usage"]["requests"] == 3 + 3 * 2
    # a limit the parent alone stays under, but not with its subagents
    limited = await _fan_out_with(tmp_path, fake, workspace, replace(FAST, turn_max_tokens=own + children // 2))
    end = limited[-1]
    assert end["type"] == "turn.failed" and end["error"]["code"] == "budget_exceeded", end
    assert "turn tokens budget reached" in end["error"]["message"]


async def test_kill_9_while_subagents_run_leaves_every_session_interrupted_and_resumable(serve, fake, workspace):
    fake.handler = fan_out()
    served = await serve()
    async with Rpc.open(served.ws_url) as c:
        sid = await c.create_session(workspace)
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "Fan out")
        await c.wait_event(lambda e: e["type"] == "subagent.updated" and e["status"] == "waiting_approval"
                           and sum(1 for x in c.events if x["type"] == "subagent.updated"
                                   and x["status"] == "waiting_approval") >= 3, timeout=20)
        children = sorted({e["agent"]["session_id"] for e in c.events if e["type"] == "subagent.updated"})
    assert await served.stop(9) == -9
    again = await serve()
    fake.handler = lambda body: reply(text("fresh start"))
    async with Rpc.open(again.ws_url) as c:
        for session_id in [sid, *children]:
            info = (await c.ok("session/get", {"sessionId": session_id}))["session"]
            assert info["status"] == "idle", info
            await c.ok("session/subscribe", {"sessionId": session_id})
            await c.wait_event(lambda e: e["type"] in TERMINAL and e["session_id"] == session_id)
            ends = [e["type"] for e in c.events if e["type"] in TERMINAL and e["session_id"] == session_id]
            assert ends == ["turn.interrupted"], session_id
            turn_id = await c.start(session_id, "go on")  # resumable: a new turn starts and completes
            end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn_id, timeout=20)
            assert end["type"] == "turn.completed", end
    await again.stop()


async def test_a_subagent_on_another_model_waits_for_a_person(server, fake, workspace):
    def handler(body: dict) -> Any:
        results = tool_texts(body)
        if _is_child(body):
            return reply(text("done elsewhere"))
        if not results:
            return reply(tool_call("spawn_agent", {"task": "summarise", "model": "openai:bigger"}))
        if len(results) == 1:
            return reply(tool_call("wait_agents", {}))
        return reply(text("ok"))
    fake.handler = handler
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, mode="yolo")  # even in yolo: a person chooses where data goes
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "delegate")
        asked = await c.wait_type("approval.requested", sid)
        assert asked["tool"] == "spawn_agent" and "would run on openai:bigger" in asked["reason"]
        assert asked["options"] == ["once", "deny"]
        await c.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "deny"})
        end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["session_id"] == sid, timeout=20)
    assert end["type"] == "turn.completed"
    assert await _subagents(server, sid) == []  # denied: nothing was started
