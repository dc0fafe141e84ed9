"""Helpers for sandbox and red-team tests: canary credentials, a loopback listener, process checks.

Paths that must stay untouched live under /var/tmp: it is on the read-only root inside bubblewrap
and not writable under Landlock, while /tmp would be hidden by the sandbox's private /tmp anyway
(which would make a "not written" check prove nothing).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from procs import alive, marked  # noqa: F401 (re-exported to the sandbox tests)

from cowork.sandbox import support
from cowork.tools import get_tool
from cowork.tools.base import ToolContext, ToolResult

CANARY = "CANARY-" + uuid.uuid4().hex
"""Content of every fake credential; it must never appear in a command's output."""
SECRET_ENV = {
    "OPENAI_API_KEY": "sk-" + CANARY, "ANTHROPIC_API_KEY": "sk-ant-" + CANARY, "GITHUB_TOKEN": "ghp_" + CANARY,
    "AWS_SECRET_ACCESS_KEY": CANARY, "MY_SERVICE_PASSWORD": CANARY, "LC_SNEAKY": "sk-" + CANARY,
}


async def bash(ctx: ToolContext, command: str, **kwargs) -> ToolResult:
    tool = get_tool("bash")
    return await tool.run(tool.Args.model_validate({"command": command, **kwargs}), ctx)


def outside_dir() -> Path:
    """A fresh folder outside every workspace and outside /tmp (the caller removes it)."""
    path = Path("/var/tmp") / f"cowork-test-{uuid.uuid4().hex[:10]}"
    path.mkdir(mode=0o755)
    return path


def make_home(root: Path) -> Path:
    """A home folder with canary credentials: ~/.ssh/id_ed25519, ~/.aws/credentials, ~/.netrc,
    and a cowork state folder ~/.cowork/keys."""
    home = root / "home"
    for rel in (".ssh/id_ed25519", ".aws/credentials", ".netrc", ".cowork/keys"):
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(f"{CANARY}\n")
    return home


class Listener:
    """A TCP server on 127.0.0.1 (host network namespace) that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nreached!\n")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def gone_within(marker: str, seconds: float) -> bool:
    """True when no process with ``marker`` is alive at some point within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        if not marked(marker):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def need(backend: str) -> None:
    """Skip, saying why, when ``backend`` cannot run on this machine."""
    s = support()
    if backend == "bwrap" and not s.userns:
        pytest.skip(f"bubblewrap cannot run here: {s.problem}")
    if backend == "landlock" and not s.landlock_abi:
        pytest.skip(f"this kernel has no Landlock (ABI 0): {s.problem}")


SERVER_SCRIPT = """
import asyncio, json, os, sys
from pathlib import Path
from cowork.tools import get_tool
from cowork.tools.base import ToolContext
ws, backend, commands = json.loads(sys.argv[1])
async def main():
    tool = get_tool("bash")
    ctx = ToolContext(workspace=Path(ws), sandbox=backend)
    out = []
    for command in commands:
        args = tool.Args.model_validate({"command": command.replace("SERVER_PID", str(os.getpid()))})
        out.append((await tool.run(args, ctx)).output)
    print(json.dumps([os.getpid(), out]))
asyncio.run(main())
"""


def run_in_server(ws: Path, backend: str, commands: list[str], environ: dict[str, str]) -> tuple[int, list[str]]:
    """Run ``commands`` with the bash tool in a fresh Python process that plays cowork's server,
    started with ``environ`` added to this process's environment (so the values sit in its
    ``/proc/PID/environ``, as a key exported before ``cowork serve`` does; ``monkeypatch.setenv``
    would not put them there). ``SERVER_PID`` in a command is replaced by that process's pid.
    Returns the pid and each command's output."""
    done = subprocess.run(
        [sys.executable, "-c", SERVER_SCRIPT, json.dumps([str(ws), backend, commands])],
        env={**os.environ, **environ}, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pid, outputs = json.loads(done.stdout.strip().splitlines()[-1])
    return pid, outputs
