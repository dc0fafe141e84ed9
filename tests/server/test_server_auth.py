"""Tokens, read-only callers, redaction and browser origins.

A ``cowork serve --host 0.0.0.0`` process (reached through 127.0.0.1) needs a token on every
request; its read-only token may only read, and what it reads is redacted. The loopback server
needs no token but refuses foreign browser origins.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

import httpx
import pytest
from fakemodel import reply, text, tool_call
from server_support import MODEL, TERMINAL, Rpc
from websockets.exceptions import InvalidStatus

from cowork.protocol.rpc import ErrorCode

REDACTED = "[redacted]"


def local(url: str) -> str:
    return url.replace("0.0.0.0", "127.0.0.1")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def leaks(value: Any, path: str) -> bool:
    """True if ``path`` appears in the JSON text of ``value`` (raw or \\u-escaped)."""
    return path in json.dumps(value, ensure_ascii=False) or json.dumps(path)[1:-1] in json.dumps(value)


async def test_tokens_read_only_and_redaction(serve, fake, tmp_path):
    workspace = tmp_path / "wörk space"  # a non-ASCII path: redaction must find it in JSON text too
    workspace.mkdir()
    ws_path = str(workspace)
    home = tmp_path / "home"

    srv = await serve("--host", "0.0.0.0")
    url = local(srv.url)
    ws_url = local(srv.ws_url)
    full = (home / "server-token").read_text().strip()
    ro = (home / "server-token-read-only").read_text().strip()
    assert full and ro and full != ro
    for name in ("server-token", "server-token-read-only"):
        assert stat.S_IMODE(os.stat(home / name).st_mode) == 0o600, name

    async with httpx.AsyncClient(base_url=url + "/api/v1") as h:
        health = await h.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        for headers in ({}, bearer("wrong"), {"Authorization": full}, {"Authorization": f"Basic {full}"}):
            refused = await h.get("/sessions", headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            assert refused.json()["error"]["code"] == ErrorCode.UNAUTHORIZED
        assert (await h.get("/sessions", headers=bearer(full))).status_code == 200
        assert (await h.get("/sessions", headers=bearer(ro))).status_code == 200
        refused = await h.post("/sessions", headers=bearer("wrong"), json={"workspace": ws_path})
        assert refused.status_code == 401

    # WebSocket: no token, a wrong token, then the two ways to send the right one.
    async with Rpc.open(ws_url, initialize=False) as c:
        params = {"protocolVersion": "1", "clientInfo": {"name": "t"}}
        assert (await c.error("initialize", params))["code"] == ErrorCode.UNAUTHORIZED
        assert (await c.error("initialize", {**params, "authToken": "wrong"}))["code"] == ErrorCode.UNAUTHORIZED
        assert (await c.error("session/list"))["code"] == ErrorCode.NOT_INITIALIZED
        assert (await c.ok("initialize", {**params, "authToken": full}))["capabilities"]["readOnly"] is False
    with pytest.raises(InvalidStatus) as refused_ws:
        async with Rpc.open(ws_url, headers=bearer("wrong")):
            pass
    assert refused_ws.value.response.status_code == 401
    assert json.loads(refused_ws.value.response.body)["error"]["code"] == ErrorCode.UNAUTHORIZED

    fake.script(reply(tool_call("bash", {"command": "pwd"}, id="call_pwd")), reply(text("done")))
    async with Rpc.open(ws_url, headers=bearer(full)) as c:
        sid = await c.create_session(workspace, title="my secret title", mode="yolo")
        await c.ok("session/subscribe", {"sessionId": sid})
        turn = await c.start(sid, "my private message")
        end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        assert end["type"] == "turn.completed", end
        # The full token sees everything.
        started = [e for e in c.events if e["type"] == "turn.started"]
        assert started[0]["text"] == "my private message"
        users = [e["item"]["text"] for e in c.events if e["type"] == "item.completed"
                 and e["item"]["type"] == "user_message"]
        assert users == ["my private message"]
        assert leaks(c.events, ws_path)  # pwd printed it
        assert (await c.ok("session/get", {"sessionId": sid}))["session"]["workspace"] == ws_path

    for how in ("header", "initialize"):
        opened = Rpc.open(ws_url, headers=bearer(ro)) if how == "header" else Rpc.open(ws_url, token=ro)
        async with opened as c:
            reads = {
                "session/list": await c.ok("session/list"),
                "session/get": await c.ok("session/get", {"sessionId": sid}),
                "workspace/list": await c.ok("workspace/list"),
                "models/list": await c.ok("models/list"),
                "tools/list": await c.ok("tools/list", {"sessionId": sid}),
            }
            assert [s["id"] for s in reads["session/list"]["sessions"]] == [sid]
            assert reads["session/get"]["session"]["workspace"] == REDACTED
            assert reads["session/get"]["session"]["title"] == REDACTED
            assert reads["workspace/list"]["workspaces"][0]["path"] == REDACTED
            sub = await c.ok("session/subscribe", {"sessionId": sid})
            await c.wait_event(lambda e: e["seq"] == sub["lastSeq"])
            assert [e["seq"] for e in c.events] == list(range(1, sub["lastSeq"] + 1))
            for name, value in [*reads.items(), ("events", c.events)]:
                assert not leaks(value, ws_path), f"{how}: {name} shows the workspace path"
                assert "my secret title" not in json.dumps(value), name
                assert "my private message" not in json.dumps(value), name
            assert [e["text"] for e in c.events if e["type"] == "turn.started"] == [REDACTED]
            users = [e["item"]["text"] for e in c.events if e["type"] in ("item.started", "item.completed")
                     and e["item"]["type"] == "user_message"]
            assert users == [REDACTED, REDACTED]

            refused = {
                "session/create": {"workspace": ws_path, "model": MODEL},
                "session/update": {"sessionId": sid, "title": "x"},
                "session/delete": {"sessionId": sid},
                "session/fork": {"sessionId": sid},
                "turn/start": {"sessionId": sid, "input": [{"type": "text", "text": "hi"}]},
                "turn/steer": {"sessionId": sid, "input": [{"type": "text", "text": "hi"}]},
                "turn/interrupt": {"sessionId": sid},
                "approval/respond": {"approvalId": "apr_x", "decision": "once"},
            }
            for method, params in refused.items():
                assert (await c.error(method, params))["code"] == ErrorCode.READ_ONLY, method

    async with httpx.AsyncClient(base_url=url + "/api/v1", headers=bearer(ro)) as h:
        text_of = {
            "sessions": (await h.get("/sessions")).text,
            "session": (await h.get(f"/sessions/{sid}")).text,
            "workspaces": (await h.get("/workspaces")).text,
            "events": (await h.get(f"/sessions/{sid}/events", params={"follow": "false"})).text,
        }
        for name, body in text_of.items():
            assert ws_path not in body and json.dumps(ws_path)[1:-1] not in body, name
            assert "my private message" not in body, name
        assert "event: turn.completed" in text_of["events"]
        writes = [
            ("POST", "/sessions", {"workspace": ws_path}),
            ("PATCH", f"/sessions/{sid}", {"title": "x"}),
            ("DELETE", f"/sessions/{sid}", None),
            ("POST", f"/sessions/{sid}/fork", None),
            ("POST", f"/sessions/{sid}/turns", {"input": [{"type": "text", "text": "hi"}]}),
            ("POST", f"/sessions/{sid}/steer", {"input": [{"type": "text", "text": "hi"}]}),
            ("POST", f"/sessions/{sid}/interrupt", None),
            ("POST", "/approvals/apr_x", {"decision": "once"}),
        ]
        for method, path, body in writes:
            answer = await h.request(method, path, json=body)
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["error"]["code"] == ErrorCode.READ_ONLY
    async with httpx.AsyncClient(base_url=url + "/api/v1", headers=bearer(full)) as h:
        assert (await h.get(f"/sessions/{sid}")).json()["session"]["workspace"] == ws_path
        assert "my private message" in (await h.get(f"/sessions/{sid}/events", params={"follow": "false"})).text

    # Printed once: on the first start only, and the files keep the same tokens.
    printed = srv.stdout()
    assert printed.count(full) == 1 and printed.count(ro) == 1, printed
    assert await srv.stop() == 0  # SIGTERM: a clean shutdown, exit 0
    again = await serve("--host", "0.0.0.0")
    assert "token" not in again.stdout(), again.stdout()
    assert (home / "server-token").read_text().strip() == full
    assert (home / "server-token-read-only").read_text().strip() == ro
    async with httpx.AsyncClient(base_url=local(again.url) + "/api/v1") as h:
        assert (await h.get("/sessions", headers=bearer(full))).status_code == 200
        assert (await h.get("/sessions")).status_code == 401
    await again.stop()

    # The loopback server on the same home needs no token; the tokens it knows keep their meaning.
    loop = await serve()
    async with httpx.AsyncClient(base_url=loop.url + "/api/v1") as h:
        assert (await h.get("/sessions")).status_code == 200
        assert (await h.get("/sessions", headers=bearer(full))).status_code == 200
        assert (await h.post(f"/sessions/{sid}/interrupt", headers=bearer(ro))).status_code == 403
    async with Rpc.open(loop.ws_url, token=ro) as c:
        assert (await c.error("turn/interrupt", {"sessionId": sid}))["code"] == ErrorCode.READ_ONLY
    async with Rpc.open(loop.ws_url, headers=bearer(full)) as c:
        assert (await c.ok("turn/interrupt", {"sessionId": sid})) == {"interrupted": False}
    await loop.stop()


async def test_loopback_server_refuses_foreign_origins(server):
    """A browser page of another origin — a foreign site, or another port on this machine — is
    refused on WebSocket and REST alike; the server's own origin and clients sending no Origin pass."""
    port = server.url.rsplit(":", 1)[1]
    foreign = ("https://evil.example", "null", "http://localhost.evil.example", "http://127.0.0.1.nip.io:3000",
               "http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173")
    for origin in foreign:
        with pytest.raises(InvalidStatus) as refused:
            async with Rpc.open(server.ws_url, headers={"Origin": origin}):
                pass
        assert refused.value.response.status_code == 403, origin
    async with httpx.AsyncClient(base_url=server.url + "/api/v1") as h:
        for origin in foreign:
            for answer in (await h.get("/sessions", headers={"Origin": origin}),
                           await h.post("/sessions", headers={"Origin": origin}, json={"workspace": "/tmp"})):
                assert answer.status_code == 403, (origin, answer.text)
                assert answer.json()["error"]["code"] == ErrorCode.FORBIDDEN
        assert (await h.get("/sessions", headers={"Origin": f"http://127.0.0.1:{port}"})).status_code == 200
        assert (await h.get("/sessions")).status_code == 200
    async with Rpc.open(server.ws_url, headers={"Origin": f"http://127.0.0.1:{port}"}) as c:
        assert (await c.ok("session/list"))["sessions"] == []
