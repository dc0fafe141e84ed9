"""The ASGI app (FastAPI) and the way to run it: ``cowork serve``, or in-process for the CLI.

:func:`create_app` wires the two transports — JSON-RPC over WebSocket at ``/ws`` (``ws.py``)
and REST + SSE under ``/api/v1`` (``rest.py``) — and the web UI's files (``webui.py``) to one :class:`~.methods.Service` over a
:class:`~cowork.engine.Runtime`. :func:`serve` runs it with uvicorn on a socket it binds first,
so ``--port 0`` knows its port before the first request. Shutting down closes the runtime, which
journals running turns as interrupted (turns waiting for an approval are kept and resumed on the
next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import FrameType

import uvicorn
from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse

from .. import __version__
from ..engine import Runtime
from ..jobs import RunLimits, Runs, Scheduler, Webhooks
from ..jobs.webhooks import MAX_BODY_BYTES as WEBHOOK_MAX_BODY
from ..providers.redaction import install_log_redaction
from . import rest, webui
from ..mcp.host import HttpEndpoint
from .auth import Auth, AuthError
from .guard import Guard, HostPolicy
from .methods import Service
from .ws import serve_websocket

log = logging.getLogger(__name__)


def create_app(runtime: Runtime, auth: Auth | None = None, *, close_runtime: bool = False,
               hosts: HostPolicy | None = None, runs: Runs | None = None,
               scheduler: Scheduler | None = None, webhooks: Webhooks | None = None) -> FastAPI:
    """The app over ``runtime``. ``auth`` defaults to a loopback server (no token needed);
    ``close_runtime`` closes the runtime when the app shuts down; ``hosts`` says which ``Host``
    headers name this server (default: a loopback bind and ``$COWORK_ALLOWED_HOSTS``; see
    :mod:`.guard`); ``runs``: the run queue, dispatched while the app runs when it dispatches
    (default: one that only queues, for a server that stops with its command); ``scheduler``:
    the schedules, fired while the app runs when it dispatches (default: one that never fires);
    ``webhooks``: what ``POST /hooks/ID`` answers (default: over ``runs``). Raises
    ValueError for a malformed ``COWORK_ALLOWED_HOSTS``."""
    auth = auth or Auth(require_token=False)
    hosts = hosts or HostPolicy.for_bind("127.0.0.1")
    runs = runs or Runs(runtime, dispatch=False)
    scheduler = scheduler or Scheduler(runs, dispatch=False)
    webhooks = webhooks or Webhooks(runs)
    service = Service(runtime, runs, scheduler, webhooks)
    mcp_endpoint = _mcp_endpoint(auth)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=_warm_imports, name="cowork warm imports", daemon=True).start()
        await runs.start()
        await scheduler.start()
        try:
            async with mcp_endpoint.running():  # MCP sessions end (and their clients close) before the runtime
                yield
        finally:
            await scheduler.close()
            await runs.close()  # before the runtime: its turns' ends are settled at the next start
        if close_runtime:
            await runtime.close()

    app = FastAPI(title="cowork", version=__version__, lifespan=lifespan,
                  description="JSON-RPC 2.0 over WebSocket at /ws; REST + SSE under /api/v1; MCP (Streamable HTTP) "
                              "at /mcp. See docs/protocol.md and docs/extensions.md.")
    app.state.runtime, app.state.service = runtime, service
    app.state.stopping = asyncio.Event()  # set when shutdown begins: endless SSE streams end

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        await serve_websocket(ws, service, auth)

    rest.install(app, service, auth)
    webui.install(app)  # the web UI: /, /sessions/{id}, /assets/ (docs/web.md)
    app.add_route("/mcp", mcp_endpoint, methods=["GET", "POST", "DELETE"])  # the MCP host (cowork.mcp.host)
    app.add_route("/hooks/{webhook_id}", _webhook_endpoint(webhooks), methods=["POST"])  # cowork.jobs.webhooks
    app.add_middleware(Guard, hosts=hosts)  # Host, Origin, body size and HEAD, before any route
    return app


def _mcp_endpoint(auth: Auth) -> HttpEndpoint:
    """``/mcp``: the MCP host over Streamable HTTP, with the same token rules as ``/ws`` (its
    tools call this server back over loopback with the caller's token)."""
    def authorize(token: str | None) -> str | None:
        try:
            auth.caller(token)
        except AuthError as exc:
            return str(exc)
        return None

    return HttpEndpoint(authorize)


_WARM_MODULES = ("pydantic_ai.direct", "pydantic_ai.models.openai", "pydantic_ai.providers.openai", "openai")


def _warm_imports() -> None:
    """Import the model layer in a thread at start-up: importing it on first use takes ~0.5 s,
    which would stall the event loop (every client) during the first turn."""
    for name in _WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - optional extras; the turn that needs one reports it
            log.debug("could not import %s ahead of time", name, exc_info=True)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one). Raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: FastAPI, **kwargs: object) -> uvicorn.Config:
    """uvicorn's settings. permessage-deflate is off: compressing every event costs the event
    loop more than the bytes saved are worth on loopback and LANs (a 100,000-event replay took
    2.6 s with it, 0.9 s without; bench/README.md). uvicorn sets up its log handlers here; they get
    the provider-key redaction filter (:mod:`cowork.providers.redaction`)."""
    config = uvicorn.Config(app, lifespan="on", ws_max_size=16 * 1024 * 1024, ws_per_message_deflate=False,
                            timeout_graceful_shutdown=5, log_level="warning", **kwargs)  # type: ignore[arg-type]
    install_log_redaction()
    return config


class _Server(uvicorn.Server):
    """uvicorn that tells the app when shutdown begins, and whose SIGINT/SIGTERM end the process
    normally (exit 0) once it has shut down, instead of re-raising the signal."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app
        self.loop = asyncio.get_running_loop()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.loop.call_soon_threadsafe(self.app.state.stopping.set)
        super().handle_exit(sig, frame)


def _webhook_endpoint(webhooks: Webhooks) -> Callable[[Request], Awaitable[Response]]:
    """``POST /hooks/ID``: no token (the webhook's own secret authenticates it), the body read up
    to its cap and no further (HTTP 413)."""
    async def endpoint(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > WEBHOOK_MAX_BODY:
                return JSONResponse({"error": f"the body is larger than {WEBHOOK_MAX_BODY} bytes"}, status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        got = await webhooks.receive(request.path_params["webhook_id"], headers, bytes(body))
        return JSONResponse(got.body, status_code=got.status, headers=got.headers)

    return endpoint


async def serve(runtime: Runtime, sock: socket.socket, auth: Auth, on_ready: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM, then close the runtime (running turns are journaled as
    interrupted; turns waiting for an approval are kept)."""
    runs = Runs(runtime, limits=RunLimits.from_env())
    app = create_app(runtime, auth, close_runtime=True, hosts=HostPolicy.for_bind(sock.getsockname()[0]),
                     runs=runs, scheduler=Scheduler(runs))
    server = _Server(_config(app), app)
    on_ready(url_of(sock))
    await server.serve(sockets=[sock])


class _Embedded(_Server):
    """The server inside ``cowork run``/``chat``: no signal handlers, the CLI owns Ctrl-C."""

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
    async def start(cls, runtime: Runtime, auth: Auth | None = None, runs: Runs | None = None,
                    scheduler: Scheduler | None = None) -> InProcessServer:
        sock = bind("127.0.0.1", 0)
        app = create_app(runtime, auth, runs=runs, scheduler=scheduler)
        server = _Embedded(_config(app), app)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="cowork server")
        while not server.started:
            if task.done():
                await task  # raises what went wrong
                raise RuntimeError("the in-process server stopped at start")
            await asyncio.sleep(0.005)
        return cls(url_of(sock), runtime, server, task)

    async def stop(self) -> None:
        """Stop serving, then close the runtime (journals what was still running)."""
        self._server.app.state.stopping.set()
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
        await self.runtime.close()
