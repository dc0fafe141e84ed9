"""Helpers shared by the server benchmarks (``bench/server_*.py``); not a benchmark itself.

Every benchmark runs three kinds of process, so that none of them measures the others' Python:

* the **cowork server**: ``python bench/server_common.py serve ...`` — a :class:`Runtime` over an
  SQLite file in a temp dir, served by :class:`InProcessServer` (uvicorn) on a free loopback port,
  exactly what ``cowork run`` starts;
* the **scripted model**: ``python bench/server_common.py fake SCENARIO ...`` — the
  ``tests/fakemodel.py`` server with a handler answering any number of requests (scenarios below);
* the **clients**: the benchmark script itself, speaking JSON-RPC over real WebSockets
  (``websockets``, as the SDK does: permessage-deflate on) and HTTP (``httpx``).

A child prints one JSON line when it is ready (``{"url": ...}``) and stops when a line arrives on
its stdin, printing one more JSON line with what it has to report. The parent reads the children's
CPU time from ``/proc/PID/stat``, so each figure can say who was busy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
for _p in (str(REPO / "tests"), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

MODEL = "openai:fake-model"
EVENT_HEAD = '{"jsonrpc":"2.0","method":"event"'
"""How the server starts every event notification (``ws.py`` builds it by hand)."""
NOTES = "".join(f"line {i}: the quick brown fox\n" for i in range(1, 11))

from _common import _busy_seconds, pct  # noqa: E402,F401 (pct is used by the scripts that import this module)

# --------------------------------------------------------------------------- statistics


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def met(ok: bool) -> str:
    return "yes" if ok else "NO"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its waited-for children), from /proc; 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Watch:
    """CPU used meanwhile by processes other than this one and the given children (the machine's
    busy time from /proc/stat minus ours), as a share of the machine."""

    def __init__(self, *children: Child) -> None:
        self._busy = _busy_seconds
        self.children = children
        self.t0, self.busy0, self.own0 = time.monotonic(), _busy_seconds(), self._own()

    def _own(self) -> float:
        return time.process_time() + sum(c.cpu() for c in self.children)

    def share(self) -> float:
        wall, busy1 = time.monotonic() - self.t0, self._busy()
        if self.busy0 is None or busy1 is None or wall <= 0:
            return 0.0
        return max(0.0, (busy1 - self.busy0) - (self._own() - self.own0)) / (wall * (os.cpu_count() or 1))


# --------------------------------------------------------------------------- child processes


class Child:
    """A child process of this module (``serve`` or ``fake``)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env={**os.environ, **(env or {})},
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.proc.wait(10)
            raise RuntimeError(f"child {args[0]} exited with {self.proc.returncode} before it was ready")
        self.info: dict[str, Any] = json.loads(line)
        self.pid = self.proc.pid

    @property
    def url(self) -> str:
        return self.info["url"]

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 60) -> dict[str, Any]:
        """Ask the child to stop; return its final report."""
        try:
            self.proc.stdin.write("stop\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            pass
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()


def start_fake(scenario: str, **options: Any) -> Child:
    """The scripted model in its own process (see :func:`_handler` for the scenarios)."""
    return Child(["fake", scenario, json.dumps(options)])


def start_server(db: Path, fake_url: str | None, *, max_steps: int = 50, home: Path | None = None,
                 extra: list[str] | None = None) -> Child:
    """The cowork server over ``db`` in its own process."""
    env = {"COWORK_CONTEXT_WINDOW": "100000000"}  # a growing history never triggers compaction
    if home is not None:
        env["COWORK_HOME"] = str(home)
    args = ["serve", "--db", str(db), "--max-steps", str(max_steps)]
    if fake_url:
        args += ["--fake-url", fake_url]
    return Child(args + (extra or []), env)


def add_server_options(ap: argparse.ArgumentParser) -> None:
    """The diagnostic options every server benchmark takes (see :func:`server_flags`)."""
    ap.add_argument("--nodelay", action="store_true",
                    help="diagnostic: make the server's listening socket with proto=IPPROTO_TCP, so that asyncio "
                         "sets TCP_NODELAY on its connections (cowork.server.app.bind leaves proto 0)")
    ap.add_argument("--profile", metavar="FILE", help="diagnostic: cProfile the server's event-loop thread into FILE")


def server_flags(args: argparse.Namespace) -> list[str]:
    return (["--nodelay"] if args.nodelay else []) + (["--profile", args.profile] if args.profile else [])


def _wait_for_stop() -> None:
    sys.stdin.readline()


# --------------------------------------------------------------------------- the scripted model


def _last_user_text(body: dict) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            c = m.get("content")
            return c if isinstance(c, str) else " ".join(p.get("text", "") for p in c or [] if isinstance(p, dict))
    return ""


def _tool_results_since_user(body: dict) -> int:
    n = 0
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            break
        n += m.get("role") == "tool"
    return n


def _handler(scenario: str, options: dict[str, Any]) -> Callable[[dict], Any]:
    """Scenarios (stateless: each answer follows from the request body alone):

    * ``stream``: a text answer of N one-character deltas, N from "stream N" in the user's
      message, as fast as the server can write them;
    * ``toolloop``: always ``bash`` ``echo hi`` and ``read notes.txt`` (a turn that never ends);
    * ``turn``: ``read notes.txt``, then ``bash echo hi``, then a text answer of ``answer_chars``
      characters in ``chunk``-character deltas; ``delay`` s between streamed chunks.
    * ``hosted``: a hosted model's timing, one streamed chunk per token: ``first_delay`` s (default
      0.4) before the first chunk, then ``tokens_per_s`` (default 60). Request i < ``tools``
      (default 2) answers a short sentence and one cheap read-only call (``read notes.txt``, then
      ``ls .``, alternating); the next one a text answer of ``answer_tokens`` (default 60) 4-character
      tokens. So a turn is ``tools + 1`` requests (:func:`hosted_timing` gives its model time).
    """
    from fakemodel import reply, text, tool_call

    if scenario == "stream":
        def stream(body: dict) -> Any:
            found = re.search(r"stream (\d+)", _last_user_text(body))
            n = int(found.group(1)) if found else 10
            return reply(text("x" * n, chunk_size=1))
        return stream
    if scenario == "toolloop":
        def loop(body: dict) -> Any:
            return reply(tool_call("bash", {"command": "echo hi"}), tool_call("read", {"path": "notes.txt"}))
        return loop
    if scenario == "turn":
        delay = float(options.get("delay", 0.005))
        answer = turn_answer(int(options.get("answer_chars", 120)))
        chunk = int(options.get("chunk", 4))

        def turn(body: dict) -> Any:
            done = _tool_results_since_user(body)
            if done == 0:
                return reply(tool_call("read", {"path": "notes.txt"}), delay=delay)
            if done == 1:
                return reply(tool_call("bash", {"command": "echo hi"}), delay=delay)
            return reply(text(answer, chunk_size=chunk), delay=delay)
        return turn
    if scenario == "hosted":
        first, delay = float(options.get("first_delay", 0.4)), 1.0 / float(options.get("tokens_per_s", 60))
        replies = [reply(text(lead), tool_call(name, args, chunk_size=4), first_delay=first, delay=delay)
                   for lead, name, args in _hosted_calls(int(options.get("tools", 2)))]
        replies.append(reply(text(_hosted_answer(int(options.get("answer_tokens", 60)))), first_delay=first,
                             delay=delay))

        def hosted(body: dict) -> Any:
            return replies[min(_tool_results_since_user(body), len(replies) - 1)]
        return hosted
    raise SystemExit(f"unknown scenario {scenario!r}")


def turn_answer(chars: int) -> str:
    """The ``turn`` scenario's answer: ``chars`` characters of plain sentences."""
    sentence = "All done: the file has ten lines about a quick brown fox. "
    return (sentence * (chars // len(sentence) + 1))[:chars]


def _hosted_calls(n: int) -> list[tuple[str, str, dict[str, Any]]]:
    two = [("Let me read the notes first.", "read", {"path": "notes.txt"}),
           ("Now let me see what else is here.", "ls", {"path": "."})]
    return [two[i % 2] for i in range(n)]


def _hosted_answer(tokens: int) -> str:
    return ("The notes have ten lines about a quick brown fox; the folder holds them alone. " * 40)[: 4 * tokens]


def hosted_timing(first_delay: float = 0.4, tokens_per_s: float = 60, tools: int = 2,
                  answer_tokens: int = 60) -> tuple[float, float]:
    """(seconds the ``hosted`` scenario's model spends on one turn, seconds to the first content
    chunk): the floor of a turn's wall time and of its time to first delta, with no cowork at all."""
    from fakemodel import reply, stream_chunks, text, tool_call

    body = {"stream_options": {"include_usage": True}}
    rs = [reply(text(lead), tool_call(name, args, chunk_size=4)) for lead, name, args in _hosted_calls(tools)]
    rs.append(reply(text(_hosted_answer(answer_tokens))))
    per_chunk = 1.0 / tokens_per_s
    total = sum(first_delay + per_chunk * (len(stream_chunks(r, body, "m")) - 1) for r in rs)
    return total, first_delay + per_chunk  # the role chunk, then the first text token


def fake_main(scenario: str, options_json: str) -> None:
    from fakemodel import FakeModelServer

    options = json.loads(options_json)
    srv = FakeModelServer(requests_log=options.get("log"))
    srv.handler = _handler(scenario, options)
    srv.start()
    base = srv._server.RequestHandlerClass  # type: ignore[union-attr]
    stamps: list[tuple[float, float]] = []
    lock = threading.Lock()

    class Timed(base):  # type: ignore[misc, valid-type]
        def do_POST(self) -> None:
            t0 = time.monotonic()
            try:
                super().do_POST()
            finally:
                with lock:
                    stamps.append((t0, time.monotonic()))

    srv._server.RequestHandlerClass = Timed  # type: ignore[union-attr]
    print(json.dumps({"url": srv.base_url}), flush=True)
    _wait_for_stop()
    srv.stop()
    print(json.dumps({"requests": len(srv.requests), "stamps": sorted(stamps)}), flush=True)


# --------------------------------------------------------------------------- the cowork server


def _patch_bind() -> None:
    import socket

    from cowork.server import app

    def bind(host: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
        return sock

    app.bind = bind


def serve_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="server_common.py serve")
    ap.add_argument("--db", required=True)
    ap.add_argument("--fake-url")
    ap.add_argument("--max-steps", type=int, default=50)
    ap.add_argument("--profile", help="write a cProfile of the serving to this file")
    ap.add_argument("--nodelay", action="store_true",
                    help="diagnostic: bind the listening socket with proto=IPPROTO_TCP, so that asyncio sets "
                         "TCP_NODELAY on accepted connections (cowork.server.app.bind leaves proto 0)")
    a = ap.parse_args(argv)
    if a.nodelay:
        _patch_bind()
    if not os.environ.get("COWORK_HOME"):
        os.environ["COWORK_HOME"] = tempfile.mkdtemp(prefix="cowork-bench-home-")

    async def main() -> None:
        from cowork.config import EngineSettings
        from cowork.engine import Runtime
        from cowork.server import InProcessServer

        settings = EngineSettings(max_steps=a.max_steps, stream_timeout=120, max_retries=0)
        runtime = await Runtime.open(f"sqlite+aiosqlite:///{a.db}", settings=settings, openai_base_url=a.fake_url)
        server = await InProcessServer.start(runtime)
        profiler = None
        if a.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        print(json.dumps({"url": server.url}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, _wait_for_stop)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(a.profile)
        model = runtime._models.get(MODEL)
        await server.stop()
        if model is not None:
            with contextlib.suppress(Exception):
                await model.client.close()  # type: ignore[attr-defined]
        print(json.dumps({"cpu": time.process_time()}), flush=True)

    asyncio.run(main())


# --------------------------------------------------------------------------- clients


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws"


class Rpc:
    """A lean JSON-RPC client over one WebSocket (the ``websockets`` library, default settings
    as the SDK uses them). Event notifications are handed raw (the frame's text) to ``on_event``,
    without parsing, so the client spends as little as it can per event."""

    def __init__(self, ws: Any, on_event: Callable[[str], None] | None) -> None:
        self.ws = ws
        self.on_event = on_event or (lambda frame: None)
        self._ids = itertools.count(1)
        self._answers: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, on_event: Callable[[str], None] | None = None, *, event_batches: bool = False,
                   **connect_kw: Any) -> Rpc:
        """Connect and initialize; ``on_event`` gets each event frame unparsed (with
        ``event_batches``, a frame may be a JSON array of notifications)."""
        from websockets.asyncio.client import connect

        ws = await connect(ws_url(url), max_size=None, proxy=None, **connect_kw)
        rpc = cls(ws, on_event)
        await rpc.call("initialize", {"protocolVersion": "1", "clientInfo": {"name": "bench"},
                                      "capabilities": {"eventBatches": event_batches}})
        return rpc

    async def _read(self) -> None:
        on_event = self.on_event
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                if frame.startswith(EVENT_HEAD) or frame.startswith("[" + EVENT_HEAD):
                    on_event(frame)
                    continue
                msg = json.loads(frame)
                fut = self._answers.pop(msg.get("id"), None) if isinstance(msg, dict) else None
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        for fut in self._answers.values():
            if not fut.done():
                fut.set_exception(ConnectionError("the WebSocket closed"))

    def send(self, method: str, params: dict[str, Any] | None = None) -> asyncio.Future[Any]:
        """Send a request now; the future gets the whole answer object."""
        id_ = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._answers[id_] = fut
        asyncio.ensure_future(self.ws.send(json.dumps({"jsonrpc": "2.0", "id": id_, "method": method,
                                                      "params": params or {}})))
        return fut

    async def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 120) -> Any:
        answer = await asyncio.wait_for(self.send(method, params), timeout)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader

    async def create_session(self, workspace: Path, mode: str = "yolo") -> str:
        result = await self.call("session/create", {"workspace": str(workspace), "model": MODEL, "mode": mode})
        return result["session"]["id"]

    async def start_turn(self, session_id: str, text: str) -> str:
        result = await self.call("turn/start", {"sessionId": session_id, "input": [{"type": "text", "text": text}]})
        return result["turnId"]


def workspace(tmp: Path, name: str = "ws") -> Path:
    ws = tmp / name
    ws.mkdir(exist_ok=True)
    (ws / "notes.txt").write_text(NOTES)
    return ws.resolve()


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        serve_main(sys.argv[2:])
    elif len(sys.argv) >= 3 and sys.argv[1] == "fake":
        fake_main(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "{}")
    else:
        raise SystemExit(__doc__)
