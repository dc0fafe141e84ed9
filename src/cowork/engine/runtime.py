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
import inspect
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic_ai.models import Model

from ..checkpoints import Checkpoints, CheckpointSettings
from ..config import EngineSettings, database_url
from ..policy import MODES
from ..protocol import ApprovalDecision, Event, ItemCompleted, ItemStarted, SessionInfo, TurnInterrupted, UserMessage
from ..protocol.rpc import TurnRewindResult
from ..providers import ModelConfigError, build_model, context_window, default_model, parse_model
from ..store import NotFound, Store, StoredEvent, new_id
from . import recovery
from .approvals import ApprovalBroker, ApprovalNotPending
from .journal import Journal
from .turn import Resume, Turn, TurnDeps

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
                 checkpoint_settings: CheckpointSettings | None = None, checkpoint_root: Path | None = None):
        self.store = store
        self.settings = settings or EngineSettings.from_env()
        self.journal = Journal(store)
        self.checkpoints = Checkpoints(store, self.journal.emit, checkpoint_settings, checkpoint_root)
        self.approvals = ApprovalBroker()
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
        return runtime

    async def close(self) -> None:
        """Interrupt running turns (journaled as interrupted) except those waiting for an approval
        (left waiting: the next :meth:`open` resumes them), flush the journal, close the
        providers' HTTP clients and the store."""
        for session_id, turn in list(self._turns.items()):
            if turn.waiting_approval is not None:
                turn.suspended = True
            turn.interrupt_reason = "cowork shut down while this turn was running"
            await self.interrupt(session_id)
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self.journal.drain()
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
        any other is journaled as interrupted with its open items closed (see :mod:`.recovery`)."""
        for session_id, turn_id in await self.store.running_turns():
            events = await self.store.turn_events(session_id, turn_id)
            resume = recovery.pending_approval(events)
            if resume is not None and await self._resume(session_id, turn_id, resume):
                continue
            for item in recovery.open_items(events):
                await self.journal.emit(session_id, turn_id, ItemCompleted, item=item)
            await self.journal.emit(
                session_id, turn_id, TurnInterrupted, usage={}, duration_ms=0,
                reason="cowork stopped while this turn was running",
            )
            await self.store.end_turn(turn_id, "interrupted", 0, 0)

    async def _resume(self, session_id: str, turn_id: str, resume: Resume) -> bool:
        """Start the task of a turn found waiting for an approval; False if it cannot go on."""
        try:
            session = await self.store.get_session(session_id)
            model = self.model(session.model)
        except (NotFound, ModelConfigError) as exc:
            log.warning("turn %s cannot resume: %s", turn_id, exc)
            return False
        window = self._windows.get(session.model) or context_window(parse_model(session.model))
        await self.store.claim_turn(turn_id)
        turn = Turn(self._deps(), session, turn_id, "", model, window, resume=resume)
        self._launch(session_id, turn)
        return True

    def _deps(self) -> TurnDeps:
        return TurnDeps(self.store, self.journal, self.approvals, self.settings, self.checkpoints)

    def _launch(self, session_id: str, turn: Turn) -> None:
        task = asyncio.create_task(turn.run(), name=f"turn {turn.turn_id}")
        self._tasks[session_id], self._turns[session_id] = task, turn

        def done(_task: asyncio.Task[None]) -> None:
            if self._tasks.get(session_id) is task:
                del self._tasks[session_id], self._turns[session_id]

        task.add_done_callback(done)

    # -- sessions -----------------------------------------------------------------------------

    async def create_session(
        self, workspace: Path, model: str | None = None, mode: str = "default", title: str = ""
    ) -> SessionInfo:
        """A new session in ``workspace`` (an existing folder). Raises ValueError, ModelConfigError."""
        workspace = workspace.expanduser().resolve()
        if not workspace.is_dir():
            raise ValueError(f"workspace {workspace} is not an existing folder")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        model = model or default_model()
        parse_model(model)
        return await self.store.create_session(workspace, model, mode, title)

    async def get_session(self, session_id: str) -> SessionInfo:
        return await self.store.get_session(session_id)

    async def list_sessions(
        self, workspace: Path | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[SessionInfo], str | None]:
        """A page of sessions, newest first, and the next page's cursor (see Store.list_sessions)."""
        return await self.store.list_sessions(workspace.resolve() if workspace else None, limit, cursor)

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
        return await self.store.get_session(session_id)

    async def rewind_turn(self, session_id: str, turn_id: str, restore: str = "both",
                          force: bool = False) -> TurnRewindResult:
        """Go back to before ``turn_id`` (see :meth:`Checkpoints.rewind`). Raises NotFound,
        TurnInProgress (a turn is running: interrupt it first), CheckpointUnavailable."""
        await self.store.get_session(session_id)
        if session_id in self._tasks:
            raise TurnInProgress(f"session {session_id} has a running turn; interrupt it first")
        return await self.checkpoints.rewind(session_id, turn_id, restore, force)

    async def delete_session(self, session_id: str) -> None:
        if session_id in self._tasks:
            raise TurnInProgress(f"session {session_id} has a running turn; interrupt it first")
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
            if session_id in self._tasks:
                if not self._turns[session_id].ending:
                    raise TurnInProgress(f"session {session_id} already has a running turn")
                await asyncio.wait([self._tasks[session_id]])  # it has journaled its end; let it finish
            session = await self.store.get_session(session_id)
            model = self.model(session.model)
            window = self._windows.get(session.model) or context_window(parse_model(session.model))
            turn_id = new_id("turn")
            await self.store.start_turn(session_id, turn_id, text, session.model, client_message_id)
            turn = Turn(self._deps(), session, turn_id, text, model, window)
            await turn.begin()
            self._launch(session_id, turn)
            return StartedTurn(turn_id)

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

    def running_turn(self, session_id: str) -> str | None:
        """Id of the session's running turn, if any."""
        turn = self._turns.get(session_id)
        return turn.turn_id if turn is not None and not turn.ending else None

    async def interrupt(self, session_id: str) -> bool:
        """Interrupt the running turn of the session: its tool's process group is killed and the
        turn is journaled as interrupted. Returns False when nothing was running."""
        task = self._tasks.get(session_id)
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.wait([task])
        return True

    async def wait(self, session_id: str) -> None:
        """Wait until the session's running turn (if any) has ended."""
        task = self._tasks.get(session_id)
        if task is not None:
            await asyncio.wait([task])

    def respond_approval(self, approval_id: str, decision: ApprovalDecision, reason: str | None = None) -> None:
        """Answer a pending approval. Raises ApprovalNotPending (unknown or already answered),
        ValueError (a decision the request does not offer)."""
        self.approvals.resolve(approval_id, decision, reason)

    def respond_approvals(self, approval_ids: list[str], decision: ApprovalDecision,
                          reason: str | None = None) -> list[str | None]:
        """Answer several pending approvals alike, each on its own: for each id, None when it was
        answered, else why not (not pending, decision not offered)."""
        errors: list[str | None] = []
        for approval_id in approval_ids:
            try:
                self.approvals.resolve(approval_id, decision, reason)
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


__all__ = [
    "ApprovalNotPending", "ClientMessageConflict", "ModelConfigError", "NoRunningTurn", "NotFound", "Runtime",
    "StartedTurn", "TurnInProgress",
]
