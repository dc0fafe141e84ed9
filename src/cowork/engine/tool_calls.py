"""The tool-call pipeline of a turn: prepare → decide → ask → (re-check) → run → escalate.

The calls of one model response are prepared (validated) and decided up front, and every call that
needs a person is asked at once, so the requests can be answered together. They then run in order.
A call's decision is made again just before it runs when the workspace may have changed since
(an earlier call of the response ran, or the call waited for a person): a call that now asks for
more (deny, a hard deny, an ask where it was allowed, a rule that asks where only the mode did)
is denied or asked again then, so a call never runs on a stale decision (``ln -s .git/hooks h``
then ``write h/pre-commit`` meets the hard deny of ``.git/hooks``).

Nothing here names a tool: what a call needs (a checkpoint, a preview, its paths confined, the
network for a shell command) comes from the tool's :class:`~cowork.tools.base.ToolTraits`.
Every call of the response gets an answer in the history, whatever happens (an interrupt answers
the calls not finished as interrupted).

Plan mode (``plan``): calls are decided as in ``read-only`` (denied calls tell the model to propose
a plan). A tool whose traits are :class:`~cowork.tools.plan.PlanTraits` is offered only in the
modes they name; its call always asks a person (rule ``plan``), and once approved (with the
person's edited steps, if any) it runs and the session switches to the mode the answer names
(default ``default``), so the same turn carries the plan out.

Hooks (:mod:`.hook_calls`): a call's ``pre_tool_use`` hooks run right after the policy decided it
(their answer is applied again on a re-check), its ``post_tool_use`` hooks right after it ran.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_ai.messages import ToolCallPart, ToolReturnPart
from pydantic_ai.tools import ToolDefinition

from ..checkpoints import Checkpoints
from ..policy import Decision, Policy, load_policy
from ..policy.modes import PLAN_NOTE, policy_mode
from ..protocol import (
    ApprovalRequested,
    ApprovalResolved,
    ErrorItem,
    ItemCompleted,
    ItemStarted,
    PolicyDecision,
    SessionInfo,
    ToolCall,
)
from ..store import Store, new_id
from ..tools import BUILTIN_TOOLS, Toolset, tools_by_name
from ..tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, truncate_middle
from ..tools.plan import PlanTraits, offered
from .approvals import PLAN_RULE, ApprovalBroker, PlanAnswer, Ticket
from .errors import TurnError
from .extensions import ContextSource, HookOutcome, gather_notes
from .hook_calls import TurnHooks, decide_with_hook

log = logging.getLogger(__name__)

_FINISHED = ("completed", "failed", "denied", "interrupted")


@dataclass
class Resume:
    """A turn that was waiting for approvals when cowork stopped, rebuilt from its journal.

    The model's history ends with the response whose tool calls were being run. By call id:
    ``done`` the calls that had finished (answered from the journal, never run again);
    ``pending`` the calls whose approval request is still open; ``answered`` the calls a person
    answered while the turn still waited on an earlier call (request and answer); ``items`` the
    tool-call items of the pending and answered calls.
    """

    pending: dict[str, ApprovalRequested]
    answered: dict[str, tuple[ApprovalRequested, ApprovalResolved]]
    items: dict[str, ToolCall]
    done: dict[str, ToolCall]


@dataclass
class PendingCall:
    """One tool call of a model response on its way.

    Attributes:
        part: the model's call. item: its journaled ``tool_call`` item.
        tool, args: the tool and its validated arguments (None when the call cannot run).
        decision: the policy's decision the call runs on (replaced when a re-check asks for more).
        result: the answer when the call was settled without running (finished before a
            restart, invalid, denied).
        ticket: the approval it waits on, if any.
        plan: what the person's approval of a plan added (edited steps, the mode to carry it out in).
    """

    part: ToolCallPart
    item: ToolCall
    tool: Tool | None = None
    args: ToolArgs | None = None
    decision: Decision | None = None
    result: ToolReturnPart | None = None
    ticket: Ticket | None = None
    plan: PlanAnswer | None = None
    hook: HookOutcome | None = None  # what its pre_tool_use hooks answered


@functools.cache
def _definition(tool: Tool) -> ToolDefinition:
    return ToolDefinition(name=tool.name, description=tool.description, parameters_json_schema=tool.parameters_schema())


def tool_definitions(tools: Iterable[Tool] | None = None) -> list[ToolDefinition]:
    """``tools`` (default: the built-ins) as pydantic-ai definitions (each tool's schema built once)."""
    return [_definition(t) for t in (BUILTIN_TOOLS.values() if tools is None else tools)]


def _stricter(before: Decision, now: Decision) -> bool:
    """``now`` asks for more than ``before`` did (the outcome ``before`` got must not stand)."""
    if now.outcome == "deny":
        return True
    if now.outcome != "ask":
        return False
    return (before.outcome == "allow" or (now.hard and not before.hard)
            or (now.rule != before.rule and not now.rule.startswith("mode:")))


class ToolCalls:
    """Runs the tool calls of one turn's responses (see the module docstring).

    ``toolsets`` offer the session's tools; ``tool_items`` holds the ``tool_call`` items
    the model stream started, by call id; ``emit(event_type, **fields)`` journals an event of the
    turn; ``interrupt_reason()`` says why the turn was cancelled (an interrupted call's output);
    ``context_sources`` add notes to the result of a call that named paths (an AGENTS.md in the
    subfolder it reached), each note's ``source`` once per turn."""

    def __init__(self, *, store: Store, session: SessionInfo, turn_id: str, ctx: ToolContext,
                 checkpoints: Checkpoints | None, approvals: ApprovalBroker, toolsets: Sequence[Toolset],
                 tool_items: dict[str, ToolCall], emit: Callable[..., Awaitable[Any]],
                 interrupt_reason: Callable[[], str], context_sources: Sequence[ContextSource] = (),
                 hooks: TurnHooks | None = None) -> None:
        self.store = store
        self.session = session
        self.turn_id = turn_id
        self.ctx = ctx
        self.checkpoints = checkpoints
        self.approvals = approvals
        self._toolsets = toolsets
        self._tools_key: tuple[object, ...] | None = None
        self._tools: dict[str, Tool] = {}
        self.definitions: list[ToolDefinition] = []
        """What the model is offered (up to date after :meth:`tools`)."""
        self._items = tool_items
        self._emit = emit
        self._interrupt_reason = interrupt_reason
        self._policy: Policy | None = None  # the workspace's rules, loaded on the first tool call
        self._allowed: list[str] | None = None  # the session's "always" patterns, read on first use
        self._sources = context_sources
        self._noted: set[str] = set()  # sources of the notes added this turn
        self.hooks = hooks  # the person's pre_tool_use and post_tool_use hooks (see .hook_calls)

    def tools(self) -> dict[str, Tool]:
        """The session's tools offered in its mode by name, listed again only when a toolset's
        version or the mode changed."""
        key = (self.session.mode, *(ts.version for ts in self._toolsets))
        if key != self._tools_key:
            every = tools_by_name(self._toolsets, self.session.id, self.ctx.workspace)
            if self.session.parent is not None:  # a subagent: only the tools it was given
                every = {name: t for name, t in every.items() if name in self.session.parent.tools}
            self._tools = {name: t for name, t in every.items() if offered(t, self.session.mode)}
            self.definitions = tool_definitions(self._tools.values())
            self._tools_key = key
        return self._tools

    # -- one response -----------------------------------------------------------------------------

    async def run(self, calls: list[ToolCallPart], resume: Resume | None,
                  on_abort: Callable[[list[ToolReturnPart]], Awaitable[None]],
                  keep_history: Callable[[], bool]) -> list[ToolReturnPart]:
        """Answers to every call of ``calls``, in order (``resume``: the calls of a turn resumed
        after a restart). When anything interrupts them, the calls not finished are answered as
        interrupted and ``on_abort`` gets all the answers before the exception propagates (unless
        ``keep_history()``: a turn left waiting for its approval keeps its history as it is)."""
        returns: list[ToolReturnPart] = []
        prepared: list[PendingCall] = []
        try:
            for call in calls:
                prepared.append(await self._prepare(call, resume))
            for p in prepared:
                if p.result is None and p.decision is not None and p.decision.outcome == "ask" and p.ticket is None:
                    p.ticket = await self._ask(p)
            ran = False
            for p in prepared:
                if p.result is not None:
                    returns.append(p.result)
                    continue
                returns.append(await self._run_one(p, recheck=ran))
                ran = True
        except BaseException:
            if keep_history():
                raise
            answered = {r.tool_call_id for r in returns}
            for call in calls:
                if call.tool_call_id not in answered:
                    item = self._items.get(call.tool_call_id)
                    if item is not None and item.status not in _FINISHED:
                        item.status = "interrupted"
                        await self._emit(ItemCompleted, item=item)
                    returns.append(ToolReturnPart(call.tool_name, "Interrupted by the user before it ran or finished.",
                                                  call.tool_call_id, outcome="interrupted"))
            await on_abort(returns)
            raise
        finally:
            for p in prepared:
                if p.ticket is not None:
                    await p.ticket.close()
        return returns

    async def refuse(self, calls: list[ToolCallPart], why: str) -> list[ToolReturnPart]:
        """Answer every call with ``why`` without running it."""
        returns = []
        for call in calls:
            item = self._items.pop(call.tool_call_id, None)
            if item is None:
                item = ToolCall(id=new_id("item"), call_id=call.tool_call_id, name=call.tool_name)
                await self._emit(ItemStarted, item=item)
            item.arguments = call.args if isinstance(call.args, str) else dict(call.args or {})
            returns.append(await self._finish(item, call, "failed", why))
        return returns

    # -- prepare and decide -----------------------------------------------------------------------

    async def _prepare(self, call: ToolCallPart, resume: Resume | None) -> PendingCall:
        """Validate one call and decide it; calls that cannot run are answered at once."""
        if resume is not None and call.tool_call_id in resume.done:  # finished before cowork stopped
            done = resume.done[call.tool_call_id]
            outcome = {"completed": "success", "denied": "denied"}.get(done.status, "failed")
            part = ToolReturnPart(call.tool_name, done.output or "", call.tool_call_id, outcome=outcome)  # type: ignore[arg-type]
            return PendingCall(call, done, result=part)
        if resume is not None and call.tool_call_id in resume.items:
            self._items[call.tool_call_id] = resume.items[call.tool_call_id]
        item = self._items.pop(call.tool_call_id, None)
        if item is None:
            item = ToolCall(id=new_id("item"), call_id=call.tool_call_id, name=call.tool_name)
            await self._emit(ItemStarted, item=item)
        self._items[call.tool_call_id] = item
        p = PendingCall(call, item)
        tools = self.tools()
        tool = p.tool = tools.get(call.tool_name)
        if tool is None:
            known = ", ".join(tools)
            p.result = await self._finish(item, call, "failed", f"Unknown tool {call.tool_name!r}. Available tools: {known}.")
            return p
        try:
            raw = call.args_as_dict(raise_if_invalid=True)
        except (ValueError, AssertionError) as exc:
            item.arguments = call.args if isinstance(call.args, str) else str(call.args)
            p.result = await self._finish(
                item, call, "failed",
                f"The arguments are not valid JSON ({exc}). Call {tool.name} again with a JSON object.",
            )
            return p
        item.arguments = raw
        try:
            p.args = tool.Args.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            p.result = await self._finish(item, call, "failed", f"Invalid arguments for {tool.name}: {problems}.")
            return p
        decision = p.decision = await self._decide(tool, p.args)
        if self.hooks is not None and (resume is None or call.tool_call_id not in resume.items):
            decision, p.hook = await self.hooks.pre_tool_use(item, decision)
            p.decision = decision
        item.policy = PolicyDecision(outcome=decision.outcome, rule=decision.rule, reason=decision.reason)
        if resume is not None and call.tool_call_id in resume.items:  # asked before cowork stopped
            await self._resume_approval(p, resume)
        elif decision.outcome == "deny":
            p.result = await self._finish(item, call, "denied", f"Not allowed: {decision.reason}.")
        return p

    async def _decide(self, tool: Tool, args: ToolArgs) -> Decision:
        if self._policy is None:
            try:
                self._policy = await asyncio.to_thread(load_policy, self.ctx.workspace)
            except ValueError as exc:  # a bad policy file or trusted.json: never guess what it meant
                raise TurnError("policy_error", str(exc)) from None
        if self._allowed is None:
            self._allowed = list(await self.store.allowed_tools(self.session.id))
        mode = self.session.mode
        decision = self._policy.decide(tool.name, args.model_dump(), traits=tool.traits, mode=policy_mode(mode),
                                       session=self._allowed)
        if isinstance(tool.traits, PlanTraits) and decision.outcome != "deny":  # a plan always asks a person
            return Decision("ask", "the agent proposes a plan: approve it to carry it out, edit it, or reject it",
                            PLAN_RULE)
        if mode != policy_mode(mode) and decision.rule == f"mode:{policy_mode(mode)}":  # plan decides as read-only
            reason = decision.reason.replace(f"the session is {policy_mode(mode)}", f"the session is in {mode} mode")
            decision = replace(decision, rule=f"mode:{mode}",
                               reason=reason.replace(f"in {policy_mode(mode)} mode", f"in {mode} mode"))
        if mode == "plan" and decision.outcome == "deny":
            decision = replace(decision, reason=f"{decision.reason}. {PLAN_NOTE}")
        if decision.outcome != "deny" and (why := tool.must_ask(args)):
            return Decision("ask", why, f"builtin:{tool.name}")
        return decision

    # -- ask --------------------------------------------------------------------------------------

    async def _ask(self, p: PendingCall, why: str | None = None, options: list[str] | None = None) -> Ticket:
        """Ask a person about ``p`` (its decision's reason and options unless given), with the
        tool's preview of the call."""
        decision = p.decision
        assert decision is not None
        p.item.status = "awaiting_approval"
        diff = None
        if p.tool is not None and p.args is not None:
            diff = await asyncio.to_thread(p.tool.preview, p.args, self.ctx.workspace)
        options = options or decision.options
        return await self.approvals.ask(
            p.item, reason=why or decision.reason, options=options, rule=decision.rule,
            suggestion=decision.suggestion, diff=diff, cwd=str(self.ctx.workspace))

    async def _resume_approval(self, p: PendingCall, resume: Resume) -> None:
        """Wait again on an approval requested before cowork stopped (or use the answer given)."""
        call_id = p.part.tool_call_id
        asked = resume.pending.get(call_id) or resume.answered[call_id][0]
        answered = resume.answered[call_id][1] if call_id in resume.answered else None
        assert p.decision is not None
        network = p.decision.network or p.item.metadata.get("escalation") == "network"
        p.decision = replace(p.decision, outcome="ask", reason=asked.reason, rule=asked.rule or p.decision.rule,
                             suggestion=tuple(asked.suggestion), hard="session" not in asked.options, network=network)
        p.item.status = "awaiting_approval"
        p.ticket = await self.approvals.ask(p.item, reason=asked.reason, options=list(asked.options),
                                            asked=asked, answered=answered)

    async def _answered(self, p: PendingCall) -> ToolReturnPart | None:
        """Wait for the answer to ``p``'s approval: the call's denial, or None to go on (an
        "always in this session" answer remembered)."""
        assert p.ticket is not None and p.decision is not None and p.tool is not None
        answer, reason = await p.ticket.answer()
        p.plan = p.ticket.plan
        await p.ticket.close()
        p.ticket = None
        planning = isinstance(p.tool.traits, PlanTraits)
        if answer == "deny":
            said = f" Their reason: {reason}" if reason else ""
            if planning:
                return await self._finish(p.item, p.part, "denied", f"The user rejected the plan.{said} Revise the "
                                          "plan and propose it again, or stop and say what you need.")
            return await self._finish(p.item, p.part, "denied", f"The user denied this {p.tool.name} call.{said}")
        if planning and p.plan is not None and p.plan.steps is not None:
            assert isinstance(p.tool.traits, PlanTraits) and p.args is not None
            edited = {**p.args.model_dump(), p.tool.traits.steps_arg: list(p.plan.steps)}
            try:
                p.args = p.tool.Args.model_validate(edited)
            except ValidationError as exc:
                problems = "; ".join(e["msg"] for e in exc.errors())
                return await self._finish(p.item, p.part, "failed", f"The user's edit of the plan is not a valid "
                                          f"plan ({problems}). Propose the plan again.")
        if answer == "session" and p.decision.suggestion:
            assert self._allowed is not None
            self._allowed += [s for s in p.decision.suggestion if s not in self._allowed]
            await self.store.update_session(self.session.id, allowed_tools=sorted(self._allowed))
        return None

    # -- run --------------------------------------------------------------------------------------

    async def _run_one(self, p: PendingCall, *, recheck: bool) -> ToolReturnPart:
        """Wait for ``p``'s approval if it has one, decide it again against the workspace as it
        is now (when it may have changed: ``recheck``, or time passed waiting), then run it."""
        tool, args, item = p.tool, p.args, p.item
        assert tool is not None and args is not None and p.decision is not None
        while True:
            if p.ticket is not None:
                denied = await self._answered(p)
                if denied is not None:
                    return denied
                recheck = True
            if not recheck:
                break
            fresh = decide_with_hook(await self._decide(tool, args), p.hook)
            if not _stricter(p.decision, fresh):
                break
            if item.metadata.get("escalation") and fresh.outcome != "deny" and not fresh.hard:
                break  # the re-run of a call that ran: only what it may now not do at all counts
            p.decision = fresh
            item.policy = PolicyDecision(outcome=fresh.outcome, rule=fresh.rule, reason=fresh.reason)
            if fresh.outcome == "deny":
                return await self._finish(item, p.part, "denied", f"Not allowed: {fresh.reason}.")
            p.ticket = await self._ask(p)
        ctx = replace(self.ctx, item_id=item.id, network=p.decision.network if tool.traits.command_arg else False)
        result = await self._execute(item, tool, p.args, ctx)
        item.summary = result.summary or None
        item.metadata = result.metadata
        notes = await self._notes(item, tool, p.args)
        if isinstance(tool.traits, PlanTraits) and not result.is_error:
            await self._leave_plan(p, result)
        if result.metadata.get("sandbox_denied") == "network" and policy_mode(self.session.mode) != "read-only":
            return await self._escalate_network(p, result)
        return await self._finish(item, p.part, "failed" if result.is_error else "completed", result.output, notes)

    async def _notes(self, item: ToolCall, tool: Tool, args: ToolArgs) -> str:
        """The context sources' notes for the paths a call named (its ``traits.paths`` arguments),
        those not added yet this turn, as text for the end of the result the model reads; their
        sources are listed in the item's ``metadata["notes"]`` for people."""
        if not self._sources or not tool.traits.paths:
            return ""
        values, paths = args.model_dump(), []
        for name in tool.traits.paths:
            value = values.get(name)
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str) and v not in ("", "."):  # none: the workspace, whose notes are loaded
                    given = Path(v).expanduser() if v.startswith("~") else Path(v)
                    paths.append(given if given.is_absolute() else self.ctx.workspace / given)
        new = []
        for note in await gather_notes(self._sources, self.session.id, self.ctx.workspace, paths):
            if note.source not in self._noted:
                self._noted.add(note.source)
                new.append(note)
        if new:
            item.metadata = {**item.metadata, "notes": [{"source": n.source, "title": n.title,
                                                         "truncated": n.truncated} for n in new]}
        return "".join(f"\n\n[{n.title}]\n{n.text.strip()}" for n in new)

    async def _leave_plan(self, p: PendingCall, result: ToolResult) -> None:
        """An approved plan ran: switch the session to the mode the person chose (default
        ``default``) for the rest of the turn and after, and say so in the call's result."""
        mode = (p.plan.mode if p.plan is not None else None) or "default"
        edited = p.plan is not None and p.plan.steps is not None
        self.session.mode = mode  # type: ignore[assignment]  # the tools and decisions from now on
        await self.store.update_session(self.session.id, mode=mode)
        result.metadata.setdefault("plan", {}).update(mode=mode, edited=edited)
        if edited:
            result.output = "The user edited the plan: the steps below are theirs, carry out these.\n" + result.output

    async def _execute(self, item: ToolCall, tool: Tool, args: ToolArgs, ctx: ToolContext) -> ToolResult:
        """Run ``tool`` once for ``item`` (checkpointed before and recorded after when its traits
        say so). A ToolError or a crash of the tool is a failed result; an interrupt journals
        the item as interrupted and propagates."""
        if tool.traits.checkpoint:
            await self.checkpoint(f"tool:{tool.name}", item.id)
        item.status = "running"
        started = time.monotonic()
        try:
            result = await tool.run(args, ctx)
        except ToolError as exc:
            result = ToolResult(output=str(exc), is_error=True, summary=str(exc).splitlines()[0][:120] if str(exc) else "")
        except asyncio.CancelledError:
            item.status, item.duration_ms = "interrupted", int((time.monotonic() - started) * 1000)
            item.output = self._interrupt_reason()
            await self._emit(ItemCompleted, item=item)
            raise
        except Exception as exc:
            log.exception("tool %s crashed", tool.name)
            result = ToolResult(output=f"The {tool.name} tool failed unexpectedly: {type(exc).__name__}: {exc}", is_error=True)
        item.duration_ms = int((time.monotonic() - started) * 1000)
        if self.hooks is not None:
            await self.hooks.post_tool_use(item, result)
        if tool.traits.checkpoint:
            await self.settle()
        return result

    async def _escalate_network(self, p: PendingCall, first: ToolResult) -> ToolReturnPart:
        """The sandbox had no network and the command failed for it: journal that attempt, ask a
        person (in every mode but read-only; yolo too, as the sandbox is the only guard there) to
        re-run it once with network access, as a second item of the same call. The model reads both."""
        assert p.tool is not None and p.args is not None
        call = p.part
        await self._finish(p.item, call, "failed", first.output)
        rerun = ToolCall(id=new_id("item"), call_id=call.tool_call_id, name=p.tool.name, arguments=p.item.arguments,
                         metadata={"escalation": "network"})
        self._items[call.tool_call_id] = rerun
        await self._emit(ItemStarted, item=rerun)
        again = PendingCall(call, rerun, p.tool, p.args, Decision("ask", "", "sandbox:escalation"))
        why = "the command failed because the sandbox has no network: re-run it with network access"
        ticket = await self._ask(again, why, ["once", "session", "deny"])
        try:
            answer, reason = await ticket.answer()
        finally:
            await ticket.close()
        if answer == "deny":
            said = f" Their reason: {reason}" if reason else ""
            return await self._finish(rerun, call, "denied", f"{first.output}\n\n[The user declined to re-run "
                                                             f"this command with network access.{said}]")
        result = await self._execute(rerun, p.tool, p.args, replace(self.ctx, network=True))
        rerun.summary = result.summary or None
        rerun.metadata = {**result.metadata, "escalation": "network"}
        output = (f"Without network access:\n{first.output}\n\n"
                  f"Re-run with network access (approved by the user):\n{result.output}")
        return await self._finish(rerun, call, "failed" if result.is_error else "completed", output)

    async def _finish(self, item: ToolCall, call: ToolCallPart, status: str, output: str,
                      notes: str = "") -> ToolReturnPart:
        """Journal the item's end; the model reads ``output`` (capped) then ``notes`` (not in the item)."""
        output = truncate_middle(output, self.ctx.max_output_chars)
        item.status, item.output = status, output  # type: ignore[assignment]
        if item.summary is None and status != "completed":
            item.summary = output.splitlines()[0][:120] if output else status
        await self._emit(ItemCompleted, item=item)
        outcome = {"completed": "success", "failed": "failed", "denied": "denied"}[status]
        return ToolReturnPart(call.tool_name, output + notes, call.tool_call_id,
                              outcome=outcome)  # type: ignore[arg-type]

    # -- the workspace ----------------------------------------------------------------------------

    async def checkpoint(self, kind: str, item_id: str | None = None) -> None:
        """Checkpoint the workspace before a change. A failure (disk full, permissions) never
        costs the turn: it is journaled as an ``error`` item (``checkpoint_failed``) and the work goes on."""
        if self.checkpoints is None:
            return
        try:
            await self.checkpoints.create(self.session.id, self.session.workspace, self.turn_id, kind, item_id)
        except Exception as exc:
            log.warning("checkpoint before %s failed: %s", kind, exc)
            item = ErrorItem(id=new_id("item"), code="checkpoint_failed",
                             message=f"the workspace could not be checkpointed before {kind}, so this change "
                                     f"cannot be undone: {exc}")
            await self._emit(ItemStarted, item=item)
            await self._emit(ItemCompleted, item=item)

    async def settle(self) -> None:
        """Record what the agent's change left (a restore compares with it to notice a person's edits)."""
        if self.checkpoints is None:
            return
        try:
            await self.checkpoints.settle(self.session.workspace)
        except Exception as exc:
            log.warning("recording the workspace after a change failed: %s", exc)
