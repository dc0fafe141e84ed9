"""A helper process that ``lstat``s half of a stat check in parallel with this one.

The stat check of a scan (:class:`cowork.checkpoints.snapshot._Index`) is ~11,000 ``lstat`` calls
for 10,000 files, each about a third Python work and two thirds kernel. Two threads of one
process do not overlap them (the GIL changes hands at every call and the hand-offs cost more
than they save: measured), but a second process has its own interpreter: it takes the first
half of the paths while this process takes the rest, so a check costs about half on a machine
with a free core (git's ``core.preloadIndex`` uses threads of C code for the same reason).

The helper is ``python -c`` with an empty environment (it holds no secret), started on first
use, reading requests on its stdin (it exits when this process closes the pipe or dies). Any
failure (it cannot start, dies, answers wrong) makes :func:`stat_keys` fall back to doing the
work itself, and the helper is not used again by this process.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import subprocess
import sys
import threading
from typing import Any

MIN_PATHS = 4000
"""Below this many paths a check is done here alone (the round trip would not pay)."""

_HELPER = r"""
import marshal, operator, os, sys
key = operator.attrgetter("st_mtime_ns", "st_ctime_ns", "st_size", "st_ino", "st_mode")
inp, out = sys.stdin.buffer, sys.stdout.buffer
paths = []
while True:
    head = inp.read(9)
    if len(head) < 9:
        break
    size = int.from_bytes(head[1:], "little")
    body = inp.read(size)
    if head[0] == 1:
        paths = marshal.loads(body)
        continue
    try:
        keys = list(map(key, map(os.lstat, paths)))
    except OSError:
        keys = []
        for p in paths:
            try:
                keys.append(key(os.lstat(p)))
            except OSError:
                keys.append(None)
    data = marshal.dumps(keys)
    out.write(len(data).to_bytes(8, "little") + data)
    out.flush()
"""


class _Pool:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.sent: object = None  # the list whose paths the helper holds
        self.broken = False
        self.lock = threading.Lock()

    def start(self) -> subprocess.Popen[bytes] | None:
        if self.proc is None and not self.broken:
            try:
                self.proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _HELPER], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={},
                                             close_fds=True, start_new_session=True)
            except OSError:
                self.broken = True
        return self.proc

    def stop(self) -> None:
        self.broken = True
        if self.proc is not None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(1)
            self.proc = None


_pool = _Pool()


def stat_keys(paths: list[str], own: Any, extra: int = 0) -> list[Any]:
    """The stat keys ``(mtime_ns, ctime_ns, size, ino, st_mode)`` of ``paths`` (None for one
    that cannot be stat'ed): the first part from the helper process and the rest from
    ``own(paths)`` (this process's loop, which does ``extra`` other calls too, so the helper
    takes half of the total); all from ``own`` when the list is short or the helper is unusable."""
    if len(paths) < MIN_PATHS or (os.cpu_count() or 1) < 2 or _pool.broken or not _pool.lock.acquire(False):
        return own(paths)
    try:
        proc = _pool.start()
        if proc is None or proc.stdin is None or proc.stdout is None:
            return own(paths)
        half = min(len(paths), (len(paths) + extra) // 2)
        try:
            if _pool.sent is not paths:
                body = marshal.dumps(paths[:half])
                proc.stdin.write(b"\x01" + len(body).to_bytes(8, "little") + body)
                _pool.sent = paths
            proc.stdin.write(b"\x02" + (0).to_bytes(8, "little"))
            proc.stdin.flush()
            rest = own(paths[half:])
            size = int.from_bytes(_read(proc.stdout, 8), "little")
            first = marshal.loads(_read(proc.stdout, size))
            if not isinstance(first, list) or len(first) != half:
                raise ValueError("a wrong answer")
        except (OSError, ValueError, EOFError, TypeError):
            _pool.stop()
            return own(paths)
        return first + rest
    finally:
        _pool.lock.release()


def _read(f: Any, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise EOFError("the stat helper ended")
    return data
