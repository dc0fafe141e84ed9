"""Resource limits of a sandboxed command: ``prlimit(1)`` and, as root, a ``pids`` cgroup.

Every backend runs the command under ``prlimit(1)`` (util-linux) for CPU seconds, writable memory
(``RLIMIT_DATA``), process count (``RLIMIT_NPROC``; inside a user namespace the kernel counts only
the sandbox's processes, Linux >= 5.14) and core dumps. The kernel never applies ``RLIMIT_NPROC``
to uid 0, so when cowork runs as root the processes are also put in a ``pids`` cgroup of their
own (cgroup v1 ``/sys/fs/cgroup/pids`` or a v2 root with the ``pids`` controller) when one can
be made: a fork bomb then stops at :attr:`~cowork.sandbox.spec.Limits.processes`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from .spec import Limits


def prlimit_argv(prlimit: str | None, limits: Limits, extra_processes: int = 0) -> list[str]:
    """``prlimit --cpu=… --data=… --nproc=… --core=0 --`` (empty without ``prlimit``)."""
    if not prlimit:
        return []
    argv = [prlimit, "--core=0"]
    if limits.cpu_s:
        argv.append(f"--cpu={limits.cpu_s}")
    if limits.memory_bytes:
        argv.append(f"--data={limits.memory_bytes}")
    if limits.processes:
        argv.append(f"--nproc={limits.processes + extra_processes}")
    return [*argv, "--"]


def user_process_count() -> int:
    """Processes of this user now (Landlock has no user namespace: ``RLIMIT_NPROC`` counts them all)."""
    uid, n = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                n += entry.stat().st_uid == uid
            except OSError:
                pass
    return n


def cgroup_root() -> Path | None:
    """A cgroup folder where a pids-limited child can be made (root only), or None."""
    if os.geteuid() != 0:
        return None
    v1 = Path("/sys/fs/cgroup/pids")
    if (v1 / "cgroup.procs").exists() and os.access(v1, os.W_OK):
        return v1
    v2 = Path("/sys/fs/cgroup")
    try:
        if "pids" in (v2 / "cgroup.subtree_control").read_text().split() and os.access(v2, os.W_OK):
            return v2
    except OSError:
        pass
    return None


class PidsCgroup:
    """A throw-away pids cgroup: :attr:`wrap` puts a command in it, :meth:`close` kills what is
    left in it and removes it. See https://docs.kernel.org/admin-guide/cgroup-v1/pids.html."""

    STALE_S = 60
    """An empty ``cowork-*`` cgroup older than this was left by a cowork that died; it is removed."""

    def __init__(self, root: Path, max_pids: int) -> None:
        now = time.time()
        for old in root.glob("cowork-*"):
            try:
                if now - old.stat().st_mtime > self.STALE_S:
                    old.rmdir()  # fails (busy) while processes are left in it
            except OSError:
                pass
        self.path = root / f"cowork-{uuid.uuid4().hex[:12]}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(max_pids))

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``sh -c 'echo $$ > cgroup.procs && exec "$@"'``: joins before anything can fork."""
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.path), *argv]

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def close(self) -> None:
        """SIGKILL what is left (for up to about 1 s), then remove the cgroup."""
        for _ in range(100):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            time.sleep(0.01)
        try:
            self.path.rmdir()
        except OSError:
            pass


def pids_cgroup(limits: Limits) -> PidsCgroup | None:
    """A :class:`PidsCgroup` when cowork runs as root and one can be made, else None."""
    root = cgroup_root() if limits.processes else None
    if root is None:
        return None
    try:
        return PidsCgroup(root, limits.processes)
    except OSError:
        return None
