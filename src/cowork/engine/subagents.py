"""Subagents: child sessions a turn spawns to work side by side, under the same safety.

The model of a session a person started is offered four tools (a subagent is not: the tree is one
level deep):

- ``spawn_agent {task, agent?, tools?, model?, mode?, allow?}`` starts a subagent and answers at
  once with its id; the parent keeps working or waits. ``agent`` names a defined agent
  (:mod:`.agent_defs`), whose instructions, tools, model and mode are the defaults.
- ``wait_agents {ids?, timeout?}`` waits until the subagents named (default: all of this turn's)
  have ended, or ``timeout`` seconds pass, and answers with each one's status and final answer.
- ``send_agent {id, message}`` adds a message to a running subagent (as a person's ``turn/steer``
  does) or starts its next turn with it.
- ``close_agent {id}`` stops a subagent.

**A subagent is a session** in the same store and workspace (``SessionInfo.parent`` links it to
the parent session, turn and ``spawn_agent`` item), with its own transcript and journal, so every
client can open it. Its turns run in this runtime like any other, so the policy, the sandbox and
checkpoints apply unchanged.

**Never more than its parent.** Its tools are a subset of those its parent is offered (a name
outside them is refused at spawn); its mode is its parent's or stricter (``plan`` gives
``read-only``); it starts with its parent's "always in this session" answers, plus the ``allow``
patterns of the spawn, which make ``spawn_agent`` itself wait for a person's approval
(:meth:`cowork.tools.Tool.must_ask`). A ``model`` other than the parent's asks too (what the
subagent reads goes to that model's provider); a workspace's defined agent chooses its model only
in a trusted workspace.

**Nothing silent.** An approval a subagent waits for is journaled in its session and copied into
the parent's journal (``approval.requested`` / ``approval.resolved`` with ``agent`` set), so every
client following the parent shows it, labelled with the subagent's task, and answers it by
``approval_id``. Each change of a subagent's status is a ``subagent.updated`` event in the parent's
journal (running, waiting_approval, completed, failed, interrupted): what clients draw the tree
from.

**Bounded by its parent's turn.** What a subagent's turns spend (steps, tokens, cost) counts
against the parent's turn budgets (see ``Turn.spending``); its turn has as many steps as the parent
has left; the parent's wall-time limit stops it with the parent. When the parent turn ends
(answered, failed, interrupted) its subagents still running are interrupted before the parent's
end is journaled. A subagent's turn is never resumed after a restart: the parent's call that
waited on it cannot be (both are journaled interrupted; either session takes a new turn).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import Field

from ..config import cowork_home
from ..policy import MODES, is_trusted
from ..policy.rules import session_rule
from ..protocol import (
    ApprovalRequested, ApprovalResolved, AssistantMessage, ItemCompleted, SessionInfo, SubagentLink, SubagentRef,
    SubagentStatus, SubagentUpdated, Usage,
)
from ..providers import ModelConfigError, parse_model
from ..store import NotFound
from ..tools import READ_ONLY, StaticToolset, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from .agent_defs import AgentDefinition, load_agents
from .extensions import ContextSection

if TYPE_CHECKING:
    from .journal import Journal
    from .turn import Turn

log = logging.getLogger(__name__)

TOOL_NAMES = ("spawn_agent", "wait_agents", "send_agent", "close_agent")
MAX_PER_TURN = 8
"""Most subagents one turn may spawn."""
RESULT_CHARS = 8000
"""Most characters of a subagent's final answer given back to the parent (the rest is in its session)."""
WAIT_DEFAULT_S = 600.0
WAIT_MAX_S = 3600.0
_STRICTNESS = {"read-only": 0, "plan": 0, "default": 1, "accept-edits": 2, "yolo": 3}
_ENDED = {"turn.completed": "completed", "turn.failed": "failed", "turn.interrupted": "interrupted"}
_PREAMBLE = (
    "You are a subagent: another agent gave you the task in the user's message and is waiting for your "
    "report. Work on it on your own with the tools you have; nobody answers questions. Finish with a "
    "short report of what you did and found: it is given back to that agent."
)


@dataclass
class Child:
    """A subagent this runtime is following (``session.parent`` is its link to the parent)."""

    session: SessionInfo
    parent_turn_id: str  # the parent turn it works for now (the link names the one that spawned it)
    turn_id: str = ""  # its turn running or last run
    status: SubagentStatus = "running"
    result: str | None = None
    usage: Usage | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    watcher: asyncio.Task[None] | None = None
    closed: bool = False

    @property
    def link(self) -> SubagentLink:
        assert self.session.parent is not None
        return self.session.parent

    @property
    def ref(self) -> SubagentRef:
        return SubagentRef(session_id=self.session.id, task=self.link.task, agent=self.link.agent)

    @property
    def item_id(self) -> str:
        """The parent's spawn_agent item."""
        return self.link.item_id

    @property
    def parent_session_id(self) -> str:
        return self.link.parent_session_id


class Host(Protocol):
    """What subagents need of the runtime that owns them (:class:`~cowork.engine.Runtime`)."""

    store: Any
    journal: Journal

    def model(self, name: str) -> Any: ...
    def turn_of(self, session_id: str) -> Any: ...
    def running_turn(self, session_id: str) -> str | None: ...
    async def start_subagent_turn(self, session: SessionInfo, text: str, parent: Turn) -> str: ...
    async def steer(self, session_id: str, text: str) -> str: ...
    async def wait(self, session_id: str) -> None: ...
    async def interrupt(self, session_id: str) -> bool: ...


def _stricter_mode(mode: str) -> str:
    return "read-only" if mode == "plan" else mode


class Subagents:
    """The subagents of one runtime's turns: the tools, the mirroring into parents' journals, the
    end of a parent turn (see the module docstring)."""

    def __init__(self, runtime: Host) -> None:
        self.runtime = runtime
        self._children: dict[str, Child] = {}  # by the subagent's session id
        # offered to every session; a subagent's own is limited to the tools it was given (ToolCalls.tools)
        self.toolset = StaticToolset("subagents", [SpawnAgentTool(self), WaitAgentsTool(self), SendAgentTool(self),
                                                   CloseAgentTool(self)])
        self.context = SubagentContext(self)

    def of_turn(self, turn_id: str) -> list[Child]:
        """The subagents working for the parent turn ``turn_id``, in the order spawned."""
        return [c for c in self._children.values() if c.parent_turn_id == turn_id]

    # -- the tools ----------------------------------------------------------------------------

    def _parent(self, ctx: ToolContext) -> Turn:
        from .turn import Turn  # a runtime import: turn imports nothing of this module

        turn = self.runtime.turn_of(ctx.session_id)
        if not isinstance(turn, Turn) or turn.turn_id != ctx.turn_id:
            raise ToolError("subagents can be used only in a model's turn")
        if turn.session.parent is not None:
            raise ToolError("a subagent cannot start or manage subagents")
        return turn

    async def spawn(self, args: SpawnAgentArgs, ctx: ToolContext) -> Child:
        """Start a subagent for the turn of ``ctx`` (see :class:`SpawnAgentTool`). Raises ToolError."""
        parent = self._parent(ctx)
        if len(self.of_turn(parent.turn_id)) >= MAX_PER_TURN:
            raise ToolError(f"a turn may start at most {MAX_PER_TURN} subagents; wait for those running and reuse "
                            "them with send_agent")
        definition = await self._definition(args.agent, ctx.workspace) if args.agent else None
        offered = [n for n in parent.offered_tools() if n not in TOOL_NAMES]
        wanted = list(args.tools if args.tools is not None else
                      definition.tools if definition is not None and definition.tools is not None else offered)
        beyond = [t for t in dict.fromkeys(wanted) if t not in offered]
        if beyond:
            raise ToolError(f"a subagent's tools are a subset of its parent's: {', '.join(beyond)} "
                            f"{'is' if len(beyond) == 1 else 'are'} not among yours ({', '.join(offered) or 'none'})")
        mode = args.mode or (definition.mode if definition else None) or _stricter_mode(parent.session.mode)
        if mode not in MODES or mode == "plan":
            raise ToolError(f"mode must be one of {', '.join(m for m in MODES if m != 'plan')}, not {mode!r}")
        if _STRICTNESS[mode] > _STRICTNESS[parent.session.mode]:
            raise ToolError(f"a subagent's mode is its parent's or stricter: {mode!r} allows more than "
                            f"{parent.session.mode!r}")
        model = args.model or (self._trusted_model(definition, ctx.workspace) if definition else None) \
            or parent.session.model
        try:
            parse_model(model)
            self.runtime.model(model)
        except ModelConfigError as exc:
            raise ToolError(f"model {model!r}: {exc}") from None
        for pattern in args.allow:
            try:
                session_rule(pattern)
            except ValueError as exc:
                raise ToolError(f"allow {pattern!r}: {exc}") from None
        granted = [*await self.runtime.store.allowed_tools(parent.session.id), *args.allow]
        link = SubagentLink(parent_session_id=parent.session.id, parent_turn_id=parent.turn_id, item_id=ctx.item_id,
                            task=args.task, agent=definition.name if definition else None,
                            tools=[t for t in offered if t in wanted])
        instructions = _PREAMBLE + (f"\n\n{definition.instructions}" if definition else "")
        session = await self.runtime.store.create_session(
            Path(parent.session.workspace), model, mode, title=_title(args.task), parent=link,
            instructions=instructions, allowed_tools=granted)
        child = Child(session, parent.turn_id)
        self._children[session.id] = child
        await self._start(child, args.task, parent)
        return child

    @staticmethod
    def _trusted_model(definition: AgentDefinition, workspace: Path) -> str | None:
        """A defined agent's model, if its file may choose one: the person's own files
        (``$COWORK_HOME/agents``) always, a workspace's only once the workspace is trusted
        (``cowork trust``), as for its MCP servers and hooks: a cloned repository must not send
        its code to a provider of its choosing."""
        if definition.model is None:
            return None
        home = cowork_home() / "agents"
        if definition.path.parent.resolve() == home.resolve() or is_trusted(workspace):
            return definition.model
        log.warning("defined agent %s: model %s ignored (the workspace is not trusted)", definition.name,
                    definition.model)
        return None

    async def _definition(self, name: str, workspace: Path) -> AgentDefinition:
        agents = await asyncio.to_thread(load_agents, workspace, cowork_home())
        if name not in agents:
            known = ", ".join(agents) or "none (add one to .cowork/agents/NAME.md)"
            raise ToolError(f"no defined agent {name!r}; defined agents: {known}")
        return agents[name]

    async def _start(self, child: Child, text: str, parent: Turn) -> None:
        """Start the child's next turn with ``text`` for ``parent`` and follow it."""
        after = await self.runtime.store.last_seq(child.session.id)
        child.turn_id = await self.runtime.start_subagent_turn(child.session, text, parent)
        child.parent_turn_id, child.status, child.result, child.usage = parent.turn_id, "running", None, None
        child.ended.clear()
        await self._tell(child)
        child.watcher = asyncio.create_task(self._follow(child, after), name=f"subagent {child.session.id}")

    async def _tell(self, child: Child) -> None:
        """Journal the child's status in its parent's journal."""
        await self.runtime.journal.emit(
            child.parent_session_id, child.parent_turn_id, SubagentUpdated, agent=child.ref, item_id=child.item_id,
            agent_turn_id=child.turn_id, status=child.status, result=child.result, usage=child.usage)

    async def _follow(self, child: Child, after: int) -> None:
        """Copy the approvals of the child's turn into its parent's journal and record its end."""
        pending: set[str] = set()
        answer: str | None = None
        parent = child.parent_session_id
        try:
            async for ev in self.runtime.journal.subscribe(child.session.id, after):
                if ev.turn_id != child.turn_id:
                    continue
                if isinstance(ev, ApprovalRequested | ApprovalResolved):
                    fields = ev.model_dump(exclude={"type", "session_id", "turn_id", "seq", "ts", "agent"})
                    await self.runtime.journal.emit(parent, child.parent_turn_id, type(ev), agent=child.ref, **fields)
                    (pending.add if isinstance(ev, ApprovalRequested) else pending.discard)(ev.approval_id)
                    status: SubagentStatus = "waiting_approval" if pending else "running"
                    if status != child.status:
                        child.status = status
                        await self._tell(child)
                elif isinstance(ev, ItemCompleted) and isinstance(ev.item, AssistantMessage) and ev.item.text.strip():
                    answer = ev.item.text
                elif ev.type in _ENDED:
                    child.status = _ENDED[ev.type]  # type: ignore[assignment]
                    usage = getattr(ev, "usage", None)
                    child.usage = usage
                    if ev.type == "turn.completed":
                        child.result = _cut(answer or "(it ended without a report)")
                    elif ev.type == "turn.failed":
                        child.result = f"failed: {ev.error.message}"  # type: ignore[union-attr]
                    else:
                        child.result = f"interrupted: {ev.reason}"  # type: ignore[union-attr]
                    await self._tell(child)
                    break
        except Exception:  # storage trouble: the parent must not wait for ever
            log.exception("following subagent %s failed", child.session.id)
            child.status, child.result = "failed", child.result or "cowork lost track of this subagent"
        finally:
            child.ended.set()

    async def wait(self, args: WaitAgentsArgs, ctx: ToolContext) -> list[Child]:
        """The children named (default: all of this turn's), once each has ended or ``timeout`` passed."""
        parent = self._parent(ctx)
        children = [await self._child(parent, i) for i in args.ids] if args.ids else self.of_turn(parent.turn_id)
        if not children:
            raise ToolError("this turn has started no subagent (spawn_agent starts one)")
        waiting = [asyncio.ensure_future(c.ended.wait()) for c in children if not c.ended.is_set()]
        if waiting:
            try:
                await asyncio.wait(waiting, timeout=args.timeout)
            finally:
                for w in waiting:
                    w.cancel()
        return children

    async def _child(self, parent: Turn, ref: str) -> Child:
        """A subagent of the parent's session by id (or the start of one). Raises ToolError."""
        found = [c for i, c in self._children.items() if i.startswith(ref) and c.parent_session_id == parent.session.id]
        if len(found) == 1:
            return found[0]
        if not found:
            with contextlib.suppress(NotFound):
                session = await self.runtime.store.get_session(ref)
                if session.parent is not None and session.parent.parent_session_id == parent.session.id:
                    child = Child(session, session.parent.parent_turn_id, status="interrupted")
                    child.ended.set()
                    self._children[session.id] = child
                    return child
        raise ToolError(f"{ref!r} is {'more than one' if found else 'not a'} subagent of this session")

    async def send(self, args: SendAgentArgs, ctx: ToolContext) -> str:
        """Give a subagent ``message``; returns what happened, for the model."""
        parent = self._parent(ctx)
        child = await self._child(parent, args.id)
        if child.closed:
            raise ToolError(f"subagent {child.session.id} was closed")
        if not child.ended.is_set() and self.runtime.running_turn(child.session.id) == child.turn_id:
            with contextlib.suppress(Exception):
                await self.runtime.steer(child.session.id, args.message)
                return f"Sent to {child.session.id}; it reads the message with its next step."
        await self.runtime.wait(child.session.id)
        await self._start(child, args.message, parent)
        return f"{child.session.id} started a new turn with the message; call wait_agents for its report."

    async def close(self, args: CloseAgentArgs, ctx: ToolContext) -> Child:
        parent = self._parent(ctx)
        child = await self._child(parent, args.id)
        child.closed = True
        await self._stop(child, "closed by the agent that started it")
        return child

    async def _stop(self, child: Child, reason: str) -> None:
        turn = self.runtime.turn_of(child.session.id)
        if turn is not None and turn.turn_id == child.turn_id and not child.ended.is_set():
            turn.interrupt_reason = reason
            await self.runtime.interrupt(child.session.id)
        if child.watcher is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(child.ended.wait()), 10)

    async def end_turn(self, turn: Turn) -> None:
        """Before ``turn``'s end is journaled: interrupt its subagents still running and wait until
        their ends are in its journal."""
        children = self.of_turn(turn.turn_id)
        if not children:
            return
        reason = f"its parent turn was stopped ({turn.interrupt_reason})" if turn.cancelled else "its parent turn ended"
        await asyncio.gather(*(self._stop(c, reason) for c in children), return_exceptions=True)
        for child in children:
            if child.ended.is_set():
                self._children.pop(child.session.id, None)


def _cut(text: str) -> str:
    return text if len(text) <= RESULT_CHARS else text[:RESULT_CHARS] + "\n… (cut: the rest is in its session)"


def _title(task: str) -> str:
    first = task.strip().splitlines()[0] if task.strip() else "subagent"
    return "Subagent: " + (first if len(first) <= 60 else first[:59] + "…")


# -- the tools -------------------------------------------------------------------------------------

ToolName = Annotated[str, Field(min_length=1, max_length=200)]


class SpawnAgentArgs(ToolArgs):
    task: str = Field(min_length=1, max_length=20_000, description="What the subagent should do, with everything it "
                      "needs to know: it does not see this conversation.")
    agent: str | None = Field(default=None, max_length=64, description="A defined agent to start (its instructions, "
                              "tools, model and mode are the defaults).")
    tools: list[ToolName] | None = Field(default=None, max_length=100, description="The only tools it may use (a "
                                         "subset of yours); default: all of yours.")
    model: str | None = Field(default=None, max_length=200, description="'provider:model'; default: yours.")
    mode: str | None = Field(default=None, max_length=20, description="Its approval mode, yours or stricter "
                             "(read-only, default, accept-edits); default: yours.")
    allow: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list, max_length=50, description="Patterns it may run without asking (`bash:pytest *`, "
        "`write`): a person approves them before it starts.")


class _SubagentTool(Tool):
    """What the four tools share: they act on the model's running turn through :class:`Subagents`
    (read-only to the policy: what a subagent does is decided call by call)."""

    traits = replace(READ_ONLY, on_demand=True, turn_only=True)

    def __init__(self, subagents: Subagents) -> None:
        self.subagents = subagents


class SpawnAgentTool(_SubagentTool):
    name = "spawn_agent"
    description = (
        "Start a subagent: a helper that works on a task in parallel with you, in the same workspace, under "
        "the same rules, and reports back. Answers at once with its id; call wait_agents to get its report. "
        "Give it a self-contained task. Use several for independent parts of a job."
    )
    Args = SpawnAgentArgs

    def must_ask(self, args: SpawnAgentArgs) -> str | None:
        why = []
        if args.allow:
            why.append(f"the subagent would run these without asking: {', '.join(args.allow)}")
        if args.model:
            why.append(f"the subagent would run on {args.model} (what it reads goes to that model's provider)")
        return "; ".join(why) or None

    async def run(self, args: SpawnAgentArgs, ctx: ToolContext) -> ToolResult:
        child = await self.subagents.spawn(args, ctx)
        return ToolResult(f"Started subagent {child.session.id} ({child.session.mode} mode, "
                          f"{child.session.model}). It works in parallel; call wait_agents for its report.",
                          summary=f"started {child.session.id}", metadata={"agent_session_id": child.session.id})


class WaitAgentsArgs(ToolArgs):
    ids: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=MAX_PER_TURN * 4, description="Subagent ids; default: all of this turn's.")
    timeout: float = Field(default=WAIT_DEFAULT_S, ge=0, le=WAIT_MAX_S, description="Seconds to wait at most.")


class WaitAgentsTool(_SubagentTool):
    name = "wait_agents"
    description = ("Wait until subagents have finished (or the timeout passes) and get each one's status and "
                   "report.")
    Args = WaitAgentsArgs
    traits = replace(_SubagentTool.traits, waits=True)

    async def run(self, args: WaitAgentsArgs, ctx: ToolContext) -> ToolResult:
        children = await self.subagents.wait(args, ctx)
        lines, counts = [], dict[str, int]()
        for c in children:
            status = c.status if c.ended.is_set() else ("waiting for a person's approval"
                                                        if c.status == "waiting_approval" else "still running")
            counts[status] = counts.get(status, 0) + 1
            lines.append(f"## {c.session.id} — {c.ref.task[:80]}\n{status}" + (f"\n\n{c.result}" if c.result else ""))
        summary = ", ".join(f"{n} {s}" for s, n in counts.items())
        return ToolResult("\n\n".join(lines), summary=summary,
                          metadata={"agents": [{"session_id": c.session.id, "status": c.status} for c in children]})


class SendAgentArgs(ToolArgs):
    id: str = Field(min_length=1, max_length=40, description="The subagent's id.")
    message: str = Field(min_length=1, max_length=20_000, description="What to tell it.")


class SendAgentTool(_SubagentTool):
    name = "send_agent"
    description = "Send a message to a subagent: it reads it at its next step, or starts working again with it."
    Args = SendAgentArgs

    async def run(self, args: SendAgentArgs, ctx: ToolContext) -> ToolResult:
        said = await self.subagents.send(args, ctx)
        return ToolResult(said, summary=said.split(";")[0])


class CloseAgentArgs(ToolArgs):
    id: str = Field(min_length=1, max_length=40, description="The subagent's id.")


class CloseAgentTool(_SubagentTool):
    name = "close_agent"
    description = "Stop a subagent (its work so far stays in its session)."
    Args = CloseAgentArgs

    async def run(self, args: CloseAgentArgs, ctx: ToolContext) -> ToolResult:
        child = await self.subagents.close(args, ctx)
        return ToolResult(f"Closed {child.session.id} ({child.status}).", summary=f"closed {child.session.id}")


class SubagentContext:
    """The instructions of a subagent's turns; for any other session, the defined agents it may spawn."""

    name = "subagents"

    def __init__(self, subagents: Subagents) -> None:
        self.subagents = subagents

    async def sections(self, session_id: str, workspace: Path, prompt: str | None) -> list[ContextSection]:
        instructions = await self.subagents.runtime.store.agent_instructions(session_id)
        if instructions:
            return [ContextSection("subagent", "Subagent", instructions, source="subagent")]
        agents = await asyncio.to_thread(load_agents, workspace, cowork_home())
        if not agents:
            return []
        listing = "\n".join(f"- {a.name}: {a.description}" for a in agents.values())
        text = f"Defined agents you can start with spawn_agent(agent=NAME, task=...):\n{listing}"
        return [ContextSection("agents", f"Agents ({len(agents)})", text, source=", ".join(
            str(a.path) for a in agents.values()), compact=False, invites_on_demand=True)]

    async def notes_for_paths(self, session_id: str, workspace: Path, paths: Sequence[Path]) -> list[ContextSection]:
        return []


__all__ = ["Child", "Subagents", "TOOL_NAMES"]
