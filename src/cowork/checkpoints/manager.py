"""Checkpoints for the runtime: taking them (before turns, mutating tool calls and restores),
listing, diffing and restoring them, rewinding turns, and keeping the store within its budget.

Work on a workspace's shadow repository runs in a worker thread (``asyncio.to_thread``), one
operation at a time per workspace (an asyncio lock in this process, ``flock`` across processes).
Records live in the ``checkpoints`` table so listing never touches git. Retention (count, age,
disk size; :class:`CheckpointSettings`) runs in the background after a turn's checkpoint, at most
once every :data:`COLLECT_EVERY_S` seconds per workspace.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..protocol import (
    CheckpointCreated,
    CheckpointInfo,
    CheckpointRestored,
    CheckpointStats,
    FileChange,
    NotRestored,
    TurnRewound,
    utc_now,
)
from ..protocol.rpc import CheckpointDiffResult, CheckpointRestoreResult, TurnRewindResult
from ..store import NotFound, Store, new_id
from ..store import checkpoints as records
from ..store.models import CheckpointRow
from . import restore as restoring
from .settings import CheckpointSettings
from .shadow import AGENT_REF, REF_PREFIX, ShadowRepo, workspace_key
from .snapshot import Scanner

log = logging.getLogger(__name__)

ORPHAN_AGE_S = 600
"""A checkpoint ref without a record (its session was deleted) is dropped once this old; younger
ones may belong to a checkpoint whose record is being written."""

COLLECT_EVERY_S = 60.0
"""Automatic retention runs at most this often per workspace: it lists every checkpoint and
measures the repository on disk (a walk of its object files), too much to repeat on every turn."""

MAX_DIFFS = 200
"""Changes that get a diff in one answer; the others are listed without."""

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

    @property
    def root(self) -> Path:
        if self._root is None:
            from ..config import cowork_home

            self._root = cowork_home() / "checkpoints"
        return self._root

    def _space(self, workspace: str) -> _Space:
        space = self._spaces.get(workspace)
        if space is None:
            shadow = ShadowRepo(self.root / workspace_key(Path(workspace)), Path(workspace))
            exclude = frozenset({str(self.root.parent)})  # cowork's own state, when inside the workspace
            space = self._spaces[workspace] = _Space(shadow, Scanner(shadow, self.settings, exclude), asyncio.Lock())
        return space

    async def _run(self, workspace: str, work: Callable[[_Space], Any]) -> Any:
        """``work(space)`` in a thread with the workspace's locks held; OSError and a missing
        snapshot become :class:`CheckpointUnavailable`."""
        try:
            space = self._space(workspace)
        except OSError as exc:
            raise CheckpointUnavailable(f"cannot open the checkpoint store of {workspace}: {exc}") from None

        def locked() -> Any:
            with space.shadow.locked():
                return work(space)

        async with space.lock:
            try:
                return await asyncio.to_thread(locked)
            except OSError as exc:
                raise CheckpointUnavailable(f"checkpoint of {workspace} failed: {exc}") from None
            except KeyError as exc:
                raise CheckpointUnavailable(f"the checkpoint's snapshot is gone from the shadow repository ({exc})") \
                    from None

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

    async def diff(self, checkpoint_id: str, paths: list[str] | None = None) -> CheckpointDiffResult:
        """What changed in the workspace since the checkpoint, with diffs. Raises NotFound,
        ValueError (a path outside the workspace), CheckpointUnavailable."""
        row = await records.get_checkpoint(self.store, checkpoint_id)
        wanted = restoring.normalize_paths(paths, row.workspace)

        def work(space: _Space) -> restoring.Plan:
            target = space.shadow.read(row.commit.encode())
            space.scanner.scan("diff")
            current = space.scanner.state()
            plan = restoring.plan(target, current, None, wanted)
            for ch in plan.changes[:MAX_DIFFS]:
                ch.diff = restoring.diff_text(space.shadow, ch, target, current)
            return plan

        plan = await self._run(row.workspace, work)
        return CheckpointDiffResult(checkpoint=_info(row), changes=[_change(c) for c in plan.changes],
                                    not_restorable=[NotRestored(path=p, reason=r) for p, r in plan.not_restorable])

    # -- restoring ------------------------------------------------------------------------------

    async def restore(self, checkpoint_id: str, paths: list[str] | None = None, *, preview: bool = True,
                      overwrite: list[str] | None = None, force: bool = False) -> CheckpointRestoreResult:
        """Preview or apply a restore of the checkpoint (see :mod:`.restore`). Applying first
        checkpoints the workspace as it is (kind ``restore``: restore that to undo this), and
        journals ``checkpoint.created`` and ``checkpoint.restored``. Raises NotFound, ValueError,
        CheckpointUnavailable."""
        row = await records.get_checkpoint(self.store, checkpoint_id)
        wanted = restoring.normalize_paths(paths, row.workspace)
        allowed = None if force else set(restoring.normalize_paths(overwrite, row.workspace) or [])
        undo_id = new_id("ckpt")

        def work(space: _Space) -> tuple[restoring.Plan, restoring.Applied | None, Any]:
            shadow = space.shadow
            target = shadow.read(row.commit.encode())
            before = space.scanner.scan(f"restore {undo_id}\n\nbefore restoring {checkpoint_id}")
            current = space.scanner.state()
            agent_commit = shadow.ref(AGENT_REF)
            agent = shadow.read(agent_commit) if agent_commit else None
            plan = restoring.plan(target, current, agent, wanted)
            if preview or not plan.changes:
                for ch in plan.changes[:MAX_DIFFS]:
                    ch.diff = restoring.diff_text(shadow, ch, target, current)
                return plan, None, before
            shadow.set_ref(REF_PREFIX + undo_id.encode(), before.commit)
            applied = restoring.apply(shadow, row.workspace, target, current, plan, allowed)
            space.scanner.scan("after restore")
            shadow.set_ref(AGENT_REF, shadow.write_state(
                restoring.settled(agent, space.scanner.state(), applied.restored), "agent state after restore"))
            return plan, applied, before

        plan, applied, before = await self._run(row.workspace, work)
        result = CheckpointRestoreResult(
            preview=applied is None and preview, changes=[_change(c) for c in plan.changes],
            conflicts=[c.path for c in plan.changes if c.conflict],
            not_restored=[NotRestored(path=p, reason=r) for p, r in plan.not_restorable],
        )
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
        result.not_restored += [NotRestored(path=p, reason=r) for p, r in applied.failed]
        return result

    async def rewind(self, session_id: str, turn_id: str, restore: str, force: bool = False) -> TurnRewindResult:
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
        return TurnRewindResult(rewound_turn_ids=ids, files=files)

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

    async def close(self) -> None:
        """Finish background retention and save the stat caches."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for space in self._spaces.values():
            async with space.lock:
                try:
                    await asyncio.to_thread(space.scanner.flush)
                except OSError as exc:
                    log.warning("saving the checkpoint stat cache failed: %s", exc)


def _gc(space: _Space) -> None:
    space.shadow.gc()
    space.shadow.reopen()
    space.scanner.prune_cache()


def _info(row: CheckpointRow) -> CheckpointInfo:
    return CheckpointInfo(id=row.id, session_id=row.session_id, turn_id=row.turn_id, item_id=row.item_id,
                          workspace=row.workspace, kind=row.kind, created_at=row.created_at,
                          stats=CheckpointStats.model_validate(row.stats))


def _change(c: restoring.Change) -> FileChange:
    return FileChange(path=c.path, change=c.change, kind=c.kind, conflict=c.conflict, diff=c.diff)


__all__ = ["CheckpointUnavailable", "Checkpoints"]
