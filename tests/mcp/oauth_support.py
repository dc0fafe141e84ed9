"""Helpers for tests/mcp/test_oauth*.py: the local OAuth + MCP servers (oauth_server.py) in a
subprocess, their test controls, and the person's browser played by httpx2."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

SERVER = Path(__file__).with_name("oauth_server.py")


@contextlib.contextmanager
def running_oauth_servers() -> Iterator[dict[str, str]]:
    """``{"issuer", "mcp", "sse"}`` URLs of a running authorization server and protected MCP servers."""
    proc = subprocess.Popen([sys.executable, str(SERVER)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            pytest.fail(f"oauth_server.py did not start: {proc.stderr.read()}")  # type: ignore[union-attr]
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(10)


def control(method: str, urls: dict[str, str], path: str) -> dict:
    """Call a test control of the authorization server (see oauth_server.py)."""
    response = httpx2.request(method, urls["issuer"] + path)
    response.raise_for_status()
    return response.json()


async def browser(url: str) -> None:
    """The person's browser: open the authorization URL, follow every redirect (to the loopback)."""
    async with httpx2.AsyncClient(follow_redirects=True) as client:
        page = await client.get(url)
    assert page.status_code == 200, page.text
    assert "cowork is authorized" in page.text
