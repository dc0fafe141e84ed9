"""The turn of one tool call a client asked for (``tool/call``, the MCP host's toolbox): no model,
one call through the same pipeline a model's call takes (:mod:`.tool_calls`), journaled as a turn
of its own so the call is visible, approvable and undoable like any other."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ToolCallPart, ToolReturnPart

from ..protocol import Event, SessionInfo, ToolCall, TurnCompleted, TurnFailed, TurnInterrupted, TurnStarted, Usage
from ..store import new_id
from ..tools.base import ToolContext
from .approvals import ApprovalBroker
from .errors import TurnError
from .hook_calls import TurnHooks
from .tool_calls import ToolCalls
from .turn import TurnDeps

log = logging.getLogger(__name__)


def is_tool_turn(events: list[Event]) -> bool:
    """The events are those of a :class:`ToolTurn` (``tool/call``): a turn without a user message."""
    return bool(events) and not any(e.type == "item.started" and e.item.type == "user_message"  # type: ignore[union-attr]
                                    for e in events)


class ToolTurn:
    """The turn of one tool call a client asked for (:meth:`Runtime.call_tool`): the model-less
    twin of :class:`Turn`, with the parts of it the runtime uses (``turn_id``, ``ending``,
    ``suspended``, ``interrupt_reason``, ``waiting_approval``, :meth:`cancel`, :meth:`steer`,
    :meth:`run`). Its call runs through :class:`ToolCalls` as a model's does. It is never left
    waiting across a restart (``waiting_approval`` is None, so :meth:`Runtime.close` interrupts it):
    there is no model response to resume it from."""

    waiting_approval: str | None = None

    def __init__(self, deps: TurnDeps, session: SessionInfo, turn_id: str, name: str,
                 arguments: dict[str, Any]) -> None:
        self.deps, self.session, self.turn_id = deps, session, turn_id
        self.part = ToolCallPart(name, arguments, new_id("call"))
        self.ending = False
        self.suspended = False
        self.interrupt_reason = "interrupted by the user"
        self._task: asyncio.Task[None] | None = None
        self._cancelled = False
        self._items: dict[str, ToolCall] = {}
        approvals = ApprovalBroker(deps.approvals, session.id, self._emit, deps.settings.approval_timeout)
        ctx = ToolContext(workspace=Path(session.workspace), session_id=session.id, sandbox=deps.settings.sandbox)
        self._calls = ToolCalls(
            store=deps.store, session=session, turn_id=turn_id, ctx=ctx, checkpoints=deps.checkpoints,
            approvals=approvals, toolsets=deps.toolsets, tool_items=self._items, emit=self._emit,
            interrupt_reason=lambda: self.interrupt_reason, context_sources=deps.context_sources,
            hooks=TurnHooks(deps.hooks, session, turn_id, self._emit, deps.session_starts))  # pre/post_tool_use

    async def _emit(self, event_type: type[Any], **fields: Any) -> None:
        await self.deps.journal.emit(self.session.id, self.turn_id, event_type, **fields)

    def steer(self, text: str) -> bool:
        return False  # nothing reads a message: there is no model

    def cancel(self) -> bool:
        """Interrupt the call (once; see :meth:`Turn.cancel`)."""
        if self._cancelled:
            return False
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()
        return True

    async def begin(self) -> None:
        await self._emit(TurnStarted, model=self.session.model, text=f"[tool call: {self.part.tool_name}]")

    def result(self) -> ToolCall:
        """The call's item once the turn has ended (an interrupted one if it never started)."""
        item = self._items.get(self.part.tool_call_id)
        if item is None:
            item = ToolCall(id=new_id("item"), call_id=self.part.tool_call_id, name=self.part.tool_name,
                            arguments=self.part.args_as_dict(), status="interrupted", output=self.interrupt_reason)
        return item

    async def run(self) -> None:
        """Run the call, then journal the turn's end (never raises, as :meth:`Turn.run`)."""
        started = time.monotonic()
        self._task = asyncio.current_task()

        async def nothing(_returns: list[ToolReturnPart]) -> None:
            return None

        status, event, fields = "completed", TurnCompleted, {"stop_reason": "end_turn"}
        try:
            if self._cancelled:
                raise asyncio.CancelledError
            tool = self._calls.tools().get(self.part.tool_name)
            if tool is not None and tool.traits.checkpoint:
                await self._calls.checkpoint("turn")  # what turn/rewind restores
            await self._calls.run([self.part], None, nothing, lambda: self.suspended)
        except asyncio.CancelledError:
            if self._task is not None:
                self._task.uncancel()
            if self.suspended:  # its lease was taken over: the new owner ends it
                return
            status, event, fields = "interrupted", TurnInterrupted, {"reason": self.interrupt_reason}
        except TurnError as exc:
            status, event, fields = "failed", TurnFailed, {"error": {"code": exc.code, "message": str(exc)}}
        except Exception as exc:  # a bug: still end the turn cleanly and say what happened
            log.exception("tool turn %s crashed", self.turn_id)
            status, event = "failed", TurnFailed
            fields = {"error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}}
        ms = int((time.monotonic() - started) * 1000)
        await asyncio.shield(self._end(status, event, ms, fields))

    async def _end(self, status: str, event: type[Any], ms: int, fields: dict[str, Any]) -> None:
        await self.deps.store.end_turn(self.turn_id, status, 0, 0)
        self.ending = True
        await self._emit(event, usage=Usage(), duration_ms=ms, **fields)
