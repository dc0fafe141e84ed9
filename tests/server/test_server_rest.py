"""Conformance of the REST + SSE transport (``/api/v1``): every route, its status codes and error
bodies, and the event stream parsed as a real SSE client does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cowork.skills import agents_md_extension
from fakemodel import hang, reply, text, tool_call
from httpx_sse import aconnect_sse
from server_support import MODEL, TERMINAL

from cowork.protocol import EventAdapter
from cowork.protocol.rpc import ErrorCode
from cowork.protocol.schema import protocol_json_schema


@pytest.fixture
async def api(server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url + "/api/v1", timeout=10) as client:
        yield client


def error_of(answer: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text)
    body = answer.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


async def create(api: httpx.AsyncClient, workspace, **extra: Any) -> str:
    answer = await api.post("/sessions", json={"workspace": str(workspace), "model": MODEL, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()["session"]["id"]


def say(words: str, **extra: Any) -> dict[str, Any]:
    return {"input": [{"type": "text", "text": words}], **extra}


async def sse_events(api: httpx.AsyncClient, sid: str, *, until=None, headers: dict[str, str] | None = None,
                     **params: Any) -> list[dict[str, Any]]:
    """The events of ``GET /sessions/{sid}/events``, checking each SSE field against the event; stops
    at the end of the stream or after the first event for which ``until(event)`` is true."""
    got: list[dict[str, Any]] = []
    async with aconnect_sse(api, "GET", f"/sessions/{sid}/events", params=params, headers=headers or {}) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        async for sse in source.aiter_sse():
            event = sse.json()
            EventAdapter.validate_python(event)  # a whole, valid event
            assert sse.id == str(event["seq"]) and sse.event == event["type"], (sse.id, sse.event, event)
            got.append(event)
            if until is not None and until(event):
                break
    return got


def ended(turn_id: str):
    return lambda e: e["type"] in TERMINAL and e["turn_id"] == turn_id


async def wait_turn(api: httpx.AsyncClient, sid: str, turn_id: str) -> dict[str, Any]:
    """The terminal event of the turn (follows the stream until it comes)."""
    events = await asyncio.wait_for(sse_events(api, sid, until=ended(turn_id)), 10)
    return events[-1]


# -- routes ------------------------------------------------------------------------------------


async def test_health_schema_openapi(server, api):
    health = await api.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["version"]
    schema = await api.get("/schema")
    assert schema.status_code == 200 and schema.json() == json.loads(json.dumps(protocol_json_schema()))
    async with httpx.AsyncClient(base_url=server.url) as root:
        openapi = (await root.get("/openapi.json")).json()
    paths = {(path, method.upper()) for path, ops in openapi["paths"].items() for method in ops}
    expected = {
        ("/api/v1/health", "GET"), ("/api/v1/schema", "GET"),
        ("/api/v1/sessions", "GET"), ("/api/v1/sessions", "POST"),
        ("/api/v1/sessions/{session_id}", "GET"), ("/api/v1/sessions/{session_id}", "PATCH"),
        ("/api/v1/sessions/{session_id}", "DELETE"), ("/api/v1/sessions/{session_id}/fork", "POST"),
        ("/api/v1/sessions/{session_id}/turns", "POST"), ("/api/v1/sessions/{session_id}/steer", "POST"),
        ("/api/v1/sessions/{session_id}/interrupt", "POST"), ("/api/v1/sessions/{session_id}/events", "GET"),
        ("/api/v1/approvals/{approval_id}", "POST"), ("/api/v1/approvals", "POST"),
        ("/api/v1/models", "GET"), ("/api/v1/tools", "GET"), ("/api/v1/workspaces", "GET"),
        ("/api/v1/sessions/{session_id}/checkpoints", "GET"), ("/api/v1/sessions/{session_id}/context", "GET"),
        ("/api/v1/checkpoints/{checkpoint_id}/diff", "GET"),
        ("/api/v1/checkpoints/{checkpoint_id}/restore", "POST"),
        ("/api/v1/sessions/{session_id}/turns/{turn_id}/rewind", "POST"),
        ("/api/v1/keys", "GET"), ("/api/v1/keys/{provider}", "PUT"), ("/api/v1/keys/{provider}", "DELETE"),
        ("/api/v1/status", "GET"), ("/api/v1/runs", "GET"), ("/api/v1/runs", "POST"),
        ("/api/v1/runs/{run_id}", "GET"), ("/api/v1/runs/{run_id}/cancel", "POST"),
        ("/api/v1/schedules", "GET"), ("/api/v1/schedules", "POST"), ("/api/v1/schedules/{schedule_id}", "GET"),
        ("/api/v1/schedules/{schedule_id}", "PATCH"), ("/api/v1/schedules/{schedule_id}", "DELETE"),
        ("/api/v1/schedules/{schedule_id}/run", "POST"), ("/api/v1/schedules/{schedule_id}/history", "GET"),
        ("/api/v1/webhooks", "GET"), ("/api/v1/webhooks", "POST"), ("/api/v1/webhooks/{webhook_id}", "DELETE"),
        ("/api/v1/webhooks/{webhook_id}/rotate", "POST"),
    }
    assert paths == expected, paths ^ expected


async def test_session_routes(server, api, workspace, tmp_path):
    sid = await create(api, workspace, title="first", mode="yolo")
    got = (await api.get(f"/sessions/{sid}")).json()["session"]
    assert got["title"] == "first" and got["mode"] == "yolo" and got["workspace"] == str(workspace)
    patched = await api.patch(f"/sessions/{sid}", json={"title": "renamed", "mode": "read-only"})
    assert patched.status_code == 200 and patched.json()["session"]["title"] == "renamed"
    assert patched.json()["session"]["mode"] == "read-only"

    others = [await create(api, workspace) for _ in range(2)]
    page = (await api.get("/sessions", params={"limit": 2})).json()
    seen = [s["id"] for s in page["sessions"]]
    page = (await api.get("/sessions", params={"limit": 2, "cursor": page["nextCursor"]})).json()
    seen += [s["id"] for s in page["sessions"]]
    assert seen == [*reversed(others), sid] and page["nextCursor"] is None
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    alone = await create(api, elsewhere)
    only = (await api.get("/sessions", params={"workspace": str(elsewhere)})).json()["sessions"]
    assert [s["id"] for s in only] == [alone]
    spaces = (await api.get("/workspaces")).json()["workspaces"]
    assert [(w["path"], w["sessionCount"]) for w in spaces] == [(str(elsewhere), 1), (str(workspace), 3)]

    fork = await api.post(f"/sessions/{sid}/fork")
    assert fork.status_code == 201 and fork.json()["session"]["title"] == "renamed (fork)"
    fork2 = await api.post(f"/sessions/{sid}/fork", json={"turnId": None})
    assert fork2.status_code == 201
    error_of(await api.post(f"/sessions/{sid}/fork", json={"turnId": "turn_nope"}), 404, ErrorCode.NOT_FOUND)

    models = (await api.get("/models")).json()
    assert models["default"] in [m["model"] for m in models["models"]]
    tools = (await api.get("/tools")).json()["tools"]
    assert "bash" in {t["name"] for t in tools} and all(t["permission"] is None for t in tools)
    perms = {t["name"]: t["permission"] for t in (await api.get("/tools", params={"session_id": sid})).json()["tools"]}
    assert perms["read"] == "allow" and perms["write"] == "deny"
    (workspace / "AGENTS.md").write_text("Run the tests with make test.\n")
    assert (await api.get(f"/sessions/{sid}/context")).json()["sections"] == []  # no context source
    server.runtime.context_sources = tuple(agents_md_extension().context_sources)
    context = (await api.get(f"/sessions/{sid}/context")).json()["sections"]
    assert [(c["kind"], c["source"]) for c in context] == [("agents_md", str(workspace / "AGENTS.md"))]

    deleted = await api.delete(f"/sessions/{sid}")
    assert deleted.status_code == 204 and deleted.content == b""
    for answer in (
        await api.get(f"/sessions/{sid}"), await api.delete(f"/sessions/{sid}"),
        await api.patch(f"/sessions/{sid}", json={"title": "x"}), await api.post(f"/sessions/{sid}/fork"),
        await api.post(f"/sessions/{sid}/turns", json=say("hi")), await api.post(f"/sessions/{sid}/interrupt"),
        await api.get(f"/sessions/{sid}/events", params={"follow": "false"}),
        await api.get("/tools", params={"session_id": sid}), await api.get(f"/sessions/{sid}/context"),
    ):
        error_of(answer, 404, ErrorCode.NOT_FOUND)


async def test_bad_requests(api, workspace, tmp_path):
    sid = await create(api, workspace)
    for answer in (
        await api.post("/sessions", json={}),
        await api.post("/sessions", json={"workspace": str(workspace), "modle": MODEL}),  # unknown field
        await api.post("/sessions", content=b"not json", headers={"content-type": "application/json"}),
        await api.post(f"/sessions/{sid}/turns", json={"input": []}),
        await api.post(f"/sessions/{sid}/turns", json={"input": [{"type": "image", "url": "x"}]}),
        await api.post(f"/sessions/{sid}/turns", json=say("  ")),  # blank: refused by the runtime
        await api.patch(f"/sessions/{sid}", json={"mode": "chaos"}),
        await api.post("/approvals/apr_x", json={"decision": "maybe"}),
        await api.get("/sessions", params={"limit": 0}),
        await api.get(f"/sessions/{sid}/events", params={"after_seq": -1}),
        await api.post("/sessions", json={"workspace": "relative/dir"}),
    ):
        error_of(answer, 422, ErrorCode.INVALID_PARAMS)
    error_of(await api.post("/sessions", json={"workspace": str(tmp_path / "nope")}), 404, ErrorCode.NOT_FOUND)
    error_of(await api.post("/sessions", json={"workspace": str(workspace), "model": "anthropic:claude"}), 400,
             ErrorCode.MODEL_CONFIG)
    error_of(await api.post("/approvals/apr_nope", json={"decision": "once"}), 409, ErrorCode.APPROVAL_NOT_PENDING)


async def test_turn_routes(server, api, fake, workspace):
    fake.script(reply(text("one")))
    sid = await create(api, workspace)
    first = await api.post(f"/sessions/{sid}/turns", json=say("hello", clientMessageId="m-1"))
    assert first.status_code == 201 and first.json()["replayed"] is False
    turn = first.json()["turnId"]
    assert (await wait_turn(api, sid, turn))["type"] == "turn.completed"
    retry = await api.post(f"/sessions/{sid}/turns", json=say("hello", clientMessageId="m-1"))
    assert retry.status_code == 200 and retry.json() == {"turnId": turn, "replayed": True}
    error_of(await api.post(f"/sessions/{sid}/turns", json=say("other", clientMessageId="m-1")), 409,
             ErrorCode.CLIENT_MESSAGE_CONFLICT)
    assert len(fake.requests) == 1  # the retry started nothing

    error_of(await api.post(f"/sessions/{sid}/steer", json=say("late")), 409, ErrorCode.NO_RUNNING_TURN)
    assert (await api.post(f"/sessions/{sid}/interrupt")).json() == {"interrupted": False}

    fake.script(hang())
    running = (await api.post(f"/sessions/{sid}/turns", json=say("wait forever"))).json()["turnId"]
    error_of(await api.post(f"/sessions/{sid}/turns", json=say("another")), 409, ErrorCode.TURN_IN_PROGRESS)
    error_of(await api.delete(f"/sessions/{sid}"), 409, ErrorCode.TURN_IN_PROGRESS)
    steered = await api.post(f"/sessions/{sid}/steer", json=say("also this"))
    assert steered.status_code == 200 and steered.json() == {"turnId": running}
    stopped = await api.post(f"/sessions/{sid}/interrupt")
    assert stopped.status_code == 200 and stopped.json() == {"interrupted": True}
    assert (await wait_turn(api, sid, running))["type"] == "turn.interrupted"
    assert (await api.delete(f"/sessions/{sid}")).status_code == 204


# -- SSE ---------------------------------------------------------------------------------------


async def test_sse_replay_and_resume(api, fake, workspace):
    fake.script(reply(text("first answer, streamed in pieces", chunk_size=3)))
    sid = await create(api, workspace)
    turn = (await api.post(f"/sessions/{sid}/turns", json=say("go"))).json()["turnId"]
    await wait_turn(api, sid, turn)
    last = (await api.get(f"/sessions/{sid}")).json()["session"]["last_seq"]

    whole = await asyncio.wait_for(sse_events(api, sid, follow="false"), 5)  # ends by itself
    assert [e["seq"] for e in whole] == list(range(1, last + 1))
    assert whole[0]["type"] == "turn.started" and whole[-1]["type"] == "turn.completed"
    n = last // 2
    by_param = await asyncio.wait_for(sse_events(api, sid, follow="false", after_seq=n), 5)
    by_header = await asyncio.wait_for(sse_events(api, sid, follow="false", headers={"Last-Event-ID": str(n)}), 5)
    assert by_param == by_header == whole[n:]
    assert await asyncio.wait_for(sse_events(api, sid, follow="false", after_seq=last), 5) == []
    # A reconnecting EventSource sends Last-Event-ID; it wins over the first request's after_seq.
    resumed = await asyncio.wait_for(
        sse_events(api, sid, follow="false", after_seq=1, headers={"Last-Event-ID": str(n)}), 5)
    assert resumed == whole[n:]


async def test_sse_follows_a_live_turn(api, fake, workspace):
    fake.script(reply(text("one")), reply(text("live " * 30, chunk_size=5), delay=0.01))
    sid = await create(api, workspace)
    first = (await api.post(f"/sessions/{sid}/turns", json=say("one"))).json()["turnId"]
    await wait_turn(api, sid, first)
    after = (await api.get(f"/sessions/{sid}")).json()["session"]["last_seq"] - 2

    follower = asyncio.create_task(sse_events(api, sid, after_seq=after, until=lambda e: e["type"] in TERMINAL
                                              and e["turn_id"] != first))
    await asyncio.sleep(0.1)  # the follower has replayed and waits for live events
    assert not follower.done()
    second = (await api.post(f"/sessions/{sid}/turns", json=say("two"))).json()["turnId"]
    events = await asyncio.wait_for(follower, 10)
    assert [e["seq"] for e in events] == list(range(after + 1, after + 1 + len(events)))
    assert events[0]["turn_id"] == first and events[-1] == {**events[-1], "turn_id": second, "type": "turn.completed"}
    deltas = "".join(e["delta"] for e in events if e["type"] == "item.delta" and e["turn_id"] == second)
    assert deltas == "live " * 30


async def test_answer_an_approval_over_rest(api, fake, workspace):
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "hi"})), reply(text("written")))
    sid = await create(api, workspace)
    turn = (await api.post(f"/sessions/{sid}/turns", json=say("write a file"))).json()["turnId"]
    asked = (await asyncio.wait_for(sse_events(api, sid, until=lambda e: e["type"] == "approval.requested"), 5))[-1]
    assert asked["tool"] == "write" and asked["options"] == ["once", "session", "deny"]
    answer = await api.post(f"/approvals/{asked['approval_id']}", json={"decision": "once"})
    assert answer.status_code == 200 and answer.json() == {}
    error_of(await api.post(f"/approvals/{asked['approval_id']}", json={"decision": "deny"}), 409,
             ErrorCode.APPROVAL_NOT_PENDING)
    assert (await wait_turn(api, sid, turn))["type"] == "turn.completed"
    assert (workspace / "a.txt").read_text() == "hi"
    events = await sse_events(api, sid, follow="false")
    resolved = [e for e in events if e["type"] == "approval.resolved"]
    assert [(e["approval_id"], e["decision"]) for e in resolved] == [(asked["approval_id"], "once")]


async def test_sse_client_going_away_does_not_stop_the_turn(server, api, fake, workspace):
    fake.script(reply(text("slow " * 20, chunk_size=5), delay=0.02))
    sid = await create(api, workspace)
    turn = (await api.post(f"/sessions/{sid}/turns", json=say("go"))).json()["turnId"]
    await sse_events(api, sid, until=lambda e: e["type"] == "item.delta")  # then hang up
    assert (await wait_turn(api, sid, turn))["type"] == "turn.completed"
