"""The MCP client against real server processes: mcp-server-time (PyPI) and the fault server
(tests/mcp/servers/fault.py, the SDK's MCPServer): calls and results, argument validation,
traits, environment scrubbing, crashes with restart and backoff, hangs past tool_timeout, slow
starts past startup_timeout, list_changed, filters, resources and prompts."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp_client_support import fault, settled, time_server, write_config
from pydantic import ValidationError

from cowork.mcp import McpManager, McpToolset, extension
from cowork.mcp.manager import BACKOFF_MAX, LOG_CAP
from cowork.tools.base import ToolContext, ToolError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("COWORK_HOME", str(h))
    return h


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    w = tmp_path / "ws"
    w.mkdir()
    return w.resolve()


@pytest.fixture
async def manager(home: Path) -> AsyncIterator[McpManager]:
    m = McpManager(home)
    yield m
    await m.close()


def ctx(ws: Path) -> ToolContext:
    return ToolContext(workspace=ws, session_id="sess_1")


async def tools(manager: McpManager, ws: Path) -> dict:
    await settled(manager, ws)
    return {t.name: t for t in McpToolset(manager).tools("sess_1", ws)}


async def call(tool, ws: Path, **arguments):
    return await tool.run(tool.Args.model_validate(arguments), ctx(ws))


async def test_mcp_server_time_over_stdio(home: Path, ws: Path, manager: McpManager) -> None:
    write_config(home / "mcp.json", {"time": time_server()})
    old_log = home / "logs" / "mcp" / "time.log"
    old_log.parent.mkdir(parents=True)
    old_log.write_text("x" * (LOG_CAP + 1))  # past the cap: rotated at the next start
    started = time.monotonic()
    await manager.start()
    assert time.monotonic() - started < 0.5  # start() never waits for a server
    found = await tools(manager, ws)
    tool = found["mcp__time__get_current_time"]
    assert "mcp__time__convert_time" in found
    assert tool.traits.read_only and not tool.traits.destructive  # readOnlyHint
    schema = tool.parameters_schema()
    assert schema["required"] == ["timezone"] and schema["properties"]["timezone"]["type"] == "string"
    result = await call(tool, ws, timezone="Asia/Tokyo")
    assert not result.is_error
    data = json.loads(result.output)
    assert data["timezone"] == "Asia/Tokyo" and data["datetime"].endswith("+09:00")
    with pytest.raises(ValidationError) as bad:
        tool.Args.model_validate({"timezone": 9})
    assert "timezone: 9 is not of type 'string'" in str(bad.value)
    with pytest.raises(ValidationError, match="'timezone' is a required property"):
        tool.Args.model_validate({})
    log = (home / "logs" / "mcp" / "time.log").read_text()
    assert "ready over stdio with 2 tools" in log and len(log) < 10_000
    assert (home / "logs" / "mcp" / "time.log.1").stat().st_size == LOG_CAP + 1


async def test_results_traits_resources_and_prompts(home: Path, ws: Path, manager: McpManager,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-must-not-leak-0123456789")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-canary")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-passed-on-purpose")
    write_config(home / "mcp.json", {"fault": fault(env={"SERVICE_TOKEN": "${MY_SERVICE_TOKEN}", "PLAIN": "1"})})
    await manager.start()
    found = await tools(manager, ws)
    echo, note = found["mcp__fault__echo"], found["mcp__fault__write_note"]
    assert (echo.traits.read_only, echo.traits.open_world, echo.traits.checkpoint) == (True, False, False)
    # no annotations: MCP's defaults (may change anything, irreversibly, over the network); stdio: checkpointed
    assert (note.traits.read_only, note.traits.destructive, note.traits.open_world, note.traits.checkpoint) == (
        False, True, True, True)
    assert "(MCP server fault)" in echo.description

    assert (await call(echo, ws, text="hello")).output == "hello"

    env = found["mcp__fault__env"]
    assert (await call(env, ws, name="OPENAI_API_KEY")).output == "<unset>"
    assert (await call(env, ws, name="ANTHROPIC_API_KEY")).output == "<unset>"
    assert (await call(env, ws, name="MY_SERVICE_TOKEN")).output == "<unset>"
    assert (await call(env, ws, name="SERVICE_TOKEN")).output == "tok-passed-on-purpose"  # the config passed it
    assert (await call(env, ws, name="PLAIN")).output == "1"
    assert (await call(env, ws, name="PATH")).output != "<unset>"

    picture = await call(found["mcp__fault__picture"], ws)
    assert not picture.is_error and picture.output.startswith("here is a picture")
    image, resource = picture.metadata["artifacts"]
    assert image.startswith(".cowork/artifacts/sess_1/fault-picture-") and image.endswith(".png")
    assert (ws / image).read_bytes().startswith(b"\x89PNG")
    assert f"[image (image/png, 70 bytes) saved to {image}]" in picture.output
    assert f"[resource note://1 saved to {resource}]\nthe note" in picture.output
    assert (ws / resource).read_text() == "the note"

    failed = await call(found["mcp__fault__fail"], ws)
    assert failed.is_error and "Error executing tool fail" in failed.output and failed.summary.startswith("error: ")
    structured = await call(found["mcp__fault__structured"], ws)
    print(repr(structured.output))
    assert not structured.is_error and "42" in structured.output

    resources = found["mcp_resources"]
    assert resources.traits.read_only
    listed = await call(resources, ws)
    assert "fault\tnote://readme\treadme" in listed.output
    read = await call(resources, ws, action="read", server="fault", uri="note://readme")
    assert read.output == "read me, please"
    with pytest.raises(ToolError, match="No connected MCP server 'nope'"):
        await call(resources, ws, action="read", server="nope", uri="x")

    ext_prompts = await manager.prompts(ws)
    [review] = ext_prompts
    assert (review.command, [(a.name, a.required) for a in review.arguments]) == (
        "mcp__fault__review", [("topic", True), ("tone", False)])
    got = await manager.prompt("fault", "review", {"topic": "the patch"}, ws)
    assert got.text == "Please review the patch in a kind tone." and got.messages[0].role == "user"
    with pytest.raises(LookupError, match="no MCP server 'zzz'; configured: fault"):
        await manager.prompt("zzz", "review", {}, ws)


async def test_a_crash_is_a_clear_error_then_the_server_is_restarted(home: Path, ws: Path, manager: McpManager) -> None:
    write_config(home / "mcp.json", {"fault": fault()})
    await manager.start()
    found = await tools(manager, ws)
    with pytest.raises(ToolError) as crashed:
        await call(found["mcp__fault__crash"], ws)
    said = str(crashed.value)
    assert "the MCP server 'fault' stopped during the call of crash" in said
    assert str(home / "logs" / "mcp" / "fault.log") in said
    [handle] = manager.handles(ws)
    for _ in range(50):
        if handle.status == "failed":
            break
        await _sleep(0.05)
    assert handle.status == "failed" and "the server exited" in handle.error and "retrying in 1 s" in handle.error
    assert "crashing on purpose" in handle.error  # the end of its stderr
    with pytest.raises(ToolError, match="is not running"):  # while it is down
        await call(found["mcp__fault__echo"], ws, text="x")
    assert McpToolset(manager).tools("sess_1", ws) == []  # its tools are gone meanwhile
    await handle.wait_settled(5)
    for _ in range(60):  # the backoff's first wait is 1 s
        if handle.status == "ready":
            break
        await _sleep(0.1)
    assert handle.status == "ready"
    again = {t.name: t for t in McpToolset(manager).tools("sess_1", ws)}
    assert (await call(again["mcp__fault__echo"], ws, text="back")).output == "back"
    log = (home / "logs" / "mcp" / "fault.log").read_text()
    assert "crashing on purpose" in log and log.count("starting fault") == 2


async def test_a_server_that_never_starts_backs_off(home: Path, ws: Path, manager: McpManager) -> None:
    write_config(home / "mcp.json", {"broken": fault("--fail-start")})
    await manager.start()
    await settled(manager, ws)
    [handle] = manager.handles(ws)
    assert handle.status == "failed" and "refusing to start" in handle.error and "retrying in 1 s" in handle.error
    for _ in range(40):
        if handle.attempt.number >= 2:
            break
        await _sleep(0.1)
    assert handle.attempt.number == 2 and "retrying in 2 s" in handle.error  # 1, 2, 4 … 60 s
    assert BACKOFF_MAX == 60
    [entry] = await manager.list_servers(ws, lambda h: [])
    assert entry.status == "failed" and entry.log_path.endswith("broken.log")


async def test_a_hang_past_tool_timeout_is_a_timeout_error(home: Path, ws: Path, manager: McpManager) -> None:
    write_config(home / "mcp.json", {"fault": fault(tool_timeout=1)})
    await manager.start()
    found = await tools(manager, ws)
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"the call of hang on the MCP server 'fault' timed out after 1 s"):
        await call(found["mcp__fault__hang"], ws, seconds=30)
    assert time.monotonic() - started < 3
    assert (await call(found["mcp__fault__echo"], ws, text="still here")).output == "still here"


async def test_a_slow_start_never_holds_a_turn_past_startup_timeout(home: Path, ws: Path) -> None:
    write_config(home / "mcp.json", {"slow": fault("--slow", "3", startup_timeout=1), "time": time_server()})
    ext = extension(home)
    await ext.start()
    try:
        [source] = ext.context_sources
        started = time.monotonic()
        [section] = await _in_thread(source.sections, "sess_1", ws, "hi")  # what a turn gathers first
        took = time.monotonic() - started
        assert took < 3, took
        assert "- time: ready (2 tools, named mcp__time__…)" in section.text
        assert "- slow: failed (did not start within 1 s" in section.text and "retrying in 1 s" in section.text
        names = [t.name for t in ext.toolsets[0].tools("sess_1", ws)]
        assert "mcp__time__get_current_time" in names and not any("slow" in n for n in names)
    finally:
        await ext.close()


async def test_tools_appear_when_the_server_says_list_changed(home: Path, ws: Path, manager: McpManager) -> None:
    write_config(home / "mcp.json", {"fault": fault(denied_tools=["crash", "h*"])})
    await manager.start()
    toolset = McpToolset(manager)
    found = await tools(manager, ws)
    assert "mcp__fault__extra" not in found
    assert "mcp__fault__crash" not in found and "mcp__fault__hang" not in found  # denied_tools
    before = toolset.version
    assert (await call(found["mcp__fault__grow"], ws)).output == "grown"
    for _ in range(50):
        names = [t.name for t in toolset.tools("sess_1", ws)]
        if "mcp__fault__extra" in names:
            break
        await _sleep(0.05)
    assert "mcp__fault__extra" in names and toolset.version > before
    extra = next(t for t in toolset.tools("sess_1", ws) if t.name == "mcp__fault__extra")
    assert (await call(extra, ws)).output == "extra!"


async def test_project_servers_need_trust_and_an_approval_per_config(home: Path, ws: Path, manager: McpManager) -> None:
    from cowork.mcp import config as cfg
    from cowork.policy import set_trusted

    write_config(home / "mcp.json", {"time": time_server()})
    write_config(ws / ".mcp.json", {"time": fault()})  # a project server hides the user's of that name
    await manager.start()

    def status() -> dict:
        return {e.name: (e.scope, e.status) for e in _run_list(manager, ws)}

    await settled(manager, ws)
    assert status() == {"time": ("project", "untrusted")}
    assert McpToolset(manager).tools("sess_1", ws) == []  # and nothing of the user's "time" here
    set_trusted(ws, True, home)
    assert status() == {"time": ("project", "needs_approval")}
    entry = await manager.approve("time", ws, lambda h: [])
    assert entry.status == "starting"
    await settled(manager, ws)
    assert status() == {"time": ("project", "ready")}
    names = [t.name for t in McpToolset(manager).tools("sess_1", ws)]
    assert "mcp__time__echo" in names and "mcp__time__get_current_time" not in names

    write_config(ws / ".mcp.json", {"time": fault("--slow", "0")})  # edited: ask again
    assert status() == {"time": ("project", "needs_approval")}
    assert cfg.load(ws, home).servers["time"].digest != entry and True
    with pytest.raises(ValueError, match="user server"):
        await manager.approve("time", None, lambda h: [])  # type: ignore[arg-type]


async def test_disabled_servers_do_not_start_until_enabled(home: Path, ws: Path, manager: McpManager) -> None:
    write_config(home / "mcp.json", {"time": time_server(enabled=False)})
    await manager.start()
    [entry] = await manager.list_servers(ws, lambda h: [])
    assert (entry.status, entry.enabled) == ("disabled", False)
    entry = await manager.enable("time", True, ws, lambda h: [t.name for t in h.tools])
    assert entry.status == "starting" and entry.enabled
    await settled(manager, ws)
    [entry] = await manager.list_servers(ws, lambda h: [t.name for t in h.tools])
    assert entry.status == "ready" and entry.tools == ["get_current_time", "convert_time"]
    entry = await manager.restart("time", ws, lambda h: [t.name for t in h.tools])
    assert entry.status == "ready"
    await manager.enable("time", False, ws, lambda h: [])
    assert [e.status for e in await manager.list_servers(ws, lambda h: [])] == ["disabled"]
    assert manager.handles(ws) == []


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def _in_thread(fn, *args):
    import asyncio

    return await asyncio.to_thread(fn, *args)


def _run_list(manager: McpManager, ws: Path):
    return [manager._entry(e, h, s, r, lambda h: []) for e, h, s, r in manager.sync(ws)]


async def test_a_chatty_servers_log_is_capped(home: Path, ws: Path, manager: McpManager,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import cowork.mcp.manager as manager_module

    monkeypatch.setattr(manager_module, "LOG_CAP", 20_000)
    write_config(home / "mcp.json", {"fault": fault()})
    await manager.start()
    found = await tools(manager, ws)
    assert (await call(found["mcp__fault__shout"], ws, lines=2000)).output == "shouted"  # ~200 kB of stderr
    log, old = home / "logs" / "mcp" / "fault.log", home / "logs" / "mcp" / "fault.log.1"
    for _ in range(100):
        if old.exists() and log.exists() and "shouting line 01999" in log.read_text():  # (between rotation's rename and reopen there is no log)
            break
        await _sleep(0.05)
    assert "shouting line 01999" in log.read_text()
    assert log.stat().st_size <= 20_000 and old.stat().st_size <= 20_000
