"""The reference "everything" server from npm (@modelcontextprotocol/server-everything, a server
nobody here wrote) over stdio, Streamable HTTP and HTTP+SSE, including the fallback from
Streamable HTTP to SSE for a URL without a type. One HTTP server of each kind per module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp_client_support import EVERYTHING, everything_http, needs_everything, settled, write_config

from cowork.mcp import McpManager, McpToolset
from cowork.tools.base import ToolContext

pytestmark = needs_everything


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    with everything_http("streamableHttp") as port:
        yield port


@pytest.fixture(scope="module")
def sse_port() -> Iterator[int]:
    with everything_http("sse") as port:
        yield port


@pytest.fixture
async def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[McpManager]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("COWORK_HOME", str(home))
    m = McpManager(home)
    yield m
    await m.close()


async def _exercise(manager: McpManager, name: str, ws: Path) -> dict:
    handles = await settled(manager, ws)
    handle = handles[name]
    assert handle.status == "ready", handle.error
    tools = {t.name: t for t in McpToolset(manager).tools("s1", ws) if t.name.startswith(f"mcp__{name}__")}
    echo = tools[f"mcp__{name}__echo"]
    result = await echo.run(echo.Args.model_validate({"message": "over the wire"}), ToolContext(workspace=ws, session_id="s1"))
    assert result.output == "Echo: over the wire" and not result.is_error
    total = tools[f"mcp__{name}__get-sum"]
    summed = await total.run(total.Args.model_validate({"a": 2, "b": 40}), ToolContext(workspace=ws, session_id="s1"))
    assert "42" in summed.output
    return {"handle": handle, "tools": tools}


async def test_stdio(manager: McpManager, tmp_path: Path) -> None:
    write_config(manager.home / "mcp.json", {"everything": {"command": str(EVERYTHING)}})
    await manager.start()
    found = await _exercise(manager, "everything", tmp_path)
    assert found["handle"].transport == "stdio"
    image = found["tools"]["mcp__everything__get-tiny-image"]
    result = await image.run(image.Args.model_validate({}), ToolContext(workspace=tmp_path, session_id="s1"))
    [path] = result.metadata["artifacts"]
    assert (tmp_path / path).read_bytes().startswith(b"\x89PNG") and f"saved to {path}" in result.output
    resources = next(t for t in McpToolset(manager).tools("s1", tmp_path) if t.name == "mcp_resources")
    listed = await resources.run(resources.Args.model_validate({}), ToolContext(workspace=tmp_path, session_id="s1"))
    assert "demo://resource/static/document/" in listed.output
    prompts = {p.name: p for p in await manager.prompts(tmp_path)}
    assert "simple-prompt" in prompts and prompts["args-prompt"].command == "mcp__everything__args-prompt"
    got = await manager.prompt("everything", "args-prompt", {"city": "Lyon"}, tmp_path)
    assert "Lyon" in got.text


async def test_streamable_http(manager: McpManager, http_port: int, tmp_path: Path) -> None:
    write_config(manager.home / "mcp.json", {"ev": {"url": f"http://127.0.0.1:{http_port}/mcp", "type": "http"}})
    await manager.start()
    found = await _exercise(manager, "ev", tmp_path)
    assert found["handle"].transport == "http"
    assert found["tools"]["mcp__ev__echo"].traits.checkpoint is False  # a remote server's tools are not checkpointed


async def test_sse_and_the_fallback_to_it(manager: McpManager, sse_port: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{sse_port}/sse"
    write_config(manager.home / "mcp.json", {"typed": {"url": url, "type": "sse"}, "guessed": {"url": url}})
    await manager.start()
    typed = await _exercise(manager, "typed", tmp_path)
    guessed = await _exercise(manager, "guessed", tmp_path)
    assert typed["handle"].transport == "sse" and guessed["handle"].transport == "sse"
    log = (manager.home / "logs" / "mcp" / "guessed.log").read_text()
    assert "http connection failed" in log and "ready over sse" in log


async def test_a_url_nobody_answers_fails_with_both_attempts_named(manager: McpManager, tmp_path: Path) -> None:
    from mcp_client_support import free_port

    write_config(manager.home / "mcp.json", {"gone": {"url": f"http://127.0.0.1:{free_port()}/mcp", "startup_timeout": 5}})
    await manager.start()
    handles = await settled(manager, tmp_path)
    error = handles["gone"].error
    assert handles["gone"].status == "failed" and error.startswith("http: ") and "; sse: " in error
