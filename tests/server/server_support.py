"""Helpers for server tests: run the real server in-process, and a raw JSON-RPC WebSocket client
that shows exactly what goes over the wire (the SDK has its own tests)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.server import InProcessServer

from fakemodel import FakeModelServer

MODEL = "openai:fake"
FAST = EngineSettings(max_steps=8, max_retries=1, retry_base_delay=0.01, stream_timeout=5)


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT
    runtime: Runtime

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"


@contextlib.asynccontextmanager
async def running_server(db: Path, base_url: str, settings: EngineSettings = FAST) -> AsyncIterator[Server]:
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{db}", settings=settings, openai_base_url=base_url)
    server = await InProcessServer.start(runtime)
    try:
        yield Server(server.url, runtime)
    finally:
        await server.stop()


@dataclass
class Rpc:
    """A raw JSON-RPC 2.0 client over one WebSocket. Notifications (events) are kept in
    ``events``; answers are matched by id."""

    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    batch_frames: int = 0
    _answers: dict[Any, asyncio.Future[Any]] = field(default_factory=dict)
    _other: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    _new_event: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, *, initialize: bool = True, token: str | None = None,
                   headers: dict[str, str] | None = None) -> AsyncIterator[Rpc]:
        async with connect(url, additional_headers=headers or {}, max_size=None, proxy=None) as ws:
            rpc = cls(ws)
            rpc._reader = asyncio.create_task(rpc._read())
            try:
                if initialize:
                    params: dict[str, Any] = {"protocolVersion": "1", "clientInfo": {"name": "test"}}
                    if token:
                        params["authToken"] = token
                    await rpc.ok("initialize", params)
                yield rpc
            finally:
                rpc._reader.cancel()

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                msg = json.loads(frame)
                if isinstance(msg, list) and msg and all(isinstance(m, dict) and m.get("method") == "event" for m in msg):
                    self.batch_frames += 1  # a batch of event notifications (capabilities.eventBatches)
                    self.events.extend(m["params"] for m in msg)
                    self._new_event.set()
                elif isinstance(msg, dict) and msg.get("method") == "event":
                    self.events.append(msg["params"])
                    self._new_event.set()
                elif isinstance(msg, dict) and msg.get("id") in self._answers:
                    self._answers.pop(msg["id"]).set_result(msg)
                else:
                    await self._other.put(msg)

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def next_other(self, timeout: float = 5) -> Any:
        """The next frame that answered no pending call (errors with id null, batches)."""
        return await asyncio.wait_for(self._other.get(), timeout)

    async def call(self, method: str, params: Any = None, timeout: float = 10) -> dict[str, Any]:
        """Send a request and return the whole response object."""
        id_ = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._answers[id_] = fut
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            msg["params"] = params
        await self.ws.send(json.dumps(msg))
        return await asyncio.wait_for(fut, timeout)

    async def ok(self, method: str, params: Any = None) -> Any:
        answer = await self.call(method, params)
        assert "result" in answer, answer
        return answer["result"]

    async def error(self, method: str, params: Any = None) -> dict[str, Any]:
        answer = await self.call(method, params)
        assert "error" in answer, answer
        return answer["error"]

    async def wait_event(self, pred: Any, timeout: float = 10) -> dict[str, Any]:
        """The first event (seen before or after this call) for which ``pred(event)`` is true."""
        async with asyncio.timeout(timeout):
            seen = 0
            while True:
                for ev in self.events[seen:]:
                    if pred(ev):
                        return ev
                seen = len(self.events)
                self._new_event.clear()
                await self._new_event.wait()

    async def wait_type(self, type_: str, session_id: str | None = None, timeout: float = 10) -> dict[str, Any]:
        return await self.wait_event(
            lambda e: e["type"] == type_ and (session_id is None or e["session_id"] == session_id), timeout)

    async def create_session(self, workspace: Path, **extra: Any) -> str:
        result = await self.ok("session/create", {"workspace": str(workspace), "model": MODEL, **extra})
        return result["session"]["id"]

    async def start(self, session_id: str, text: str, **extra: Any) -> str:
        result = await self.ok("turn/start", {"sessionId": session_id, "input": [{"type": "text", "text": text}],
                                              **extra})
        return result["turnId"]


TERMINAL = ("turn.completed", "turn.failed", "turn.interrupted")


def seqs(events: list[dict[str, Any]], session_id: str) -> list[int]:
    return [e["seq"] for e in events if e["session_id"] == session_id]


# -- `cowork serve` as a subprocess ------------------------------------------------------------

COWORK = shutil.which("cowork", path=str(Path(sys.executable).parent)) or shutil.which("cowork")
_SCRUB = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY",
          "OLLAMA_BASE_URL")
LISTENING = re.compile(r"cowork serve: listening on (http://\S+) ")


@dataclass
class Served:
    """One ``cowork serve`` process; its stdout and stderr go to files beside the home."""

    proc: subprocess.Popen[bytes]
    url: str
    out: Path
    err: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def stdout(self) -> str:
        return self.out.read_text()

    def explain(self) -> str:
        return f"exit {self.proc.returncode}\n--- stdout ---\n{self.stdout()[-3000:]}\n--- stderr ---\n" \
               f"{self.err.read_text()[-3000:]}"

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sig`` and wait for the exit; returns the exit code (negative: killed by a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"cowork serve did not exit within {timeout}s of signal {sig}\n{self.explain()}")
            await asyncio.sleep(0.02)
        return self.proc.returncode


def serve_env(home: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith("COWORK_")}
    env.update({
        "COWORK_HOME": str(home), "COWORK_MODEL": MODEL, "OPENAI_BASE_URL": base_url,
        "COWORK_MAX_RETRIES": "0", "COWORK_STREAM_TIMEOUT": "20", "PYTHONUNBUFFERED": "1",
    })
    return env


def _default_sigint() -> None:  # a test runner started in the background may ignore SIGINT; Ctrl-C does not
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def start_serve(home: Path, base_url: str, logs: Path, *args: str, timeout: float = 30) -> Served:
    """Start ``cowork serve --port 0 ARGS`` and wait for its "listening on" line."""
    assert COWORK, "the cowork console script is not installed in this environment"
    logs.mkdir(parents=True, exist_ok=True)
    n = len(list(logs.glob("serve-*.out")))
    out, err = logs / f"serve-{n}.out", logs / f"serve-{n}.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([COWORK, "serve", "--port", "0", *args], stdout=o, stderr=e, stdin=subprocess.DEVNULL,
                                env=serve_env(home, base_url), preexec_fn=_default_sigint)
    served = Served(proc, "", out, err)
    deadline = time.monotonic() + timeout
    while not (found := LISTENING.search(out.read_text())):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"cowork serve did not start\n{served.explain()}")
        await asyncio.sleep(0.02)
    served.url = found.group(1)
    return served


# -- fixtures shared by tests/server and tests/jobs (their conftests import them) -------------------


@pytest.fixture
def fake():
    """The scripted model server (tests/fakemodel.py), stopped at the end."""
    with FakeModelServer() as s:
        yield s


@pytest.fixture
def serve(tmp_path: Path, fake):
    """``await serve(*args)`` starts ``cowork serve`` on ``tmp_path/home``; all are killed at the end."""
    started: list[Served] = []

    async def start(*args: str) -> Served:
        s = await start_serve(tmp_path / "home", fake.base_url, tmp_path / "logs", *args)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
