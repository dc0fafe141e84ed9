"""Plan mode over the protocol: a real server and store, the scripted model (fakemodel) proposing
a plan with ``propose_plan``; the person approves, edits or rejects it with ``approval/respond``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fakemodel import reply, text, tool_call
from server_support import TERMINAL, Rpc

from cowork.protocol.rpc import ErrorCode
from cowork.tools.plan import APPROVED

STEPS = ["Read notes.txt", "Write out.txt with the summary"]


def offered(request: dict[str, Any]) -> set[str]:
    return {t["function"]["name"] for t in request.get("tools", [])}


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def completed_call(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(e["item"] for e in events if e["type"] == "item.completed" and e["item"].get("name") == name)


def script_plan(fake, steps: list[str] = STEPS) -> None:
    """read → propose_plan → (approved) write → answer."""
    fake.script(reply(tool_call("read", {"path": "notes.txt"})),
                reply(tool_call("propose_plan", {"steps": steps, "summary": "Summarise the notes."})),
                reply(tool_call("write", {"path": "out.txt", "content": "summary\n"})),
                reply(text("Done: out.txt written.")))


async def test_approved_plan_is_carried_out_in_the_same_turn(server, fake, workspace):
    (workspace / "notes.txt").write_text("some notes\n")
    script_plan(fake)
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, mode="plan")
        await c.ok("session/subscribe", {"sessionId": sid})
        tools = {t["name"]: t["permission"] for t in (await c.ok("tools/list", {"sessionId": sid}))["tools"]}
        assert tools["propose_plan"] == "ask" and tools["write"] == "deny"
        turn = await c.start(sid, "summarise notes.txt into out.txt")
        asked = await c.wait_type("approval.requested")
        assert asked["tool"] == "propose_plan" and asked["rule"] == "plan" and asked["options"] == ["once", "deny"]
        assert asked["diff"] == "Summarise the notes.\n\n1. Read notes.txt\n2. Write out.txt with the summary"
        assert not (workspace / "out.txt").exists()
        await c.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "once"})
        # carried out in the default mode: the write asks like any other
        write_asked = await c.wait_event(lambda e: e["type"] == "approval.requested" and e["tool"] == "write")
        assert write_asked["rule"] == "mode:default"
        await c.ok("approval/respond", {"approvalId": write_asked["approval_id"], "decision": "once"})
        end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        assert end["type"] == "turn.completed"
        session = (await c.ok("session/get", {"sessionId": sid}))["session"]
        tools_after = {t["name"] for t in (await c.ok("tools/list", {"sessionId": sid}))["tools"]}
    assert (workspace / "out.txt").read_text() == "summary\n"  # written in the same turn
    assert session["mode"] == "default"  # left plan mode for the default mode
    assert "propose_plan" not in tools_after and "write" in tools_after  # offered in plan mode only
    plan = completed_call(c.events, "propose_plan")
    assert plan["status"] == "completed"
    assert plan["metadata"]["todos"] == [{"content": s, "status": "pending"} for s in STEPS]  # the checklist
    assert plan["metadata"]["plan"]["mode"] == "default" and plan["metadata"]["plan"]["edited"] is False
    write = completed_call(c.events, "write")
    assert write["status"] == "completed"
    requests = fake.requests
    assert "propose_plan" in offered(requests[0]) and "propose_plan" not in offered(requests[2])
    assert tool_messages(requests[2])[-1].startswith(APPROVED)


async def test_edited_plan_replaces_the_steps_and_the_mode_is_the_answers(server, fake, workspace):
    (workspace / "notes.txt").write_text("n\n")
    script_plan(fake)
    edited = ["Read notes.txt again", "Write out.txt", "Say what changed"]
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, mode="plan")
        await c.ok("session/subscribe", {"sessionId": sid})
        turn = await c.start(sid, "go")
        asked = await c.wait_type("approval.requested")
        await c.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "once",
                                        "editedPlan": [f"  {s} " for s in edited], "mode": "yolo"})
        end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        session = (await c.ok("session/get", {"sessionId": sid}))["session"]
    assert end["type"] == "turn.completed"
    assert session["mode"] == "yolo"
    assert [e["type"] for e in c.events].count("approval.requested") == 1  # yolo: the write did not ask
    assert (workspace / "out.txt").exists()
    plan = completed_call(c.events, "propose_plan")
    assert [t["content"] for t in plan["metadata"]["todos"]] == edited
    assert plan["metadata"]["plan"]["edited"] is True and plan["metadata"]["plan"]["steps"] == edited
    seen = tool_messages(fake.requests[2])[-1]
    assert "edited the plan" in seen and "Say what changed" in seen and "Write out.txt with the summary" not in seen


async def test_rejected_plan_changes_nothing_and_stays_in_plan_mode(server, fake, workspace):
    (workspace / "notes.txt").write_text("n\n")
    fake.script(reply(tool_call("propose_plan", {"steps": ["Delete notes.txt"]})),
                reply(tool_call("write", {"path": "notes.txt", "content": "gone"})),
                reply(text("Understood, I will not do that.")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, mode="plan")
        await c.ok("session/subscribe", {"sessionId": sid})
        turn = await c.start(sid, "clean up")
        asked = await c.wait_type("approval.requested")
        await c.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "deny",
                                        "reason": "keep the notes"})
        end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        session = (await c.ok("session/get", {"sessionId": sid}))["session"]
    assert end["type"] == "turn.completed" and session["mode"] == "plan"
    assert (workspace / "notes.txt").read_text() == "n\n"
    rejected = tool_messages(fake.requests[1])[-1]
    assert "rejected the plan" in rejected and "keep the notes" in rejected
    write = completed_call(c.events, "write")  # still plan mode: denied without asking
    assert write["status"] == "denied" and "plan mode" in write["output"]
    assert [e["type"] for e in c.events].count("approval.requested") == 1


async def test_a_write_in_plan_mode_is_denied_before_any_approval(server, fake, workspace):
    fake.script(reply(tool_call("write", {"path": "x.txt", "content": "x"}),
                      tool_call("bash", {"command": "ls"})),
                reply(text("I will propose a plan first.")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, mode="plan")
        await c.ok("session/subscribe", {"sessionId": sid})
        turn = await c.start(sid, "write x")
        await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
    assert not any(e["type"] == "approval.requested" for e in c.events)
    write = completed_call(c.events, "write")
    assert write["status"] == "denied" and write["policy"]["rule"] == "mode:plan"
    assert "propose your plan" in write["output"]
    assert completed_call(c.events, "bash")["status"] == "completed"  # a built-in read-only command runs
    assert not (workspace / "x.txt").exists()


async def test_a_bad_edited_plan_is_invalid_params(server, fake, workspace):
    fake.script(reply(tool_call("propose_plan", {"steps": ["one"]})), reply(text("ok")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, mode="plan")
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "go")
        asked = await c.wait_type("approval.requested")
        aid = asked["approval_id"]
        for bad in ({"editedPlan": []}, {"editedPlan": ["ok", "  "]}, {"editedPlan": ["s"] * 21},
                    {"editedPlan": ["x" * 501]}, {"editedPlan": "one"}, {"mode": "plan"}, {"mode": "sideways"},
                    {"editedPlan": ["a"], "decision": "deny"}):
            error = await c.error("approval/respond", {"approvalId": aid, "decision": "once", **bad})
            assert error["code"] == ErrorCode.INVALID_PARAMS, (bad, error)
        await c.ok("approval/respond", {"approvalId": aid, "decision": "once", "editedPlan": ["fine"]})
        await c.wait_event(lambda e: e["type"] in TERMINAL)
    assert completed_call(c.events, "propose_plan")["metadata"]["todos"] == [{"content": "fine", "status": "pending"}]


async def test_an_edited_plan_for_an_approval_that_is_no_plan_is_refused(server, fake, workspace):
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "a"})), reply(text("ok")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)  # default mode: the write asks
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "go")
        asked = await c.wait_type("approval.requested")
        error = await c.error("approval/respond", {"approvalId": asked["approval_id"], "decision": "once",
                                                   "editedPlan": ["sneaky"]})
        assert error["code"] == ErrorCode.INVALID_PARAMS and "not a plan" in error["message"]
        await c.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "once"})
        await c.wait_event(lambda e: e["type"] in TERMINAL)
    assert (workspace / "a.txt").read_text() == "a"


async def test_the_plan_approval_survives_a_reconnect(server, fake, workspace):
    (workspace / "notes.txt").write_text("n\n")
    script_plan(fake)
    async with Rpc.open(server.ws_url) as a:
        sid = await a.create_session(workspace, mode="plan")
        await a.start(sid, "go")
        for _ in range(200):
            if server.runtime.approvals._pending:
                break
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # nobody is connected: the approval waits (never auto-denied)
    async with Rpc.open(server.ws_url) as late:
        await late.ok("session/subscribe", {"sessionId": sid})
        asked = await late.wait_type("approval.requested")
        assert not any(e["type"] == "approval.resolved" for e in late.events)
        await late.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "once",
                                           "editedPlan": ["Write out.txt"], "mode": "accept-edits"})
        end = await late.wait_event(lambda e: e["type"] in TERMINAL)
        session = (await late.ok("session/get", {"sessionId": sid}))["session"]
    assert end["type"] == "turn.completed" and session["mode"] == "accept-edits"
    assert (workspace / "out.txt").exists()  # accept-edits: the write inside the workspace ran
    resolved = next(e for e in late.events if e["type"] == "approval.resolved")
    assert resolved["decision"] == "once"
    assert json.dumps(completed_call(late.events, "propose_plan")["metadata"]["todos"]) == json.dumps(
        [{"content": "Write out.txt", "status": "pending"}])
