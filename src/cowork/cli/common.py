"""What every ``cowork`` command shares: the consoles, the usage-error exit, running work against
a server, and the typed engine settings a command's flags choose for an in-process server.

Nothing here imports another command module, so commands import it and never each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console

from ..config import EngineSettings

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130

T = TypeVar("T")


def usage_error(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr; returns the exit (code 2) to raise."""
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(EXIT_USAGE)


def print_list(found: Sequence[Any], json_lines: bool, empty: str, table: Callable[[Any], Any]) -> None:
    """What a ``list`` command prints: one JSON object per line (``--json``), ``empty`` when there
    is nothing, else ``table(found)`` (a rich renderable)."""
    if json_lines:
        for entry in found:
            print(entry.model_dump_json())
    elif not found:
        out.print(empty)
    else:
        out.print(table(found))


def with_client(work: Callable[[Any], Awaitable[T]], server: str | None, token: str | None,
                settings: EngineSettings | None = None) -> T:
    """Run ``work(client)`` against ``server`` (or one in this process, with ``settings``); an
    error answer (unknown session, running turn…) or an unreachable server is a usage error."""
    from ..client import ConnectionLost, CoworkError
    from .inprocess import open_client

    async def main() -> T:
        try:
            async with open_client(server, token, None, settings) as client:
                return await work(client)
        except (CoworkError, ConnectionLost) as exc:
            raise usage_error(getattr(exc, "message", None) or str(exc)) from None

    return asyncio.run(main())


def engine_settings(sandbox: str | None, budget: Sequence[str] | None, server: str | None) -> EngineSettings | None:
    """The engine settings for a server started in this process: ``COWORK_*`` variables
    (:meth:`EngineSettings.from_env`) overridden by ``--sandbox`` and each ``--budget LIMIT=N``.
    None with ``--server`` (that server has its own). Nothing is written to the environment.
    Raises (as a usage error) for a bad flag, a bad ``COWORK_*`` variable, or a flag given with
    ``--server``."""
    from ..config import SANDBOX_CHOICES

    if sandbox is not None and sandbox not in SANDBOX_CHOICES:
        raise usage_error(f"--sandbox must be one of {', '.join(SANDBOX_CHOICES)}, not {sandbox!r}")
    if server:
        if sandbox is not None:
            raise usage_error(f"the sandbox is chosen by the server at {server}, not by this client: "
                              "start it with `cowork serve --sandbox ...`")
        if budget:
            raise usage_error(f"budgets are set by the server at {server}, not by this client: "
                              "start it with `cowork serve --budget ...`")
        return None
    try:
        return EngineSettings.from_env().with_flags(sandbox=sandbox, budget=budget or ())
    except ValueError as exc:
        raise usage_error(str(exc)) from None
