"""The MCP host: cowork as an MCP server, for any MCP client (Claude Desktop, editors, the MCP
Inspector, other agents).

Two ways, over two transports:

- **agent** (default): tools to start a task in a workspace (``start_task``), follow it
  (``follow_task``), list and answer its approvals (``list_approvals``, ``answer_approval``), read
  a session's transcript (``read_transcript``), undo a turn's changes (``undo``) and list sessions
  (``list_sessions``). While a followed task waits for an approval, the person behind the MCP client
  is asked through elicitation when the client supports it; when it does not, the approval stays
  pending for cowork's other clients and the tool's result says so: nothing is ever approved or
  denied on the person's behalf.
- **toolbox** (``cowork mcp serve --toolbox DIR``): cowork's own tools for one workspace, as
  MCP tools annotated from their traits. Every call goes through the ``tool/call`` protocol
  method, so it is decided, asked, checkpointed and sandboxed as a model's call is, and journaled
  in a turn of its own; ``undo`` restores the workspace to before a call.

Transports: stdio (``cowork mcp serve``: :func:`serve_stdio`) and Streamable HTTP at ``/mcp`` of
``cowork serve`` (:class:`HttpEndpoint`, agent only, behind the server's own token and Host/Origin
checks). The host is a thin client: it talks to cowork only through :class:`cowork.client.AsyncClient`
— for ``/mcp``, back to the same server over loopback with the caller's own token, so a read-only
token stays read-only and the server's method table is the only way in.

Built on the official SDK's low-level ``mcp.server.lowlevel.Server`` (the toolbox's tools and
their schemas come from cowork at run time, which ``MCPServer``'s function-based tools cannot
express), its ``stdio_server`` and ``StreamableHTTPSessionManager``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import __version__
from ..client import AsyncClient, ConnectionLost, CoworkError
from ..protocol import ApprovalRequested, Event
from .host_tools import (
    Asker,
    SessionState,
    annotations,
    approval_info,
    failure,
    planning_tool,
    replay,
    result,
    summarise,
)

log = logging.getLogger(__name__)

MAX_WAIT_S = 300.0
"""Longest ``wait_s`` a ``follow_task`` call may ask for (MCP clients time out calls)."""

ClientFor = Callable[[ServerRequestContext[Any, Any]], Awaitable[AsyncClient]]
"""The cowork client that serves one MCP request (stdio: always the same; HTTP: per token)."""


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartTask(_Args):
    prompt: str = Field(min_length=1, description="What cowork's agent should do, in words.")
    workspace: str | None = Field(default=None, description="Absolute path of the folder to work in (default: "
                                                           "the host's folder). Ignored with session_id.")
    model: str | None = Field(default=None, description="'provider:model' (default: cowork's default model).")
    mode: Literal["default", "accept-edits", "read-only", "plan", "yolo"] | None = Field(
        default=None, description="Approval mode of a new session (default: 'default': changes ask a person).")
    session_id: str | None = Field(default=None, description="Continue this session instead of starting a new one.")


class FollowTask(_Args):
    session_id: str
    after_seq: int = Field(default=0, ge=0, description="Report only events after this seq (the last_seq of "
                                                        "the previous follow_task).")
    wait_s: float = Field(default=30.0, ge=0, le=MAX_WAIT_S,
                          description="Wait up to this many seconds for the task to end.")


class ListApprovals(_Args):
    session_id: str | None = Field(default=None, description="Only this session's (default: every running one).")


class AnswerApproval(_Args):
    approval_id: str
    decision: Literal["once", "session", "deny"] = Field(
        description="once: run this call; session: allow what it suggests for the rest of the session; deny.")
    reason: str | None = Field(default=None, description="For deny: why (the agent reads it).")


class SessionOnly(_Args):
    session_id: str


class Undo(_Args):
    session_id: str
    turn_id: str | None = Field(default=None, description="The turn whose changes to undo (default: the last "
                                                         "turn). Later turns' changes are undone too.")


class ToolboxUndo(_Args):
    turn_id: str | None = Field(default=None, description="The turn_id a call answered with (default: the last "
                                                         "call that could change files).")


class ListSessions(_Args):
    workspace: str | None = Field(default=None, description="Only sessions of this folder.")
    limit: int = Field(default=20, ge=1, le=200)


@dataclass
class Call:
    """One MCP tool call: the cowork client to use, the asker for approvals, and the request
    state of a retried call (2026-07-28's input-required rounds), if any."""

    client: AsyncClient
    asker: Asker
    state: dict[str, Any] | None


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


_READ = types.ToolAnnotations(read_only_hint=True, open_world_hint=False)
_CHANGE = types.ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
_AGENT = types.ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)


class Host:
    """One MCP server over cowork (see the module docstring). ``client_for`` gives the cowork
    client of a request; ``workspace`` is the default folder of ``start_task`` and, with
    ``toolbox``, the one workspace whose tools are served."""

    def __init__(self, client_for: ClientFor, *, workspace: Path | None, toolbox: bool = False) -> None:
        if toolbox and workspace is None:
            raise ValueError("the toolbox serves one workspace: give its folder")
        self.client_for = client_for
        self.workspace = workspace.resolve() if workspace is not None else None
        self.toolbox = toolbox
        self._session_id: str | None = None  # the toolbox's session, made on first use
        self._session_lock = asyncio.Lock()
        self._changes: list[str] = []  # toolbox turns that could change files, oldest first
        self._background: set[asyncio.Task[Any]] = set()
        self._calls_lock = asyncio.Lock()
        agent = {
            "start_task": (StartTask, _AGENT, self.start_task,
                           "Start a task for cowork's agent in a workspace; returns session_id and turn_id. "
                           "Follow it with follow_task."),
            "follow_task": (FollowTask, _CHANGE, self.follow_task,
                            "Follow a session's task: the new events summarised, its status, the final answer "
                            "when done. Approvals it waits on are asked here when this client supports "
                            "elicitation; otherwise they stay pending (see list_approvals)."),
            "list_approvals": (ListApprovals, _READ, self.list_approvals,
                               "Tool calls waiting for a person's approval."),
            "answer_approval": (AnswerApproval, _CHANGE, self.answer_approval,
                                "Answer a pending approval: once, session, or deny (with a reason)."),
            "read_transcript": (SessionOnly, _READ, self.read_transcript,
                                "A session's whole transcript, summarised: messages, tool calls, approvals."),
            "undo": (Undo, types.ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False),
                     self.undo, "Undo the file changes of a turn (and of every later turn) from its checkpoint."),
            "list_sessions": (ListSessions, _READ, self.list_sessions, "cowork's sessions, newest first."),
        }
        self._agent = agent
        self.server: Server[Any] = Server(
            "cowork-toolbox" if toolbox else "cowork", version=__version__,
            instructions=(f"cowork's tools for the workspace {self.workspace}, under cowork's policy, approvals, "
                          "sandbox and checkpoints." if toolbox else
                          "cowork, a local AI agent runtime: start a task with start_task, then call follow_task "
                          "until its status is completed, failed or interrupted."),
            on_list_tools=self._list_tools, on_call_tool=self._call_tool)

    # -- the MCP handlers ------------------------------------------------------------------------

    async def _list_tools(self, ctx: ServerRequestContext[Any, Any],
                          params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        if not self.toolbox:
            return types.ListToolsResult(tools=[
                types.Tool(name=name, description=doc, input_schema=_schema(model), annotations=notes)
                for name, (model, notes, _, doc) in self._agent.items()])
        client = await self.client_for(ctx)
        session_id = await self._toolbox_session(client)
        tools = [types.Tool(name=t.name, description=t.description, input_schema=t.parameters,
                            annotations=annotations(t))
                 for t in await client.list_tools(session_id)
                 if not planning_tool(t.name) and not t.turn_only and t.name != "undo"]
        tools.append(types.Tool(name="undo", description="Undo what a call of these tools changed in the workspace "
                                "(and every later call), from the checkpoint taken before it.",
                                input_schema=_schema(ToolboxUndo),
                                annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=True,
                                                                  open_world_hint=False)))
        return types.ListToolsResult(tools=tools)

    async def _call_tool(self, ctx: ServerRequestContext[Any, Any],
                         params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
        state = None
        if params.request_state:
            with contextlib.suppress(ValueError):
                state = json.loads(params.request_state)
        try:
            client = await self.client_for(ctx)
            call = Call(client, Asker(ctx.session, ctx.protocol_version, ctx.request_id,
                                      dict(params.input_responses or {})), state)
            arguments = dict(params.arguments or {})
            if self.toolbox:
                if params.name != "undo":
                    return await self.toolbox_call(call, params.name, arguments)
                model: type[BaseModel] = ToolboxUndo
                handler: Callable[[Call, Any], Awaitable[Any]] = self.toolbox_undo
            elif (spec := self._agent.get(params.name)) is not None:
                model, _, handler, _ = spec
            else:
                return failure(f"unknown tool {params.name!r}; the tools are: {', '.join(self._agent)}")
            try:
                args = model.model_validate(arguments)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
                return failure(f"invalid arguments for {params.name}: {problems}")
            return await handler(call, args)
        except CoworkError as exc:
            return failure(f"cowork refused: {exc.message} (code {exc.code})")
        except ConnectionLost as exc:
            return failure(f"cowork cannot be reached: {exc}")

    # -- agent tools -----------------------------------------------------------------------------

    async def start_task(self, call: Call, a: StartTask) -> types.CallToolResult:
        client = call.client
        if a.session_id:
            session = await client.get_session(a.session_id)
        else:
            where = Path(a.workspace).expanduser() if a.workspace else self.workspace
            if where is None or not (where.is_absolute() or self.workspace is not None):
                return failure("give workspace: the absolute path of the folder to work in")
            if not where.is_absolute():
                where = self.workspace / where  # type: ignore[operator]
            session = await client.create_session(str(where), model=a.model, mode=a.mode,
                                                  title=a.prompt.strip().splitlines()[0][:80])
        started = await client.start_turn(session.id, a.prompt)
        return result({"session_id": session.id, "turn_id": started.turn_id, "workspace": session.workspace,
                       "model": session.model, "mode": session.mode},
                      f"Started turn {started.turn_id} in session {session.id} ({session.workspace}, "
                      f"{session.model}, mode {session.mode}). Call follow_task with session_id {session.id!r} "
                      "to follow it.")

    async def follow_task(self, call: Call, a: FollowTask) -> types.CallToolResult | types.InputRequiredResult:
        out = await follow(call, a.session_id, after_seq=a.after_seq, wait_s=a.wait_s)
        if isinstance(out, types.InputRequiredResult):
            return out
        return out.result()

    async def list_approvals(self, call: Call, a: ListApprovals) -> types.CallToolResult:
        client = call.client
        ids = [a.session_id] if a.session_id else [
            s.id for s in (await client.list_sessions(limit=200)).sessions if s.status == "running"]
        pending: list[dict[str, Any]] = []
        for session_id in ids:
            state, _ = await replay(client, session_id)
            pending += [approval_info(p) for p in state.pending.values()]
        text = "No approval is pending." if not pending else "\n".join(
            f"{p['approval_id']} (session {p['session_id']}): {p['tool']} {json.dumps(p['arguments'])[:300]} — "
            f"{p['reason']}; answers: {', '.join(p['options'])}" for p in pending)
        return result({"approvals": pending}, text)

    async def answer_approval(self, call: Call, a: AnswerApproval) -> types.CallToolResult:
        await call.client.respond_approval(a.approval_id, a.decision, a.reason)
        return result({"approval_id": a.approval_id, "decision": a.decision},
                      f"Approval {a.approval_id} answered: {a.decision}.")

    async def read_transcript(self, call: Call, a: SessionOnly) -> types.CallToolResult:
        session = await call.client.get_session(a.session_id)
        state, events = await replay(call.client, session.id)
        lines = [line for line in map(summarise, events) if line]
        data = {"session_id": session.id, "workspace": session.workspace, "title": session.title,
                "status": session.status, "last_seq": state.last_seq,
                "turns": [{"turn_id": t.turn_id, "text": t.text, "status": t.status, "answer": t.answer,
                           "error": t.error} for t in state.turns.values()],
                "pending_approvals": [approval_info(p) for p in state.pending.values()]}
        head = f"Session {session.id} ({session.workspace}, {session.status}): {session.title}"
        return result(data, "\n".join([head, *lines]))

    async def undo(self, call: Call, a: Undo) -> types.CallToolResult:
        turn_id = a.turn_id
        if turn_id is None:
            state, _ = await replay(call.client, a.session_id)
            turn_id = state.last_turn
            if turn_id is None:
                return failure(f"session {a.session_id} has no turn to undo")
        return await _rewind(call.client, a.session_id, turn_id)

    async def list_sessions(self, call: Call, a: ListSessions) -> types.CallToolResult:
        page = await call.client.list_sessions(workspace=a.workspace, limit=a.limit)
        rows = [{"session_id": s.id, "title": s.title, "workspace": s.workspace, "model": s.model, "mode": s.mode,
                 "status": s.status, "updated_at": s.updated_at.isoformat()} for s in page.sessions]
        text = "\n".join(f"{r['session_id']}  {r['status']:<7}  {r['workspace']}  {r['title']}" for r in rows)
        return result({"sessions": rows}, text or "No sessions.")

    # -- toolbox ---------------------------------------------------------------------------------

    async def _toolbox_session(self, client: AsyncClient) -> str:
        async with self._session_lock:
            if self._session_id is None:
                session = await client.create_session(str(self.workspace), title="MCP toolbox")
                self._session_id = session.id
            return self._session_id

    async def toolbox_call(self, call: Call, name: str,
                           arguments: dict[str, Any]) -> types.CallToolResult | types.InputRequiredResult:
        """Run one of cowork's tools through ``tool/call``; approvals it waits on are asked as in
        ``follow_task``. A retried call (its request state names the turn) only follows that turn."""
        client = call.client
        session_id = await self._toolbox_session(client)
        if call.state and call.state.get("turn_id"):  # a retry with the person's answers: the call runs already
            after = int(call.state.get("after_seq", 0))
            out = await follow(call, session_id, after_seq=after, wait_s=MAX_WAIT_S, turn_id=call.state["turn_id"],
                               since=after)
            if isinstance(out, types.InputRequiredResult):
                return out
            if out.status in ("completed", "failed", "interrupted") and out.item is not None:
                return _tool_result(call.state["turn_id"], out.item)
            return out.tool_result()
        async with self._calls_lock:  # one call at a time: the session runs one turn at a time
            after = (await client.get_session(session_id)).last_seq
            task = asyncio.create_task(client.tool_call(session_id=session_id, name=name, arguments=arguments))
            self._background.add(task)
            task.add_done_callback(_forget(self._background))
            try:
                turn_id = await _turn_started_after(client, session_id, after, task)
            except CoworkError as exc:
                if exc.code == -32010:  # TURN_IN_PROGRESS: an earlier call still waits for its approval
                    return failure(f"an earlier call of this toolbox is still waiting for its approval "
                                   f"(session {session_id}); answer it first (cowork chat, the web UI): {exc.message}")
                raise
            return await self._finish_call(call, session_id, name, after, turn_id, task)

    async def _finish_call(self, call: Call, session_id: str, name: str, after: int, turn_id: str | None,
                           task: asyncio.Task[Any]) -> types.CallToolResult | types.InputRequiredResult:
        if turn_id is None:  # ended before a turn began
            got = await task
            return _tool_result(got.turn_id, got.item)
        if _changes_files(name):
            self._changes.append(turn_id)
        out = await follow(call, session_id, after_seq=after, wait_s=MAX_WAIT_S, turn_id=turn_id, since=after)
        if isinstance(out, types.InputRequiredResult):
            return out
        if out.status in ("completed", "failed", "interrupted"):
            got = await task
            return _tool_result(got.turn_id, got.item)
        return out.tool_result()

    async def toolbox_undo(self, call: Call, a: ToolboxUndo) -> types.CallToolResult:
        session_id = await self._toolbox_session(call.client)
        turn_id = a.turn_id or (self._changes[-1] if self._changes else None)
        if turn_id is None:
            return failure("no call of this toolbox changed anything yet: nothing to undo")
        return await _rewind(call.client, session_id, turn_id)


def _forget(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # a call left to other clients failed later
            log.info("toolbox call ended with %s", task.exception())
    return done


def _changes_files(name: str) -> bool:
    """A call of ``name`` may change the workspace (a checkpointed built-in, or a tool this host
    does not know)."""
    from ..tools import BUILTIN_TOOLS

    tool = BUILTIN_TOOLS.get(name)
    return tool is None or tool.traits.checkpoint


async def _rewind(client: AsyncClient, session_id: str, turn_id: str) -> types.CallToolResult:
    rewound = await client.rewind_turn(session_id, turn_id, "code")
    files = rewound.files
    data = {"session_id": session_id, "turn_id": turn_id,
            "restored": files.restored if files else [], "skipped": files.skipped if files else [],
            "conflicts": files.conflicts if files else [],
            "not_restored": [n.model_dump(mode="json") for n in files.not_restored] if files else []}
    text = f"Undid turn {turn_id}: restored {len(data['restored'])} path(s)"
    if data["restored"]:
        text += ": " + ", ".join(data["restored"][:50])
    if data["skipped"]:
        text += f". Left alone (edited by a person since): {', '.join(data['skipped'][:50])}"
    return result(data, text + ".")


def _tool_result(turn_id: str, item: Any) -> types.CallToolResult:
    data = {"turn_id": turn_id, "status": item.status, "summary": item.summary, "metadata": item.metadata}
    return types.CallToolResult(content=[types.TextContent(type="text", text=item.output or item.status)],
                                structured_content=data, is_error=item.status != "completed")


async def _turn_started_after(client: AsyncClient, session_id: str, after: int,
                              task: asyncio.Task[Any]) -> str | None:
    """The id of the first turn journaled after ``after`` (the one ``task``'s call began), or
    None when ``task`` ended without one."""
    sub = await client.subscribe(session_id, after)
    try:
        while True:
            nxt = asyncio.ensure_future(sub.next())
            done, _ = await asyncio.wait([nxt, task], return_when=asyncio.FIRST_COMPLETED)
            if nxt in done:
                ev = nxt.result()
                if ev.type == "turn.started":
                    return ev.turn_id
                continue
            nxt.cancel()
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
            return None
    finally:
        await sub.close()


@dataclass
class Followed:
    """What one ``follow_task`` (or a toolbox call) saw."""

    session_id: str
    turn_id: str | None
    status: str
    last_seq: int
    lines: list[str]
    answer: str | None
    error: str | None
    pending: list[ApprovalRequested]
    notes: list[str]
    answered: list[str]
    item: Any = None

    def data(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "turn_id": self.turn_id, "status": self.status,
                "last_seq": self.last_seq, "events": self.lines, "answer": self.answer, "error": self.error,
                "pending_approvals": [approval_info(p) for p in self.pending], "notes": self.notes,
                "approvals_answered": self.answered}

    def result(self) -> types.CallToolResult:
        text = [f"Session {self.session_id}, turn {self.turn_id}: {self.status} (last_seq {self.last_seq})."]
        text += self.lines
        if self.answered:
            text.append("Approvals answered here: " + ", ".join(self.answered))
        text += self.notes
        if self.answer is not None and self.status == "completed":
            text += ["", "Final answer:", self.answer]
        elif self.status in ("running", "waiting_approval"):
            text.append(f"Call follow_task again with after_seq {self.last_seq} to go on following.")
        return result(self.data(), "\n".join(text))

    def tool_result(self) -> types.CallToolResult:
        """For a toolbox call that has not finished: it waits for an approval nobody here can
        give, or still runs after the longest wait."""
        data = self.data()
        if self.status == "waiting_approval":
            text = [f"The call waits in turn {self.turn_id} for an approval."] + self.notes
        else:
            text = [f"The call is still {self.status} in turn {self.turn_id} (session {self.session_id}); "
                    f"`cowork sessions show {self.session_id}` shows how it ends."]
        return types.CallToolResult(content=[types.TextContent(type="text", text="\n".join(text))],
                                    structured_content=data, is_error=True)


async def follow(call: Call, session_id: str, *, after_seq: int, wait_s: float, turn_id: str | None = None,
                 since: int = 0) -> Followed | types.InputRequiredResult:
    """Follow the session's latest turn (or ``turn_id``) from its journal for up to ``wait_s``
    seconds: until it ends, or it waits for approvals this call cannot get answered. Approvals
    are put to the person through ``call.asker``; events after ``after_seq`` are summarised. The
    journal is read from ``since`` (0: all of it; a toolbox call's turn begins after a known seq)."""
    client = call.client
    session = await client.get_session(session_id)
    session_id = session.id
    state = SessionState(session_id, last_seq=since)
    lines: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    sub = await client.subscribe(session_id, since)
    try:
        while True:
            caught_up = state.last_seq >= (sub.subscribed_seq or 0)
            target = turn_id or state.last_turn
            turn = state.turns.get(target) if target else None
            if caught_up:
                if turn is None or turn.status != "running":
                    break  # no turn, or it has ended
                waiting = state.pending_of(target)
                if waiting:
                    asked = await call.asker.ask(client, waiting, {"turn_id": target, "after_seq": after_seq,
                                                                   "session_id": session_id})
                    if asked is not None:
                        return asked
                    asker = call.asker
                    if all(p.approval_id in asker.handled and p.approval_id not in asker.answered_ids
                           for p in waiting):
                        break  # left pending: nobody here can answer them
            left = deadline - loop.time()
            if caught_up and left <= 0:
                break
            try:
                ev: Event = await sub.next(timeout=max(left, 0.05) if caught_up else 30)
            except TimeoutError:
                if caught_up:
                    break
                raise
            state.add(ev)
            if ev.seq > after_seq and (line := summarise(ev)):
                lines.append(line)
    finally:
        await sub.close()
    target = turn_id or state.last_turn
    turn = state.turns.get(target) if target else None
    pending = state.pending_of(target)
    status = "idle" if turn is None else turn.status
    if status == "running" and pending:
        status = "waiting_approval"
    return Followed(session_id, target, status, state.last_seq, lines, turn.answer if turn else None,
                    turn.error if turn else None, pending, call.asker.notes, call.asker.answered,
                    turn.tool_item if turn else None)


# -- transports ------------------------------------------------------------------------------------


async def serve_stdio(client: AsyncClient, *, workspace: Path, toolbox: bool = False) -> None:
    """Serve MCP over this process's stdin and stdout until the client closes them, over the
    connected cowork ``client``. Nothing else may write to stdout meanwhile."""
    from mcp.server.stdio import stdio_server

    async def same(_ctx: ServerRequestContext[Any, Any]) -> AsyncClient:
        return client

    host = Host(same, workspace=workspace, toolbox=toolbox)
    try:
        async with stdio_server() as (read, write):
            await host.server.run(read, write, host.server.create_initialization_options())
    finally:
        for task in list(host._background):
            task.cancel()


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, else None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


class LoopbackClients:
    """Clients back to the cowork server that serves ``/mcp``: one per (address, token), made on
    first use, from the request's own server address (what it was reached on) and token."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str | None], AsyncClient] = {}
        self._lock = asyncio.Lock()

    async def __call__(self, ctx: ServerRequestContext[Any, Any]) -> AsyncClient:
        request = ctx.request
        if request is None:
            raise ConnectionLost("no HTTP request to take the server's address from")
        host, port = request.scope["server"][:2]
        url = f"ws://[{host}]:{port}/ws" if ":" in host else f"ws://{host}:{port}/ws"
        token = bearer(request.headers.get("authorization"))
        async with self._lock:
            client = self._clients.get((url, token))
            if client is None:
                client = await AsyncClient(url, token=token, client_name="cowork-mcp-host").connect()
                self._clients[(url, token)] = client
            return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()


class HttpEndpoint:
    """``/mcp``: the agent host over Streamable HTTP, as an ASGI app for the cowork server.

    ``authorize(token)`` says why a request's bearer token may not call the server (answered
    ``401`` with the protocol's ``-32002`` error and ``WWW-Authenticate: Bearer``), or None. Host and
    Origin are checked by the server's guard in front of every route, so the SDK's own DNS-rebinding
    check is off here. Use :meth:`running` around each run of the app (a server may be started
    again with the same app: each run gets its own SDK session manager, which runs only once)."""

    def __init__(self, authorize: Callable[[str | None], str | None], workspace: Path | None = None) -> None:
        self.authorize = authorize
        self.clients = LoopbackClients()
        self.host = Host(self.clients, workspace=workspace)
        self.manager: Any = None  # the SDK's StreamableHTTPSessionManager while running

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
        from mcp.server.transport_security import TransportSecuritySettings

        manager = StreamableHTTPSessionManager(
            app=self.host.server, security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None
                await self.clients.close()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        why = self.authorize(bearer(headers.get("authorization")))
        if why is not None:
            body = json.dumps({"error": {"code": -32002, "message": why}}).encode()
            await send({"type": "http.response.start", "status": 401, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="cowork"')]})
            await send({"type": "http.response.body", "body": body})
            return
        if self.manager is None:
            body = b'{"error": {"code": -32603, "message": "the MCP endpoint is not running"}}'
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.manager.handle_request(scope, receive, send)


__all__ = ["Host", "HttpEndpoint", "LoopbackClients", "serve_stdio"]
