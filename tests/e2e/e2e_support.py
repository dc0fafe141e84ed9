"""Helpers for end-to-end tests: run the real ``cowork`` command against a scripted fake model.

:class:`Cowork` runs the ``cowork`` console script as a subprocess with a fresh ``COWORK_HOME``
and workspace and an environment pointing ``openai:`` at a :class:`FakeModelServer`; the other
functions pick apart the ``--json`` event stream and the requests the fake model received.

The fixtures (``srv``, ``cw``) are in ``conftest.py`` beside this file. The helpers live here, under
a name no other test folder uses, because test modules cannot reliably ``import conftest``: pytest
imports every folder's ``conftest.py`` under that same module name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakemodel import FakeModelServer  # tests/ is on pythonpath (pyproject)

COWORK = shutil.which("cowork", path=str(Path(sys.executable).parent)) or shutil.which("cowork")
MODEL = "openai:fake-model"

# Variables of the outer environment that would change what cowork does.
_SCRUB = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY",
    "OLLAMA_BASE_URL", "COWORK_MODEL", "COWORK_DATABASE_URL", "COWORK_CONTEXT_WINDOW",
)


def build_env(home: Path, base_url: str | None, **extra: str | None) -> dict[str, str]:
    """The environment for a cowork subprocess; ``extra`` values of None remove a variable."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith("COWORK_")}
    env.update({
        "COWORK_HOME": str(home),
        "COWORK_RETRY_BASE_DELAY": "0.05",
        "COWORK_STREAM_TIMEOUT": "2",
        "COWORK_MAX_RETRIES": "3",
        "COLUMNS": "200",  # rich wraps the human view at this width: keep tool lines on one line
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",
    })
    if base_url:
        env["OPENAI_BASE_URL"] = base_url
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def parse_events(stdout: str) -> list[dict]:
    """Each non-empty stdout line as JSON (``--json`` output)."""
    events = []
    for line in stdout.splitlines():
        if line.strip():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as exc:  # pragma: no cover - reported as a test failure
                raise AssertionError(f"stdout line is not JSON: {line!r}") from exc
    return events


def assert_gapless(events: list[dict], first: int | None = None) -> None:
    """``seq`` rises by exactly one from event to event (from ``first`` when given)."""
    assert events, "no events"
    seqs = [e["seq"] for e in events]
    start = seqs[0] if first is None else first
    assert seqs == list(range(start, start + len(seqs))), f"seq not gapless from {start}: {seqs}"


def items(events: list[dict], type_: str | None = None, kind: str = "item.completed") -> list[dict]:
    """The items of ``kind`` events, optionally only those of ``type_``."""
    return [e["item"] for e in events if e["type"] == kind and (type_ is None or e["item"]["type"] == type_)]


def of_type(events: list[dict], type_: str) -> list[dict]:
    return [e for e in events if e["type"] == type_]


def tool_messages(request: dict) -> list[dict]:
    """The ``role: tool`` messages of a chat-completions request body."""
    return [m for m in request["messages"] if m.get("role") == "tool"]


def message_text(m: dict) -> str:
    c = m.get("content")
    if isinstance(c, list):
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return c or ""


def all_text(request: dict) -> str:
    """Every message's content and tool-call arguments of a request, joined (for ``in`` checks)."""
    out = []
    for m in request["messages"]:
        out.append(message_text(m))
        for tc in m.get("tool_calls") or []:
            out.append(tc["function"]["name"] + " " + tc["function"]["arguments"])
    return "\n".join(out)


@dataclass
class Result:
    proc: subprocess.CompletedProcess
    events: list[dict] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def code(self) -> int:
        return self.proc.returncode

    @property
    def stdout(self) -> str:
        return self.proc.stdout

    @property
    def stderr(self) -> str:
        return self.proc.stderr

    def explain(self) -> str:
        return f"exit {self.code}\n--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"

    def terminal(self) -> dict:
        ends = [e for e in self.events if e["type"] in ("turn.completed", "turn.failed", "turn.interrupted")]
        assert len(ends) == 1, f"expected one terminal event, got {ends}\n{self.explain()}"
        assert self.events[-1] is ends[0], "the terminal event is not the last one"
        return ends[0]


def cowork_argv(args: list[str]) -> list[str]:
    assert COWORK, "the cowork console script is not installed in this environment"
    return [COWORK, *args]


def run_cowork(args: list[str], env: dict[str, str], input: str | None = None, timeout: float = 60,
               cwd: Path | None = None) -> Result:
    """Run ``cowork ARGS`` to the end (stdin: ``input``, else /dev/null, never a terminal).

    Returns the completed process and, when ``--json`` is among the arguments, its parsed events.
    A run that outlives ``timeout`` is killed and reported with what it had printed.
    """
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cowork_argv(args), input=input, stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        def tail(b: bytes | str | None) -> str:
            return (b.decode(errors="replace") if isinstance(b, bytes) else b or "")[-4000:]

        raise AssertionError(
            f"`cowork {' '.join(args)}` did not finish within {timeout}s\n--- stdout ---\n"
            f"{tail(exc.stdout)}\n--- stderr ---\n{tail(exc.stderr)}"
        ) from None
    res = Result(proc, elapsed=time.monotonic() - started)
    if "--json" in args and proc.stdout.strip():
        try:
            res.events = parse_events(proc.stdout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{res.explain()}") from None
    return res


class Cowork:
    """Runs ``cowork`` in a subprocess for one test (fresh home, workspace, fake model)."""

    def __init__(self, tmp_path: Path, srv: FakeModelServer | None) -> None:
        self.home = tmp_path / "home"
        self.workspace = tmp_path / "ws"
        self.workspace.mkdir(parents=True)
        self.srv = srv
        self.extra_env: dict[str, str | None] = {}

    def env(self, **extra: str | None) -> dict[str, str]:
        return build_env(self.home, self.srv.base_url if self.srv else None, **{**self.extra_env, **extra})

    def argv(self, args: list[str]) -> list[str]:
        return cowork_argv(args)

    def run(self, *args: str, input: str | None = None, timeout: float = 60, env: dict[str, str | None] | None = None,
            cwd: Path | None = None) -> Result:
        """Run ``cowork ARGS`` with this test's home and fake model; stdin is ``input`` or /dev/null."""
        return run_cowork(list(args), self.env(**(env or {})), input=input, timeout=timeout, cwd=cwd or self.workspace)

    def task(self, text: str, *flags: str, json_out: bool = True, model: str | None = MODEL, **kw: Any) -> Result:
        """``cowork run TEXT --dir WS [--model M] [--json] FLAGS``."""
        args = ["run", text, "--dir", str(self.workspace)]
        if model:
            args += ["--model", model]
        if json_out:
            args.append("--json")
        return self.run(*args, *flags, **kw)

    def run_many(self, *arg_lists: list[str], timeout: float = 60) -> list[Result]:
        """Run several independent ``cowork`` commands at once (they are mostly start-up time)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(arg_lists)) as pool:
            return list(pool.map(lambda a: self.run(*a, timeout=timeout), arg_lists))

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen:
        return subprocess.Popen(self.argv(list(args)), env=self.env(), cwd=self.workspace, text=True, **kw)

    def journal(self, session_id: str) -> list[dict]:
        res = self.run("sessions", "show", session_id, "--json")
        assert res.code == 0, res.explain()
        return res.events

    def sessions(self) -> list[dict]:
        res = self.run("sessions", "list", "--json")
        assert res.code == 0, res.explain()
        return parse_events(res.stdout)


CPR = "\x1b\\[6n"  # (a regex) prompt_toolkit asks the terminal where the cursor is; answer so it does not wait


class Terminal:
    """``cowork run --dir WS --model MODEL ARGS…`` (the task among ``args``) in a pseudo-terminal
    driven by pexpect, with ``env`` added to the test environment; the output seen so far is in
    ``.seen``."""

    def __init__(self, cw: Cowork, *args: str, **env: str | None) -> None:
        import io

        import pexpect

        self._pexpect = pexpect
        self.log = io.StringIO()
        self.child = pexpect.spawn(COWORK, ["run", "--dir", str(cw.workspace), "--model", MODEL, *args],
                                   env=cw.env(TERM="xterm", NO_COLOR=None, **env), cwd=str(cw.workspace),
                                   encoding="utf-8", timeout=40, dimensions=(50, 200))
        self.child.logfile_read = self.log

    @property
    def seen(self) -> str:
        return self.log.getvalue()

    def expect(self, pattern: str) -> None:
        """Wait for ``pattern``, answering cursor-position requests on the way."""
        while self.child.expect([CPR, pattern]) == 0:
            self.child.send("\x1b[1;1R")

    def answer(self, line: str) -> None:
        self.child.send(line + "\r")

    def finish(self) -> int:
        """Wait for cowork to exit; its exit status."""
        while self.child.expect([CPR, self._pexpect.EOF]) == 0:
            self.child.send("\x1b[1;1R")
        self.child.close()
        return self.child.exitstatus

