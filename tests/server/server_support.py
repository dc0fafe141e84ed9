"""Helpers for server tests: run the real server in-process, and a raw JSON-RPC WebSocket client
that shows exactly what goes over the wire (the SDK has its own tests)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.server import InProcessServer

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
                if isinstance(msg, dict) and msg.get("method") == "event":
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
