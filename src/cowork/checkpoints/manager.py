"""Checkpoints for the runtime: taking them (before turns, mutating tool calls and restores),
listing, diffing and restoring them, rewinding turns, and keeping the store within its budget.

Work on a workspace's shadow repository runs in a daemon thread of its own, one operation at a
time per workspace (an asyncio lock in this process, ``flock`` across processes and threads).
Cancelling the awaiting task (a turn's interrupt) sets the operation's cancel event: the scan
stops between files or chunks of a file, the lock wait gives up, and the task waits at most
:data:`STOP_WAIT_S` for that; :meth:`Checkpoints.close` cancels whatever runs and returns within
its timeout (a thread stuck in the kernel is a daemon thread: it never holds the process up).
cowork's own state folder (``COWORK_HOME``) and the checkpoint store are never captured nor
restored into, wherever they lie.
Records live in the ``checkpoints`` table so listing never touches git. Retention (count, age,
disk size; :class:`CheckpointSettings`) runs in the background after a turn's checkpoint, at most
once every :data:`COLLECT_EVERY_S` seconds per workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from .._util.beneath import identities
from ..protocol import CheckpointCreated, CheckpointInfo, CheckpointRestored, CheckpointStats, TurnRewound, utc_now
from ..store import NotFound, Store, new_id
from ..store import checkpoints as records
from ..store.models import CheckpointRow
from . import restore as restoring
from .results import Difference, NotRestorable, Restored, Rewound
from .settings import CheckpointSettings
from .shadow import AGENT_REF, REF_PREFIX, LockCancelled, ShadowRepo, workspace_key
from .snapshot import Cancelled, Scanner

log = logging.getLogger(__name__)

ORPHAN_AGE_S = 600
"""A checkpoint ref without a record (its session was deleted) is dropped once this old; younger
ones may belong to a checkpoint whose record is being written."""

COLLECT_EVERY_S = 60.0
"""Automatic retention runs at most this often per workspace: it lists every checkpoint and
measures the repository on disk (a walk of its object files), too much to repeat on every turn."""

MAX_DIFFS = 200
"""Changes that get a diff in one answer; the others are listed without."""

STOP_WAIT_S = 1.0
"""How long a cancelled operation waits for its thread to stop before letting go."""

CLOSE_TIMEOUT_S = 5.0
"""How long :meth:`Checkpoints.close` may take, whatever a checkpoint is doing."""

Emit = Callable[..., Awaitable[Any]]


class CheckpointUnavailable(RuntimeError):
    """Checkpoints are off, or the shadow repository (or a checkpoint's snapshot in it) cannot be
    read or written."""


@dataclass
class _Space:
    shadow: ShadowRepo
    scanner: Scanner
    lock: asyncio.Lock


class Checkpoints:
    """The checkpoints of every workspace, stored under ``root`` (default
    ``$COWORK_HOME/checkpoints``). ``emit(session_id, turn_id, event_type, **fields)`` journals."""

    def __init__(self, store: Store, emit: Emit, settings: CheckpointSettings | None = None,
                 root: Path | None = None) -> None:
        self.store = store
        self.emit = emit
        self.settings = settings or CheckpointSettings.from_env()
        self._root = root
        self._spaces: dict[str, _Space] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._collecting: set[str] = set()
        self._collected: dict[str, float] = {}  # workspace -> time.monotonic() of its last retention
        self._cancels: set[threading.Event] = set()  # of the operations running now
        self._closing = False  # while close() runs: operations waiting for a workspace's lock give up

    @property
    def root(self) -> Path:
        if self._root is None:
            from ..config import cowork_home

            self._root = cowork_home() / "checkpoints"
        return self._root

    def _space(self, workspace: str) -> _Space:
        space = self._spaces.get(workspace)
        if space is None:
            from ..config import cowork_home

            shadow = ShadowRepo(self.root / workspace_key(Path(workspace)), Path(workspace))
            exclude = identities([cowork_home(), self.root])  # cowork's own state, when inside the workspace
            space = self._spaces[workspace] = _Space(shadow, Scanner(shadow, self.settings, exclude), asyncio.Lock())
        return space

    async def _run(self, workspace: str, work: Callable[[_Space], Any], during_close: bool = False) -> Any:
        """``work(space)`` in a daemon thread with the workspace's locks held; OSError, a missing
        snapshot and a cancelled scan become :class:`CheckpointUnavailable`. Cancelling the
        caller stops the work (see the module's doc)."""
        try:
            space = self._space(workspace)
        except OSError as exc:
            raise CheckpointUnavailable(f"cannot open the checkpoint store of {workspace}: {exc}") from None
        loop = asyncio.get_running_loop()

        async with space.lock:
            if self._closing and not during_close:
                raise CheckpointUnavailable("cowork is shutting down: no checkpoint now")
            cancel = threading.Event()
            done: asyncio.Future[Any] = loop.create_future()
            done.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even when nobody waits

            def report(ok: bool, value: Any) -> None:
                if not done.done():
                    (done.set_result if ok else done.set_exception)(value)

            def body() -> None:
                try:
                    with space.shadow.locked(cancel):
                        space.scanner.cancel = cancel
                        ok, value = True, work(space)
                except BaseException as exc:  # handed to the awaiting task
                    ok, value = False, exc
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                    loop.call_soon_threadsafe(report, ok, value)

            self._cancels.add(cancel)
            try:
                threading.Thread(target=body, name=f"checkpoint {workspace}", daemon=True).start()
                try:
                    return await asyncio.shield(done)
                except asyncio.CancelledError:
                    cancel.set()
                    with contextlib.suppress(BaseException):
                        await asyncio.wait_for(asyncio.shield(done), STOP_WAIT_S)
                    raise
            except (Cancelled, LockCancelled):
                raise CheckpointUnavailable(f"checkpoint of {workspace} was cancelled") from None
            except OSError as exc:
                raise CheckpointUnavailable(f"checkpoint of {workspace} failed: {exc}") from None
            except KeyError as exc:
                raise CheckpointUnavailable(f"the checkpoint's snapshot is gone from the shadow repository ({exc})") \
                    from None
            finally:
                self._cancels.discard(cancel)

    # -- taking checkpoints ---------------------------------------------------------------------

    async def create(self, session_id: str, workspace: str, turn_id: str, kind: str,
                     item_id: str | None = None) -> CheckpointInfo | None:
        """Checkpoint ``workspace`` now and journal ``checkpoint.created``; None when checkpoints
        are off. Raises CheckpointUnavailable."""
        if not self.settings.enabled:
            return None
        checkpoint_id = new_id("ckpt")

        def scan(space: _Space) -> Any:
            snap = space.scanner.scan(f"{kind} {checkpoint_id}\n\nsession {session_id}\nturn {turn_id}")
            space.shadow.set_ref(REF_PREFIX + checkpoint_id.encode(), snap.commit)
            return snap

        snap = await self._run(workspace, scan)
        row = CheckpointRow(id=checkpoint_id, session_id=session_id, turn_id=turn_id, item_id=item_id,
                            workspace=workspace, commit=snap.commit.decode(), kind=kind, created_at=utc_now(),
                            stats=snap.stats())
        await records.add_checkpoint(self.store, row)
        await self.emit(session_id, turn_id, CheckpointCreated, checkpoint_id=checkpoint_id, kind=kind,
                        item_id=item_id, changed=snap.changed)
        now = time.monotonic()
        if kind == "turn" and workspace not in self._collecting \
                and now - self._collected.get(workspace, -COLLECT_EVERY_S) >= COLLECT_EVERY_S:
            self._collecting.add(workspace)
            self._collected[workspace] = now
            self._later(self.collect(workspace), lambda: self._collecting.discard(workspace))
        return _info(row)

    async def settle(self, workspace: str) -> None:
        """Record the workspace as the agent left it (after a change it made): a later restore
        calls any difference from this state a person's edit. Raises CheckpointUnavailable."""
        if not self.settings.enabled:
            return

        def scan(space: _Space) -> None:
            snap = space.scanner.scan("agent state")
            space.shadow.set_ref(AGENT_REF, snap.commit)

        await self._run(workspace, scan)

    # -- reading --------------------------------------------------------------------------------

    async def list(self, session_id: str, limit: int = 200) -> list[CheckpointInfo]:
        return [_info(r) for r in await records.session_checkpoints(self.store, session_id, limit)]

    async def get(self, checkpoint_id: str) -> CheckpointInfo:
        return _info(await records.get_checkpoint(self.store, checkpoint_id))

    async def diff(self, checkpoint_id: str, paths: list[str] | None = None,
                   to_checkpoint_id: str | None = None) -> Difference:
        """What changed in the workspace since the checkpoint — or, with ``to_checkpoint_id``,
        between the two checkpoints (of one workspace) — with diffs. Raises NotFound, ValueError
        (a path outside the workspace, checkpoints of two workspaces), CheckpointUnavailable."""
        row = await records.get_checkpoint(self.store, checkpoint_id)
        to = await records.get_checkpoint(self.store, to_checkpoint_id) if to_checkpoint_id else None
        if to is not None and to.workspace != row.workspace:
            raise ValueError(f"checkpoints {checkpoint_id} and {to_checkpoint_id} are of two workspaces")
        wanted = restoring.normalize_paths(paths, row.workspace)

        def work(space: _Space) -> restoring.Plan:
            end = to.commit.encode() if to is not None else space.scanner.scan("diff").commit
            target, current = space.shadow.differences(row.commit.encode(), end, wanted)
            plan = restoring.plan(target, current, None, wanted)
            for ch in plan.changes[:MAX_DIFFS]:
                ch.diff = restoring.diff_text(space.shadow, ch, target, current)
            return plan

        plan = await self._run(row.workspace, work)
        return Difference(_info(row), plan.changes, [NotRestorable(p, r) for p, r in plan.not_restorable])

    # -- restoring ------------------------------------------------------------------------------

    async def restore(self, checkpoint_id: str, paths: list[str] | None = None, *, preview: bool = True,
                      overwrite: list[str] | None = None, force: bool = False) -> Restored:
        """Preview or apply a restore of the checkpoint (see :func:`.restore.run`). Applying first
        checkpoints the workspace as it is (kind ``restore``: restore that to undo this), and
        journals ``checkpoint.created`` and ``checkpoint.restored``. Raises NotFound, ValueError,
        CheckpointUnavailable."""
        row = await records.get_checkpoint(self.store, checkpoint_id)
        wanted = restoring.normalize_paths(paths, row.workspace)
        allowed = None if force else set(restoring.normalize_paths(overwrite, row.workspace) or [])
        undo_id = new_id("ckpt")

        def work(space: _Space) -> restoring.Outcome:
            return restoring.run(
                space.shadow, space.scanner, row.commit.encode(), wanted, preview=preview, overwrite=allowed,
                message=f"restore {undo_id}\n\nbefore restoring {checkpoint_id}", max_diffs=MAX_DIFFS,
                before_apply=lambda before: space.shadow.set_ref(REF_PREFIX + undo_id.encode(), before.commit))

        done = await self._run(row.workspace, work)
        plan, applied, before = done.plan, done.applied, done.before
        result = Restored(preview=applied is None and preview, changes=plan.changes,
                          conflicts=[c.path for c in plan.changes if c.conflict],
                          not_restored=[NotRestorable(p, r) for p, r in plan.not_restorable])
        if applied is None:
            return result
        undo = CheckpointRow(id=undo_id, session_id=row.session_id, turn_id=row.turn_id, item_id=None,
                             workspace=row.workspace, commit=before.commit.decode(), kind="restore",
                             created_at=utc_now(), stats=before.stats())
        await records.add_checkpoint(self.store, undo)
        await self.emit(row.session_id, row.turn_id, CheckpointCreated, checkpoint_id=undo_id, kind="restore",
                        item_id=None, changed=before.changed)
        await self.emit(row.session_id, row.turn_id, CheckpointRestored, checkpoint_id=checkpoint_id,
                        restored=applied.restored, skipped=applied.skipped, undo_checkpoint_id=undo_id)
        result.restored, result.skipped, result.checkpoint_id = applied.restored, applied.skipped, undo_id
        result.not_restored += [NotRestorable(p, r) for p, r in applied.failed]
        return result

    async def rewind(self, session_id: str, turn_id: str, restore: str, force: bool = False) -> Rewound:
        """Go back to before ``turn_id`` (the caller makes sure no turn runs): ``code`` restores
        the checkpoint taken before it, ``conversation`` drops it and later turns from the model's
        history (journaled as ``turn.rewound``), ``both`` does both. Raises NotFound (unknown or
        rewound turn, no checkpoint before it), CheckpointUnavailable."""
        turns = [t[0] for t in await records.live_turns(self.store, session_id)]
        if turn_id not in turns:
            raise NotFound(f"no turn {turn_id!r} in session {session_id!r} (or it was rewound already)")
        files = None
        if restore in ("code", "both"):
            row = await records.turn_checkpoint(self.store, session_id, turn_id)
            if row is None:
                raise NotFound(f"no checkpoint was taken before turn {turn_id!r} (checkpoints off or failed)")
            files = await self.restore(row.id, preview=False, force=force)
        ids: list[str] = []
        if restore in ("conversation", "both"):
            ids = await records.rewind_turns(self.store, session_id, turn_id)
            await self.emit(session_id, turn_id, TurnRewound, rewound_turn_ids=ids, restore=restore)
        return Rewound(rewound_turn_ids=ids, files=files)

    # -- retention ------------------------------------------------------------------------------

    async def collect(self, workspace: str) -> None:
        """Keep the workspace's checkpoints within the count, age and size limits: drop the
        oldest (never the newest), then ``git gc`` what only they used. Drops refs without a
        record too (deleted sessions). Raises CheckpointUnavailable."""
        s = self.settings
        rows = await records.workspace_checkpoints(self.store, workspace)
        if not rows:
            return
        cutoff = utc_now() - timedelta(days=s.max_age_days)
        kept = [r for r in rows[:-1] if r[2] >= cutoff] + [rows[-1]]
        kept = kept[-s.keep:]
        drop = [r[0] for r in rows if r not in kept]

        known = {r[0].encode() for r in rows}
        old_enough = int(utc_now().timestamp()) - ORPHAN_AGE_S

        def work(space: _Space) -> list[str]:
            shadow = space.shadow
            dropped = False
            for name in drop:
                shadow.drop_ref(REF_PREFIX + name.encode())
                dropped = True
            for ref in list(shadow.repo.refs.keys(base=REF_PREFIX)):  # refs of deleted sessions
                if ref not in known and shadow.commit_time(REF_PREFIX + ref) < old_enough:
                    shadow.drop_ref(REF_PREFIX + ref)
                    dropped = True
            more: list[str] = []
            if dropped:
                _gc(space)
            while s.max_bytes and shadow.disk_bytes() > s.max_bytes and len(kept) > 1:
                cut = max(1, len(kept) // 4)
                for r in kept[:cut]:
                    shadow.drop_ref(REF_PREFIX + r[0].encode())
                    more.append(r[0])
                del kept[:cut]
                _gc(space)
            return more

        drop += await self._run(workspace, work)
        if drop:
            await records.delete_checkpoints(self.store, drop)

    def _later(self, work: Awaitable[None], done: Callable[[], None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception as exc:  # retention is housekeeping: log, never fail a turn
                log.warning("checkpoint retention failed: %s", exc)
            finally:
                done()

        task = asyncio.create_task(run(), name="checkpoint retention")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Stop what runs and what waits (a scan stops between files, a lock wait gives up; the
        operations raise CheckpointUnavailable, background retention included) and save the stat
        caches, within ``timeout`` seconds whatever a checkpoint is doing. The object stays
        usable afterwards."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._closing = True
        try:
            await self._stop(deadline)
        finally:
            self._closing = False

    async def _stop(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        for cancel in list(self._cancels):
            cancel.set()
        if self._background:
            _, late = await asyncio.wait(list(self._background), timeout=max(0.0, deadline - loop.time()))
            for task in late:
                task.cancel()
        for workspace in list(self._spaces):
            left = deadline - loop.time() - STOP_WAIT_S
            if left <= 0:
                log.warning("checkpoint stat caches not saved: shutdown timeout")
                break
            try:
                await asyncio.wait_for(self._run(workspace, lambda space: space.scanner.flush(), True), left)
            except (CheckpointUnavailable, TimeoutError) as exc:
                log.warning("saving the checkpoint stat cache of %s failed: %s", workspace, exc or "timeout")


def _gc(space: _Space) -> None:
    space.shadow.gc()
    space.shadow.reopen()
    space.scanner.prune_cache()


def _info(row: CheckpointRow) -> CheckpointInfo:
    return CheckpointInfo(id=row.id, session_id=row.session_id, turn_id=row.turn_id, item_id=row.item_id,
                          workspace=row.workspace, kind=row.kind, created_at=row.created_at,
                          stats=CheckpointStats.model_validate(row.stats))


__all__ = ["CheckpointUnavailable", "Checkpoints"]
