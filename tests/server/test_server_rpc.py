"""Conformance of the JSON-RPC transport: every method, every error, over a real WebSocket."""

from __future__ import annotations

import asyncio
import json

from fakemodel import reply, text, tool_call
from server_support import MODEL, TERMINAL, Rpc, seqs

from cowork.protocol.rpc import METHODS, ErrorCode


async def test_initialize_comes_first(server):
    async with Rpc.open(server.ws_url, initialize=False) as c:
        assert (await c.error("session/list"))["code"] == ErrorCode.NOT_INITIALIZED
        bad = await c.error("initialize", {"protocolVersion": "99", "clientInfo": {"name": "t"}})
        assert bad["code"] == ErrorCode.INVALID_PARAMS and bad["data"] == {"supported": ["1"]}
        result = await c.ok("initialize", {"protocolVersion": "1", "clientInfo": {"name": "t", "version": "0"}})
        assert result["protocolVersion"] == "1" and result["serverInfo"]["name"] == "cowork"
        assert result["capabilities"]["methods"] == list(METHODS)
        assert result["capabilities"]["readOnly"] is False
        assert (await c.error("initialize", {"protocolVersion": "1", "clientInfo": {"name": "t"}}))["code"] == (
            ErrorCode.INVALID_REQUEST)


async def test_session_methods(server, workspace, tmp_path):
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, title="first", mode="yolo")
        got = (await c.ok("session/get", {"sessionId": sid}))["session"]
        assert got["title"] == "first" and got["mode"] == "yolo" and got["workspace"] == str(workspace)
        assert got["model"] == MODEL and got["status"] == "idle" and got["last_seq"] == 0

        updated = (await c.ok("session/update", {"sessionId": sid, "title": "renamed", "mode": "read-only"}))["session"]
        assert updated["title"] == "renamed" and updated["mode"] == "read-only"

        ids = [sid] + [await c.create_session(workspace) for _ in range(4)]
        page = await c.ok("session/list", {"limit": 2})
        seen = [s["id"] for s in page["sessions"]]
        while page["nextCursor"]:
            page = await c.ok("session/list", {"limit": 2, "cursor": page["nextCursor"]})
            seen += [s["id"] for s in page["sessions"]]
        assert seen == list(reversed(ids))  # newest first, every one exactly once
        other = tmp_path / "other"
        other.mkdir()
        await c.create_session(other)
        only = await c.ok("session/list", {"workspace": str(other)})
        assert [s["workspace"] for s in only["sessions"]] == [str(other)]
        assert (await c.error("session/list", {"cursor": "garbage"}))["code"] == ErrorCode.INVALID_PARAMS

        spaces = (await c.ok("workspace/list"))["workspaces"]
        assert [w["path"] for w in spaces] == [str(other), str(workspace)]
        assert spaces[1]["sessionCount"] == 5

        assert await c.ok("session/delete", {"sessionId": sid}) == {}
        assert (await c.error("session/get", {"sessionId": sid}))["code"] == ErrorCode.NOT_FOUND
        assert (await c.error("session/delete", {"sessionId": sid}))["code"] == ErrorCode.NOT_FOUND


async def test_session_create_errors(server, workspace, tmp_path):
    async with Rpc.open(server.ws_url) as c:
        assert (await c.error("session/create", {"workspace": "relative/dir"}))["code"] == ErrorCode.INVALID_PARAMS
        missing = await c.error("session/create", {"workspace": str(tmp_path / "nope")})
        assert missing["code"] == ErrorCode.NOT_FOUND
        bad_mode = await c.error("session/create", {"workspace": str(workspace), "mode": "chaos"})
        assert bad_mode["code"] == ErrorCode.INVALID_PARAMS and "mode" in bad_mode["message"]
        no_key = await c.error("session/create", {"workspace": str(workspace), "model": "anthropic:claude"})
        assert no_key["code"] == ErrorCode.MODEL_CONFIG and "ANTHROPIC_API_KEY" in no_key["message"]
        bad_model = await c.error("session/create", {"workspace": str(workspace), "model": "no-provider"})
        assert bad_model["code"] == ErrorCode.MODEL_CONFIG


async def test_wrong_params(server, workspace):
    async with Rpc.open(server.ws_url) as c:
        wrong_type = await c.error("session/get", {"sessionId": 42})
        assert wrong_type["code"] == ErrorCode.INVALID_PARAMS and wrong_type["data"][0]["loc"] == ["sessionId"]
        assert (await c.error("session/get", {}))["code"] == ErrorCode.INVALID_PARAMS
        typo = await c.error("session/get", {"sessionId": "x", "sesionId": "y"})
        assert typo["code"] == ErrorCode.INVALID_PARAMS and "sesionId" in typo["message"]
        assert (await c.error("session/get", ["positional"]))["code"] == ErrorCode.INVALID_PARAMS
        sid = await c.create_session(workspace)
        empty = await c.error("turn/start", {"sessionId": sid, "input": []})
        assert empty["code"] == ErrorCode.INVALID_PARAMS
        image = await c.error("turn/start", {"sessionId": sid, "input": [{"type": "image", "url": "x"}]})
        assert image["code"] == ErrorCode.INVALID_PARAMS
        blank = await c.error("turn/start", {"sessionId": sid, "input": [{"type": "text", "text": "  "}]})
        assert blank["code"] == ErrorCode.INVALID_PARAMS
        decision = await c.error("approval/respond", {"approvalId": "a", "decision": "maybe"})
        assert decision["code"] == ErrorCode.INVALID_PARAMS
        assert (await c.error("no/such/method"))["code"] == ErrorCode.METHOD_NOT_FOUND


async def test_subscribe_replays_then_follows(server, fake, workspace):
    fake.script(reply(text("first answer")), reply(text("second answer")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)
        first = await c.start(sid, "one")
        await c.ok("session/subscribe", {"sessionId": sid, "afterSeq": 0})
        done = await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == first)
        assert done["type"] == "turn.completed"
    async with Rpc.open(server.ws_url) as c:
        last = (await c.ok("session/get", {"sessionId": sid}))["session"]["last_seq"]
        sub = await c.ok("session/subscribe", {"sessionId": sid, "afterSeq": 3})
        assert sub == {"lastSeq": last}
        second = await c.start(sid, "two")
        await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == second)
        got = seqs(c.events, sid)
        assert got == list(range(4, got[-1] + 1))  # replay from 4, then live, no gap, no duplicate
        answer = [e for e in c.events if e["type"] == "item.completed" and e["item"]["type"] == "assistant_message"]
        assert [a["item"]["text"] for a in answer] == ["first answer", "second answer"]
        assert await c.ok("session/unsubscribe", {"sessionId": sid}) == {}
        n = len(c.events)
        fake.script(reply(text("unseen")))
        third = await c.start(sid, "three")
        await server.runtime.wait(sid)
        await asyncio.sleep(0.1)
        assert len(c.events) == n, "unsubscribed, yet events kept coming"
        assert third not in {e["turn_id"] for e in c.events}
        assert (await c.error("session/subscribe", {"sessionId": "ses_nope"}))["code"] == ErrorCode.NOT_FOUND


async def test_many_clients_watch_one_session(server, fake, workspace):
    fake.script(reply(text("x" * 400, chunk_size=2)))
    async with Rpc.open(server.ws_url) as a, Rpc.open(server.ws_url) as b:
        sid = await a.create_session(workspace)
        await a.ok("session/subscribe", {"sessionId": sid})
        await b.ok("session/subscribe", {"sessionId": sid})
        turn = await a.start(sid, "go")
        for c in (a, b):
            await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        assert seqs(a.events, sid) == seqs(b.events, sid) == list(range(1, len(a.events) + 1))


async def test_disconnect_does_not_cancel_the_turn(server, fake, workspace):
    fake.script(reply(text("slow " * 20, chunk_size=5), delay=0.02))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)
        await c.ok("session/subscribe", {"sessionId": sid})
        turn = await c.start(sid, "go")
        await c.wait_type("item.delta")
    await asyncio.wait_for(server.runtime.wait(sid), 10)
    async with Rpc.open(server.ws_url) as c:
        await c.ok("session/subscribe", {"sessionId": sid})
        done = await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        assert done["type"] == "turn.completed"


async def test_resume_after_dropped_connection(server, fake, workspace):
    fake.script(reply(text("word " * 200, chunk_size=3), delay=0.002))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)
        await c.ok("session/subscribe", {"sessionId": sid})
        turn = await c.start(sid, "go")
        await c.wait_event(lambda e: e["seq"] >= 20)
        before = list(c.events)
    # the connection is gone mid-stream; a new one resumes after the last seq it saw
    async with Rpc.open(server.ws_url) as c:
        await c.ok("session/subscribe", {"sessionId": sid, "afterSeq": before[-1]["seq"]})
        await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        joined = seqs(before, sid) + seqs(c.events, sid)
        assert joined == list(range(1, joined[-1] + 1))
        deltas = "".join(e["delta"] for e in before + c.events if e["type"] == "item.delta")
        assert deltas == "word " * 200


async def test_event_batches_only_for_clients_that_ask(server, fake, workspace):
    fake.script(reply(text("word " * 300, chunk_size=2)))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)
        await c.ok("session/subscribe", {"sessionId": sid})
        turn = await c.start(sid, "go")
        await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        assert c.batch_frames == 0  # it did not ask: one notification per frame
        last = c.events[-1]["seq"]
    async with Rpc.open(server.ws_url, initialize=False) as c:
        init = await c.ok("initialize", {"protocolVersion": "1", "clientInfo": {"name": "t"},
                                         "capabilities": {"eventBatches": True}})
        assert init["capabilities"]["eventBatches"] is True
        await c.ok("session/subscribe", {"sessionId": sid, "afterSeq": 3})
        await c.wait_event(lambda e: e["seq"] == last)
        assert seqs(c.events, sid) == list(range(4, last + 1))  # in order, no gap, no duplicate
        assert 1 <= c.batch_frames < last / 2  # the replay came in a few batches, not event by event


async def test_turn_start_idempotent_and_refused_while_running(server, fake, workspace):
    fake.script(reply(text("slow", chunk_size=1), delay=0.3))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)
        params = {"sessionId": sid, "input": [{"type": "text", "text": "hello"}], "clientMessageId": "m-1"}
        first = await c.ok("turn/start", params)
        assert first["replayed"] is False
        again = await c.ok("turn/start", params)
        assert again == {"turnId": first["turnId"], "replayed": True}
        conflict = await c.error("turn/start", {**params, "input": [{"type": "text", "text": "other"}]})
        assert conflict["code"] == ErrorCode.CLIENT_MESSAGE_CONFLICT
        busy = await c.error("turn/start", {"sessionId": sid, "input": [{"type": "text", "text": "more"}]})
        assert busy["code"] == ErrorCode.TURN_IN_PROGRESS
        deleting = await c.error("session/delete", {"sessionId": sid})
        assert deleting["code"] == ErrorCode.TURN_IN_PROGRESS
        await asyncio.to_thread(fake.wait_for_requests, 1)
        assert await c.ok("turn/interrupt", {"sessionId": sid}) == {"interrupted": True}
        assert await c.ok("turn/interrupt", {"sessionId": sid}) == {"interrupted": False}
        assert (await c.error("turn/interrupt", {"sessionId": "ses_nope"}))["code"] == ErrorCode.NOT_FOUND
        assert (await c.error("turn/start", {**params, "sessionId": "ses_nope"}))["code"] == ErrorCode.NOT_FOUND
        await c.ok("session/subscribe", {"sessionId": sid})
        ended = await c.wait_event(lambda e: e["type"] in TERMINAL)
        assert ended["type"] == "turn.interrupted" and ended["turn_id"] == first["turnId"]
        assert len(fake.requests) == 1  # the replayed call started nothing


async def test_steer_reaches_the_model_in_the_running_turn(server, fake, workspace):
    fake.script(reply(tool_call("bash", {"command": "sleep 0.5; echo done"})), reply(text("ok, noted")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, mode="yolo")
        await c.ok("session/subscribe", {"sessionId": sid})
        assert (await c.error("turn/steer", {"sessionId": sid, "input": [{"type": "text", "text": "x"}]}))["code"] == (
            ErrorCode.NO_RUNNING_TURN)
        turn = await c.start(sid, "run something")
        await c.wait_event(lambda e: e["type"] == "item.started" and e["item"]["type"] == "tool_call")
        steered = await c.ok("turn/steer", {"sessionId": sid, "input": [{"type": "text", "text": "also: be brief"}]})
        assert steered == {"turnId": turn}
        await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        users = [e["item"]["text"] for e in c.events if e["type"] == "item.completed"
                 and e["item"]["type"] == "user_message"]
        assert users == ["run something", "also: be brief"]
        second = fake.requests[1]["messages"]
        # the tool's result, then the steered message as the newest user message
        assert [m["role"] for m in second[-2:]] == ["tool", "user"], second[-2:]
        assert second[-1] == {"role": "user", "content": "also: be brief"}


async def test_two_clients_race_to_answer_one_approval(server, fake, workspace):
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "hi"})), reply(text("written")))
    async with Rpc.open(server.ws_url) as a, Rpc.open(server.ws_url) as b:
        sid = await a.create_session(workspace)  # default mode: write asks
        for c in (a, b):
            await c.ok("session/subscribe", {"sessionId": sid})
        await a.start(sid, "write a file")
        asked = await b.wait_type("approval.requested")
        params = {"approvalId": asked["approval_id"], "decision": "once"}
        answers = await asyncio.gather(a.call("approval/respond", params), b.call("approval/respond", {
            **params, "decision": "deny"}))
        wins = [x for x in answers if "result" in x]
        losses = [x for x in answers if "error" in x]
        assert len(wins) == 1 and len(losses) == 1
        assert losses[0]["error"]["code"] == ErrorCode.APPROVAL_NOT_PENDING
        for c in (a, b):
            resolved = await c.wait_type("approval.resolved")
            assert resolved["approval_id"] == asked["approval_id"]
            await c.wait_event(lambda e: e["type"] in TERMINAL)
        decided = resolved["decision"]
        assert (workspace / "a.txt").exists() == (decided == "once")
        unknown = await a.error("approval/respond", {"approvalId": "apr_nope", "decision": "once"})
        assert unknown["code"] == ErrorCode.APPROVAL_NOT_PENDING


async def test_pending_approval_is_seen_by_a_late_subscriber(server, fake, workspace):
    fake.script(reply(tool_call("bash", {"command": "echo hi > b.txt"})), reply(text("done")))
    async with Rpc.open(server.ws_url) as a:
        sid = await a.create_session(workspace)
        await a.start(sid, "go")
        for _ in range(100):
            if server.runtime.approvals._pending:
                break
            await asyncio.sleep(0.02)
    async with Rpc.open(server.ws_url) as late:
        await late.ok("session/subscribe", {"sessionId": sid})
        asked = await late.wait_type("approval.requested")
        await late.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "session"})
        assert (await late.wait_event(lambda e: e["type"] in TERMINAL))["type"] == "turn.completed"
        assert asked["suggestion"] == ["path:b.txt"]  # the narrowest pattern: this redirection, not all of bash
        assert await server.runtime.store.allowed_tools(sid) == ["path:b.txt"]  # "session" was remembered
        tools = (await late.ok("tools/list", {"sessionId": sid}))["tools"]
        assert {t["name"]: t["permission"] for t in tools}["bash"] == "ask"  # other commands still ask
    assert (workspace / "b.txt").read_text() == "hi\n"


async def test_fork_copies_the_conversation(server, fake, workspace):
    fake.script(reply(text("one")), reply(text("two")), reply(text("after fork")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, title="orig")
        await c.ok("session/subscribe", {"sessionId": sid})
        t1 = await c.start(sid, "first")
        await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == t1)
        t2 = await c.start(sid, "second")
        await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == t2)
        fork = (await c.ok("session/fork", {"sessionId": sid, "turnId": t1}))["session"]
        assert fork["id"] != sid and fork["workspace"] == str(workspace) and fork["title"] == "orig (fork)"
        await c.ok("session/subscribe", {"sessionId": fork["id"]})
        t3 = await c.start(fork["id"], "third")
        await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == t3)
        texts = [e["item"]["text"] for e in c.events if e["session_id"] == fork["id"]
                 and e["type"] == "item.completed" and e["item"]["type"] in ("user_message", "assistant_message")]
        assert texts == ["first", "one", "third", "after fork"]
        sent = json.dumps(fake.requests[-1]["messages"])
        assert "first" in sent and "second" not in sent  # the model sees the forked history only
        whole = (await c.ok("session/fork", {"sessionId": sid}))["session"]
        assert whole["last_seq"] == (await c.ok("session/get", {"sessionId": sid}))["session"]["last_seq"]
        assert (await c.error("session/fork", {"sessionId": sid, "turnId": "turn_nope"}))["code"] == ErrorCode.NOT_FOUND


async def test_models_and_tools(server, workspace):
    async with Rpc.open(server.ws_url) as c:
        models = await c.ok("models/list")
        assert models["default"] in [m["model"] for m in models["models"]]
        assert sum(m["default"] for m in models["models"]) == 1
        tools = (await c.ok("tools/list"))["tools"]
        names = {t["name"] for t in tools}
        assert {"bash", "read", "write", "edit", "glob", "grep", "web_fetch", "todo_write"} <= names
        assert all(t["permission"] is None and t["parameters"]["type"] == "object" for t in tools)
        sid = await c.create_session(workspace, mode="read-only")
        perms = {t["name"]: t["permission"] for t in (await c.ok("tools/list", {"sessionId": sid}))["tools"]}
        assert perms["read"] == "allow" and perms["write"] == "deny" and perms["bash"] == "deny"
        assert (await c.error("tools/list", {"sessionId": "ses_nope"}))["code"] == ErrorCode.NOT_FOUND
