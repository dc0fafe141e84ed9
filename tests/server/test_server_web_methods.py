"""The protocol additions the web UI uses, on a real server: ``session/list``'s ``query`` and
``pending_approvals``, who answered an approval (``answered_by``), ``checkpoint/diff`` between two
checkpoints, provider keys (``keys/*``) and ``server/status``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakemodel import reply, text, tool_call
from server_support import FAST, TERMINAL, Rpc

from cowork.protocol.rpc import ErrorCode
from cowork.server.auth import CLIENT_LABEL_MAX


@contextlib.asynccontextmanager
async def client(url: str, name: str, version: str | None = None, token: str | None = None) -> AsyncIterator[Rpc]:
    async with Rpc.open(url, initialize=False) as c:
        info: dict[str, Any] = {"name": name} | ({"version": version} if version else {})
        params: dict[str, Any] = {"protocolVersion": "1", "clientInfo": info}
        if token:
            params["authToken"] = token
        await c.ok("initialize", params)
        yield c


async def titles(c: Rpc, **params: Any) -> list[str]:
    return [s["title"] for s in (await c.ok("session/list", params))["sessions"]]


# -- session/list: query, pending_approvals ----------------------------------------------------


async def test_session_list_query_matches_titles_literally_and_pages(server, workspace):
    async with Rpc.open(server.ws_url) as c:
        for title in ("Fix the parser", "fix PARSER again", "100% done", "snake_case work", "other", "a\\b"):
            await c.create_session(workspace, title=title)
        assert sorted(await titles(c, query="parser")) == ["Fix the parser", "fix PARSER again"]
        assert await titles(c, query="%") == ["100% done"]  # a LIKE wildcard matches only itself
        assert await titles(c, query="_") == ["snake_case work"]
        assert await titles(c, query="\\") == ["a\\b"]
        assert await titles(c, query="nothing like it") == []
        first = await c.ok("session/list", {"query": "PARSER", "limit": 1})
        second = await c.ok("session/list", {"query": "PARSER", "limit": 1, "cursor": first["nextCursor"]})
        assert {first["sessions"][0]["title"], second["sessions"][0]["title"]} == {"Fix the parser", "fix PARSER again"}
        assert second["nextCursor"] is None
        too_long = await c.error("session/list", {"query": "x" * 201})
        assert too_long["code"] == ErrorCode.INVALID_PARAMS
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get("/api/v1/sessions", params={"query": "parser"})
    assert r.status_code == 200 and len(r.json()["sessions"]) == 2


async def test_pending_approvals_count_while_a_turn_waits(server, fake, workspace):
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "a"}, id="c1"),
                      tool_call("write", {"path": "b.txt", "content": "b"}, id="c2")),
                reply(text("done")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, title="waits")
        idle = await c.create_session(workspace, title="idle")
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "write two files")
        asked = [await c.wait_type("approval.requested", sid)]
        asked.append(await c.wait_event(lambda e: e["type"] == "approval.requested" and e["approval_id"] != asked[0]["approval_id"]))
        listed = {s["id"]: s for s in (await c.ok("session/list", {}))["sessions"]}
        assert listed[sid]["pending_approvals"] == 2 and listed[idle]["pending_approvals"] == 0
        assert (await c.ok("session/get", {"sessionId": sid}))["session"]["pending_approvals"] == 2
        await c.ok("approval/respond", {"approvalId": asked[0]["approval_id"], "decision": "deny"})
        await c.wait_type("approval.resolved", sid)
        assert (await c.ok("session/get", {"sessionId": sid}))["session"]["pending_approvals"] == 1
        await c.ok("approval/respond", {"approvalId": asked[1]["approval_id"], "decision": "deny"})
        await c.wait_event(lambda e: e["type"] in TERMINAL)
        assert (await c.ok("session/get", {"sessionId": sid}))["session"]["pending_approvals"] == 0


# -- answered_by -------------------------------------------------------------------------------


async def test_the_other_client_sees_who_answered(server, fake, workspace):
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "hi"})), reply(text("written")))
    async with client(server.ws_url, "cowork-web", "1") as web, client(server.ws_url, "cowork-cli", "0.3.0") as cli:
        sid = await web.create_session(workspace)
        for c in (web, cli):
            await c.ok("session/subscribe", {"sessionId": sid})
        await web.start(sid, "write a file")
        asked = await cli.wait_type("approval.requested", sid)
        await web.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "once"})
        resolved = await cli.wait_type("approval.resolved", sid)
        assert resolved["answered_by"] == "cowork-web 1"
        late = await cli.error("approval/respond", {"approvalId": asked["approval_id"], "decision": "deny"})
        assert late["code"] == ErrorCode.APPROVAL_NOT_PENDING
        await cli.wait_event(lambda e: e["type"] in TERMINAL)


@pytest.mark.parametrize(("header", "expected"), [
    ({"X-Cowork-Client": "my-script/2"}, "my-script/2"),
    ({}, "rest"),
    ({"X-Cowork-Client": "x" * 300}, "x" * CLIENT_LABEL_MAX),
])
async def test_rest_answers_are_named_by_their_header(server, fake, workspace, header, expected):
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "hi"})), reply(text("written")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "write a file")
        asked = await c.wait_type("approval.requested", sid)
        async with httpx.AsyncClient(base_url=server.url) as http:
            r = await http.post(f"/api/v1/approvals/{asked['approval_id']}", json={"decision": "deny", "reason": "no"},
                                headers=header)
        assert r.status_code == 200, r.text
        resolved = await c.wait_type("approval.resolved", sid)
        assert resolved["answered_by"] == expected and resolved["reason"] == "no"
        await c.wait_event(lambda e: e["type"] in TERMINAL)


async def test_a_client_name_of_control_characters_is_cleaned(server, fake, workspace):
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "hi"})), reply(text("written")))
    async with client(server.ws_url, "evil\u001b[2J\nname", "\u0000") as c:
        sid = await c.create_session(workspace)
        await c.ok("session/subscribe", {"sessionId": sid})
        await c.start(sid, "write")
        asked = await c.wait_type("approval.requested", sid)
        await c.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "deny"})
        resolved = await c.wait_type("approval.resolved", sid)
        assert resolved["answered_by"] == "evil[2Jname"
        await c.wait_event(lambda e: e["type"] in TERMINAL)


# -- checkpoint/diff between two checkpoints ---------------------------------------------------


async def test_diff_between_two_turn_checkpoints_shows_only_that_turn(server, fake, workspace):
    (workspace / "keep.txt").write_text("same\n")
    fake.script(reply(tool_call("write", {"path": "one.txt", "content": "first\n"})), reply(text("one")),
                reply(tool_call("write", {"path": "two.txt", "content": "second\n"})), reply(text("two")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace, mode="yolo")
        await c.ok("session/subscribe", {"sessionId": sid})
        for message in ("write one", "write two"):
            turn = await c.start(sid, message)
            await c.wait_event(lambda e, t=turn: e["type"] in TERMINAL and e["turn_id"] == t)
        listed = (await c.ok("checkpoint/list", {"sessionId": sid}))["checkpoints"]
        turns = sorted((ck for ck in listed if ck["kind"] == "turn"), key=lambda ck: ck["created_at"])
        assert len(turns) == 2
        between = await c.ok("checkpoint/diff", {"checkpointId": turns[0]["id"], "toCheckpointId": turns[1]["id"]})
        to_now = await c.ok("checkpoint/diff", {"checkpointId": turns[0]["id"]})
        assert [ch["path"] for ch in between["changes"]] == ["one.txt"]
        assert between["changes"][0]["change"] == "added" and "+first" in between["changes"][0]["diff"]
        assert sorted(ch["path"] for ch in to_now["changes"]) == ["one.txt", "two.txt"]
        unknown = await c.error("checkpoint/diff", {"checkpointId": turns[0]["id"], "toCheckpointId": "ckpt_nope"})
        assert unknown["code"] == ErrorCode.NOT_FOUND
        async with httpx.AsyncClient(base_url=server.url) as http:
            r = await http.get(f"/api/v1/checkpoints/{turns[0]['id']}/diff", params={"to": turns[1]["id"]})
        assert [ch["path"] for ch in r.json()["changes"]] == ["one.txt"]


async def test_diff_refuses_checkpoints_of_two_workspaces(server, fake, tmp_path):
    spaces = []
    for name in ("a", "b"):
        ws = tmp_path / name
        ws.mkdir()
        spaces.append(ws)
    fake.default = reply(text("ok"))
    async with Rpc.open(server.ws_url) as c:
        ids = []
        for ws in spaces:
            fake.script(reply(tool_call("write", {"path": "f.txt", "content": ws.name})), reply(text("done")))
            sid = await c.create_session(ws, mode="yolo")
            await c.ok("session/subscribe", {"sessionId": sid})
            turn = await c.start(sid, "write")
            await c.wait_event(lambda e, t=turn: e["type"] in TERMINAL and e["turn_id"] == t)
            ids.append((await c.ok("checkpoint/list", {"sessionId": sid}))["checkpoints"][0]["id"])
        refused = await c.error("checkpoint/diff", {"checkpointId": ids[0], "toCheckpointId": ids[1]})
        assert refused["code"] == ErrorCode.INVALID_PARAMS and "two workspaces" in refused["message"]


# -- keys/* ----------------------------------------------------------------------------------


async def test_provider_keys_are_set_listed_without_the_key_and_removed(server, monkeypatch):
    for var in ("ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    secret = "sk-ant-test-0123456789abcdef"
    async with Rpc.open(server.ws_url) as c:
        before = {p["provider"]: p for p in (await c.ok("keys/list"))["providers"]}
        assert before["anthropic"]["hasKey"] is False and before["anthropic"]["keyVariable"] == "ANTHROPIC_API_KEY"
        assert not any(m["usable"] for m in (await c.ok("models/list"))["models"] if m["provider"] == "anthropic")
        await c.ok("keys/set", {"provider": "anthropic", "key": f"  {secret}\n"})
        listed = await c.call("keys/list")
        after = {p["provider"]: p for p in listed["result"]["providers"]}
        assert after["anthropic"]["hasKey"] is True and after["anthropic"]["source"] == "store"
        assert secret not in json.dumps(listed) and secret[-4:] not in json.dumps(listed)
        models = (await c.ok("models/list"))["models"]
        assert any(m["usable"] for m in models if m["provider"] == "anthropic")  # no restart needed
        assert (await c.ok("keys/remove", {"provider": "anthropic"}))["removed"] is True
        assert (await c.ok("keys/remove", {"provider": "anthropic"}))["removed"] is False
        assert {p["provider"]: p for p in (await c.ok("keys/list"))["providers"]}["anthropic"]["hasKey"] is False


@pytest.mark.parametrize(("params", "needle"), [
    ({"provider": "ollama", "key": "abc"}, "unknown provider"),
    ({"provider": "nope", "key": "abc"}, "unknown provider"),
    ({"provider": "openai", "key": "two words"}, "one word"),
    ({"provider": "openai", "key": "tab\tbed"}, "one word"),
    ({"provider": "openai", "key": "   "}, "one word"),
    ({"provider": "openai", "key": ""}, "invalid params"),
    ({"provider": "openai", "key": "k" * 4097}, "invalid params"),
])
async def test_bad_keys_are_refused_without_being_echoed(server, params, needle):
    async with Rpc.open(server.ws_url) as c:
        error = await c.error("keys/set", params)
    assert error["code"] == ErrorCode.INVALID_PARAMS and needle in error["message"]
    if len(params["key"].strip()) > 2:
        assert params["key"] not in json.dumps(error)


async def test_rest_key_routes_never_echo_the_key(server):
    long_key = "secret" + "z" * 5000
    async with httpx.AsyncClient(base_url=server.url) as http:
        too_long = await http.put("/api/v1/keys/openai", json={"key": long_key})
        done = await http.put("/api/v1/keys/google", json={"key": "AIza-test-key"})
        listed = await http.get("/api/v1/keys")
        removed = await http.delete("/api/v1/keys/google")
    assert too_long.status_code == 422 and "secret" not in too_long.text
    assert done.status_code == 204
    assert "AIza" not in listed.text and {p["provider"]: p for p in listed.json()["providers"]}["google"]["hasKey"]
    assert removed.json() == {"removed": True}


async def test_read_only_tokens_cannot_touch_keys(tmp_path, fake):
    from cowork.engine import Runtime
    from cowork.server import Auth, InProcessServer

    (tmp_path / "tokens").mkdir()
    auth, _ = Auth.for_bind("0.0.0.0", tmp_path / "tokens")
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'ro.db'}", settings=FAST, openai_base_url=fake.base_url)
    srv = await InProcessServer.start(runtime, auth)
    try:
        async with client(srv.url.replace("http://", "ws://") + "/ws", "ro", token=auth.read_only_token) as c:
            assert (await c.ok("keys/list"))["providers"]
            for method, params in (("keys/set", {"provider": "openai", "key": "sk-x"}),
                                   ("keys/remove", {"provider": "openai"})):
                assert (await c.error(method, params))["code"] == ErrorCode.READ_ONLY
            assert (await c.ok("server/status"))["version"]
    finally:
        await srv.stop()


# -- server/status -----------------------------------------------------------------------------


async def test_server_status_reports_the_sandbox_store_and_local_checks(server):
    async with Rpc.open(server.ws_url) as c:
        status = await c.ok("server/status")
    assert status["store"] == {"kind": "sqlite", "detail": status["store"]["detail"], "available": True}
    assert "cowork.db" in status["store"]["detail"]
    assert status["sandbox"]["available"] is True and status["sandbox"]["kind"] in ("bwrap", "landlock")
    names = [ch["name"] for ch in status["checks"]]
    assert {"bubblewrap", "sandbox", "git", "ripgrep", "key store", "embedded model"} <= set(names)
    assert all(ch["status"] in ("ok", "warn", "fail") for ch in status["checks"])
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get("/api/v1/status")
    assert r.status_code == 200 and r.json()["version"] == status["version"]


async def test_server_status_says_when_the_database_file_is_gone(server, tmp_path):
    db = Path(server.runtime.store.path)
    moved = db.with_name("moved.db")
    db.rename(moved)
    try:
        async with Rpc.open(server.ws_url) as c:
            status = await c.ok("server/status")
    finally:
        moved.rename(db)
    assert status["store"]["available"] is False and "restart" in status["store"]["detail"].lower()
