"""Following runs as they change: what ``run/subscribe`` sends (docs/protocol.md, "run/subscribe").

A :class:`RunWatch` holds the ids of the runs that changed and were not told yet, in the order
they changed, and a wake-up. A change marks its run's id; several changes before the watcher
looks are told once, as the run stands then. So a slow client never makes the server hold more
than one entry per run, and the newest state of every run that changed is always told: nothing
is lost, only superseded. A state already told (same ``updated_at``) is not told again.

Changes come from two places: this server's :class:`~cowork.jobs.runs.Runs` marks each one as it
makes it (at once), and while anyone watches, :class:`RunFeed` reads ``runs.updated_at`` every
:data:`POLL_S` for the changes other servers of the store made (and any this one missed). Each
poll looks :data:`WINDOW_S` back, so a change committed late or stamped by a machine whose clock
is a little behind is still seen.

Not told: a run deleted with its session (``session/delete``); a client lists again to drop it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from ..protocol import RunInfo, utc_now
from ..store import NotFound, Store
from ..store import runs as records

log = logging.getLogger(__name__)

POLL_S = 1.0
"""Seconds between two reads of ``runs.updated_at`` while someone watches."""
WINDOW_S = 10.0
"""How far back each read looks, in seconds."""


class RunWatch:
    """The changes of runs for one watcher, as an async iterator of :class:`RunInfo`
    (``workspace``: only that workspace's runs). Iteration ends after :meth:`close`."""

    def __init__(self, feed: RunFeed, workspace: str | None) -> None:
        self._feed = feed
        self.workspace = workspace
        self._changed: dict[str, None] = {}  # an ordered set
        self._told: dict[str, datetime | None] = {}
        self._wake = asyncio.Event()
        self._closed = False

    def mark(self, run_id: str) -> None:
        """``run_id`` changed: tell it (once, however often it is marked before it is told)."""
        self._changed[run_id] = None
        self._wake.set()

    def told(self, runs: list[RunInfo]) -> None:
        """These runs reached the watcher another way (the answer to ``run/subscribe``)."""
        for run in runs:
            self._told[run.id] = run.updated_at

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._feed._drop(self)

    def __aiter__(self) -> RunWatch:
        return self

    async def __anext__(self) -> RunInfo:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if not self._changed:
                self._wake.clear()
                await self._wake.wait()
                continue
            run_id = next(iter(self._changed))
            del self._changed[run_id]
            try:
                run = await self._feed.get(run_id)
            except NotFound:  # its session was deleted, and the run with it
                continue
            if self.workspace is not None and run.workspace != self.workspace:
                continue
            if run_id in self._told and self._told[run_id] == run.updated_at:
                continue
            self._told[run_id] = run.updated_at
            return run


class RunFeed:
    """Who is told about run changes on this server. ``get(run_id)``: the run as clients see it
    (raises NotFound)."""

    def __init__(self, store: Store, get: Callable[[str], Awaitable[RunInfo]], *, poll_s: float = POLL_S) -> None:
        self.store = store
        self.get = get
        self.poll_s = poll_s
        self._watches: set[RunWatch] = set()
        self._seen: dict[str, datetime] = {}
        self._poller: asyncio.Task[None] | None = None

    def watch(self, workspace: str | None = None) -> RunWatch:
        """A new :class:`RunWatch`; the poll runs while at least one is open."""
        watch = RunWatch(self, workspace)
        self._watches.add(watch)
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="cowork run feed")
        return watch

    def changed(self, run_id: str) -> None:
        """This server changed ``run_id``: tell every watcher."""
        for watch in self._watches:
            watch.mark(run_id)

    async def close(self) -> None:
        for watch in list(self._watches):
            watch.close()
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None

    def _drop(self, watch: RunWatch) -> None:
        self._watches.discard(watch)
        if not self._watches and self._poller is not None:
            self._poller.cancel()
            self._poller = None
            self._seen.clear()

    async def _poll(self) -> None:
        while True:
            since = utc_now() - timedelta(seconds=WINDOW_S)
            try:
                changes = await records.changed_since(self.store, since)
            except Exception:  # a locked or vanished database: the next read tries again
                log.exception("reading run changes failed")
                changes = []
            for run_id, at in changes:  # a watch skips what its run/subscribe answer already told
                if self._seen.get(run_id) != at:
                    self._seen[run_id] = at
                    self.changed(run_id)
            for run_id in [r for r, at in self._seen.items() if at < since]:
                del self._seen[run_id]
            await asyncio.sleep(self.poll_s)


__all__ = ["POLL_S", "WINDOW_S", "RunFeed", "RunWatch"]
