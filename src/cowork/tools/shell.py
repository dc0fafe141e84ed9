"""The ``bash`` tool: run a shell command in the workspace.

The command runs as ``bash -c COMMAND`` in its own process group (``start_new_session``), with
the workspace as cwd, stdin from /dev/null, stdout and stderr merged, ``COWORK=1`` set, and the
variables that look like credentials removed. On Linux bash gets SIGKILL if cowork dies
(``PR_SET_PDEATHSIG`` through ``setpriv``), so a crashed server does not leave the command running unseen. Output is read incrementally and at most :data:`KEEP_BYTES` of its head and of its tail are kept,
so endless output cannot exhaust memory. The whole process group is SIGKILLed on timeout and on
cancellation; background children that still hold the output open are killed
:data:`EXIT_GRACE_S` seconds after the command itself exits.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Mapping

from pydantic import Field

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
"""util-linux's setpriv sets PR_SET_PDEATHSIG before exec: no preexec_fn, so the spawn stays a
cheap vfork and safe in a process with threads."""


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


_SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY)", re.IGNORECASE)


def _without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment minus variables whose names look like credentials (``*_API_KEY``,
    ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``...), so a command cannot print a provider key."""
    return {k: v for k, v in environ.items() if not _SECRET_NAME.search(k)}


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _close_transport(proc: asyncio.subprocess.Process) -> None:
    """Drop our end of the pipes without waiting for other holders (escaped children) to exit."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


async def _exited(proc: asyncio.subprocess.Process) -> int:
    """Wait until the process itself exits and return its code.

    ``Process.wait()`` would also wait for every holder of the output pipe (background children)
    to close it, so poll the return code instead (5 ms at first, at most 50 ms apart).
    """
    delay = 0.005
    while proc.returncode is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return proc.returncode


async def _settle(reader: asyncio.Task[None], pgid: int) -> bool:
    """Let the reader drain for the grace period, then kill the group and stop reading.

    Returns True when the output reached end-of-file (every writer is gone).
    """
    done, _ = await asyncio.wait({reader}, timeout=EXIT_GRACE_S)
    if not done:
        _kill_group(pgid)
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
        "carries over). Background jobs that keep the output open are killed when the command "
        "exits; redirect their output (`cmd > log 2>&1 &`) to keep them running."
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
        env = {**_without_secrets(os.environ), "COWORK": "1", "PAGER": "cat", "GIT_PAGER": "cat"}
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *_DIE_WITH_PARENT, "bash", "-c", args.command, cwd=ctx.workspace, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )
        except OSError as exc:
            raise ToolError(f"could not start bash: {exc}") from None
        assert proc.stdout is not None
        out = _Output()
        reader = asyncio.create_task(_pump(proc.stdout, out))
        timed_out = False
        try:
            try:
                await asyncio.wait_for(_exited(proc), timeout=args.timeout)
            except TimeoutError:
                timed_out = True
                _kill_group(proc.pid)
                await _exited(proc)
            if await _settle(reader, proc.pid):
                await proc.wait()  # reap and close the transport; immediate once the pipe is shut
            else:
                _close_transport(proc)
        except asyncio.CancelledError:
            _kill_group(proc.pid)
            reader.cancel()
            await asyncio.shield(asyncio.gather(_exited(proc), reader, return_exceptions=True))
            _close_transport(proc)
            raise
        elapsed = time.monotonic() - started
        code = proc.returncode if proc.returncode is not None else -1
        body = out.text()
        first = f"exit code: {code}"
        if timed_out:
            first = f"timed out after {args.timeout} s; the command was killed"
        text = f"{first}\n{body}" if body else f"{first}\n(no output)"
        summary = f"exit {code} · {plural(out.lines, 'line')} · {elapsed:.1f}s"
        if timed_out:
            summary = f"timed out after {args.timeout}s · {plural(out.lines, 'line')}"
        return ToolResult(
            truncate_middle(text, ctx.max_output_chars),
            is_error=timed_out,
            summary=summary,
            metadata={"exit_code": code},
        )
