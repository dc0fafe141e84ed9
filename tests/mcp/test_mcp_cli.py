"""``cowork mcp`` (Typer's CliRunner: add, list, get, approve, remove, test against real servers),
and the REPL's MCP prompt commands (``/mcp__SERVER__PROMPT ARGS``) through a real Chat over a real
in-process server, whose prompt text reaches the scripted model as the user's message."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from fakemodel import FakeModelServer, reply, text
from mcp_client_support import FAULT, TIME, write_config
from rich.console import Console
from typer.testing import CliRunner

from cowork.cli.mcp import mcp_app, parse_prompt_args

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = (tmp_path / "home").resolve()
    h.mkdir()
    monkeypatch.setenv("COWORK_HOME", str(h))
    return h


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    w = (tmp_path / "ws").resolve()
    w.mkdir()
    return w


def run(*args: str):
    result = runner.invoke(mcp_app, list(args), catch_exceptions=False)
    result.flat = " ".join(result.output.split())  # rich wraps long lines
    return result


def test_add_list_get_remove(home: Path, ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", "t")
    r = run("add", "time", "--env", "TZ=UTC", "--", str(TIME), "--local-timezone", "UTC")
    assert r.exit_code == 0, r.output
    assert json.loads((home / "mcp.json").read_text())["mcpServers"]["time"] == {
        "command": str(TIME), "args": ["--local-timezone", "UTC"], "env": {"TZ": "UTC"}}
    r = run("add", "remote", "--url", "https://example.com/mcp", "-H", "Authorization: Bearer ${TOKEN}",
            "--transport", "sse", "--scope", "project", "--dir", str(ws))
    assert r.exit_code == 0, r.output
    assert "cowork mcp approve remote" in r.flat
    assert json.loads((ws / ".mcp.json").read_text())["mcpServers"]["remote"] == {
        "url": "https://example.com/mcp", "type": "sse", "headers": {"Authorization": "Bearer ${TOKEN}"}}

    r = run("list", "--dir", str(ws), "--json")
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert rows["time"]["scope"] == "user" and rows["time"]["state"] == "enabled" and rows["time"]["transport"] == "stdio"
    assert rows["remote"]["state"] == "untrusted" and rows["remote"]["transport"] == "sse"
    r = run("list", "--dir", str(ws))
    assert "time" in r.flat and "https://example.com/mcp" in r.flat

    r = run("get", "remote", "--dir", str(ws))
    assert r.exit_code == 0 and "project" in r.flat and '"type": "sse"' in r.flat

    assert run("remove", "remote", "--dir", str(ws)).exit_code == 0
    assert "remote" not in json.loads((ws / ".mcp.json").read_text())["mcpServers"]
    r = run("remove", "remote", "--dir", str(ws))
    assert r.exit_code == 2 and "no MCP server 'remote'" in r.flat


def test_add_refuses_bad_input(home: Path) -> None:
    r = run("add", "x")
    assert r.exit_code == 2 and "give either a command (after --) or --url, not neither" in r.flat
    r = run("add", "x", "--url", "http://h", "--", "cmd")
    assert r.exit_code == 2 and "not both" in r.flat
    r = run("add", "a__b", "--", "cmd")
    assert r.exit_code == 2 and "bad server name" in r.flat
    r = run("add", "x", "--env", "NOEQUALS", "--", "cmd")
    assert r.exit_code == 2 and "expected KEY=VALUE" in r.flat
    r = run("add", "x", "--url", "http://h", "--transport", "websocket")
    assert r.exit_code == 2 and "use http or sse" in r.flat


def test_approve_a_project_server_and_test_it(home: Path, ws: Path) -> None:
    from cowork.policy import set_trusted

    write_config(ws / ".cowork" / "mcp.json", {"fault": {"command": sys.executable, "args": [str(FAULT)]}})
    r = run("test", "fault", "--dir", str(ws))
    assert r.exit_code == 1 and "untrusted" in r.flat
    set_trusted(ws, True, home)
    r = run("list", "--dir", str(ws))
    assert "needs_approval" in r.flat and "cowork mcp approve fault" in r.flat
    r = run("approve", "fault", "--dir", str(ws))
    assert r.exit_code == 0 and f"approved fault for {ws}" in r.flat
    r = run("test", "fault", "--dir", str(ws))
    assert r.exit_code == 0, r.output
    assert "fault: ready over stdio in" in r.flat and "mcp__fault__echo" in r.flat
    r = run("approve", "nope", "--dir", str(ws))
    assert r.exit_code == 2 and "no MCP server 'nope' (configured: fault)" in r.flat


def test_test_reports_a_server_that_fails(home: Path, ws: Path) -> None:
    write_config(home / "mcp.json", {"broken": {"command": sys.executable, "args": [str(FAULT), "--fail-start"]},
                                    "missing": {"command": "/no/such/server"}})
    r = run("test", "broken", "--dir", str(ws))
    assert r.exit_code == 1 and "broken: failed" in r.flat and "refusing to start" in r.flat
    r = run("test", "missing", "--dir", str(ws))
    assert r.exit_code == 1 and "missing: failed" in r.flat


def test_prompt_arguments() -> None:
    args = [SimpleNamespace(name="topic", required=True), SimpleNamespace(name="tone", required=False)]
    assert parse_prompt_args("the patch", args) == {"topic": "the"} | {"tone": "patch"}
    assert parse_prompt_args('"the patch"', args) == {"topic": "the patch"}
    assert parse_prompt_args("tone=dry 'my code'", args) == {"tone": "dry", "topic": "my code"}
    assert parse_prompt_args("tone=dry my whole code", args) == {"tone": "dry", "topic": "my whole code"}
    with pytest.raises(ValueError, match="missing topic"):
        parse_prompt_args("tone=dry", args)
    with pytest.raises(ValueError, match="too many arguments"):
        parse_prompt_args("a b c", args)
    with pytest.raises(ValueError, match="takes no arguments"):
        parse_prompt_args("x", [])


async def test_an_mcp_prompt_is_sent_as_the_users_turn(home: Path, ws: Path, tmp_path: Path) -> None:
    from cowork.cli.chat import Chat, ChatError
    from cowork.client import AsyncClient
    from cowork.config import EngineSettings
    from cowork.engine import Runtime
    from cowork.mcp import extension
    from cowork.server import InProcessServer

    write_config(home / "mcp.json", {"fault": {"command": sys.executable, "args": [str(FAULT)]}})
    with FakeModelServer() as fake:
        fake.script(reply(text("Reviewed.")))
        runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", openai_base_url=fake.base_url,
                                     settings=EngineSettings(max_steps=4, stream_timeout=10, max_retries=0),
                                     extensions=[extension()])
        server = await InProcessServer.start(runtime)
        try:
            await runtime.extension("mcp").service.manager.wait_starting(None)
            async with AsyncClient(server.url, client_name="chat-test") as client:
                console = Console(record=True, width=120)
                chat = Chat(client, ws, console, console)
                await chat.open(await client.create_session(str(ws), model="openai:fake"), replay=False)
                await chat.command("/mcp")
                shown = console.export_text()
                assert "fault" in shown and "ready" in shown and "/mcp__fault__review topic [tone]" in shown
                await chat.command("/mcp__fault__review 'the parser' tone=blunt")
                user = [m for m in fake.requests[0]["messages"] if m["role"] == "user"]
                assert "Please review the parser in a blunt tone." in json.dumps(user)
                with pytest.raises(ChatError, match="missing topic"):
                    await chat.command("/mcp__fault__review")
                with pytest.raises(ChatError, match="unknown MCP prompt /mcp__fault__nope"):
                    await chat.command("/mcp__fault__nope")
        finally:
            await server.stop()


def test_cowork_mcp_add_then_cowork_run_uses_the_tool(tmp_path: Path) -> None:
    """The whole path as a person takes it: two real `cowork` processes, the scripted model."""
    import os
    import shutil
    import subprocess

    from fakemodel import tool_call

    cowork = shutil.which("cowork", path=str(Path(sys.executable).parent))
    assert cowork is not None
    home, ws = tmp_path / "h", tmp_path / "w"
    home.mkdir()
    ws.mkdir()
    with FakeModelServer() as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COWORK_", "OPENAI_", "ANTHROPIC_"))}
        env.update(COWORK_HOME=str(home), COWORK_MODEL="openai:fake", OPENAI_BASE_URL=fake.base_url,
                   COWORK_MAX_RETRIES="0", COWORK_STREAM_TIMEOUT="20")
        added = subprocess.run([cowork, "mcp", "add", "time", "--", str(TIME), "--local-timezone", "UTC"],
                               env=env, capture_output=True, text=True, timeout=60)
        assert added.returncode == 0, added.stderr
        fake.script(reply(tool_call("mcp__time__get_current_time", {"timezone": "Asia/Tokyo"})),
                    reply(text("It is morning in Tokyo.")))
        ran = subprocess.run([cowork, "run", "--yes", "-C", str(ws), "what time is it in Tokyo?"],
                             env=env, capture_output=True, text=True, timeout=90)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "It is morning in Tokyo." in ran.stdout
        said = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"]
        assert "Asia/Tokyo" in json.dumps(said) and "+09:00" in json.dumps(said)


def test_login_logout_and_serve_are_registered_when_installed() -> None:
    import importlib.util

    names = {c.name for c in mcp_app.registered_commands}
    assert {"list", "add", "remove", "get", "approve", "test"} <= names
    if importlib.util.find_spec("cowork.cli.mcp_auth") is not None:
        assert {"login", "logout"} <= names
    if importlib.util.find_spec("cowork.cli.mcp_serve") is not None:
        assert "serve" in names
