"""The runtime: owns sessions and their running turns. The server exposes its operations over
the protocol (see :mod:`cowork.server`); every client goes through the server.

One turn runs per session at a time; a second ``start_turn`` while one runs is refused with
:class:`TurnInProgress` (``steer`` adds to the running turn instead). A client that goes away does
not stop a turn: only :meth:`interrupt` does. A turn waiting for an approval survives a restart:
:meth:`close` leaves it waiting and :meth:`open` resumes it (see :mod:`.recovery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic_ai.models import Model

from ..checkpoints import Checkpoints, CheckpointSettings, Rewound
from ..config import EngineSettings, cowork_home, database_url
from ..policy import MODES
from ..policy.workspaces import check_workspace
from ..protocol import ApprovalDecision, Event, ItemCompleted, ItemStarted, SessionInfo, ToolCall, TurnInterrupted, UserMessage
from ..providers import ModelConfigError, build_model, context_window, default_model, parse_model
from ..store import NotFound, Store, StoredEvent, new_id
from . import recovery
from ..tools import BUILTIN, Tool, Toolset, tools_by_name
from .approvals import ApprovalChannel, ApprovalNotPending, InMemoryApprovalChannel, PlanAnswer
from .extensions import ContextSection, ContextSource, Extension, Hooks, NoHooks, gather_sections
from .journal import Journal
from .lease import Lease, SqlTurnLeases, TurnLeases
from .subagents import Subagents
from .turn import Resume, Turn, TurnDeps
from .tool_turn import ToolTurn, is_tool_turn

log = logging.getLogger(__name__)



class TurnInProgress(RuntimeError):
    """The session already has a running turn."""


class NoRunningTurn(RuntimeError):
    """``steer`` found no running turn that could still take a message."""


class ClientMessageConflict(ValueError):
    """A ``client_message_id`` already used for a turn with a different message."""


@dataclass(frozen=True)
class StartedTurn:
    turn_id: str
    replayed: bool = False
    """True when ``client_message_id`` matched a turn started before: nothing new was started."""


class Runtime:
    """Sessions, turns, approvals and the event journal, over one :class:`Store`."""

    def __init__(self, store: Store, settings: EngineSettings | None = None, *, openai_base_url: str | None = None,
                 checkpoint_settings: CheckpointSettings | None = None, checkpoint_root: Path | None = None,
                 leases: TurnLeases | None = None, toolsets: Sequence[Toolset] | None = None,
                 approvals: ApprovalChannel | None = None, extensions: Sequence[Extension] = ()):
        self.store = store
        self.extensions: tuple[Extension, ...] = tuple(extensions)
        names = [e.name for e in self.extensions]
        if len(set(names)) != len(names):
            raise ValueError(f"extension names must be unique: {names}")
        base = tuple(toolsets) if toolsets is not None else (BUILTIN,)
        self.subagents = Subagents(self)  # spawn_agent & co. (see .subagents)
        self.toolsets: tuple[Toolset, ...] = (*base, self.subagents.toolset,
                                              *(ts for e in self.extensions for ts in e.toolsets))
        self.context_sources: tuple[ContextSource, ...] = (
            self.subagents.context, *(s for e in self.extensions for s in e.context_sources))
        hooks = [e.hooks for e in self.extensions if e.hooks is not None]
        if len(hooks) > 1:
            raise ValueError("at most one extension may bring hooks")
        self.hooks: Hooks = hooks[0] if hooks else NoHooks()
        self.compaction_prompts: tuple[tuple[str, tuple[Toolset, ...]], ...] = tuple(
            (e.compaction_prompt, tuple(e.toolsets)) for e in self.extensions if e.compaction_prompt)
        for extension in self.extensions:
            if extension.attach is not None:
                extension.attach(store)
        self._session_starts: set[str] = set()  # sessions whose session_start hooks ran here (see .hook_calls)
        self.leases: TurnLeases = leases or SqlTurnLeases(store)  # who runs which turn (see .lease)
        self._leases: dict[str, Lease] = {}  # session id -> the lease of its turn running here
        self._heartbeat: asyncio.Task[None] | None = None
        self.settings = settings or EngineSettings.from_env()
        self.journal = Journal(store)
        self.checkpoints = Checkpoints(store, self.journal.emit, checkpoint_settings, checkpoint_root)
        self.approvals: ApprovalChannel = approvals or InMemoryApprovalChannel()  # where approvals wait
        self._openai_base_url = openai_base_url
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._turns: dict[str, Turn] = {}
        self._models: dict[str, Model] = {}
        self._windows: dict[str, int] = {}
        self._start_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @classmethod
    async def open(cls, url: str | None = None, **kwargs: object) -> Runtime:
        """Open the store at ``url`` (default: ``$COWORK_HOME/cowork.db``) and recover from crashes."""
        runtime = cls(await Store.open(url or database_url()), **kwargs)  # type: ignore[arg-type]
        await runtime._recover()
        runtime._start_heartbeat()
        for extension in runtime.extensions:
            if extension.start is not None:
                await extension.start()
        return runtime

    def extension(self, name: str) -> Extension | None:
        """The extension called ``name``, if the runtime was given one."""
        return next((e for e in self.extensions if e.name == name), None)

    async def close(self) -> None:
        """Interrupt running turns (journaled as interrupted) except those waiting for an approval
        (left waiting: the next :meth:`open` resumes them), flush the journal, close the
        providers' HTTP clients and the store."""
        for session_id, turn in list(self._turns.items()):
            if turn.waiting_approval is not None and getattr(turn, "parent", None) is None:  # a subagent's turn ends with its parent's
                turn.suspended = True
            turn.interrupt_reason = "cowork shut down while this turn was running"
            await self.interrupt(session_id)
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        await self.journal.drain()
        for extension in reversed(self.extensions):
            if extension.close is not None:
                try:
                    await extension.close()
                except Exception:  # one extension's trouble must not keep the store open
                    log.exception("closing extension %s failed", extension.name)
        for model in self._models.values():  # the provider SDKs' HTTP clients
            close = getattr(getattr(model, "client", None), "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    result = close()
                    if inspect.isawaitable(result):
                        await result
        self._models.clear()
        await self.checkpoints.close()
        await self.store.close()

    async def _recover(self) -> None:
        """Turns left ``running`` by a stopped process: one waiting for an approval is resumed,
        any other is journaled as interrupted with its open items closed (see :mod:`.recovery`).
        Only turns whose lease can be taken over (see :mod:`.lease`) are touched."""
        for session_id, turn_id in await self.store.running_turns():
            if session_id in self._tasks:
                continue
            lease = await self.leases.take_over(turn_id)
            if lease is None:  # its owner is alive and renewing
                continue
            events = await self.store.turn_events(session_id, turn_id)
            if await self._ended_already(session_id, turn_id, events):
                await self.leases.release(lease)
                continue
            resume = None if is_tool_turn(events) or await self._is_subagent(session_id) \
                else recovery.pending_approval(events)  # no model to go on with; a subagent's parent call ended
            if resume is not None and await self._resume(session_id, turn_id, resume, lease):
                continue
            self.journal.reopen(session_id)  # after lost events: the items close with what was committed
            for item in recovery.open_items(events):
                await self.journal.emit(session_id, turn_id, ItemCompleted, item=item)
            await self.journal.emit(
                session_id, turn_id, TurnInterrupted, usage={}, duration_ms=0,
                reason="cowork stopped while this turn was running",
            )
            await self.store.end_turn(turn_id, "interrupted", 0, 0)
            await self.leases.release(lease)

    async def _ended_already(self, session_id: str, turn_id: str, events: list[Event]) -> bool:
        """A turn still ``running`` in the store whose end must not be journaled now: its
        terminal event is in the journal (only the row missed it), or a later turn's events
        follow its own (a turn.interrupted would land after them). Its row is ended either way."""
        ended = recovery.terminal(events)
        if ended is None and not (events and await self.store.events_after(session_id, events[-1].seq, limit=1)):
            return False
        status = ended.type.split(".", 1)[1] if ended is not None else "interrupted"
        usage = ended.usage if ended is not None else None
        log.warning("turn %s was left running in the store; recording it as %s", turn_id, status)
        await self.store.end_turn(turn_id, status, usage.input_tokens if usage else 0, usage.output_tokens if usage else 0)
        return True

    async def _is_subagent(self, session_id: str) -> bool:
        try:
            return (await self.store.get_session(session_id)).parent is not None
        except NotFound:
            return False

    async def _resume(self, session_id: str, turn_id: str, resume: Resume, lease: Lease) -> bool:
        """Start the task of a turn found waiting for an approval; False if it cannot go on."""
        try:
            session = await self.store.get_session(session_id)
            model = self.model(session.model)
        except (NotFound, ModelConfigError) as exc:
            log.warning("turn %s cannot resume: %s", turn_id, exc)
            return False
        turn = Turn(self._deps(), session, turn_id, "", model, self._window(session.model), resume=resume)
        await turn.reopen_approvals()  # answerable at once, before its task gets to them
        self._launch(session_id, turn, lease)
        return True

    def _deps(self) -> TurnDeps:
        return TurnDeps(self.store, self.journal, self.approvals, self.settings, self.checkpoints, self.toolsets,
                        self.context_sources, self.hooks, self._session_starts, self.compaction_prompts,
                        self.subagents.end_turn)

    def tools(self, session: SessionInfo | None = None) -> dict[str, Tool]:
        """The tools the runtime's toolsets offer ``session`` (None: no session in particular),
        by name, in the order offered."""
        if session is None:
            return tools_by_name(self.toolsets, "", Path.cwd())
        return tools_by_name(self.toolsets, session.id, Path(session.workspace))

    async def context(self, session: SessionInfo, prompt: str | None = None) -> list[ContextSection]:
        """The sections the context sources give a turn of ``session`` (``prompt``: its message),
        as the next turn would load them (``/context`` shows these)."""
        return await gather_sections(self.context_sources, session.id, Path(session.workspace), prompt)

    def _launch(self, session_id: str, turn: Turn, lease: Lease) -> None:
        async def run() -> None:
            try:
                await turn.run()
            except Exception:  # storage failed even for the turn's end: a later sweep ends it
                log.exception("turn %s could not journal its end; it is ended once storage is back", turn.turn_id)
            finally:  # ended, or left waiting for the next start: anyone may take it now
                with contextlib.suppress(Exception):
                    await self.leases.release(lease)

        task = asyncio.create_task(run(), name=f"turn {turn.turn_id}")
        self._tasks[session_id], self._turns[session_id], self._leases[session_id] = task, turn, lease

        def done(_task: asyncio.Task[None]) -> None:
            if self._tasks.get(session_id) is task:
                del self._tasks[session_id], self._turns[session_id], self._leases[session_id]

        task.add_done_callback(done)
        self._start_heartbeat()

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name="turn lease heartbeat")

    async def _beat(self) -> None:
        """Every third of the lease TTL: renew the leases of the turns running here (a turn whose
        lease was taken over stops without journaling its end: its new owner does), then take
        over turns whose owner stopped renewing (see :meth:`_recover`)."""
        while True:
            await asyncio.sleep(self.leases.ttl / 3)
            try:
                for lost in await self.leases.renew(list(self._leases.values())):
                    for session_id, lease in list(self._leases.items()):
                        if lease == lost and session_id in self._turns:
                            log.warning("turn %s was taken over by another process; stopping it here", lease.turn_id)
                            self._turns[session_id].suspended = True
                            self._turns[session_id].cancel()
                await self._recover()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage trouble: the next beat tries again
                log.warning("turn lease heartbeat failed: %s", exc)

    # -- sessions -----------------------------------------------------------------------------

    async def create_session(
        self, workspace: Path, model: str | None = None, mode: str = "default", title: str = ""
    ) -> SessionInfo:
        """A new session in ``workspace`` (an existing folder that may be a workspace, see
        :mod:`cowork.policy.workspaces`). Raises UnsafeWorkspace, ValueError, ModelConfigError."""
        workspace = check_workspace(workspace, cowork_home())
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        model = model or default_model()
        parse_model(model)
        return await self.store.create_session(workspace, model, mode, title)

    async def get_session(self, session_id: str) -> SessionInfo:
        return (await self._with_pending([await self.store.get_session(session_id)]))[0]

    async def list_sessions(
        self, workspace: Path | None = None, limit: int = 50, cursor: str | None = None, query: str | None = None,
        parent: str | None = None,
    ) -> tuple[list[SessionInfo], str | None]:
        """A page of sessions, newest first, and the next page's cursor (see Store.list_sessions;
        ``query``: only titles containing it, case-insensitively; ``parent``: that session's subagents)."""
        page, next_cursor = await self.store.list_sessions(workspace.resolve() if workspace else None, limit, cursor,
                                                           query, parent)
        return await self._with_pending(page), next_cursor

    async def _with_pending(self, sessions: list[SessionInfo]) -> list[SessionInfo]:
        """``sessions`` with ``pending_approvals`` filled in from the approval channel."""
        counts = await self.approvals.pending([s.id for s in sessions if s.status == "running"]) if sessions else {}
        return [s.model_copy(update={"pending_approvals": counts[s.id]}) if counts.get(s.id) else s for s in sessions]

    async def latest_session(self, workspace: Path) -> SessionInfo | None:
        """The most recently updated session of ``workspace``, or None."""
        return await self.store.latest_session(workspace.resolve())

    async def update_session(self, session_id: str, *, model: str | None = None, mode: str | None = None,
                             title: str | None = None) -> SessionInfo:
        fields: dict[str, object] = {}
        if model is not None:
            parse_model(model)
            fields["model"] = model
        if mode is not None:
            if mode not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
            fields["mode"] = mode
        if title is not None:
            fields["title"] = title
        if fields:
            await self.store.update_session(session_id, **fields)
        return await self.get_session(session_id)

    async def rewind_turn(self, session_id: str, turn_id: str, restore: str = "both",
                          force: bool = False) -> Rewound:
        """Go back to before ``turn_id`` (see :meth:`Checkpoints.rewind`). Raises NotFound,
        TurnInProgress (a turn is running: interrupt it first), CheckpointUnavailable."""
        await self.store.get_session(session_id)
        await self._no_running_turn(session_id)
        return await self.checkpoints.rewind(session_id, turn_id, restore, force)

    async def _no_running_turn(self, session_id: str) -> None:
        """Return once the session has no turn task; a turn that has journaled its end is waited
        for (a client that saw ``turn.completed`` may act at once). Raises TurnInProgress."""
        task = self._tasks.get(session_id)
        if task is None:
            return
        if not self._turns[session_id].ending:
            raise TurnInProgress(f"session {session_id} has a running turn; interrupt it first")
        await asyncio.wait([task])

    async def delete_session(self, session_id: str) -> None:
        await self._no_running_turn(session_id)
        await self.store.delete_session(session_id)
        self.journal.forget(session_id)

    # -- models -------------------------------------------------------------------------------

    def model(self, name: str) -> Model:
        """The pydantic-ai model for ``provider:model`` (cached). Raises ModelConfigError."""
        if name not in self._models:
            self._models[name] = build_model(parse_model(name), base_url=self._openai_base_url)
        return self._models[name]

    def use_model(self, name: str, model: Model, context_window: int | None = None) -> None:
        """Serve ``provider:model`` with the given pydantic-ai model (embedding, tests)."""
        parse_model(name)
        self._models[name] = model
        if context_window is not None:
            self._windows[name] = context_window

    async def prepare_model(self, name: str, on_status: Callable[[str], None] | None = None) -> None:
        """Load an embedded model before the first turn, reporting progress through ``on_status``."""
        model = self.model(name)
        load = getattr(model, "load", None)
        if load is not None and not getattr(model, "loaded", True):
            if on_status:
                on_status(f"loading {name}")
            await load()

    # -- turns --------------------------------------------------------------------------------

    async def start_turn(self, session_id: str, text: str, *, client_message_id: str | None = None) -> StartedTurn:
        """Start a turn and return its id at once; follow it with :meth:`subscribe`.

        With ``client_message_id``, a retry returns the turn the first call started
        (``replayed=True``) instead of starting another. Raises NotFound, TurnInProgress,
        ClientMessageConflict, ModelConfigError (e.g. a missing API key), ValueError.
        """
        if not text.strip():
            raise ValueError("the message is empty")
        async with self._start_locks[session_id]:
            if client_message_id is not None:
                found = await self.store.find_turn_by_client_message(session_id, client_message_id)
                if found is not None:
                    if found[1] != text:
                        raise ClientMessageConflict(
                            f"clientMessageId {client_message_id!r} was used for a different message")
                    return StartedTurn(found[0], replayed=True)
            session = await self._ready_session(session_id)
            return StartedTurn(await self._begin(session, text, self._deps(), client_message_id=client_message_id))

    async def start_subagent_turn(self, session: SessionInfo, text: str, parent: Turn) -> str:
        """Start a turn of the subagent ``session`` working for ``parent`` (see :mod:`.subagents`):
        its steps are what the parent has left, and what it spends counts against the parent's
        budgets. Returns the turn id. Raises TurnInProgress, ModelConfigError."""
        async with self._start_locks[session.id]:
            session = await self._ready_session(session.id)
            deps = self._deps()
            deps.settings = dataclasses.replace(self.settings,
                                                max_steps=max(1, self.settings.max_steps - parent.spending().requests))
            return await self._begin(session, text, deps, parent=parent)

    async def _begin(self, session: SessionInfo, text: str, deps: TurnDeps, *, client_message_id: str | None = None,
                     parent: Turn | None = None) -> str:
        """Write a new turn of ``session``, journal its start and launch its task; its id."""
        model = self.model(session.model)
        turn_id, lease = await self._new_turn(session, text, client_message_id)
        turn = Turn(deps, session, turn_id, text, model, self._window(session.model), parent=parent)
        await turn.begin()
        self._launch(session.id, turn, lease)
        return turn_id

    def _window(self, model: str) -> int:
        """The context window of ``model`` in tokens (as given to :meth:`use_model`, else the provider's)."""
        return self._windows.get(model) or context_window(parse_model(model))

    async def _ready_session(self, session_id: str) -> SessionInfo:
        """The session, once a turn of it that has journaled its end has finished (under the
        session's start lock). Raises TurnInProgress while one still runs, NotFound, UnsafeWorkspace."""
        if session_id in self._tasks:
            if not self._turns[session_id].ending:
                raise TurnInProgress(f"session {session_id} already has a running turn")
            await asyncio.wait([self._tasks[session_id]])  # it has journaled its end; let it finish
        session = await self.store.get_session(session_id)
        check_workspace(Path(session.workspace), cowork_home())  # a session made before the check
        return session

    async def _new_turn(self, session: SessionInfo, text: str,
                        client_message_id: str | None = None) -> tuple[str, Lease]:
        """A new turn's id and lease, its row written (the lease first: a running turn always has one)."""
        turn_id = new_id("turn")
        lease = await self.leases.acquire(turn_id)
        try:
            await self.store.start_turn(session.id, turn_id, text, session.model, client_message_id)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.leases.release(lease)
            raise
        return turn_id, lease

    async def call_tool(self, session_id: str, name: str, arguments: dict[str, Any]) -> tuple[str, ToolCall]:
        """Run one call of the tool ``name`` with ``arguments`` for a client (``tool/call``: the
        MCP toolbox), through the pipeline a model's call takes (decide → ask → checkpoint → run),
        journaled as a ``tool_call`` item in a turn of its own (``turn.started`` … ``turn.completed``,
        no model, nothing added to the model's history). A call the policy asks about waits for an
        approval like any other; a checkpointed tool's turn gets a ``turn`` checkpoint first, so
        ``turn/rewind`` (restore ``code``) undoes it. Returns ``(turn id, the finished item)``;
        an unknown tool or bad arguments give a ``failed`` item, a denial a ``denied`` one. Raises
        NotFound, TurnInProgress (the session has a running turn), UnsafeWorkspace."""
        async with self._start_locks[session_id]:
            session = await self._ready_session(session_id)
            turn_id, lease = await self._new_turn(session, f"[tool call: {name}]")
            turn = ToolTurn(self._deps(), session, turn_id, name, arguments)
            await turn.begin()
            self._launch(session_id, turn, lease)  # type: ignore[arg-type]  # duck-types Turn
            task = self._tasks[session_id]
        await asyncio.wait([task])  # a caller that goes away does not cancel the call
        return turn_id, turn.result()

    async def steer(self, session_id: str, text: str) -> str:
        """Add a user message to the running turn; the model reads it with its next request.
        Journaled at once as a ``user_message`` item. Returns the turn id. Raises NoRunningTurn,
        ValueError (empty message)."""
        if not text.strip():
            raise ValueError("the message is empty")
        turn = self._turns.get(session_id)
        if turn is None:
            await self.store.get_session(session_id)  # NotFound for an unknown session
        if turn is None or not turn.steer(text):
            raise NoRunningTurn(f"session {session_id} has no running turn to add to; start a turn instead")
        item = UserMessage(id=new_id("item"), text=text)
        await self.journal.emit(session_id, turn.turn_id, ItemStarted, item=item)
        await self.journal.emit(session_id, turn.turn_id, ItemCompleted, item=item)
        return turn.turn_id

    def storage(self) -> tuple[str, str]:
        """``(kind, database)``: ``sqlite`` or ``postgresql``, and its URL with the password hidden."""
        engine = self.store.engine
        return engine.dialect.name, engine.url.render_as_string(hide_password=True)

    def storage_problem(self) -> str | None:
        """Why the store stopped accepting reads and writes (its database file was deleted or
        replaced: restart the server), else None. Costs a ``stat``."""
        return self.store.problem()

    def turn_of(self, session_id: str) -> Turn | ToolTurn | None:
        """The session's turn running in this process (ended or not), if any."""
        return self._turns.get(session_id)

    def running_turn(self, session_id: str) -> str | None:
        """Id of the session's running turn, if any."""
        turn = self._turns.get(session_id)
        return turn.turn_id if turn is not None and not turn.ending else None

    async def interrupt(self, session_id: str) -> bool:
        """Interrupt the running turn of the session: its tool's process group is killed and the
        turn is journaled as interrupted. Returns once the turn has ended; False when nothing was
        running. Idempotent: concurrent calls cancel the turn once and all return True when
        they find it running (its end is written exactly once)."""
        task = self._tasks.get(session_id)
        turn = self._turns.get(session_id)
        if task is None or turn is None or task.done():
            return False
        turn.cancel()
        await asyncio.wait([task])
        return True

    async def wait(self, session_id: str) -> None:
        """Wait until the session's running turn (if any) has ended."""
        task = self._tasks.get(session_id)
        if task is not None:
            await asyncio.wait([task])

    def respond_approval(self, approval_id: str, decision: ApprovalDecision, reason: str | None = None, *,
                         plan: PlanAnswer | None = None, answered_by: str | None = None) -> None:
        """Answer a pending approval (``plan``: a plan approval's edited steps and the mode to carry
        it out in). Raises ApprovalNotPending (unknown or already answered), ValueError (a
        decision the request does not offer, a ``plan`` for an approval that is not a plan's).
        In-process callers only: it needs the in-memory channel; the server uses :meth:`answer_approval`."""
        self._local_channel().resolve_now(approval_id, decision, reason, **_answer_kw(plan, answered_by))

    async def answer_approval(self, approval_id: str, decision: ApprovalDecision, reason: str | None = None, *,
                              plan: PlanAnswer | None = None, answered_by: str | None = None) -> None:
        """:meth:`respond_approval` through any approval channel; ``answered_by`` (who answered:
        a client's name and version) is journaled in ``approval.resolved``."""
        await self.approvals.resolve(approval_id, decision, reason, **_answer_kw(plan, answered_by))

    async def answer_approvals(self, approval_ids: list[str], decision: ApprovalDecision,
                               reason: str | None = None, *, plan: PlanAnswer | None = None,
                               answered_by: str | None = None) -> list[str | None]:
        """:meth:`respond_approvals` through any approval channel."""
        errors: list[str | None] = []
        for approval_id in approval_ids:
            try:
                await self.approvals.resolve(approval_id, decision, reason, **_answer_kw(plan, answered_by))
            except (ApprovalNotPending, ValueError) as exc:
                errors.append(str(exc))
            else:
                errors.append(None)
        return errors

    def _local_channel(self) -> InMemoryApprovalChannel:
        if not isinstance(self.approvals, InMemoryApprovalChannel):
            raise TypeError("respond_approval needs the in-memory approval channel; use answer_approval")
        return self.approvals

    def respond_approvals(self, approval_ids: list[str], decision: ApprovalDecision,
                          reason: str | None = None) -> list[str | None]:
        """Answer several pending approvals alike, each on its own: for each id, None when it was
        answered, else why not (not pending, decision not offered)."""
        errors: list[str | None] = []
        for approval_id in approval_ids:
            try:
                self._local_channel().resolve_now(approval_id, decision, reason)
            except (ApprovalNotPending, ValueError) as exc:
                errors.append(str(exc))
            else:
                errors.append(None)
        return errors

    def subscribe(self, session_id: str, after_seq: int = 0) -> AsyncIterator[Event]:
        """Every journaled event of the session after ``after_seq``, then live events."""
        return self.journal.subscribe(session_id, after_seq)

    def subscribe_stored(self, session_id: str, after_seq: int = 0) -> AsyncIterator[list[StoredEvent]]:
        """The same in batches of stored events, each one's JSON as journaled (what servers send)."""
        return self.journal.subscribe_stored(session_id, after_seq)

    # -- reads the server needs (it reaches the store only through the runtime) ---------------

    async def fork_session(self, session_id: str, turn_id: str | None = None) -> SessionInfo:
        """A copy of the session up to and including ``turn_id`` (all of it when None). Raises NotFound."""
        return await self.store.fork_session(session_id, turn_id)

    async def list_workspaces(self) -> list[tuple[str, int, datetime | None]]:
        """``(path, session count, last active)`` of every workspace with a session, most recent first."""
        return await self.store.list_workspaces()

    async def allowed_tools(self, session_id: str) -> list[str]:
        """The patterns a person allowed for the rest of the session ('session' answers)."""
        return await self.store.allowed_tools(session_id)

    async def last_seq(self, session_id: str) -> int:
        """The newest committed seq of the session (0 when none)."""
        return await self.store.last_seq(session_id)

    async def journal_page(self, session_id: str, after_seq: int, limit: int = 1000) -> list[StoredEvent]:
        """Up to ``limit`` stored events with a seq greater than ``after_seq``, in seq order."""
        return await self.store.stored_events_after(session_id, after_seq, limit)


def _answer_kw(plan: PlanAnswer | None, answered_by: str | None = None) -> dict[str, object]:
    """``plan=`` and ``answered_by=`` for a channel's resolve, each only when given (channels that
    know neither keep their three-argument resolve)."""
    kw: dict[str, object] = {} if plan is None else {"plan": plan}
    if answered_by is not None:
        kw["answered_by"] = answered_by
    return kw


__all__ = [
    "ApprovalNotPending", "ClientMessageConflict", "ModelConfigError", "NoRunningTurn", "NotFound", "Runtime",
    "StartedTurn", "TurnInProgress",
]
