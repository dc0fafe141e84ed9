"""``cowork mcp login|logout`` (cowork.cli.mcp_auth) in a real subprocess, against the local
authorization server and protected MCP server of tests/mcp/oauth_server.py. The person's browser
is played by httpx2, fetching the address the command prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from oauth_support import (
    running_oauth_servers,  # tests/mcp, on sys.path as the test's folder
)

from cowork.mcp.oauth import McpTokenStore

CLI = "import typer; from cowork.cli.mcp_auth import register; app = typer.Typer(); register(app); app()"
"""The two commands on a Typer app of their own (``cowork mcp`` registers them the same way)."""


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    with running_oauth_servers() as found:
        yield found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


def cowork_mcp(home: Path, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "COWORK_HOME": str(home), "BROWSER": "true"}  # `true`: a browser that does nothing
    return subprocess.Popen([sys.executable, "-c", CLI, *args], env=env, cwd=cwd or home, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def open_printed_address(proc: subprocess.Popen[str]) -> str:
    """Read stderr until the authorization address, and open it like a browser would."""
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()  # type: ignore[union-attr]
        if not line:
            break
        seen.append(line)
        if line.strip().startswith("http"):
            address = line.strip()
            page = httpx2.get(address, follow_redirects=True)
            assert page.status_code == 200 and "cowork is authorized" in page.text
            return "".join(seen)
    pytest.fail(f"no authorization address printed: {''.join(seen)}")


def test_login_from_the_config_then_logout(urls: dict[str, str], home: Path) -> None:
    (home / "mcp.json").write_text(json.dumps({"mcpServers": {"notes": {"url": urls["mcp"]}}}))
    proc = cowork_mcp(home, "login", "notes", "--no-browser", "--json")
    printed = open_printed_address(proc)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, printed + stderr
    assert f"logging in to MCP server notes at {urls['mcp']}" in printed
    result = json.loads(stdout)
    assert result["server"] == "notes" and result["url"] == urls["mcp"] and result["has_refresh_token"]
    assert McpTokenStore(home).servers() == ["notes"]

    done = cowork_mcp(home, "logout", "notes")
    stdout, _ = done.communicate(timeout=30)
    assert done.returncode == 0 and "logged out of notes" in stdout
    assert McpTokenStore(home).servers() == []
    again = cowork_mcp(home, "logout", "notes")
    _, stderr = again.communicate(timeout=30)
    assert again.returncode == 1 and "no OAuth login stored for 'notes'" in stderr


def test_login_with_url_and_a_plain_summary(urls: dict[str, str], home: Path) -> None:
    proc = cowork_mcp(home, "login", "docs", "--url", urls["mcp"], "--no-browser")
    open_printed_address(proc)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "logged in to docs" in stdout and "refreshed automatically" in stdout


def test_login_errors_name_the_problem(urls: dict[str, str], home: Path) -> None:
    unknown = cowork_mcp(home, "login", "nothere", "--no-browser")
    _, stderr = unknown.communicate(timeout=30)
    assert unknown.returncode == 2 and "no MCP server named 'nothere'" in stderr and "--url" in stderr

    (home / "mcp.json").write_text(json.dumps({"mcpServers": {"local": {"command": "mcp-server-time"}}}))
    stdio = cowork_mcp(home, "login", "local", "--no-browser")
    _, stderr = stdio.communicate(timeout=30)
    assert stdio.returncode == 2 and "stdio server" in stderr

    slow = cowork_mcp(home, "login", "notes", "--url", urls["mcp"], "--no-browser", "--timeout", "1")
    _, stderr = slow.communicate(timeout=30)
    assert slow.returncode == 1 and "within 1 s" in stderr
    assert "Traceback" not in stderr
    assert not (home / "mcp-tokens.json").exists()
