"""The engine's side of hooks: calling ``deps.hooks`` at each event of a turn, journaling every
run as ``hook.ran``, and folding the answers into the turn.

What each event's outcome does (see :class:`~cowork.engine.extensions.HookOutcome`):

- ``session_start``: the first turn of a session in this runtime (``source``: ``"startup"`` for a
  session with no earlier turn, ``"resume"`` for one cowork reopened); its ``context`` goes into
  that turn, before the prompt's. It cannot block.
- ``user_prompt_submit``: before the model is called. ``block``: the turn fails (code
  ``hook_blocked``) with the reason, without calling the model, and the prompt stays out of the
  model's history; ``context`` is added after the prompt.
- ``pre_tool_use``: when a call is decided (after the policy, before any call of the response
  runs, so every approval is still asked at once). ``deny``: the call does not run and the model
  reads the reason; ``ask``: a person is asked through the normal approval path, even where the
  policy allows (yolo too); ``allow``: no approval, unless the policy denies or hard-denies (a hard
  deny still asks, a plan still waits for its approval). Policy-denied calls run no hook.
- ``post_tool_use``: after a call ran (a failed run too). ``context`` and a ``block``'s reason
  are appended to the result the model reads.
- ``stop``: when the model answers without a tool call and the turn would end. ``block``: the turn
  goes on with the reason as the next user-side message, at most :data:`MAX_STOP_BLOCKS` times a
  turn; after that the turn ends and an ``error`` item says why.

Context and the stop message are added to the model's history as user-side text, so later turns
keep them. A :class:`Hooks` whose ``run`` raises ValueError (a hooks file that cannot be read)
fails the turn with code ``hooks_error``: cowork never goes on without the person's checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelResponse, TextPart, UserPromptPart

from ..policy import Decision
from ..protocol import ErrorItem, HookRan, ItemCompleted, ItemStarted, SessionInfo, ToolCall
from ..store import new_id
from ..tools.base import ToolResult, truncate_middle
from .approvals import PLAN_RULE
from .errors import TurnError
from .extensions import HookEvent, HookOutcome, Hooks

HOOK_RULE = "hook:pre_tool_use"
"""The rule named by a decision a ``pre_tool_use`` hook made (on the tool_call item and the approval)."""

MAX_STOP_BLOCKS = 3
"""How many times a turn's ``stop`` hooks may send the agent back to work."""

PAYLOAD_OUTPUT_CHARS = 100_000
"""At most this much of a tool's output is sent to a ``post_tool_use`` hook."""

_DECISIONS = ("allow", "deny", "ask", "block")


def decide_with_hook(decision: Decision, outcome: HookOutcome | None) -> Decision:
    """The decision a call runs on, from the policy's ``decision`` and its ``pre_tool_use``
    hooks' ``outcome`` (see the module docstring): a policy deny always stands."""
    if outcome is None or outcome.decision is None or decision.outcome == "deny":
        return decision
    why = outcome.reason.strip() or "no reason given"
    if outcome.decision == "deny":
        return Decision("deny", f"a pre_tool_use hook blocked this call: {why}", HOOK_RULE)
    if outcome.decision == "ask":
        if decision.outcome == "ask":
            return replace(decision, reason=f"{decision.reason}; a pre_tool_use hook asks too: {why}")
        return Decision("ask", f"a pre_tool_use hook asks for your approval: {why}", HOOK_RULE,
                        network=decision.network)
    if decision.outcome == "ask" and not decision.hard and decision.rule != PLAN_RULE:
        return Decision("allow", f"allowed by a pre_tool_use hook: {why}", HOOK_RULE)  # the network stays off
    return decision


class TurnHooks:
    """The hook events of one turn of ``session`` (see the module docstring).

    ``emit(event_type, **fields)`` journals an event of the turn; ``started``: the sessions whose
    ``session_start`` hooks ran in this runtime (shared by its turns)."""

    def __init__(self, hooks: Hooks, session: SessionInfo, turn_id: str, emit: Callable[..., Awaitable[Any]],
                 started: set[str]) -> None:
        self.hooks = hooks
        self.session = session
        self.turn_id = turn_id
        self._emit = emit
        self._started = started
        self._stops = 0  # times a stop hook sent the agent back this turn

    async def _call(self, event: HookEvent, fields: dict[str, Any], item: ToolCall | None = None) -> HookOutcome:
        """Run ``event``'s hooks with the common fields plus ``fields`` and journal each run."""
        workspace = Path(self.session.workspace)
        payload = {"event": event, "session_id": self.session.id, "turn_id": self.turn_id,
                   "workspace": str(workspace), "mode": self.session.mode, **fields}
        try:
            outcome = await self.hooks.run(event, payload, session_id=self.session.id, workspace=workspace)
        except ValueError as exc:
            raise TurnError("hooks_error", f"the hooks cannot run: {exc}") from None
        for run in outcome.runs:
            await self._emit(
                HookRan, event=event, command=run.command, source=run.source or None,
                exit_code=run.exit_code, duration_ms=run.duration_ms,
                decision=run.decision if run.decision in _DECISIONS else None, reason=run.reason,
                output=run.output, error=run.error, tool_name=item.name if item else None,
                item_id=item.id if item else None)
        return outcome

    async def begin(self, prompt: str, *, resumed: bool) -> list[UserPromptPart]:
        """``session_start`` (once per session in this runtime; ``resumed``: the session has earlier
        turns), then ``user_prompt_submit``: the parts to add after the prompt. Raises TurnError
        (``hook_blocked``: a hook refused the prompt; ``hooks_error``)."""
        parts = []
        if self.session.id not in self._started:
            start = await self._call("session_start", {"source": "resume" if resumed else "startup",
                                                       "model": self.session.model})
            self._started.add(self.session.id)
            if start.context:
                parts.append(UserPromptPart(f"[Context from the session_start hook]\n{start.context}"))
        submit = await self._call("user_prompt_submit", {"prompt": prompt})
        if submit.block:
            raise TurnError("hook_blocked", "a user_prompt_submit hook blocked this prompt: "
                            f"{submit.reason.strip() or 'no reason given'}")
        if submit.context:
            parts.append(UserPromptPart(f"[Context from the user_prompt_submit hook]\n{submit.context}"))
        return parts

    async def pre_tool_use(self, item: ToolCall, decision: Decision) -> tuple[Decision, HookOutcome]:
        """Run the ``pre_tool_use`` hooks of ``item``'s call (unless the policy denies it): the
        decision it runs on now, and the hooks' outcome (a re-check applies it again:
        :func:`decide_with_hook`)."""
        if decision.outcome == "deny":
            return decision, HookOutcome()
        outcome = await self._call("pre_tool_use", {"tool_name": item.name, "tool_input": item.arguments,
                                                    "call_id": item.call_id}, item)
        return decide_with_hook(decision, outcome), outcome

    async def post_tool_use(self, item: ToolCall, result: ToolResult) -> None:
        """Run the ``post_tool_use`` hooks of a call that ran; their context (and a block's
        reason) is appended to ``result.output``."""
        outcome = await self._call("post_tool_use", {
            "tool_name": item.name, "tool_input": item.arguments, "call_id": item.call_id,
            "tool_output": truncate_middle(result.output, PAYLOAD_OUTPUT_CHARS), "is_error": result.is_error,
        }, item)
        said = "\n".join(t for t in (outcome.reason.strip() if outcome.block else "", outcome.context.strip()) if t)
        if said:
            result.output = f"{result.output}\n\n[From the post_tool_use hook]\n{said}"

    async def stop(self, response: ModelResponse, can_block: bool = True) -> str | None:
        """Run the ``stop`` hooks on the model's answer: the message that sends the agent back to
        work, or None to let the turn end (always None when not ``can_block``, e.g. at the step limit)."""
        answer = "".join(p.content for p in response.parts if isinstance(p, TextPart))
        outcome = await self._call("stop", {"answer": answer, "stop_hook_active": self._stops > 0})
        if not outcome.block or not can_block:
            return None
        if self._stops >= MAX_STOP_BLOCKS:
            note = ErrorItem(id=new_id("item"), code="hook_loop", message=(
                f"the stop hook sent the agent back {MAX_STOP_BLOCKS} times already; the turn ends here "
                f"(its reason: {outcome.reason.strip() or 'none given'})"))
            await self._emit(ItemStarted, item=note)
            await self._emit(ItemCompleted, item=note)
            return None
        self._stops += 1
        return f"[A stop hook did not let the turn end yet]\n{outcome.reason.strip() or 'Keep working.'}"
