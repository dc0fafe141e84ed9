"""The ``bash`` tool: run a shell command in the workspace, inside the OS sandbox.

The command runs as ``bash -c COMMAND`` in the sandbox that :func:`cowork.policy.sandbox.resolve`
picks for ``ToolContext.sandbox`` (bubblewrap, else Landlock; with neither, the call fails with a
:class:`ToolError` saying what is missing and how to fix it, unless a person chose ``off``). See
:mod:`cowork.policy.sandbox` for what the sandbox allows; ``ToolContext.network`` shares the host
network with it. The environment is rebuilt from an allow-list (never a credential); stdin is
/dev/null, stdout and stderr are merged, the workspace is the cwd.

The command gets its own process group (``start_new_session``) and dies with cowork (bubblewrap's
``--die-with-parent``; ``PR_SET_PDEATHSIG`` for the other backends, through ``setpriv`` or the
Landlock helper, so no ``preexec_fn``: the spawn stays a cheap vfork). Output is read
incrementally and at most :data:`KEEP_BYTES` of its head and of its tail are kept, so endless
output cannot exhaust memory. On timeout and on cancellation the whole tree is SIGKILLed: the
process group, bubblewrap's PID namespace (killing its init kills every process in it) and, when
cowork runs as root, the pids cgroup. When the command itself exits, anything still holding the
output open is killed :data:`EXIT_GRACE_S` seconds later; under bubblewrap every process left in
the sandbox is (background jobs end with their command), under ``off`` a job with its output
redirected keeps running.

A command that failed without network access and printed a resolver or connection error gets
``metadata["sandbox_denied"] = "network"``: the engine then offers to re-run it with the network.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field, replace

from pydantic import Field

from cowork.policy import sandbox
from cowork.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, plural, truncate_middle

DEFAULT_TIMEOUT_S = 120
MAX_TIMEOUT_S = 600
KEEP_BYTES = 1024 * 1024
"""Bytes of output head and of output tail kept in memory (each)."""
EXIT_GRACE_S = 0.5
"""Seconds to keep reading after the command exits, for output still buffered in the pipe."""
_CHUNK = 64 * 1024


_SETPRIV = shutil.which("setpriv")
_DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV and sys.platform.startswith("linux") else []
"""util-linux's setpriv sets PR_SET_PDEATHSIG before exec (bash under ``sandbox="off"``, bwrap itself)."""
_PRLIMIT = shutil.which("prlimit")

NETWORK_DENIED = re.compile(
    r"Could not resolve host|Temporary failure in name resolution|Name or service not known|"
    r"Network is unreachable|getaddrinfo failed|No address associated with hostname|"
    r"Failed to establish a new network connection|nodename nor servname|EAI_AGAIN|ENETUNREACH",
    re.IGNORECASE,
)
"""Output of a command that failed because it had no network (curl, wget, git, pip, npm, Python)."""


class BashArgs(ToolArgs):
    command: str = Field(description="The bash command line to run (bash -c), e.g. `pytest -q`.")
    timeout: int = Field(
        DEFAULT_TIMEOUT_S,
        description=f"Seconds before the command is killed; 1 to {MAX_TIMEOUT_S}.",
    )


class _Output:
    """Bounded capture of a byte stream: the first and last ``KEEP_BYTES``, plus counts."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.newlines = 0
        self.last_byte = b""

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.newlines += chunk.count(b"\n")
        self.last_byte = chunk[-1:]
        room = KEEP_BYTES - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 2 * KEEP_BYTES:
                del self.tail[: len(self.tail) - KEEP_BYTES]

    @property
    def lines(self) -> int:
        return self.newlines + (1 if self.total and self.last_byte != b"\n" else 0)

    def text(self) -> str:
        """Decoded output; a dropped middle is marked ``[... N bytes of output omitted ...]``."""
        tail = bytes(self.tail[-KEEP_BYTES:])
        dropped = self.total - len(self.head) - len(tail)
        head = self.head.decode("utf-8", errors="replace")
        if dropped <= 0:
            return head + tail.decode("utf-8", errors="replace")
        return (f"{head}\n[... {dropped:,} bytes of output omitted ...]\n"
                f"{tail.decode('utf-8', errors='replace')}")


async def _pump(stream: asyncio.StreamReader, out: _Output) -> None:
    while chunk := await stream.read(_CHUNK):
        out.feed(chunk)


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
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _close_transport(proc: asyncio.subprocess.Process) -> None:
    """Drop our end of the pipes without waiting for other holders (escaped children) to exit."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


@dataclass
class _Launch:
    """How one command is started and torn down under the chosen sandbox backend."""

    backend: str
    argv: list[str]
    env: dict[str, str]
    status_r: int | None = None  # read end of bwrap's --json-status-fd pipe
    status_w: int | None = None
    cgroup: sandbox.PidsCgroup | None = None
    tmpdir: str | None = None
    init_pid: int | None = None  # bwrap's PID-namespace init (killing it kills the sandbox)
    exit_code: int | None = None  # the command's own exit code, as bwrap reports it
    status_eof: bool = False  # bwrap closed the status pipe: it is gone
    _status: bytes = field(default=b"", repr=False)

    @classmethod
    def prepare(cls, ctx: ToolContext, command: str) -> _Launch:
        """Raises ToolError when the sandbox cannot run here (the message says how to fix it)."""
        try:
            backend = sandbox.resolve(ctx.sandbox)
        except (sandbox.SandboxUnavailable, ValueError) as exc:
            raise ToolError(str(exc)) from None
        bash = ["bash", "-c", command]
        if backend == "off":
            env = {**sandbox.without_secrets(os.environ), "COWORK": "1", "PAGER": "cat", "GIT_PAGER": "cat"}
            return cls(backend, [*_DIE_WITH_PARENT, *bash], env)
        limits = sandbox.Limits()
        spec = sandbox.Spec(
            workspace=ctx.workspace, network=ctx.network, hidden=sandbox.hidden_paths(os.environ),
            limits=limits, prlimit=_PRLIMIT,
        )
        cgroup = sandbox.pids_cgroup(replace(limits, processes=limits.processes + 2))  # + bwrap and its init
        if backend == "bwrap":
            r, w = os.pipe()
            os.set_blocking(r, False)
            spec = replace(spec, env=sandbox.scrubbed_env(os.environ, "/tmp"))
            argv = sandbox.bwrap_argv(sandbox.support().bwrap or "bwrap", spec, bash, status_fd=w)
            argv = [*_DIE_WITH_PARENT, *argv]  # bwrap's --die-with-parent covers its children, not bwrap
            launch = cls(backend, argv, dict(spec.env), status_r=r, status_w=w, cgroup=cgroup)
        else:
            tmpdir = sandbox.private_tmpdir()
            env = sandbox.scrubbed_env(os.environ, tmpdir)
            extra = sandbox.user_process_count() if os.geteuid() else 0
            argv = sandbox.landlock_argv(spec, tmpdir, bash, extra_processes=extra)
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

    async def reported(self) -> None:
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


async def _exited(proc: asyncio.subprocess.Process, launch: _Launch) -> int:
    """Wait until the command itself exits and return its code.

    ``Process.wait()`` would also wait for every holder of the output pipe (background children)
    to close it. Under bubblewrap, wait for the exit code its status pipe reports (bwrap itself
    lives on while background processes do); otherwise poll the return code (5 ms at first, at
    most 50 ms apart).
    """
    if launch.status_r is not None and not launch.status_eof:
        await launch.reported()
        if launch.exit_code is not None:
            return launch.exit_code
    delay = 0.005
    while proc.returncode is None:
        launch.poll_status()
        if launch.exit_code is not None:
            return launch.exit_code
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    launch.poll_status()
    return launch.exit_code if launch.exit_code is not None else proc.returncode


async def _settle(reader: asyncio.Task[None], proc: asyncio.subprocess.Process, launch: _Launch) -> bool:
    """Let the reader drain for the grace period, then kill what is left and stop reading.

    Returns True when the output reached end-of-file (every writer is gone).
    """
    done, _ = await asyncio.wait({reader}, timeout=EXIT_GRACE_S)
    if not done:
        launch.kill(proc)
        done, _ = await asyncio.wait({reader}, timeout=EXIT_GRACE_S)
    if not done:  # something escaped the group and holds the pipe: stop listening
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        return False
    return True


class BashTool(Tool):
    """Run a shell command."""

    name = "bash"
    description = (
        "Run a command with `bash -c` in the workspace directory and return its combined "
        "stdout+stderr, preceded by a line `exit code: N` (a non-zero code is reported, not an "
        "error). stdin is empty, so interactive programs will not work; pass flags such as `-y`. "
        f"Killed after `timeout` seconds (default {DEFAULT_TIMEOUT_S}, max {MAX_TIMEOUT_S}). Long "
        "output keeps its beginning and end. Each call is a fresh shell (no state such as `cd` "
        "carries over). Commands run in a sandbox: only the workspace is writable, /tmp is private "
        "to the call, there is no network unless it was granted, and background jobs end with "
        "the command."
    )
    Args = BashArgs
    mutating = True

    async def run(self, args: BashArgs, ctx: ToolContext) -> ToolResult:
        if not args.command.strip():
            raise ToolError("command is empty")
        if args.timeout > MAX_TIMEOUT_S:
            raise ToolError(
                f"timeout {args.timeout} s is over the maximum of {MAX_TIMEOUT_S} s; split the "
                "work or run it in the background with its output redirected to a file"
            )
        if args.timeout < 1:
            raise ToolError(f"timeout must be at least 1 second (got {args.timeout})")
        launch = _Launch.prepare(ctx, args.command)
        try:
            return await self._run(args, ctx, launch)
        finally:
            launch.close()

    async def _run(self, args: BashArgs, ctx: ToolContext, launch: _Launch) -> ToolResult:
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *launch.argv, cwd=ctx.workspace, env=launch.env, pass_fds=launch.pass_fds,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )
        except OSError as exc:
            raise ToolError(f"could not start bash: {exc}") from None
        finally:
            launch.spawned()
        assert proc.stdout is not None
        out = _Output()
        reader = asyncio.create_task(_pump(proc.stdout, out))
        timed_out = False
        try:
            try:
                code = await asyncio.wait_for(_exited(proc, launch), timeout=args.timeout)
            except TimeoutError:
                timed_out = True
                launch.kill(proc)
                code = await _exited(proc, launch)
            if await _settle(reader, proc, launch):
                await proc.wait()  # reap and close the transport; immediate once the pipe is shut
            else:
                _close_transport(proc)
            if launch.backend == "bwrap" and proc.returncode is None:  # bwrap outlived its pipe
                launch.kill(proc)
                await proc.wait()
        except asyncio.CancelledError:
            launch.kill(proc)
            reader.cancel()
            await asyncio.shield(asyncio.gather(_exited(proc, launch), reader, return_exceptions=True))
            _close_transport(proc)
            raise
        elapsed = time.monotonic() - started
        body = out.text()
        first = f"exit code: {code}"
        if timed_out:
            first = f"timed out after {args.timeout} s; the command was killed"
        text = f"{first}\n{body}" if body else f"{first}\n(no output)"
        summary = f"exit {code} · {plural(out.lines, 'line')} · {elapsed:.1f}s"
        if timed_out:
            summary = f"timed out after {args.timeout}s · {plural(out.lines, 'line')}"
        metadata: dict[str, object] = {"exit_code": code}
        if launch.backend != "off":
            metadata["sandbox"] = launch.backend
        if not ctx.network and launch.backend != "off" and code != 0 and NETWORK_DENIED.search(body):
            metadata["sandbox_denied"] = "network"
        return ToolResult(
            truncate_middle(text, ctx.max_output_chars),
            is_error=timed_out,
            summary=summary,
            metadata=metadata,
        )
