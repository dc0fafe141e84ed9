"""The MCP host (cowork.mcp.host): cowork as an MCP server, driven by the official SDK's client —
over stdio to ``cowork mcp serve`` as a subprocess, and over Streamable HTTP to ``/mcp`` of a real
server — with tasks on the scripted model server, approvals through elicitation (or left pending
without it), the toolbox's checkpoints and undo, and the ``tool/call`` protocol method under it."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from fakemodel import FakeModelServer, reply, text, tool_call
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from server_support import MODEL, running_server, serve_env

from cowork.client import AsyncClient, CoworkError
from cowork.server import InProcessServer
from cowork.server.auth import Auth

COWORK = shutil.which("cowork", path=str(Path(sys.executable).parent))
_FALLBACK = [sys.executable, "-c", "import typer; from cowork.cli.mcp_serve import serve; typer.run(serve)"]


def _serve_argv() -> list[str]:
    """``cowork mcp serve`` once the ``mcp`` command group is registered, else the same command
    function run directly (both are :func:`cowork.cli.mcp_serve.serve`)."""
    if COWORK and subprocess.run([COWORK, "mcp", "serve", "--help"], capture_output=True).returncode == 0:
        return [COWORK, "mcp", "serve"]
    return _FALLBACK


SERVE = _serve_argv()
WRITE = reply(tool_call("write", {"path": "hello.txt", "content": "hi there\n"}))
DONE = reply(text("Done: hello.txt written."))


@pytest.fixture
def fake() -> Any:
    with FakeModelServer() as srv:
        yield srv


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("alpha\nbeta\n")
    return ws


def _params(tmp_path: Path, fake: Any, *args: str) -> StdioServerParameters:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], *args], env=serve_env(home, fake.base_url),
                                 cwd=str(tmp_path))


class Elicitations:
    """An elicitation callback that answers with ``answer`` and records what it was asked."""

    def __init__(self, answer: types.ElicitResult) -> None:
        self.answer = answer
        self.messages: list[str] = []
        self.schemas: list[dict[str, Any]] = []

    async def __call__(self, ctx: Any, params: Any) -> types.ElicitResult:
        self.messages.append(params.message)
        self.schemas.append(params.requested_schema)
        return self.answer


APPROVE = types.ElicitResult(action="accept", content={"decision": "approve"})


def _text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def _follow_to_end(client: Client, session_id: str) -> types.CallToolResult:
    after = 0
    for _ in range(10):
        got = await client.call_tool("follow_task", {"session_id": session_id, "after_seq": after, "wait_s": 15})
        data = got.structured_content
        assert data is not None, _text(got)
        if data["status"] not in ("running",):
            return got
        after = data["last_seq"]
    raise AssertionError("the task did not end")


# -- agent over stdio --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_task_approved_through_elicitation_then_undone(tmp_path: Path, fake: Any, ws: Path,
                                                                   mode: str) -> None:
    """legacy: the approval is an elicitation/create request during follow_task (MCP 2025-11-25);
    auto: 2026-07-28, the question rides an InputRequiredResult and the client's retry answers it."""
    fake.script(WRITE, DONE)
    asked = Elicitations(APPROVE)
    async with Client(_params(tmp_path, fake, "--dir", str(ws)), elicitation_callback=asked, mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"start_task", "follow_task", "list_approvals", "answer_approval", "read_transcript",
                              "undo", "list_sessions"}
        assert tools["list_sessions"].annotations.read_only_hint is True
        assert tools["undo"].annotations.destructive_hint is True

        started = await client.call_tool("start_task", {"prompt": "write hello.txt", "model": MODEL})
        assert not started.is_error, _text(started)
        session_id = started.structured_content["session_id"]
        assert started.structured_content["workspace"] == str(ws.resolve())

        done = await _follow_to_end(client, session_id)
        data = done.structured_content
        assert data["status"] == "completed", _text(done)
        assert data["answer"] == "Done: hello.txt written."
        assert "Final answer:" in _text(done)
        assert (ws / "hello.txt").read_text() == "hi there\n"
        assert len(asked.messages) == 1 and "write" in asked.messages[0] and "+hi there" in asked.messages[0]
        assert set(asked.schemas[0]["properties"]) == {"decision", "reason"}
        assert any(a.endswith(": once") for a in data["approvals_answered"])

        transcript = await client.call_tool("read_transcript", {"session_id": session_id})
        assert "answered: once" in _text(transcript) and "tool write" in _text(transcript)
        assert transcript.structured_content["turns"][0]["status"] == "completed"

        undone = await client.call_tool("undo", {"session_id": session_id})
        assert not undone.is_error, _text(undone)
        assert undone.structured_content["restored"] == ["hello.txt"]
        assert not (ws / "hello.txt").exists()
        assert (ws / "notes.txt").read_text() == "alpha\nbeta\n"

        listed = await client.call_tool("list_sessions", {})
        assert [s["session_id"] for s in listed.structured_content["sessions"]] == [session_id]


async def test_stdio_without_elicitation_the_approval_stays_pending(tmp_path: Path, fake: Any, ws: Path) -> None:
    """A client that cannot elicit is told so; the approval is neither approved nor denied until
    someone answers it (here: answer_approval, as another client would)."""
    fake.script(WRITE, reply(text("Understood, not written.")))
    async with Client(_params(tmp_path, fake, "--dir", str(ws))) as client:
        started = await client.call_tool("start_task", {"prompt": "write hello.txt", "model": MODEL})
        session_id = started.structured_content["session_id"]
        got = await _follow_to_end(client, session_id)
        data = got.structured_content
        assert data["status"] == "waiting_approval", _text(got)
        assert "does not support elicitation" in _text(got) and "stays pending" in _text(got)
        [pending] = data["pending_approvals"]
        assert pending["tool"] == "write"

        again = await client.call_tool("follow_task", {"session_id": session_id, "wait_s": 1})
        assert again.structured_content["status"] == "waiting_approval"  # still pending: nothing answered it
        listed = await client.call_tool("list_approvals", {})
        assert [a["approval_id"] for a in listed.structured_content["approvals"]] == [pending["approval_id"]]
        transcript = _text(await client.call_tool("read_transcript", {"session_id": session_id}))
        assert "answered" not in transcript
        assert not (ws / "hello.txt").exists()

        answered = await client.call_tool("answer_approval", {"approval_id": pending["approval_id"],
                                                              "decision": "deny", "reason": "not now"})
        assert not answered.is_error, _text(answered)
        done = await _follow_to_end(client, session_id)
        assert done.structured_content["status"] == "completed"
        assert "answered: deny (not now)" in _text(done)
        assert not (ws / "hello.txt").exists()
        assert "not now" in json.dumps(fake.requests[-1])  # the model read the person's reason


async def test_stdio_declined_elicitation_denies_and_cancel_leaves_pending(tmp_path: Path, fake: Any,
                                                                           ws: Path) -> None:
    fake.script(WRITE, reply(text("ok")))
    cancel = Elicitations(types.ElicitResult(action="cancel"))
    async with Client(_params(tmp_path, fake, "--dir", str(ws)), elicitation_callback=cancel,
                      mode="legacy") as client:
        session_id = (await client.call_tool("start_task", {"prompt": "w", "model": MODEL})).structured_content[
            "session_id"]
        got = await _follow_to_end(client, session_id)
        assert got.structured_content["status"] == "waiting_approval"
        assert "dismissed without an answer" in _text(got)
        cancel.answer = types.ElicitResult(action="decline")  # the person says no this time
        done = await _follow_to_end(client, session_id)
        assert done.structured_content["status"] == "completed", _text(done)
        assert "answered: deny" in _text(done)
        assert not (ws / "hello.txt").exists()
        assert len(cancel.messages) == 2


# -- toolbox over stdio ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_toolbox_write_is_asked_checkpointed_and_undone(tmp_path: Path, fake: Any, ws: Path,
                                                                     mode: str) -> None:
    asked = Elicitations(APPROVE)
    async with Client(_params(tmp_path, fake, "--toolbox", str(ws)), elicitation_callback=asked,
                      mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"read", "write", "edit", "bash", "glob", "grep", "ls", "undo"} <= set(tools)
        assert "todo_write" not in tools
        read, write, bash = tools["read"].annotations, tools["write"].annotations, tools["bash"].annotations
        assert (read.read_only_hint, read.open_world_hint) == (True, False)
        assert (write.read_only_hint, write.destructive_hint, write.open_world_hint) == (False, False, False)
        assert (bash.read_only_hint, bash.destructive_hint, bash.open_world_hint) == (False, True, True)
        assert tools["write"].input_schema["properties"].keys() >= {"path", "content"}

        got = await client.call_tool("read", {"path": "notes.txt"})  # allowed: no question
        assert not got.is_error and "beta" in _text(got)
        assert asked.messages == []

        wrote = await client.call_tool("write", {"path": "new.txt", "content": "made by the toolbox\n"})
        assert not wrote.is_error, _text(wrote)
        assert wrote.structured_content["status"] == "completed"
        assert (ws / "new.txt").read_text() == "made by the toolbox\n"
        assert len(asked.messages) == 1 and "new.txt" in asked.messages[0]
        turn_id = wrote.structured_content["turn_id"]

        bad = await client.call_tool("read", {"path": "missing.txt"})
        assert bad.is_error

        undone = await client.call_tool("undo", {"turn_id": turn_id})
        assert not undone.is_error, _text(undone)
        assert not (ws / "new.txt").exists()


async def test_stdio_toolbox_without_elicitation_leaves_the_call_waiting(tmp_path: Path, fake: Any,
                                                                         ws: Path) -> None:
    async with Client(_params(tmp_path, fake, "--toolbox", str(ws))) as client:
        got = await client.call_tool("write", {"path": "new.txt", "content": "x"})
        assert got.is_error
        assert "does not support elicitation" in _text(got)
        assert got.structured_content["status"] == "waiting_approval"
        assert not (ws / "new.txt").exists()
        later = await client.call_tool("read", {"path": "notes.txt"})  # the session's turn is still that call
        assert later.is_error and "still waiting for its approval" in _text(later)


# -- /mcp on a real server -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _token_server(tmp_path: Path, fake: Any) -> AsyncIterator[InProcessServer]:
    from server_support import FAST

    from cowork.engine import Runtime

    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", settings=FAST,
                                 openai_base_url=fake.base_url)
    server = await InProcessServer.start(runtime, Auth(require_token=True, full_token="full-secret",
                                                       read_only_token="ro-secret"))
    try:
        yield server
    finally:
        await server.stop()


def _http(url: str, token: str) -> Any:
    return streamable_http_client(url + "/mcp", http_client=httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=60)))


async def test_http_mcp_needs_the_token(tmp_path: Path, fake: Any) -> None:
    async with _token_server(tmp_path, fake) as server:
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        headers = {"Accept": "application/json, text/event-stream"}
        async with httpx.AsyncClient() as http:
            none = await http.post(server.url + "/mcp", json=body, headers=headers)
            wrong = await http.post(server.url + "/mcp", json=body, headers={**headers, "Authorization": "Bearer no"})
            evil = await http.post(server.url + "/mcp", json=body,
                                   headers={**headers, "Authorization": "Bearer full-secret",
                                            "Origin": "http://evil.example"})
        assert none.status_code == 401 and none.json()["error"]["code"] == -32002
        assert none.headers["www-authenticate"].startswith("Bearer")
        assert wrong.status_code == 401
        assert evil.status_code == 403  # the server's Origin check covers /mcp too


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_http_mcp_runs_a_task_with_the_callers_token(tmp_path: Path, fake: Any, ws: Path, mode: str) -> None:
    fake.script(WRITE, DONE)
    asked = Elicitations(APPROVE)
    async with _token_server(tmp_path, fake) as server:
        async with Client(_http(server.url, "full-secret"), elicitation_callback=asked, mode=mode) as client:
            nowhere = await client.call_tool("start_task", {"prompt": "write it", "model": MODEL})
            assert nowhere.is_error and "give workspace" in _text(nowhere)  # /mcp has no folder of its own
            started = await client.call_tool("start_task", {"prompt": "write it", "workspace": str(ws),
                                                            "model": MODEL})
            assert not started.is_error, _text(started)
            done = await _follow_to_end(client, started.structured_content["session_id"])
            assert done.structured_content["status"] == "completed", _text(done)
            assert (ws / "hello.txt").read_text() == "hi there\n"
            assert len(asked.messages) == 1

        async with Client(_http(server.url, "ro-secret"), mode=mode) as client:  # a read-only token stays read-only
            refused = await client.call_tool("start_task", {"prompt": "again", "workspace": str(ws), "model": MODEL})
            assert refused.is_error and "read-only" in _text(refused)
            listed = await client.call_tool("list_sessions", {})
            assert not listed.is_error and len(listed.structured_content["sessions"]) == 1


# -- tool/call, the protocol method under the toolbox --------------------------------------------------


async def test_tool_call_method_runs_one_tool_in_a_turn_of_its_own(tmp_path: Path, fake: Any, ws: Path) -> None:
    async with running_server(tmp_path / "c.db", fake.base_url) as srv:
        async with AsyncClient(srv.ws_url) as client:
            session = await client.create_session(ws, model=MODEL, mode="accept-edits")
            got = await client.tool_call(session_id=session.id, name="write",
                                         arguments={"path": "a.txt", "content": "A\n"})
            assert got.item.status == "completed" and (ws / "a.txt").read_text() == "A\n"
            unknown = await client.tool_call(session_id=session.id, name="nope", arguments={})
            assert unknown.item.status == "failed" and "Unknown tool" in (unknown.item.output or "")
            invalid = await client.tool_call(session_id=session.id, name="read", arguments={"paht": "x"})
            assert invalid.item.status == "failed"

            sub = await client.subscribe(session.id)
            events = []
            while sub.last_seq < sub.subscribed_seq:
                events.append(await sub.next(timeout=5))
            await sub.close()
            turn = [e for e in events if e.turn_id == got.turn_id]
            kinds = [e.type for e in turn]
            assert kinds[0] == "turn.started" and kinds[-1] == "turn.completed"
            assert "checkpoint.created" in kinds  # the turn's checkpoint, then the write's own
            completed = [e.item for e in turn if e.type == "item.completed"]
            assert [i.type for i in completed] == ["tool_call"] and completed[0].status == "completed"
            assert fake.requests == []  # no model was asked anything

            rewound = await client.rewind_turn(session.id, got.turn_id, "code")
            assert rewound.files is not None and rewound.files.restored == ["a.txt"]
            assert not (ws / "a.txt").exists()

            history = (await client.get_session(session.id)).status
            assert history == "idle"


async def test_tool_call_is_refused_while_a_turn_runs(tmp_path: Path, fake: Any, ws: Path) -> None:
    from fakemodel import hang

    fake.script(hang(seconds=30))
    async with running_server(tmp_path / "c.db", fake.base_url) as srv:
        async with AsyncClient(srv.ws_url) as client:
            session = await client.create_session(ws, model=MODEL)
            await client.start_turn(session.id, "think")
            with pytest.raises(CoworkError) as exc:
                await client.tool_call(session_id=session.id, name="read", arguments={"path": "notes.txt"})
            assert exc.value.code == -32010
            await client.interrupt_turn(session.id)


# -- the MCP Inspector's command-line mode ------------------------------------------------------------

INSPECTOR = Path(__file__).parents[1] / "node" / "node_modules" / ".bin" / "mcp-inspector"


@pytest.mark.skipif(not INSPECTOR.exists(), reason="tests/node/node_modules is missing: run `npm ci` in tests/node")
async def test_inspector_cli_lists_and_calls_tools(tmp_path: Path, fake: Any, ws: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = serve_env(home, fake.base_url)
    pass_env = [arg for k in ("COWORK_HOME", "COWORK_MODEL", "OPENAI_BASE_URL", "PYTHONUNBUFFERED")
                for arg in ("-e", f"{k}={env[k]}")]
    run_env = {**env, "HOME": str(home), "MCP_CATALOG_PATH": str(home / "inspector.json")}

    def inspector(*args: str) -> dict[str, Any]:
        done = subprocess.run([str(INSPECTOR), "--cli", *pass_env, *args], capture_output=True, text=True,
                              env=run_env, timeout=90, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout[done.stdout.index("{"):])

    listed = inspector(*SERVE, "--toolbox", str(ws), "--method", "tools/list")
    names = {t["name"]: t for t in listed["tools"]}
    assert names["read"]["annotations"]["readOnlyHint"] is True
    assert names["write"]["annotations"]["readOnlyHint"] is False
    assert "spawn_agent" not in names and "wait_agents" not in names  # they act on a model's turn (turnOnly)
    called = inspector(*SERVE, "--toolbox", str(ws), "--method", "tools/call", "--tool-name", "read",
                       "--tool-arg", "path=notes.txt")
    assert "beta" in json.dumps(called) and not called.get("isError")

    agent = inspector(*SERVE, "--dir", str(ws), "--method", "tools/list")
    assert "start_task" in {t["name"] for t in agent["tools"]}
    sessions = inspector(*SERVE, "--dir", str(ws), "--method", "tools/call", "--tool-name", "list_sessions")
    assert sessions["structuredContent"]["sessions"] == [] or "sessions" in json.dumps(sessions)


async def _pending_tool_call(runtime: Any, ws: Path) -> tuple[str, Any]:
    """A ``write`` through ``Runtime.call_tool`` in default mode, left waiting for its approval."""
    import asyncio

    session = await runtime.create_session(ws, model=MODEL)
    sub = runtime.subscribe(session.id)
    task = asyncio.create_task(runtime.call_tool(session.id, "write", {"path": "w.txt", "content": "w"}))
    async with asyncio.timeout(10):
        async for ev in sub:
            if ev.type == "approval.requested":
                break
    await sub.aclose()
    return session.id, task


async def test_close_interrupts_a_tool_call_waiting_for_approval(tmp_path: Path, fake: Any, ws: Path) -> None:
    """A model turn waiting for an approval is kept across a restart; a tool/call turn has no model
    response to resume from, so closing ends it as interrupted instead of leaving it running."""
    from cowork.engine import Runtime

    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    runtime = await Runtime.open(url, openai_base_url=fake.base_url)
    session_id, task = await _pending_tool_call(runtime, ws)
    await runtime.close()
    turn_id, item = await task
    assert item.status == "interrupted"
    again = await Runtime.open(url, openai_base_url=fake.base_url)
    try:
        assert (await again.get_session(session_id)).status == "idle"
        events = await again.store.turn_events(session_id, turn_id)
        assert events[-1].type == "turn.interrupted"
    finally:
        await again.close()
    assert not (ws / "w.txt").exists() and fake.requests == []


async def test_recovery_ends_a_tool_call_left_running_by_a_crash(tmp_path: Path, fake: Any, ws: Path) -> None:
    """cowork stopped without closing while a tool/call waited: the next start journals the turn
    as interrupted and asks no model anything (a model turn in its place would be resumed)."""
    from cowork.engine import Runtime
    from cowork.engine.lease import MemoryTurnLeases

    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    runtime = await Runtime.open(url, openai_base_url=fake.base_url, leases=MemoryTurnLeases())
    session_id, task = await _pending_tool_call(runtime, ws)
    turn = runtime._turns[session_id]
    turn.suspended = True  # as when its lease is lost: the task stops and writes nothing
    turn.cancel()
    turn_id, _ = await task
    runtime._heartbeat.cancel()
    await runtime.journal.drain()
    await runtime.store.close()  # the process is gone: no close(), the turn's row still says running

    again = await Runtime.open(url, openai_base_url=fake.base_url)
    try:
        events = await again.store.turn_events(session_id, turn_id)
        assert events[-1].type == "turn.interrupted"
        assert session_id not in again._tasks
    finally:
        await again.close()
    assert fake.requests == [] and not (ws / "w.txt").exists()


async def test_stdio_to_a_running_server_with_its_token(tmp_path: Path, fake: Any, ws: Path) -> None:
    """``--server URL --token T``: the host is a client of that server (its sessions, its auth)."""
    async with _token_server(tmp_path, fake) as server:
        async with AsyncClient(server.url, token="full-secret") as direct:
            made = await direct.create_session(ws, model=MODEL, title="made elsewhere")
        async with Client(_params(tmp_path, fake, "--server", server.url, "--token", "full-secret")) as client:
            listed = await client.call_tool("list_sessions", {})
            assert [s["session_id"] for s in listed.structured_content["sessions"]] == [made.id]
        import asyncio

        params = _params(tmp_path, fake, "--server", server.url, "--token", "wrong")
        proc = await asyncio.create_subprocess_exec(params.command, *params.args, env=params.env,
                                                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2 and out == b""  # refused at once, with nothing on the MCP channel
        assert "401" in err.decode()
