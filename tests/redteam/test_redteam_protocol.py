"""Red team: protocol abuse against a real server over real HTTP and WebSocket.

Each test is an attack or a careless input from issue 11 (items 9, 12, 13): unbounded work per
request, DNS rebinding and cross-site requests, and odd input that used to crash a handler or go
unanswered. The server must answer each with a documented error, keep the connection, and keep
serving everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fakemodel import FakeModelServer, reply, text, tool_call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.protocol.rpc import MAX_TITLE_CHARS, ErrorCode
from cowork.server import Auth, InProcessServer
from cowork.server import ws as ws_module
from cowork.server.ws import MAX_BATCH, MAX_IN_FLIGHT

MODEL = "openai:fake"
INT64_MAX = 2**63 - 1


@pytest.fixture
def fake():
    with FakeModelServer() as s:
        yield s


@pytest.fixture
def wsdir(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@contextlib.asynccontextmanager
async def started(tmp_path: Path, base_url: str, auth: Auth | None = None) -> AsyncIterator[InProcessServer]:
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}", openai_base_url=base_url,
                                 settings=EngineSettings(max_steps=8, max_retries=0, stream_timeout=5))
    server = await InProcessServer.start(runtime, auth)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def srv(tmp_path: Path, fake: FakeModelServer) -> AsyncIterator[InProcessServer]:
    async with started(tmp_path, fake.base_url) as s:
        yield s


def ws_url(server: InProcessServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


class Ws:
    """A raw JSON-RPC client: ``send`` a frame, ``recv`` the next one (events skipped)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []

    async def send(self, frame: Any) -> None:
        await self.conn.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def recv(self, timeout: float = 10) -> Any:
        while True:
            msg = json.loads(await asyncio.wait_for(self.conn.recv(), timeout))
            if isinstance(msg, dict) and msg.get("method") == "event":
                self.events.append(msg["params"])
                continue
            return msg

    async def batch(self, frames: list[Any], timeout: float = 20) -> Any:
        await self.send(frames)
        return await self.recv(timeout)

    async def until(self, type_: str, timeout: float = 10) -> dict[str, Any]:
        """Read frames until an event of ``type_`` has arrived; return it."""
        async with asyncio.timeout(timeout):
            while not any(e["type"] == type_ for e in self.events):
                with contextlib.suppress(TimeoutError):
                    await self.recv(timeout=0.1)
        return next(e for e in self.events if e["type"] == type_)

    async def call(self, method: str, params: Any = None, id_: Any = 1) -> dict[str, Any]:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            msg["params"] = params
        await self.send(msg)
        return await self.recv()


@contextlib.asynccontextmanager
async def rpc(server: InProcessServer, token: str | None = None, headers: dict[str, str] | None = None,
              ) -> AsyncIterator[Ws]:
    async with connect(ws_url(server), max_size=None, proxy=None, additional_headers=headers or {}) as conn:
        c = Ws(conn)
        params: dict[str, Any] = {"protocolVersion": "1", "clientInfo": {"name": "redteam"}}
        if token:
            params["authToken"] = token
        assert "result" in await c.call("initialize", params, id_="init")
        yield c


def _complete(data: bytes) -> bool:
    """True once ``data`` holds a whole HTTP answer with a Content-Length (or a 101)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    if head.startswith(b"HTTP/1.1 101"):
        return True
    for line in head.lower().split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


async def raw_http(url: str, head: bytes, body_chunks: list[bytes] = (), timeout: float = 10,
                   ) -> tuple[int, dict[str, str], bytes]:
    """Send a hand-made request to the server of ``url`` (the body written while the answer is
    read, as a client that streams would) and return (status, headers, body) once the server
    has answered and closed, or after ``timeout``."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)

    async def write() -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(head)
            await writer.drain()
            for chunk in body_chunks:
                writer.write(chunk)
                await writer.drain()

    writing = asyncio.create_task(write())
    data = b""
    try:
        async with asyncio.timeout(timeout):
            with contextlib.suppress(ConnectionError):
                while chunk := await reader.read(65536):
                    data += chunk
                    if _complete(data):
                        break
    except TimeoutError:
        pass
    finally:
        writing.cancel()
        writer.close()
    head_text, _, body = data.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


# -- item 9: unbounded work per request -----------------------------------------------------------


async def test_a_huge_batch_is_refused_and_health_stays_fast(srv):
    batch = [{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(10_000)]
    async with rpc(srv) as c, httpx.AsyncClient(base_url=srv.url) as h:
        began = time.monotonic()
        await c.send(batch)
        latencies = []
        for _ in range(5):
            t = time.monotonic()
            assert (await h.get("/api/v1/health")).status_code == 200
            latencies.append(time.monotonic() - t)
        answer = await c.recv(timeout=20)
        assert time.monotonic() - began < 5
        assert isinstance(answer, dict), "the batch was run instead of refused"
        assert answer["id"] is None and answer["error"]["code"] == ErrorCode.INVALID_REQUEST
        assert f"{MAX_BATCH:,}" in answer["error"]["message"]
        assert max(latencies) < 1.0, latencies
        # a batch at the limit is answered in full, and the connection stayed
        answers = await c.batch(batch[:MAX_BATCH])
        assert [a["id"] for a in answers] == list(range(MAX_BATCH))


async def test_batch_members_count_against_the_in_flight_limit(srv, monkeypatch):
    open_batches: set[str] = set()  # batches whose first request has run and last one has not
    peak = 0
    original = ws_module.Connection._request

    async def counted(self, message, *args, **kwargs):
        nonlocal peak
        if "-" not in str(message.get("id")):  # initialize
            return await original(self, message, *args, **kwargs)
        batch, index = message["id"].split("-")
        open_batches.add(batch)
        peak = max(peak, len(open_batches) * MAX_BATCH)  # requests admitted at once
        try:
            await asyncio.sleep(0.002)
            return await original(self, message, *args, **kwargs)
        finally:
            if int(index) == MAX_BATCH - 1:
                open_batches.discard(batch)

    monkeypatch.setattr(ws_module.Connection, "_request", counted)
    async with rpc(srv) as c:
        for b in range(10):  # ten full batches at once: they must not all be admitted together
            await c.send([{"jsonrpc": "2.0", "id": f"{b}-{i}", "method": "models/list"} for i in range(MAX_BATCH)])
        for _ in range(10):
            assert len(await c.recv(timeout=30)) == MAX_BATCH
    assert peak <= MAX_IN_FLIGHT, f"{peak} requests admitted at once"


async def test_an_answer_over_the_cap_becomes_an_error(srv, monkeypatch):
    monkeypatch.setattr(ws_module, "MAX_ANSWER_BYTES", 2000)  # tools/list answers ~8 KB
    async with rpc(srv) as c:
        answer = await c.call("tools/list", id_=7)
        assert answer["id"] == 7 and answer["error"]["code"] == ErrorCode.RESPONSE_TOO_LARGE, answer
        assert "2,000" in answer["error"]["message"]
        batch = await c.batch([{"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                               {"jsonrpc": "2.0", "id": 2, "method": "workspace/list"}])
        assert batch[0]["error"]["code"] == ErrorCode.RESPONSE_TOO_LARGE
        assert batch[1]["result"] == {"workspaces": []}
        assert "result" in await c.call("session/list", id_=8)  # the connection stays


def _post_head(server: InProcessServer, path: str, extra: str) -> bytes:
    port = urlsplit(server.url).port
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{extra}\r\n"
            ).encode()


async def test_rest_bodies_over_4_mib_get_413_before_they_are_read(srv):
    # Content-Length says 100 MB: refused at once, without waiting for (or reading) the body
    began = time.monotonic()
    status, _, body = await raw_http(srv.url, _post_head(srv, "/api/v1/sessions", "Content-Length: 100000000\r\n"))
    assert status == 413 and time.monotonic() - began < 5
    assert json.loads(body)["error"]["code"] == ErrorCode.INVALID_REQUEST
    # chunked, with no Content-Length: refused once the count passes the limit
    chunk = b"x" * (1024 * 1024)
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)] + [b"0\r\n\r\n"]
    status, _, body = await raw_http(srv.url, _post_head(srv, "/api/v1/sessions", "Transfer-Encoding: chunked\r\n"),
                                     chunks)
    assert status == 413, body
    assert json.loads(body)["error"]["code"] == ErrorCode.INVALID_REQUEST
    async with httpx.AsyncClient(base_url=srv.url + "/api/v1") as h:  # and the server serves on
        assert (await h.get("/health")).status_code == 200


async def test_titles_and_texts_have_length_limits(srv, wsdir):
    async with rpc(srv) as c, httpx.AsyncClient(base_url=srv.url + "/api/v1") as h:
        long_title = "t" * (MAX_TITLE_CHARS + 1)
        refused = await c.call("session/create", {"workspace": str(wsdir), "model": MODEL, "title": long_title})
        assert refused["error"]["code"] == ErrorCode.INVALID_PARAMS, refused
        created = await c.call("session/create", {"workspace": str(wsdir), "model": MODEL}, id_=2)
        sid = created["result"]["session"]["id"]
        patched = await h.patch(f"/sessions/{sid}", json={"title": "x" * 3_000_000})
        assert patched.status_code == 422, patched.text
        assert (await h.get(f"/sessions/{sid}")).json()["session"]["title"] == ""


# -- item 12: DNS rebinding and cross-site requests ---------------------------------------------


async def test_foreign_host_headers_are_refused(srv):
    port = urlsplit(srv.url).port
    async with httpx.AsyncClient(base_url=srv.url + "/api/v1") as h:
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.nip.io:{port}", "127.0.0.1:1"):
            answer = await h.get("/sessions", headers={"Host": host})
            assert answer.status_code == 403, (host, answer.text)
            assert answer.json()["error"]["code"] == ErrorCode.FORBIDDEN
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
            assert (await h.get("/sessions", headers={"Host": host})).status_code == 200, host
    upgrade = (f"GET /ws HTTP/1.1\r\nHost: rebind.evil.example:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    status, _, _ = await raw_http(srv.url, upgrade)
    assert status == 403


async def test_allowed_hosts_are_configurable(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("COWORK_ALLOWED_HOSTS", "cowork.example.org, proxy.internal:8443")
    async with started(tmp_path, fake.base_url) as s, httpx.AsyncClient(base_url=s.url + "/api/v1") as h:
        port = urlsplit(s.url).port
        assert (await h.get("/sessions", headers={"Host": "cowork.example.org"})).status_code == 200
        assert (await h.get("/sessions", headers={"Host": "proxy.internal:8443"})).status_code == 200
        assert (await h.get("/sessions", headers={"Host": "proxy.internal:9999"})).status_code == 403
        assert (await h.get("/sessions", headers={"Host": f"localhost:{port}"})).status_code == 200
        assert (await h.get("/sessions", headers={"Host": "evil.example"})).status_code == 403


async def test_cross_origin_requests_are_refused(srv, wsdir):
    port = urlsplit(srv.url).port
    async with httpx.AsyncClient(base_url=srv.url + "/api/v1") as h:
        for origin in ("https://evil.example", "http://localhost:3000", "null",
                       f"http://localhost.evil.example:{port}"):
            answer = await h.post("/sessions", headers={"Origin": origin}, json={"workspace": str(wsdir)})
            assert answer.status_code == 403, (origin, answer.text)
            assert answer.json()["error"]["code"] == ErrorCode.FORBIDDEN
            with pytest.raises(InvalidStatus) as refused:
                async with connect(ws_url(srv), additional_headers={"Origin": origin}, proxy=None):
                    pass
            assert refused.value.response.status_code == 403
        assert (await h.get("/workspaces")).json() == {"workspaces": []}  # nothing was created
        for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):  # the server's own origin
            answer = await h.post("/sessions", headers={"Origin": origin, "Host": f"{urlsplit(origin).netloc}"},
                                  json={"workspace": str(wsdir), "model": MODEL})
            assert answer.status_code == 201, (origin, answer.text)
    async with rpc(srv, headers={"Origin": f"http://127.0.0.1:{port}"}) as c:
        assert "result" in await c.call("session/list")


# -- item 13: odd input gets a documented error, the connection stays --------------------------


async def test_deeply_nested_json_is_answered(srv):
    async with rpc(srv) as c, httpx.AsyncClient(base_url=srv.url + "/api/v1") as h:
        await c.send("[" * 100_000 + "]" * 100_000)
        answer = await c.recv()
        assert answer["id"] is None and answer["error"]["code"] == ErrorCode.PARSE_ERROR, answer
        nested = "[" * 100_000 + "]" * 100_000
        deep = '{"jsonrpc": "2.0", "id": 3, "method": "session/list", "params": {"x": ' + nested + "}}"
        await c.send(deep)
        assert (await c.recv())["error"]["code"] == ErrorCode.PARSE_ERROR
        assert "result" in await c.call("session/list", id_=4)
        posted = await h.post("/sessions", content="[" * 100_000 + "]" * 100_000,
                              headers={"Content-Type": "application/json"})
        assert posted.status_code in (400, 422), posted.text
        assert posted.json()["error"]["code"] in (ErrorCode.PARSE_ERROR, ErrorCode.INVALID_PARAMS)


async def test_a_non_ascii_bearer_token_is_refused_cleanly(tmp_path, fake):
    auth = Auth(require_token=True, full_token="secret-token", read_only_token="ro-token")
    async with started(tmp_path, fake.base_url, auth) as s:
        async with httpx.AsyncClient(base_url=s.url + "/api/v1") as h:
            for token in ("é", "sécret-token", "²"):
                answer = await h.get("/sessions", headers={"Authorization": f"Bearer {token}".encode()})
                assert answer.status_code == 401, answer.text
                assert answer.json()["error"]["code"] == ErrorCode.UNAUTHORIZED
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(s), additional_headers={"Authorization": "Bearer \u00e9"}, proxy=None):
                pass
        assert refused.value.response.status_code == 401
        async with connect(ws_url(s), proxy=None) as conn:
            c = Ws(conn)
            answer = await c.call("initialize", {"protocolVersion": "1", "clientInfo": {"name": "t"},
                                                 "authToken": "sécret ☃"})
            assert answer["error"]["code"] == ErrorCode.UNAUTHORIZED
            ok = await c.call("initialize", {"protocolVersion": "1", "clientInfo": {"name": "t"},
                                             "authToken": "secret-token"}, id_=2)
            assert "result" in ok


async def test_odd_resume_positions_are_refused(srv, wsdir):
    async with rpc(srv) as c, httpx.AsyncClient(base_url=srv.url + "/api/v1") as h:
        sid = (await c.call("session/create", {"workspace": str(wsdir), "model": MODEL}))["result"]["session"]["id"]
        events = f"/sessions/{sid}/events"
        for value in (10**20, 2**63):
            answer = await c.call("session/subscribe", {"sessionId": sid, "afterSeq": value}, id_=2)
            assert answer["error"]["code"] == ErrorCode.INVALID_PARAMS, answer
            assert (await h.get(events, params={"after_seq": value, "follow": "false"})).status_code == 422
        assert "result" in await c.call("session/subscribe", {"sessionId": sid, "afterSeq": INT64_MAX}, id_=3)
        answer = await h.get(events, params={"after_seq": INT64_MAX, "follow": "false"})
        assert answer.status_code == 200 and answer.text == ""
        for last in ("\u00b2", "1\u0663", str(2**63), "-1", "abc"):
            answer = await h.get(events, params={"follow": "false"}, headers={"Last-Event-ID": last.encode()})
            assert answer.status_code == 400, (last, answer.text)
            assert answer.json()["error"]["code"] == ErrorCode.INVALID_REQUEST
        assert (await h.get(events, params={"follow": "false"}, headers={"Last-Event-ID": "0"})).status_code == 200


async def test_turn_start_racing_session_delete_is_session_not_found(srv, fake, tmp_path):
    fake.default = reply(text("ok"))
    codes: list[int] = []
    async with rpc(srv) as c:
        for n in range(12):
            ws = tmp_path / f"race{n}"
            ws.mkdir()
            sid = (await c.call("session/create", {"workspace": str(ws), "model": MODEL}, id_=f"c{n}"))["result"][
                "session"]["id"]
            # two frames back to back: they run concurrently
            await c.send({"jsonrpc": "2.0", "id": "start", "method": "turn/start",
                          "params": {"sessionId": sid, "input": [{"type": "text", "text": "hi"}]}})
            await c.send({"jsonrpc": "2.0", "id": "delete", "method": "session/delete", "params": {"sessionId": sid}})
            for _ in range(2):
                answer = await c.recv(timeout=20)
                if "error" in answer:
                    codes.append(answer["error"]["code"])
    assert ErrorCode.INTERNAL_ERROR not in codes, codes
    assert set(codes) <= {ErrorCode.NOT_FOUND, ErrorCode.TURN_IN_PROGRESS}, codes


async def test_request_ids_of_the_wrong_type_are_invalid_requests(srv, wsdir):
    async with rpc(srv) as c:
        for bad in ({"a": 1}, [1], 1.5, True, False):
            answer = await c.call("session/create", {"workspace": str(wsdir), "model": MODEL}, id_=bad)
            assert answer == {"jsonrpc": "2.0", "id": None, "error": answer["error"]}, answer
            assert answer["error"]["code"] == ErrorCode.INVALID_REQUEST
        assert (await c.call("workspace/list", id_="s"))["result"] == {"workspaces": []}  # nothing ran
        assert (await c.call("session/list", id_=None))["id"] is None  # null stays allowed (JSON-RPC 2.0)
        assert (await c.call("session/list", id_=-5))["id"] == -5


async def test_head_is_served_where_get_is(srv, wsdir):
    async with httpx.AsyncClient(base_url=srv.url) as h:
        sid = (await h.post("/api/v1/sessions", json={"workspace": str(wsdir), "model": MODEL})).json()["session"]["id"]
        for path in ("/api/v1/health", "/api/v1/sessions", f"/api/v1/sessions/{sid}", "/openapi.json"):
            get, head = await h.get(path), await h.head(path)
            assert head.status_code == get.status_code == 200, (path, head.status_code)
            assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
        head = await asyncio.wait_for(h.head(f"/api/v1/sessions/{sid}/events"), 5)  # follows forever with GET
        assert head.status_code == 200 and head.headers["content-type"].startswith("text/event-stream")
        assert (await h.head("/api/v1/sessions/ses_nope/events")).status_code == 404
        assert (await h.get("/api/v1/health")).status_code == 200  # the connection is still usable


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_an_sse_disconnect_logs_no_traceback(srv, wsdir):
    collect = _Collect()
    loggers = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.error", "uvicorn.asgi", "cowork")]
    for lg in loggers:
        lg.addHandler(collect)
    try:
        async with httpx.AsyncClient(base_url=srv.url + "/api/v1") as h:
            sid = (await h.post("/sessions", json={"workspace": str(wsdir), "model": MODEL})).json()["session"]["id"]
            for _ in range(3):
                async with h.stream("GET", f"/sessions/{sid}/events") as stream:
                    assert stream.status_code == 200
                    await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            assert (await h.get("/health")).status_code == 200
    finally:
        for lg in loggers:
            lg.removeHandler(collect)
    noisy = [r for r in collect.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not noisy, [(r.name, r.getMessage(), r.exc_info and r.exc_info[0]) for r in noisy]


async def test_a_denial_reason_is_redacted_for_read_only_tokens(tmp_path, fake, wsdir):
    auth = Auth(require_token=False, read_only_token="ro-token")
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "hi"})), reply(text("understood")))
    async with started(tmp_path, fake.base_url, auth) as s, rpc(s) as full, rpc(s, token="ro-token") as ro:
        sid = (await full.call("session/create", {"workspace": str(wsdir), "model": MODEL}))["result"]["session"]["id"]
        for c in (full, ro):
            assert "result" in await c.call("session/subscribe", {"sessionId": sid}, id_="sub")
        assert "result" in await full.call("turn/start", {"sessionId": sid, "input": [{"type": "text", "text": "go"}]},
                                           id_="t")
        apr = (await full.until("approval.requested"))["approval_id"]
        answer = await full.call("approval/respond", {"approvalId": apr, "decision": "deny",
                                                      "reason": "my medical appointment is private"}, id_="r")
        assert "result" in answer
        for c in (full, ro):
            await c.until("turn.completed")
        assert "my medical appointment" in json.dumps(full.events)  # the full token sees it
        assert "my medical appointment" not in json.dumps(ro.events), [e for e in ro.events
                                                                        if "medical" in json.dumps(e)]
        async with httpx.AsyncClient(base_url=s.url + "/api/v1", headers={"Authorization": "Bearer ro-token"}) as h:
            sse = await h.get(f"/sessions/{sid}/events", params={"follow": "false"})
            assert "approval.resolved" in sse.text and "my medical appointment" not in sse.text


def test_a_malformed_allowed_hosts_list_is_refused_at_start(monkeypatch):
    from cowork.server.guard import HostPolicy

    for bad in ("http://cowork.example", "cowork.example:notaport", "two words"):
        with pytest.raises(ValueError, match="COWORK_ALLOWED_HOSTS"):
            HostPolicy.for_bind("127.0.0.1", bad)
    monkeypatch.setenv("COWORK_ALLOWED_HOSTS", "*")
    assert HostPolicy.for_bind("127.0.0.1").allows_host("anything.example", 1)
