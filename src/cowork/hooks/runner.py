"""Runs the person's hook commands (:class:`HookRunner`, the engine's
:class:`~cowork.engine.extensions.Hooks`).

Each hook of the event runs at once (all of an event's hooks in parallel), as ``/bin/sh -c
COMMAND`` in the workspace, in a process group of its own, with:

- the event as one JSON object on stdin (what the engine sends, plus ``event``, ``session_id`` and
  ``workspace``, which are always there);
- the environment ``bash`` gets (:func:`cowork.sandbox.scrubbed_env`: no provider keys, no
  variable whose name looks like a secret) plus ``COWORK_SESSION_ID``, ``COWORK_WORKSPACE`` and
  ``COWORK_EVENT``;
- its timeout: then its whole process group is killed and the run counts as a non-blocking error.

Its answer, as Claude Code's hooks answer:

- exit 0: fine. stdout may be a JSON object ``{"decision": "allow"|"deny"|"ask"|"block",
  "reason": "...", "context": "..."}`` (Claude Code's ``hookSpecificOutput.permissionDecision``,
  ``permissionDecisionReason`` and ``additionalContext`` are read too); plain stdout of a
  ``user_prompt_submit`` or ``session_start`` hook is context for the model;
- exit 2: block (``pre_tool_use``: deny) with stderr as the reason;
- any other exit, a timeout, a command that cannot start: a non-blocking error, reported in the run.

The answers of an event's hooks are combined: deny wins over ask, ask over allow; any block
blocks; the reasons of the winning answer and every context are joined.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.extensions import HookEvent, HookOutcome, HookRun
from ..sandbox import scrubbed_env
from .config import HookCommand, HookConfig, load_hooks

OUTPUT_LIMIT = 1_000_000
"""Bytes kept of a hook's stdout and of its stderr (the rest is read and dropped)."""

OUTPUT_HEAD = 2_000
"""Characters of a hook's output kept in its run (what ``hook.ran`` shows)."""

_SETPRIV = shutil.which("setpriv")
_DIE_WITH_COWORK = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV and sys.platform.startswith("linux") else []
"""A hook dies with cowork (``PR_SET_PDEATHSIG`` set by util-linux's setpriv before exec)."""


@dataclass
class CommandRun(HookRun):
    """One hook command's run, with what it answered.

    Attributes (besides :class:`~cowork.engine.extensions.HookRun`'s, whose ``reason`` is a deny's
    or block's reason: stderr of an exit 2, or the JSON's ``reason``):
        event: the event it ran at.
        context: text it gave for the model.
    """

    event: str = ""
    context: str = ""


def hook_env(environ: Mapping[str, str], *, session_id: str, workspace: Path, event: str) -> dict[str, str]:
    """The environment of a hook: ``bash``'s scrubbed environment plus ``COWORK_SESSION_ID``,
    ``COWORK_WORKSPACE`` and ``COWORK_EVENT``."""
    return {**scrubbed_env(environ, "/tmp"), "COWORK_SESSION_ID": session_id, "COWORK_WORKSPACE": str(workspace),
            "COWORK_EVENT": event}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def _drain(stream: asyncio.StreamReader | None, into: bytearray, limit: int) -> None:
    """Read ``stream`` to its end, keeping its first ``limit`` bytes in ``into``."""
    if stream is None:
        return
    while chunk := await stream.read(65536):
        room = limit - len(into)
        if room > 0:
            into += chunk[:room]


async def _settle(task: asyncio.Future[None], proc: asyncio.subprocess.Process) -> None:
    """After its group was killed: let ``task`` read the hook's pipes to their end (they close as
    its processes die); if something outside its group still holds them after a few seconds, stop
    reading and close them."""
    if not (await asyncio.wait({task}, timeout=5))[0]:
        task.cancel()
        transport = getattr(proc, "_transport", None)  # asyncio has no public way to drop the pipes
        if transport is not None:
            transport.close()


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


_SYNONYMS = {"approve": "allow", "allow": "allow", "ask": "ask", "deny": "deny", "block": "block"}


def interpret(event: str, run: CommandRun, stdout: str, stderr: str) -> None:
    """Fill ``run``'s ``decision``, ``reason``, ``context`` and ``error`` from its exit status and
    output (see the module docstring)."""
    code = run.exit_code
    if code == 2:
        run.decision = "block"
        run.reason = stderr.strip() or stdout.strip() or f"blocked by the hook {run.command!r}"
    elif code == 0:
        text = stdout.strip()
        data = _json_object(text)
        if data is None:
            if event in ("user_prompt_submit", "session_start"):
                run.context = text
            return
        specific = data.get("hookSpecificOutput")
        specific = specific if isinstance(specific, dict) else {}
        raw = data.get("decision") or specific.get("permissionDecision")
        run.reason = str(data.get("reason") or specific.get("permissionDecisionReason") or "")
        run.context = str(data.get("context") or specific.get("additionalContext") or "")
        if raw is not None:
            decision = _SYNONYMS.get(str(raw).lower())
            if decision is None:
                run.error = f"unknown decision {raw!r} (allow, deny, ask or block): ignored"
                return
            run.decision = decision  # type: ignore[assignment]
    else:
        first = stderr.strip().splitlines()[0][:200] if stderr.strip() else ""
        run.error = f"exited with status {code}" + (f": {first}" if first else "")
        return
    # what each event can do with an answer
    if run.decision in ("deny", "block"):
        if event == "pre_tool_use":
            run.decision = "deny"
        elif event == "session_start":
            run.error = f"a session_start hook cannot block (the session goes on): {run.reason}"
            run.decision = None
        else:
            run.decision = "block"
    elif run.decision == "ask" and event != "pre_tool_use":
        run.error = "ask applies to pre_tool_use hooks only: ignored"
        run.decision = None


def combine(event: str, runs: list[CommandRun]) -> HookOutcome:
    """The outcome of an event's runs: deny over ask over allow (``pre_tool_use``); any block blocks
    (the others); the winning answers' reasons and every context joined, in order."""
    outcome = HookOutcome(runs=list(runs))
    decisions = [r.decision for r in runs]
    winner: str | None = None
    if event == "pre_tool_use":
        winner = next((d for d in ("deny", "ask", "allow") if d in decisions), None)
        outcome.decision = winner  # type: ignore[assignment]
    elif "block" in decisions:
        winner, outcome.block = "block", True
    if winner is not None:
        outcome.reason = "\n".join(r.reason for r in runs if r.decision == winner and r.reason)
    outcome.context = "\n\n".join(r.context.strip() for r in runs if r.context.strip())
    return outcome


class HookRunner:
    """The person's hooks, read from the hooks files at every event (an edit counts at once).

    ``home``: the folder holding ``hooks.toml`` and ``trusted.json`` (default: ``$COWORK_HOME``
    when each event runs). ``environ``: what the hooks' environment is built from (default:
    ``os.environ``)."""

    def __init__(self, home: Path | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.home = home
        self._environ = environ

    def config(self, workspace: Path) -> HookConfig:
        """The hooks of ``workspace`` (see :func:`~cowork.hooks.config.load_hooks`). Raises HookConfigError."""
        return load_hooks(workspace, self.home)

    async def run(self, event: HookEvent, payload: Mapping[str, Any], *, session_id: str,
                  workspace: Path) -> HookOutcome:
        """Run the hooks of ``event`` (for the tool ``payload["tool_name"]`` on the tool events) and
        combine their answers. A failing hook is reported in the outcome's runs, never raised.

        Raises:
            HookConfigError: a hooks file is unusable (a ValueError: the engine fails the turn,
                rather than run without the person's checks).
        """
        config = await asyncio.to_thread(self.config, workspace)
        tool = payload.get("tool_name")
        hooks = config.for_event(event, str(tool) if tool is not None else None)
        if not hooks:
            return HookOutcome()
        body = {**payload, "event": event, "session_id": session_id, "workspace": str(workspace)}
        stdin = json.dumps(body, default=str).encode()
        env = hook_env(os.environ if self._environ is None else self._environ, session_id=session_id,
                       workspace=workspace, event=event)
        runs = await asyncio.gather(*(self._run_one(h, stdin, env, workspace) for h in hooks))
        return combine(event, list(runs))

    async def _run_one(self, hook: HookCommand, stdin: bytes, env: dict[str, str], workspace: Path) -> CommandRun:
        started = time.monotonic()
        run = CommandRun(hook.command, None, 0, event=hook.event, source=hook.source)

        def done() -> CommandRun:
            run.duration_ms = int((time.monotonic() - started) * 1000)
            return run

        try:
            proc = await asyncio.create_subprocess_exec(
                *_DIE_WITH_COWORK, "/bin/sh", "-c", hook.command, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=workspace, env=env,
                start_new_session=True)
        except OSError as exc:
            run.error = f"could not start: {exc}"
            return done()
        out, err = bytearray(), bytearray()

        async def feed() -> None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(stdin)
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass  # it did not read its input: its answer still counts
            finally:
                proc.stdin.close()

        async def talk() -> None:  # stdin, stdout and stderr at once: a hook may write before it reads
            await asyncio.gather(feed(), _drain(proc.stdout, out, OUTPUT_LIMIT), _drain(proc.stderr, err, OUTPUT_LIMIT))
            await proc.wait()

        task = asyncio.ensure_future(talk())
        try:
            if not (await asyncio.wait({task}, timeout=hook.timeout))[0]:
                run.error = f"timed out after {hook.timeout:g} s: its process group was killed"
                _kill_group(proc.pid)
                await _settle(task, proc)
        except asyncio.CancelledError:  # the turn was interrupted: nothing of the hook is left running
            _kill_group(proc.pid)
            await asyncio.shield(_settle(task, proc))
            raise
        stdout, stderr = _text(bytes(out)), _text(bytes(err))
        both = stdout + (("\n" if stdout and not stdout.endswith("\n") else "") + stderr if stderr else "")
        run.output = both[:OUTPUT_HEAD] + ("…" if len(both) > OUTPUT_HEAD else "")
        if not run.error:
            run.exit_code = proc.returncode
            interpret(hook.event, run, stdout, stderr)
        return done()
