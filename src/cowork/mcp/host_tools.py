"""What the MCP host tells an MCP client about cowork's sessions: events summarised, a session's
state rebuilt from its journal, approvals asked through elicitation, and the annotations of
cowork's tools. Used by :mod:`cowork.mcp.host`; talks to cowork only through the SDK client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
    TextContent,
    ToolAnnotations,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from ..client import AsyncClient, CoworkError
from ..protocol import ApprovalRequested, Event
from ..protocol.rpc import ToolEntry
from ..tools import BUILTIN_TOOLS
from ..tools.base import truncate_middle

log = logging.getLogger(__name__)

MAX_RESULT_CHARS = 40_000
"""Longest text a host tool answers with (head and tail kept)."""

INPUT_REQUIRED_VERSION = "2026-07-28"
"""The first MCP revision that asks a client for input inside a tool's result
(``InputRequiredResult``) instead of with a request of its own mid-call."""

TERMINAL = ("turn.completed", "turn.failed", "turn.interrupted")


# -- a session's state, from its journal -----------------------------------------------------------


@dataclass
class TurnState:
    turn_id: str
    text: str = ""
    status: str = "running"
    answer: str | None = None
    error: str | None = None
    tool_item: Any = None
    """The last ``tool_call`` item the turn completed (a toolbox call's result)."""


@dataclass
class SessionState:
    """What a replay of a session's journal says: its turns, the approvals still pending (asked
    in a turn that has not ended, not answered) and the newest seq read."""

    session_id: str
    turns: dict[str, TurnState] = field(default_factory=dict)
    pending: dict[str, ApprovalRequested] = field(default_factory=dict)
    last_seq: int = 0
    last_turn: str | None = None

    def add(self, ev: Event) -> None:
        self.last_seq = max(self.last_seq, ev.seq)
        kind = ev.type
        if kind == "turn.started":
            self.turns[ev.turn_id] = TurnState(ev.turn_id, ev.text)  # type: ignore[union-attr]
            self.last_turn = ev.turn_id
            return
        turn = self.turns.setdefault(ev.turn_id, TurnState(ev.turn_id))
        if kind == "item.completed" and ev.item.type == "assistant_message" and ev.item.text.strip():  # type: ignore[union-attr]
            turn.answer = ev.item.text  # type: ignore[union-attr]
        elif kind == "item.completed" and ev.item.type == "tool_call":  # type: ignore[union-attr]
            turn.tool_item = ev.item  # type: ignore[union-attr]
        elif kind == "approval.requested":
            self.pending[ev.approval_id] = ev  # type: ignore[union-attr,assignment]
        elif kind == "approval.resolved":
            self.pending.pop(ev.approval_id, None)  # type: ignore[union-attr]
        elif kind in TERMINAL:
            turn.status = kind.split(".", 1)[1]
            if kind == "turn.failed":
                turn.error = f"{ev.error.code}: {ev.error.message}"  # type: ignore[union-attr]
            elif kind == "turn.interrupted":
                turn.error = ev.reason  # type: ignore[union-attr]
            for approval_id, asked in list(self.pending.items()):
                if asked.turn_id == ev.turn_id:
                    del self.pending[approval_id]

    def pending_of(self, turn_id: str | None) -> list[ApprovalRequested]:
        return [a for a in self.pending.values() if turn_id is None or a.turn_id == turn_id]


async def replay(client: AsyncClient, session_id: str) -> tuple[SessionState, list[Event]]:
    """Every journaled event of the session so far, and the state they make. Raises CoworkError."""
    state, events = SessionState(session_id), []
    sub = await client.subscribe(session_id, 0)
    try:
        while state.last_seq < (sub.subscribed_seq or 0):
            ev = await sub.next(timeout=30)
            state.add(ev)
            events.append(ev)
    finally:
        await sub.close()
    return state, events


def summarise(ev: Event) -> str | None:
    """One line for people (and the MCP client's model) about ``ev``; None for events not worth
    a line (deltas, item starts)."""
    kind = ev.type
    if kind == "turn.started":
        return f"[{ev.seq}] turn {ev.turn_id} started: {_short(ev.text, 300)}"  # type: ignore[union-attr]
    if kind == "item.completed":
        item = ev.item  # type: ignore[union-attr]
        if item.type == "assistant_message":
            return f"[{ev.seq}] assistant: {_short(item.text, 4000)}"
        if item.type == "tool_call":
            what = item.summary or (item.output or "").strip().splitlines()[0:1]
            what = what if isinstance(what, str) else " ".join(what)
            return f"[{ev.seq}] tool {item.name} {_short(json.dumps(item.arguments), 300)} → {item.status}: {_short(what, 300)}"
        if item.type == "error":
            return f"[{ev.seq}] error {item.code}: {_short(item.message, 500)}"
        if item.type == "user_message":
            return f"[{ev.seq}] user: {_short(item.text, 1000)}"
        return None
    if kind == "approval.requested":
        return (f"[{ev.seq}] approval {ev.approval_id} asked for {ev.tool} "  # type: ignore[union-attr]
                f"{_short(json.dumps(ev.arguments), 300)}: {ev.reason}")  # type: ignore[union-attr]
    if kind == "approval.resolved":
        said = f" ({ev.reason})" if ev.reason else ""  # type: ignore[union-attr]
        return f"[{ev.seq}] approval {ev.approval_id} answered: {ev.decision}{said}"  # type: ignore[union-attr]
    if kind == "turn.completed":
        return f"[{ev.seq}] turn {ev.turn_id} completed ({ev.stop_reason})"  # type: ignore[union-attr]
    if kind == "turn.failed":
        return f"[{ev.seq}] turn {ev.turn_id} failed: {ev.error.code}: {ev.error.message}"  # type: ignore[union-attr]
    if kind == "turn.interrupted":
        return f"[{ev.seq}] turn {ev.turn_id} interrupted: {ev.reason}"  # type: ignore[union-attr]
    if kind == "checkpoint.restored":
        return f"[{ev.seq}] checkpoint {ev.checkpoint_id} restored: {len(ev.restored)} paths"  # type: ignore[union-attr]
    return None


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split()) if limit < 1000 else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def approval_info(a: ApprovalRequested) -> dict[str, Any]:
    return {"approval_id": a.approval_id, "session_id": a.session_id, "turn_id": a.turn_id, "tool": a.tool,
            "arguments": a.arguments, "reason": a.reason, "options": list(a.options), "diff": a.diff}


def result(data: dict[str, Any], text: str | None = None, *, error: bool = False) -> CallToolResult:
    """A tool result: ``text`` for people (default: ``data`` as JSON), ``data`` as structured content."""
    body = text if text is not None else json.dumps(data, indent=2, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=truncate_middle(body, MAX_RESULT_CHARS))],
                          structured_content=data, is_error=error)


def failure(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


# -- approvals through elicitation ---------------------------------------------------------------


class ApprovalForm(BaseModel):
    """What the person answers in the MCP client's elicitation form."""

    decision: Literal["approve", "deny"] = Field(description="approve: run this call once; deny: refuse it")
    reason: str = Field(default="", description="If you deny: why (the agent reads it)")


def _form_schema() -> dict[str, Any]:
    from mcp.server.elicitation import render_elicitation_schema

    return render_elicitation_schema(ApprovalForm)


def approval_message(a: ApprovalRequested) -> str:
    lines = [f"cowork asks to approve a {a.tool} call (session {a.session_id}).", f"Why it asks: {a.reason}",
             f"Arguments: {_short(json.dumps(a.arguments, ensure_ascii=False), 2000)}"]
    if a.cwd:
        lines.append(f"Folder: {a.cwd}")
    if a.diff:
        lines.append("Change:\n" + truncate_middle(a.diff, 4000))
    return "\n".join(lines)


NOT_ELICITABLE = ("this MCP client does not support elicitation, so it cannot be asked here; it stays pending "
                  "(never approved or denied for you): answer it with answer_approval, or from another cowork "
                  "client (cowork chat, the web UI)")


class Asker:
    """Asks the person behind one MCP tool call about cowork's pending approvals.

    - The client declared elicitation, on an MCP revision before 2026-07-28: each approval is
      asked with an ``elicitation/create`` request during the call (:meth:`ask` waits for it).
    - On 2026-07-28 and later: the approvals go back in an ``InputRequiredResult``; the client
      asks the person and calls the tool again with ``input_responses`` (:attr:`answers`).
    - No elicitation: nothing is asked, the approvals stay pending for other cowork clients, and
      :attr:`notes` says so.

    An answer ``approve`` approves the call once; ``deny`` (or declining the form) denies it with
    the reason given; cancelling the form leaves the approval pending.
    """

    def __init__(self, session: Any, protocol_version: str | None, request_id: Any = None,
                 answers: dict[str, Any] | None = None) -> None:
        self.session = session
        self.request_id = request_id
        caps = getattr(session, "client_capabilities", None)
        self.supported = caps is not None and getattr(caps, "elicitation", None) is not None
        self.modern = bool(protocol_version) and is_version_at_least(protocol_version, INPUT_REQUIRED_VERSION)
        self.answers = dict(answers or {})
        self.handled: set[str] = set()
        self.notes: list[str] = []
        self.answered: list[str] = []
        self.answered_ids: set[str] = set()

    async def ask(self, client: AsyncClient, approvals: Sequence[ApprovalRequested],
                  state: dict[str, Any]) -> InputRequiredResult | None:
        """Ask about each approval not asked before in this call; answer cowork with what the
        person said. Returns an ``InputRequiredResult`` to send back when the questions must go
        in the result (``state`` rides along as its request state), else None."""
        requests: dict[str, Any] = {}
        for a in approvals:
            if a.approval_id in self.handled:
                continue
            self.handled.add(a.approval_id)
            if a.approval_id in self.answers:
                await self._apply(client, a, self.answers.pop(a.approval_id))
            elif not self.supported:
                self.notes.append(f"approval {a.approval_id} ({a.tool}): {NOT_ELICITABLE}")
            elif self.modern:
                requests[a.approval_id] = ElicitRequest(params=ElicitRequestFormParams(
                    message=approval_message(a), requested_schema=_form_schema()))
            else:
                try:
                    got = await self.session.elicit_form(approval_message(a), _form_schema(),
                                                         related_request_id=self.request_id)
                except Exception as exc:  # the client failed to answer: leave the approval to others
                    log.warning("elicitation for approval %s failed: %s", a.approval_id, exc)
                    self.notes.append(f"approval {a.approval_id} ({a.tool}): asking this client failed ({exc}); "
                                      "it stays pending: answer it with answer_approval or another cowork client")
                    continue
                await self._apply(client, a, got)
        if requests:
            return InputRequiredResult(input_requests=requests, request_state=json.dumps(state))
        return None

    async def _apply(self, client: AsyncClient, a: ApprovalRequested, got: Any) -> None:
        if isinstance(got, dict):
            got = ElicitResult.model_validate(got)
        action = getattr(got, "action", "cancel")
        if action == "cancel":
            self.notes.append(f"approval {a.approval_id} ({a.tool}): the form was dismissed without an answer; "
                              "it stays pending")
            return
        decision, reason = "deny", "declined in the MCP client"
        if action == "accept":
            try:
                form = ApprovalForm.model_validate(getattr(got, "content", None) or {})
            except ValueError:
                self.notes.append(f"approval {a.approval_id}: the answer did not fit the form; it stays pending")
                return
            decision = "once" if form.decision == "approve" else "deny"
            reason = form.reason.strip() or ("" if decision == "once" else "denied in the MCP client")
        try:
            await client.respond_approval(a.approval_id, decision, reason or None)  # type: ignore[arg-type]
        except CoworkError as exc:  # answered meanwhile by another client: the first answer wins
            self.notes.append(f"approval {a.approval_id}: {exc.message}")
            return
        self.answered.append(f"{a.approval_id}: {decision}")
        self.answered_ids.add(a.approval_id)


# -- cowork's tools as MCP tools -----------------------------------------------------------------


def annotations(entry: ToolEntry) -> ToolAnnotations:
    """MCP annotations from the tool's :class:`~cowork.tools.base.ToolTraits` (read-only →
    ``readOnlyHint``, destructive → ``destructiveHint``, open world → ``openWorldHint``). The
    protocol's tool list carries only ``mutating``: the other traits are read from the built-in
    tool of that name, and left unsaid (MCP's defaults) for tools this host does not know."""
    tool = BUILTIN_TOOLS.get(entry.name)
    if tool is None:
        return ToolAnnotations(title=entry.name, read_only_hint=not entry.mutating)
    traits = tool.traits
    return ToolAnnotations(title=entry.name, read_only_hint=traits.read_only,
                           destructive_hint=None if traits.read_only else traits.destructive,
                           open_world_hint=traits.open_world)


def planning_tool(name: str) -> bool:
    """A tool that only records the model's own plan (``todo_write``, ``propose_plan``): of no
    use to an MCP client."""
    tool = BUILTIN_TOOLS.get(name)
    if tool is None:
        return False
    from ..tools.plan import PlanTraits

    return tool.traits.planning or isinstance(tool.traits, PlanTraits)
