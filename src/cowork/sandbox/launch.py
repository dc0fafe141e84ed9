"""Process launch under the chosen backend: :class:`Launch` builds the command line and
environment, and tears the command down (its process group, bubblewrap's PID namespace, the pids
cgroup, the private ``/tmp``).

The caller spawns ``Launch.argv`` with ``Launch.env`` in a new session (``start_new_session``) and
``pass_fds=Launch.pass_fds``. The command dies with cowork: bubblewrap's ``--die-with-parent``, and
``PR_SET_PDEATHSIG`` for the other backends (through ``setpriv`` or the Landlock launcher, so no
``preexec_fn``: the spawn stays a cheap vfork).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .bwrap import bwrap_argv
from .environment import hidden_paths, protect_process, scrubbed_env, without_secrets
from .landlock import landlock_argv, private_tmpdir
from .limits import PidsCgroup, pids_cgroup, user_process_count
from .probe import resolve, support
from .spec import Limits, Spec

_SETPRIV = shutil.which("setpriv")
_DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV and sys.platform.startswith("linux") else []
"""util-linux's setpriv sets PR_SET_PDEATHSIG before exec (the command under ``sandbox="off"``, bwrap itself)."""
_PRLIMIT = shutil.which("prlimit")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int | None) -> None:
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _parent_of(pid: int) -> int | None:
    """The parent pid of ``pid`` (``/proc/PID/stat``, field 4), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Launch:
    """How one command is started and torn down under the chosen sandbox backend.

    Attributes:
        backend: ``"bwrap"``, ``"landlock"`` or ``"off"``.
        argv: what to spawn (the sandbox, its limits, then the command).
        env: the environment to spawn it with (scrubbed: never a credential).
    """

    backend: str
    argv: list[str]
    env: dict[str, str]
    status_r: int | None = None  # read end of bwrap's --json-status-fd pipe
    status_w: int | None = None
    cgroup: PidsCgroup | None = None
    tmpdir: str | None = None
    init_pid: int | None = None  # bwrap's PID-namespace init (killing it kills the sandbox)
    exit_code: int | None = None  # the command's own exit code, as bwrap reports it
    status_eof: bool = False  # bwrap closed the status pipe: it is gone
    _status: bytes = field(default=b"", repr=False)

    @classmethod
    def prepare(cls, choice: str, workspace: Path, command: Sequence[str], *, network: bool = False,
                limits: Limits = Limits()) -> Launch:
        """The launch of ``command`` (an argv) in ``workspace`` under the sandbox setting ``choice``.

        Under Landlock this also makes cowork non-dumpable (:func:`protect_process`).

        Raises:
            ValueError: ``choice`` is not a sandbox setting.
            SandboxUnavailable: the sandbox cannot run here (the message says how to fix it).
        """
        backend = resolve(choice)
        if backend == "off":
            env = {**without_secrets(os.environ), "COWORK": "1", "PAGER": "cat", "GIT_PAGER": "cat"}
            return cls(backend, [*_DIE_WITH_PARENT, *command], env)
        spec = Spec(workspace=workspace, network=network, hidden=hidden_paths(os.environ), limits=limits,
                    prlimit=_PRLIMIT)
        cgroup = pids_cgroup(replace(limits, processes=limits.processes + 2))  # + bwrap and its init, or the launcher
        if backend == "bwrap":
            r, w = os.pipe()
            os.set_blocking(r, False)
            spec = replace(spec, env=scrubbed_env(os.environ, "/tmp"))
            argv = bwrap_argv(support().bwrap or "bwrap", spec, command, status_fd=w)
            argv = [*_DIE_WITH_PARENT, *argv]  # bwrap's --die-with-parent covers its children, not bwrap
            launch = cls(backend, argv, dict(spec.env), status_r=r, status_w=w, cgroup=cgroup)
        else:
            protect_process()
            tmpdir = private_tmpdir()
            env = scrubbed_env(os.environ, tmpdir)
            extra = user_process_count() + 1 if os.geteuid() else 0  # + 1: the launcher
            argv = landlock_argv(spec, tmpdir, command, extra_processes=extra)
            launch = cls(backend, argv, env, cgroup=cgroup, tmpdir=tmpdir)
        if cgroup is not None:
            launch.argv = cgroup.wrap(launch.argv)
        return launch

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self.status_w,) if self.status_w is not None else ()

    def spawned(self) -> None:
        """Close our copy of the status pipe's write end (bwrap holds its own)."""
        if self.status_w is not None:
            os.close(self.status_w)
            self.status_w = None

    def poll_status(self) -> bool:
        """Read what bwrap reported so far: the init's pid, then the command's exit code.
        True once the exit code is known or bwrap is gone."""
        if self.status_r is None:
            return False
        while not self.status_eof:
            try:
                chunk = os.read(self.status_r, 4096)
            except BlockingIOError:
                break
            if not chunk:
                self.status_eof = True
                break
            self._status += chunk
        *lines, self._status = self._status.split(b"\n")
        for line in lines:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            if "child-pid" in report:
                self.init_pid = int(report["child-pid"])
            if "exit-code" in report:
                self.exit_code = int(report["exit-code"])
        return self.exit_code is not None or self.status_eof

    async def _reported(self) -> None:
        """Wait, without polling, until bwrap reports the exit code or closes the status pipe."""
        assert self.status_r is not None
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def ready() -> None:
            if self.poll_status() and not done.done():
                done.set_result(None)

        loop.add_reader(self.status_r, ready)
        try:
            ready()
            await done
        finally:
            loop.remove_reader(self.status_r)

    async def exited(self, proc: asyncio.subprocess.Process) -> int:
        """Wait until the command itself exits and return its code (negative: killed by that signal).

        ``Process.wait()`` would also wait for every holder of the output pipe (background
        children) to close it. Under bubblewrap, wait for the exit code its status pipe reports
        (bwrap itself lives on while background processes do); otherwise poll the return code
        (5 ms at first, at most 50 ms apart).
        """
        if self.status_r is not None and not self.status_eof:
            await self._reported()
            if self.exit_code is not None:
                return self.exit_code
        delay = 0.005
        while proc.returncode is None:
            self.poll_status()
            if self.exit_code is not None:
                return self.exit_code
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        self.poll_status()
        return self.exit_code if self.exit_code is not None else proc.returncode

    def kill(self, proc: asyncio.subprocess.Process) -> None:
        """SIGKILL everything the command started: its group, the sandbox's PID namespace, the cgroup."""
        self.poll_status()
        if self.init_pid and _parent_of(self.init_pid) == proc.pid:  # still bwrap's child, not a reused pid
            _kill(self.init_pid)
        _kill_group(proc.pid)
        if self.cgroup is not None:
            for pid in self.cgroup.pids():
                _kill(pid)

    def close(self) -> None:
        """Release the status pipe, the cgroup (killing what is left in it) and the private tmp."""
        self.spawned()
        if self.status_r is not None:
            os.close(self.status_r)
            self.status_r = None
        if self.cgroup is not None:
            self.cgroup.close()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
