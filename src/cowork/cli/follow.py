"""Choosing a session and following one turn's events to its end, for ``cowork run`` and
``cowork chat``: clients of the server like any other (the connection comes from
:func:`cowork.cli.inprocess.open_client`, re-exported here)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..client import AsyncClient, CoworkError, Subscription
from ..protocol import SessionInfo
from ..protocol.rpc import ErrorCode
from .inprocess import open_client

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = {"turn.completed": EXIT_OK, "turn.failed": EXIT_FAILED, "turn.interrupted": EXIT_INTERRUPTED}

Ask = Callable[[list[Any], Any], Awaitable[tuple[Any, ...] | None]]
"""``ask(requests, console)``: one answer for all the ``approval.requested`` events,
``(decision, reason)`` or ``(decision, reason, extra)`` with extra keyword arguments of
``respond_approval`` (a plan's ``edited_plan`` and ``mode``), or None to answer them one by one
(see :func:`cowork.cli.approve.ask_many`)."""
__all__ = ["EXIT_CODES", "choose_session", "follow_turn", "open_client"]

GATHER_S = 0.05
"""Seconds to wait for more approval requests of the same response before prompting."""


async def choose_session(client: AsyncClient, workspace: Path, model: str | None, mode: str | None,
                         continue_: bool, session_id: str | None, title: str = "") -> tuple[SessionInfo, bool] | None:
    """``(session, resumed)`` for ``run`` and ``chat``: the one named, the workspace's most
    recently active one (``--continue``; None when it has none), or a new one. ``model`` and
    ``mode``, when given, are applied to a resumed session. Raises CoworkError."""
    if session_id:
        info = await client.get_session(session_id)
    elif continue_:
        page = await client.list_sessions(workspace=str(workspace), limit=100)
        if not page.sessions:
            return None
        info = max(page.sessions, key=lambda s: s.updated_at)
    else:
        created = await client.create_session(str(workspace), model=model, mode=mode or "default",  # type: ignore[arg-type]
                                              title=title or None)
        return created, False
    if model or mode:
        info = await client.update_session(info.id, model=model, mode=mode)  # type: ignore[arg-type]
    return info, True


async def follow_turn(client: AsyncClient, sub: Subscription, turn_id: str, renderer: Any, ask: Ask,
                      on_interrupt: Callable[[], None] | None = None) -> int:
    """Render ``sub``'s events until ``turn_id`` ends and return its exit code. Approval requests
    are put to the person with ``ask``. The first Ctrl-C interrupts the turn, a second one exits
    the process at once (the journal is on the server; nothing is lost)."""
    loop = asyncio.get_running_loop()
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses > 1:
            os._exit(EXIT_INTERRUPTED)
        renderer.pause()
        if on_interrupt is not None:
            on_interrupt()
        loop.create_task(_interrupt(client, sub.session_id))

    previous = signal.getsignal(signal.SIGINT)
    loop.add_signal_handler(signal.SIGINT, on_sigint)
    asked: list[Any] = []  # approval requests of one response, answered together
    try:
        while True:
            try:
                ev = await sub.next(GATHER_S if asked else None)
            except TimeoutError:
                ev = None
            except StopAsyncIteration:
                break
            if asked and (ev is None or ev.type != "approval.requested"):
                await _answer(client, asked, renderer, ask)
                asked = []
                # A prompt_toolkit prompt removes the loop's SIGINT handler when it ends (and leaves
                # a no-op one): without this, Ctrl-C would do nothing for the rest of the turn.
                loop.add_signal_handler(signal.SIGINT, on_sigint)
            if ev is None:
                continue
            renderer.event(ev)
            if ev.type == "approval.requested" and ev.turn_id == turn_id:
                asked.append(ev)
            if ev.turn_id == turn_id and ev.type in EXIT_CODES:
                return EXIT_CODES[ev.type]
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if previous is not None:  # e.g. asyncio.run's own handler, which cancels the main task
            signal.signal(signal.SIGINT, previous)
    return EXIT_FAILED


async def _interrupt(client: AsyncClient, session_id: str) -> None:
    with contextlib.suppress(Exception):
        await client.interrupt_turn(session_id)


async def _answer(client: AsyncClient, asked: list[Any], renderer: Any, ask: Ask) -> None:
    """Put the requests to the person: one answer for all, or one by one."""
    renderer.pause()
    answer = await ask(asked, renderer.console)
    if answer is None:
        for ev in asked:
            one = await ask([ev], renderer.console)
            assert one is not None
            await _respond(client, [ev], *one)
    else:
        await _respond(client, asked, *answer)


async def _respond(client: AsyncClient, asked: list[Any], decision: Any, reason: str | None,
                   extra: dict[str, Any] | None = None) -> None:
    if len(asked) > 1:  # an approval no longer pending is reported in the result, not raised
        await client.respond_approvals([ev.approval_id for ev in asked], decision, reason, **(extra or {}))
        return
    try:
        await client.respond_approval(asked[0].approval_id, decision, reason, **(extra or {}))
    except CoworkError as exc:
        if exc.code != ErrorCode.APPROVAL_NOT_PENDING:  # someone else answered, or the turn ended
            raise
