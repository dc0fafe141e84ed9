"""The ASGI app (FastAPI) and the way to run it: ``cowork serve``, or in-process for the CLI.

:func:`create_app` wires the two transports — JSON-RPC over WebSocket at ``/ws`` (``ws.py``)
and REST + SSE under ``/api/v1`` (``rest.py``) — to one :class:`~.methods.Service` over a
:class:`~cowork.engine.Runtime`. :func:`serve` runs it with uvicorn on a socket it binds first,
so ``--port 0`` knows its port before the first request. Shutting down closes the runtime, which
journals running turns as interrupted (turns waiting for an approval are kept and resumed on the
next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI, WebSocket

from .. import __version__
from ..engine import Runtime
from . import rest
from .auth import Auth
from .methods import Service
from .ws import serve_websocket

log = logging.getLogger(__name__)


def create_app(runtime: Runtime, auth: Auth | None = None, *, close_runtime: bool = False) -> FastAPI:
    """The app over ``runtime``. ``auth`` defaults to a loopback server (no token needed);
    ``close_runtime`` closes the runtime when the app shuts down."""
    auth = auth or Auth(require_token=False)
    service = Service(runtime)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if close_runtime:
            await runtime.close()

    app = FastAPI(title="cowork", version=__version__, lifespan=lifespan,
                  description="JSON-RPC 2.0 over WebSocket at /ws; REST + SSE under /api/v1. See docs/protocol.md.")
    app.state.runtime, app.state.service = runtime, service

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        await serve_websocket(ws, service, auth)

    rest.install(app, service, auth)
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one). Raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: FastAPI, **kwargs: object) -> uvicorn.Config:
    return uvicorn.Config(app, lifespan="on", ws_max_size=16 * 1024 * 1024, timeout_graceful_shutdown=5,
                          log_level="warning", **kwargs)  # type: ignore[arg-type]


async def serve(runtime: Runtime, sock: socket.socket, auth: Auth, on_ready: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's handlers), then close the runtime."""
    server = uvicorn.Server(_config(create_app(runtime, auth, close_runtime=True)))
    on_ready(url_of(sock))
    await server.serve(sockets=[sock])


class _Embedded(uvicorn.Server):
    """uvicorn without its signal handlers: the CLI that embeds it owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class InProcessServer:
    """A server on a free loopback port inside this process (``cowork run``, ``cowork chat``)."""

    url: str
    runtime: Runtime
    _server: _Embedded
    _task: asyncio.Task[None]

    @classmethod
    async def start(cls, runtime: Runtime) -> InProcessServer:
        sock = bind("127.0.0.1", 0)
        server = _Embedded(_config(create_app(runtime)))
        task = asyncio.create_task(server.serve(sockets=[sock]), name="cowork server")
        while not server.started:
            if task.done():
                await task  # raises what went wrong
                raise RuntimeError("the in-process server stopped at start")
            await asyncio.sleep(0.005)
        return cls(url_of(sock), runtime, server, task)

    async def stop(self) -> None:
        """Stop serving, then close the runtime (journals what was still running)."""
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
        await self.runtime.close()
