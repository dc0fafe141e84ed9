"""MCP tools in real turns: a real Runtime over SQLite with the MCP extension, real MCP server
processes, and the scripted model server over HTTP (tests/fakemodel.py) whose requests show what
the model was offered and read. Also the mcp/… protocol methods over a real WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakemodel import FakeModelServer, reply, text, tool_call
from mcp_client_support import fault, time_server, write_config

from cowork.client import AsyncClient, CoworkError
from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.mcp import extension
from cowork.policy import set_trusted
from cowork.protocol import is_terminal
from cowork.protocol.rpc import ErrorCode
from cowork.server import InProcessServer

MODEL = "openai:fake"
SETTINGS = EngineSettings(max_steps=8, stream_timeout=10, max_retries=0, retry_base_delay=0.01)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = (tmp_path / "home").resolve()
    h.mkdir()
    monkeypatch.setenv("COWORK_HOME", str(h))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-mcp-test-canary-0123456789")
    return h


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    w = (tmp_path / "ws").resolve()
    w.mkdir()
    (w / "notes.txt").write_text("alpha\n")
    return w


@pytest.fixture
def fake() -> Iterator[FakeModelServer]:
    with FakeModelServer() as srv:
        yield srv


@pytest.fixture
async def rt(home: Path, ws: Path, fake: FakeModelServer, tmp_path: Path) -> AsyncIterator[Runtime]:
    write_config(home / "mcp.json", {"time": time_server(), "fault": fault()})
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", settings=SETTINGS,
                                 openai_base_url=fake.base_url, extensions=[extension()])
    yield runtime
    await runtime.close()


async def run_turn(rt: Runtime, session_id: str, prompt: str, on_event=None, timeout: float = 30) -> list[Any]:
    after = await rt.last_seq(session_id)
    started = await rt.start_turn(session_id, prompt)
    events: list[Any] = []

    async def follow() -> None:
        async for ev in rt.subscribe(session_id, after):
            events.append(ev)
            if on_event is not None:
                on_event(ev)
            if is_terminal(ev) and ev.turn_id == started.turn_id:
                return

    await asyncio.wait_for(follow(), timeout)
    return events


def tool_items(events: list[Any]) -> list[Any]:
    return [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]


def offered(body: dict[str, Any]) -> dict[str, Any]:
    return {t["function"]["name"]: t["function"] for t in body.get("tools", [])}


def tool_messages(body: dict[str, Any]) -> list[str]:
    return [m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
            for m in body["messages"] if m["role"] == "tool"]


async def test_the_model_calls_mcp_server_time_and_a_policy_rule_asks(rt: Runtime, home: Path, ws: Path,
                                                                     fake: FakeModelServer) -> None:
    (home / "policy.toml").write_text('[[rules]]\noutcome = "ask"\nmcp = "time/get_current_*"\n'
                                      'reason = "clock reads are reviewed"\n')
    fake.script(reply(tool_call("mcp__time__get_current_time", {"timezone": "Europe/Paris"}, id="call_t")),
                reply(text("It is evening in Paris.")))
    session = await rt.create_session(ws, MODEL, "default")
    asked = []

    def answer(ev: Any) -> None:
        if ev.type == "approval.requested":
            asked.append(ev)
            rt.respond_approval(ev.approval_id, "once")

    events = await run_turn(rt, session.id, "what time is it in Paris?", on_event=answer)
    assert events[-1].type == "turn.completed"
    first = fake.requests[0]
    tools = offered(first)
    assert tools["mcp__time__get_current_time"]["parameters"]["required"] == ["timezone"]  # the server's schema
    assert "mcp__fault__echo" in tools
    assert "MCP servers" in json.dumps(first["messages"]) and "- time: ready" in json.dumps(first["messages"])
    [request] = asked
    assert "clock reads are reviewed" in request.reason
    [item] = tool_items(events)
    assert item.status == "completed" and item.policy.outcome == "ask"
    assert json.loads(item.output)["timezone"] == "Europe/Paris"
    assert item.metadata["mcp"] == {"server": "time", "tool": "get_current_time"}
    [said] = tool_messages(fake.requests[1])
    assert '"timezone": "Europe/Paris"' in said


async def test_deny_and_allow_rules_and_bad_arguments_on_mcp_tools(rt: Runtime, home: Path, ws: Path,
                                                                  fake: FakeModelServer) -> None:
    (home / "policy.toml").write_text(
        '[[rules]]\noutcome = "deny"\nmcp = "fault/write_note"\nreason = "no notes"\n\n'
        '[[rules]]\noutcome = "allow"\nmcp = "fault/env"\n')
    fake.script(reply(tool_call("mcp__fault__write_note", {"text": "x"}, id="c1"),
                      tool_call("mcp__fault__env", {"name": "OPENAI_API_KEY"}, id="c2"),
                      tool_call("mcp__fault__echo", {"txt": "typo"}, id="c3"),
                      tool_call("mcp__fault__crash", {}, id="c4")),
                reply(text("done")))
    session = await rt.create_session(ws, MODEL, "default")
    asked = []

    def answer(ev: Any) -> None:
        if ev.type == "approval.requested":
            asked.append(ev.item_id if hasattr(ev, "item_id") else ev)
            rt.respond_approval(ev.approval_id, "once")

    events = await run_turn(rt, session.id, "try the tools", on_event=answer)
    assert events[-1].type == "turn.completed"
    items = {i.name.removeprefix("mcp__fault__"): i for i in tool_items(events)}
    note, env, echo, crash = items["write_note"], items["env"], items["echo"], items["crash"]
    assert note.status == "denied" and "no notes" in note.output
    assert env.status == "completed" and env.output == "<unset>", env.output  # allowed without asking; key scrubbed
    assert echo.status == "failed" and "'text' is a required property" in echo.output
    assert echo.output.startswith("Invalid arguments for mcp__fault__echo: arguments: 'text' is a required")
    assert len(asked) == 1  # only crash asked (no annotations: it may change anything)
    assert crash.status == "failed" and "the MCP server 'fault' stopped during the call of crash" in crash.output
    said = tool_messages(fake.requests[1])
    assert any("Not allowed" in m and "no notes" in m for m in said)


async def test_a_trusted_approved_project_server_starts_with_the_first_turn(home: Path, ws: Path,
                                                                           fake: FakeModelServer, tmp_path: Path) -> None:
    from cowork.mcp import config as cfg

    write_config(ws / ".cowork" / "mcp.json", {"proj": fault()})
    set_trusted(ws, True, home)
    cfg.approve(ws, "proj", cfg.load(ws, home).servers["proj"].digest, home)
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", settings=SETTINGS,
                                 openai_base_url=fake.base_url, extensions=[extension()])
    try:
        service = runtime.extension("mcp").service
        assert service.manager.handles(None) == []  # nothing starts before a session there lists tools
        fake.script(reply(tool_call("mcp__proj__echo", {"text": "from the project"})), reply(text("ok")))
        session = await runtime.create_session(ws, MODEL, "default")
        events = await run_turn(runtime, session.id, "echo")
        assert "mcp__proj__echo" in offered(fake.requests[0])  # the first turn waited for it to start
        [item] = tool_items(events)
        assert item.status == "completed" and item.output == "from the project"
    finally:
        await runtime.close()


async def test_the_mcp_protocol_methods_over_a_websocket(home: Path, ws: Path, fake: FakeModelServer,
                                                         tmp_path: Path) -> None:
    write_config(home / "mcp.json", {"time": time_server(), "off": time_server(enabled=False)})
    write_config(ws / ".mcp.json", {"proj": fault()})
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", settings=SETTINGS,
                                 openai_base_url=fake.base_url, extensions=[extension()])
    server = await InProcessServer.start(runtime)
    try:
        async with AsyncClient(server.url, client_name="mcp-test") as client:
            await runtime.extension("mcp").service.manager.wait_starting(None)
            listed = {s.name: s for s in (await client.mcp_list()).servers}
            assert listed.keys() == {"time", "off"}
            assert listed["time"].status == "ready" and listed["time"].tools == [
                "mcp__time__get_current_time", "mcp__time__convert_time"]
            assert listed["time"].log_path.endswith("logs/mcp/time.log") and listed["time"].transport == "stdio"
            assert (listed["off"].status, listed["off"].enabled) == ("disabled", False)

            here = {s.name: s for s in (await client.mcp_list(workspace=str(ws))).servers}
            assert here["proj"].status == "untrusted" and "cowork trust" in here["proj"].error
            set_trusted(ws, True, home)
            here = {s.name: s for s in (await client.mcp_list(workspace=str(ws))).servers}
            assert here["proj"].status == "needs_approval" and "cowork mcp approve proj" in here["proj"].error
            approved = (await client.mcp_approve(name="proj", workspace=str(ws))).server
            assert approved.status in ("starting", "ready")
            restarted = (await client.mcp_restart(name="proj", workspace=str(ws))).server
            assert restarted.status == "ready" and "mcp__proj__echo" in restarted.tools

            enabled = (await client.mcp_enable(name="off", enabled=True)).server
            assert enabled.enabled and enabled.status == "starting"

            prompts = (await client.mcp_prompts(workspace=str(ws))).prompts
            assert [p.command for p in prompts] == ["mcp__proj__review"]
            got = await client.mcp_prompt(server="proj", name="review", arguments={"topic": "x", "tone": "dry"},
                                          workspace=str(ws))
            assert got.text == "Please review x in a dry tone."

            with pytest.raises(CoworkError) as unknown:
                await client.mcp_restart(name="nope")
            assert unknown.value.code == ErrorCode.NOT_FOUND and "no MCP server 'nope'" in unknown.value.message
            with pytest.raises(CoworkError) as relative:
                await client.mcp_list(workspace="relative/path")
            assert relative.value.code == ErrorCode.INVALID_PARAMS
    finally:
        await server.stop()


async def test_without_the_extension_the_methods_answer_empty_or_clearly(fake: FakeModelServer, tmp_path: Path) -> None:
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}", settings=SETTINGS,
                                 openai_base_url=fake.base_url)
    server = await InProcessServer.start(runtime)
    try:
        async with AsyncClient(server.url, client_name="mcp-test") as client:
            assert (await client.mcp_list()).servers == []
            assert (await client.mcp_prompts()).prompts == []
            with pytest.raises(CoworkError) as none:
                await client.mcp_restart(name="time")
            assert none.value.code == ErrorCode.NOT_FOUND and "no MCP client" in none.value.message
    finally:
        await server.stop()
