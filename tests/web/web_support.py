"""Helpers for the browser suite (fixtures in this folder's conftest.py): a ``cowork serve``
subprocess, screenshots, and small waits on what the page shows."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from server_support import COWORK, LISTENING, MODEL, serve_env

CHROMIUM = os.environ.get("COWORK_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("COWORK_SCREENSHOTS") or Path(__file__).parent / ".screenshots")
WAIT_MS = 15_000
EVIL_HOST = "evil.test"
"""A name the browser resolves to 127.0.0.1: another site, served on another port."""
REBIND_HOST = "rebind.test"
"""A name the browser resolves to 127.0.0.1 and uses with cowork's own port (DNS rebinding)."""


@dataclass
class Cowork:
    """One ``cowork serve`` process and what the tests need of it."""

    url: str
    home: Path
    proc: subprocess.Popen[bytes]
    logs: Path

    def explain(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.logs.glob("serve.*")))

    def rest(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A REST call (``/api/v1`` + ``path``) as a program: no ``Origin``, no token."""
        return httpx.request(method, self.url + "/api/v1" + path, timeout=10, **kw)

    def create_session(self, workspace: Path, **extra: Any) -> str:
        r = self.rest("POST", "/sessions", json={"workspace": str(workspace), "model": MODEL, **extra})
        assert r.status_code == 201, r.text
        return r.json()["session"]["id"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_cowork(home: Path, base_url: str, logs: Path, *args: str, timeout: float = 30) -> Cowork:
    """``cowork serve --port 0 ARGS`` with ``COWORK_HOME=home``, once it prints its URL."""
    assert COWORK, "the cowork console script is not installed in this environment"
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / "serve.out", logs / "serve.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([COWORK, "serve", "--port", "0", *args], stdout=o, stderr=e,
                                stdin=subprocess.DEVNULL, env=serve_env(home, base_url))
    deadline = time.monotonic() + timeout
    while not (found := LISTENING.search(out.read_text())):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"cowork serve did not start\n{out.read_text()}\n{err.read_text()}")
        time.sleep(0.02)
    return Cowork(found.group(1), home, proc, logs)


def shot(page: Any, name: str, **kw: Any) -> Path:
    """Save a screenshot of ``page`` as ``$COWORK_SCREENSHOTS/NAME.png``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), **kw)
    return path


def tid(testid: str, **attrs: str) -> str:
    """The CSS selector of ``data-testid=TESTID`` with ``data-KEY=VALUE`` attributes (``_`` → ``-``)."""
    extra = "".join(f'[data-{k.replace("_", "-")}="{v}"]' for k, v in attrs.items())
    return f'[data-testid="{testid}"]{extra}'
