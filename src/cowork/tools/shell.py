"""The ``bash`` tool: run a shell command in the workspace, inside the OS sandbox.

The command runs as ``bash -c COMMAND`` in the sandbox that :func:`cowork.sandbox.resolve` picks
for ``ToolContext.sandbox`` (bubblewrap, else Landlock; with neither, the call fails with a
:class:`ToolError` saying what is missing and how to fix it, unless a person chose ``off``),
launched by :class:`cowork.sandbox.Launch`. See :mod:`cowork.sandbox` for what the sandbox
allows; ``ToolContext.network`` shares the host network with it. The environment is rebuilt from
an allow-list (never a credential); stdin is /dev/null, stdout and stderr are merged, the
workspace is the cwd.

The command gets its own process group (``start_new_session``) and dies with cowork (see
:mod:`cowork.sandbox.launch`). Output is read incrementally and at most :data:`KEEP_BYTES` of its head and of its tail are kept, so endless
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
import re
import time

from pydantic import Field

from cowork.sandbox import Launch, SandboxUnavailable
from cowork.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, plural, truncate_middle
from cowork.tools.base import ToolTraits

DEFAULT_TIMEOUT_S = 120
MAX_TIMEOUT_S = 600
KEEP_BYTES = 1024 * 1024
"""Bytes of output head and of output tail kept in memory (each)."""
EXIT_GRACE_S = 0.5
"""Seconds to keep reading after the command exits, for output still buffered in the pipe."""
_CHUNK = 64 * 1024


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


def _close_transport(proc: asyncio.subprocess.Process) -> None:
    """Drop our end of the pipes without waiting for other holders (escaped children) to exit."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


async def _settle(reader: asyncio.Task[None], proc: asyncio.subprocess.Process, launch: Launch) -> bool:
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
    traits = ToolTraits(destructive=True, open_world=True, checkpoint=True, command_arg="command")

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
        try:
            launch = Launch.prepare(ctx.sandbox, ctx.workspace, ["bash", "-c", args.command], network=ctx.network)
        except (SandboxUnavailable, ValueError) as exc:
            raise ToolError(str(exc)) from None
        try:
            return await self._run(args, ctx, launch)
        finally:
            launch.close()

    async def _run(self, args: BashArgs, ctx: ToolContext, launch: Launch) -> ToolResult:
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
                code = await asyncio.wait_for(launch.exited(proc), timeout=args.timeout)
            except TimeoutError:
                timed_out = True
                launch.kill(proc)
                code = await launch.exited(proc)
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
            await asyncio.shield(asyncio.gather(launch.exited(proc), reader, return_exceptions=True))
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
