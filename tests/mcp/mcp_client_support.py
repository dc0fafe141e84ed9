"""Helpers for the MCP client tests: config files, the fault server, the reference servers.

The servers are real processes: ``mcp-server-time`` (PyPI, in the venv), the reference
"everything" server (npm, tests/node/node_modules) and tests/mcp/servers/fault.py (the SDK's
MCPServer, misbehaving on purpose)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cowork.mcp import McpManager

HERE = Path(__file__).resolve().parent
FAULT = HERE / "servers" / "fault.py"
TIME = Path(sys.executable).parent / "mcp-server-time"
NODE_BIN = HERE.parent / "node" / "node_modules" / ".bin"
EVERYTHING = NODE_BIN / "mcp-server-everything"

needs_everything = pytest.mark.skipif(
    not EVERYTHING.exists(), reason="tests/node/node_modules is missing: run `npm ci` in tests/node "
                                    "(CI installs @modelcontextprotocol/server-everything there)")


def fault(*args: str, **extra: Any) -> dict[str, Any]:
    """A config entry running the fault server with ``args``."""
    return {"command": sys.executable, "args": [str(FAULT), *args], **extra}


def time_server(**extra: Any) -> dict[str, Any]:
    return {"command": str(TIME), "args": ["--local-timezone", "UTC"], **extra}


def write_config(path: Path, servers: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def everything_http(mode: str) -> Iterator[int]:
    """The everything server in ``mode`` (``streamableHttp`` or ``sse``) on a free port; yields the port."""
    port = free_port()
    proc = subprocess.Popen([str(EVERYTHING), mode], env={**os.environ, "PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if proc.poll() is not None:
                raise RuntimeError(f"server-everything {mode} exited with {proc.returncode}")
            time.sleep(0.1)
        else:
            raise RuntimeError(f"server-everything {mode} did not listen on {port}")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


async def settled(manager: McpManager, workspace: Path | None = None) -> dict[str, Any]:
    """Wait for the servers still starting; the handles by name."""
    await manager.wait_starting(workspace)
    return {h.name: h for h in manager.handles(workspace)}
