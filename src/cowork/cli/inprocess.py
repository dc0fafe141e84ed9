"""The one place the CLI reaches the engine and the server: ``cowork serve`` runs the server, and
``cowork run``/``chat``/… without ``--server`` start one in this process on a free loopback port
(:class:`~cowork.server.InProcessServer`) and talk to it over a real WebSocket, so there is one
code path whether the server is local or not. Everything else in ``cli/`` is a protocol client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from ..client import AsyncClient
from ..config import EngineSettings


def extensions() -> list[object]:
    """What a cowork server is extended with, in order: MCP servers' tools, skills, AGENTS.md and
    the person's hooks, memory (each package's ``extension()``; see :mod:`cowork.engine.extensions`)."""
    from ..mcp import extension as mcp_extension
    from ..skills import agents_md_extension
    from ..hooks import extension as hooks_extension
    from ..skills import extension as skills_extension
    from ..memory import extension as memory_extension

    return [
        mcp_extension(),
        skills_extension(),
        agents_md_extension(),
        hooks_extension(),
        memory_extension(),
    ]


@contextlib.asynccontextmanager
async def open_client(server: str | None, token: str | None, base_url: str | None,
                      settings: EngineSettings | None = None) -> AsyncIterator[AsyncClient]:
    """A connected client: to ``server`` when given, else to a server started in this process
    with ``settings`` (default: :meth:`EngineSettings.from_env`), stopped on exit, which journals
    anything still running as interrupted. Raises ConnectionLost, CoworkError."""
    if server:
        async with AsyncClient(server, token=token, client_name="cowork-cli") as client:
            yield client
        return
    from ..engine import Runtime
    from ..server import InProcessServer

    local = await InProcessServer.start(await Runtime.open(openai_base_url=base_url, settings=settings,
                                                           extensions=extensions()))
    try:
        async with AsyncClient(local.url, client_name="cowork-cli") as client:
            yield client
    finally:
        await local.stop()


def listen(host: str, port: int) -> tuple[object, object, list[str]]:
    """``(auth, socket, token_lines)`` for ``cowork serve`` on ``host:port`` (a token is made for
    any non-loopback address; ``token_lines`` tell the person). Raises OSError when the address
    cannot be bound, ValueError for a malformed ``COWORK_ALLOWED_HOSTS``."""
    from ..server import Auth, bind
    from ..server.guard import HostPolicy

    HostPolicy.for_bind(host)  # a bad allowed-hosts list is refused before anything starts
    auth, token_lines = Auth.for_bind(host)
    return auth, bind(host, port), token_lines


async def serve(auth: object, sock: object, base_url: str | None, settings: EngineSettings | None,
                ready: Callable[[str], None]) -> None:
    """Run the server on ``sock`` until it is stopped; ``ready(url)`` once it listens."""
    from ..engine import Runtime
    from ..server import serve as serve_app

    runtime = await Runtime.open(openai_base_url=base_url, settings=settings, extensions=extensions())
    await serve_app(runtime, sock, auth, ready)  # type: ignore[arg-type]
