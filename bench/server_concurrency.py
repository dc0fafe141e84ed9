"""Concurrency as users feel it: 1, 8 and 64 sessions running a turn at once against a hosted model's timing.

Targets: 64 sessions finish within 1.3x the wall time of one; cowork's own CPU per turn (the model
layer excluded) <= 10 ms. Also reported: time to first delta at a subscriber (p95 at 64 sessions).

Three kinds of process (see ``server_common.py``), so that no figure counts another's Python:

* the **scripted model** (``server_common.py fake hosted``, one thread per connection): a hosted
  model's timing, one streamed chunk per token, 400 ms to the first token then 60 tokens/s. A turn
  is three requests: "Let me read the notes first." + ``read notes.txt``; "Now let me see what else
  is here." + ``ls .``; a 60-token answer. That is ~2.77 s of model time per turn (printed).
* the **cowork server** (``server_common.py serve``: ``Runtime`` over SQLite in a temp dir, served by
  ``InProcessServer`` over uvicorn, as ``cowork run`` / ``cowork serve`` do). Sessions are in the
  ``default`` mode, where ``read`` and ``ls`` run without approval; each session has its own
  workspace (a small folder: notes.txt and a few files), checkpointed at the start of each turn.
* the **users** (this process): each session has its own WebSocket client (the SDK's settings:
  ``eventBatches``), subscribed to its session before the turn; then every client sends
  ``turn/start`` at once.

Figures per batch of k sessions (fresh sessions, workspaces reused; a warm-up batch first):
wall time from the first ``turn/start`` sent to the last ``turn.completed`` received; per turn,
the latency ``turn/start`` -> ``turn.completed`` and the time to first delta (TTFD) ``turn/start`` ->
the first ``item.delta`` frame that session's client received (and, step by step, the first
``turn.started`` and ``checkpoint.created``).

**CPU per turn.** The server's CPU time (all its threads, from ``/proc/PID/stat``, 10 ms ticks)
from the first ``turn/start`` to the last turn's end (connecting, ``session/create`` and
``session/subscribe`` are not counted), summed over the batches of k sessions, divided by their turns. The scripted model runs in its own process, so its CPU is not in it. What *is* in it
is the model layer (pydantic-ai's direct API over the OpenAI SDK and httpx, which cowork drives):
this script measures that layer alone, in this process, on the same requests (the bodies cowork
sent, recorded by the scripted model: same instructions, tools, history) at the same concurrency
and timing, with no cowork code around it, and subtracts it: *cowork's own CPU per turn* = server
CPU per turn - model layer CPU per turn. ``--py-spy FILE`` adds a sampled profile of the server
during one extra batch at the largest size (not counted in the figures) and prints where its time
goes, by layer and by function.

The machine's load (1-minute load average and the share of the CPU other processes used during
each batch) is printed with each batch: on a shared 2-core machine the figures follow the load.

Run: ``python bench/server_concurrency.py [--quick] [--sessions 1,8,64] [--runs 3] [--py-spy FILE]``
(about 1.5 minutes on a quiet 2-core machine; each batch first waits up to ``--quiet-wait`` s for a
quiet machine). ``--sessions N`` alone means ``1,N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuWatch, machine, pct, table, uptime, versions, wait_quiet  # noqa: E402
from server_common import (  # noqa: E402
    MODEL, NOTES, Rpc, Watch, add_server_options, hosted_timing, met, server_flags, start_fake, start_server,
)

TARGET_RATIO = 1.3
TARGET_OWN_MS = 10.0
TIMING = {"first_delay": 0.4, "tokens_per_s": 60.0, "tools": 2, "answer_tokens": 60}
PROMPT = "Check the notes."


def make_workspaces(tmp: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        ws = tmp / f"ws{i:03d}"
        (ws / "src").mkdir(parents=True, exist_ok=True)
        (ws / "notes.txt").write_text(NOTES)
        (ws / "README.md").write_text(f"# project {i}\n")
        (ws / "src" / "app.py").write_text("print('hello')\n")
        out.append(ws.resolve())
    return out


# --------------------------------------------------------------------------- one batch through cowork


class User:
    """One person's client: its own WebSocket, one session, the times it saw."""

    def __init__(self) -> None:
        self.rpc: Rpc | None = None
        self.session = ""
        self.sent = self.first_delta = self.ended = self.started = self.checkpointed = 0.0
        self.end_type = ""
        self.end_event: dict = {}
        self.events = 0
        self.done = asyncio.get_running_loop().create_future()

    def on_event(self, frame: str) -> None:
        t = time.monotonic()
        self.events += frame.count('"method":"event"')
        if not self.first_delta and '"item.delta"' in frame:
            self.first_delta = t
        if not self.started and '"turn.started"' in frame:
            self.started = t
        if not self.checkpointed and '"checkpoint.created"' in frame:
            self.checkpointed = t
        if '"turn.' in frame and ('"turn.completed"' in frame or '"turn.failed"' in frame
                                   or '"turn.interrupted"' in frame):
            msgs = json.loads(frame)
            for m in msgs if isinstance(msgs, list) else [msgs]:
                typ = (m.get("params") or {}).get("type", "")
                if typ in ("turn.completed", "turn.failed", "turn.interrupted") and not self.done.done():
                    self.ended, self.end_type = t, typ
                    self.end_event = m["params"]
                    self.done.set_result(None)

    async def open(self, url: str, ws: Path) -> None:
        self.rpc = await Rpc.open(url, on_event=self.on_event, event_batches=True)
        self.session = await self.rpc.create_session(ws, mode="default")
        await self.rpc.call("session/subscribe", {"sessionId": self.session, "afterSeq": 0})


def _no_cpu() -> tuple[float, ...]:
    return ()


async def batch(url: str, workspaces: list[Path], k: int,
                cpu: Callable[[], tuple[float, ...]] = _no_cpu) -> dict:
    """One turn in each of ``k`` new sessions (in ``workspaces[:k]``), all started at once.
    ``cpu()`` is read just before the first ``turn/start`` and after the last turn ended (so
    connecting, creating and subscribing are not counted); ``"cpu"`` is the difference."""
    users = [User() for _ in range(k)]
    await asyncio.gather(*(u.open(url, workspaces[i]) for i, u in enumerate(users)))
    try:
        answers = []
        cpu0 = cpu()
        t0 = time.monotonic()
        for u in users:
            u.sent = time.monotonic()
            answers.append(u.rpc.send("turn/start", {"sessionId": u.session,  # type: ignore[union-attr]
                                                     "input": [{"type": "text", "text": PROMPT}]}))
        for a in await asyncio.gather(*answers):
            if "error" in a:
                raise SystemExit(f"turn/start failed: {a['error']}")
        await asyncio.wait_for(asyncio.gather(*(u.done for u in users)), 600)
        wall = max(u.ended for u in users) - t0
        cpu_used = tuple(b - a for a, b in zip(cpu0, cpu(), strict=True))
    finally:
        await asyncio.gather(*(u.rpc.close() for u in users if u.rpc is not None))
    return {
        "wall": wall,
        "cpu": cpu_used,
        "latency": [u.ended - u.sent for u in users],
        "ttfd": [u.first_delta - u.sent for u in users if u.first_delta],
        "to_started": [u.started - u.sent for u in users if u.started],
        "to_checkpoint": [u.checkpointed - u.sent for u in users if u.checkpointed],
        "failed": [u.end_event for u in users if u.end_type != "turn.completed"],
        "events": sum(u.events for u in users) / k,
    }


# --------------------------------------------------------------------------- the model layer alone


def recorded_turn(log: Path) -> list[dict]:
    """One turn's request bodies as cowork sent them (0, 1, 2... tool results), from the fake's log."""
    by_results: dict[int, dict] = {}
    for line in log.read_text().splitlines():
        body = json.loads(line)
        n = 0
        for m in reversed(body["messages"]):
            if m["role"] == "user":
                break
            n += m["role"] == "tool"
        by_results.setdefault(n, body)
    return [by_results[i] for i in sorted(by_results)]


def _model(fake_url: str):  # noqa: ANN202
    try:
        from cowork.providers import build_model, parse_model

        return build_model(parse_model(MODEL), base_url=fake_url)
    except Exception:  # the providers' API moved: build what they build
        from openai import AsyncOpenAI
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        client = AsyncOpenAI(api_key="not-needed", base_url=fake_url, max_retries=0)
        return OpenAIChatModel(MODEL.split(":", 1)[1], provider=OpenAIProvider(openai_client=client))


async def model_layer(fake_url: str, bodies: list[dict], counts: list[int], quiet_wait: float) -> dict[int, float]:
    """CPU seconds per turn that pydantic-ai's direct API over the OpenAI SDK (what cowork drives)
    spends on k turns at once, for each k in ``counts``, each turn the requests in ``bodies``
    (instructions, tools, settings and tool results taken from them), against the same scripted
    model. Each k is measured after waiting for a quiet machine (``wait_quiet``)."""
    from dataclasses import replace

    from pydantic_ai.direct import model_request_stream
    from pydantic_ai.messages import ModelRequest, ToolReturnPart, UserPromptPart
    from pydantic_ai.models import ModelRequestParameters
    from pydantic_ai.tools import ToolDefinition

    first = bodies[0]
    system = "\n\n".join(m["content"] for m in first["messages"] if m["role"] == "system"
                         and isinstance(m["content"], str))
    tools = [ToolDefinition(name=t["function"]["name"], description=t["function"].get("description"),
                            parameters_json_schema=t["function"].get("parameters") or {})
             for t in first.get("tools") or []]
    results = [m["content"] for m in bodies[-1]["messages"] if m["role"] == "tool"]
    settings = {k_: first[k_] for k_ in ("max_tokens", "max_completion_tokens") if k_ in first}
    model = _model(fake_url)
    params = ModelRequestParameters(function_tools=tools)

    async def one_turn() -> None:
        messages: list = [ModelRequest(parts=[UserPromptPart(PROMPT)])]
        for step in range(len(bodies)):
            out = [*messages[:-1], replace(messages[-1], instructions=system or None)]
            async with model_request_stream(model, out, model_settings=settings or None,
                                            model_request_parameters=params) as stream:
                async for _event in stream:
                    pass
                response = stream.get()
            messages.append(response)
            calls = [p for p in response.parts if p.part_kind == "tool-call"]
            if not calls:
                return
            messages.append(ModelRequest(parts=[
                ToolReturnPart(c.tool_name, results[min(step, len(results) - 1)] if results else "ok", c.tool_call_id)
                for c in calls]))

    out = {}
    try:
        await asyncio.gather(*(one_turn() for _ in range(max(counts))))  # warm-up: imports, pooled connections
        for k in counts:
            wait_quiet(max_wait=quiet_wait)  # blocks the loop on purpose: nothing else runs
            c0 = time.process_time()
            await asyncio.gather(*(one_turn() for _ in range(k)))
            out[k] = (time.process_time() - c0) / k
        return out
    finally:
        with contextlib.suppress(Exception):
            await model.client.close()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- profile


# Where a py-spy sample goes. py-spy names a frame "function (package/module.py:line)", the path
# relative to sys.path. A sample goes to the group of its innermost frame that a tier-1 mark names;
# failing that, tier 2; then tier 3 (pydantic, used by both sides). "M" marks the model layer.
GROUPS: tuple[tuple[int, str, bool, tuple[str, ...]], ...] = (
    (1, "openai SDK: request transform (async_maybe_transform)", True, ("async_maybe_transform",
                                                                         "_async_transform_recursive")),
    (1, "pydantic-ai: tool JSON-schema transform, every request", True, ("(pydantic_ai/_json_schema.py",)),
    (1, "pydantic-ai: message mapping", True, ("_map_messages", "_map_message ", "_map_user_prompt")),
    (1, "openai SDK: SSE parsing, chunk models (construct_type)", True, ("(openai/_streaming.py", "construct_type",
                                                                          "(openai/_models.py")),
    (1, "pydantic-ai: stream events, parts manager", True, ("(pydantic_ai/models/openai/_chat_streaming.py",
                                                             "(pydantic_ai/_parts_manager.py")),
    (1, "httpx/httpcore/h11: HTTP client", True, ("(httpx2/", "(httpcore2/", "(httpx/", "(httpcore/", "(h11/")),
    (1, "SQLAlchemy + aiosqlite + cowork.store", False, ("(sqlalchemy/", "(aiosqlite/", "(cowork/store/")),
    (1, "cowork.engine.journal", False, ("(cowork/engine/journal",)),
    (1, "WebSocket: uvicorn, websockets, cowork.server", False, ("(websockets/", "(uvicorn/", "(starlette/",
                                                                  "(cowork/server/")),
    (1, "cowork.checkpoints + dulwich", False, ("(cowork/checkpoints/", "(dulwich/")),
    (1, "cowork.policy + cowork.tools", False, ("(cowork/policy/", "(cowork/tools/")),
    (2, "model layer, other", True, ("(pydantic_ai/", "(openai/")),
    (2, "cowork.engine (turn, context) and other cowork", False, ("(cowork/",)),
    (3, "pydantic (cowork's protocol models)", False, ("(pydantic/", "(pydantic_core/")),
)
OTHER = "event loop, GC, threads, other"


def _group(frames: list[str]) -> str:
    for tier in (1, 2, 3):
        for frame in reversed(frames):
            for t, name, _model, marks in GROUPS:
                if t == tier and any(m in frame for m in marks):
                    return name
    return OTHER


def summarize_profile(raw: Path, ms_per_turn: float, top: int = 25) -> tuple[str, float]:
    """Groups and top functions (own samples, innermost frame) of a py-spy ``--format raw`` file,
    in ms per turn (``ms_per_turn``: the server's CPU per turn meanwhile, shared out by samples);
    and the model layer's share of the samples."""
    groups: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        n = int(count_s)
        frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
        total += n
        g = _group(frames)
        groups[g] = groups.get(g, 0) + n
        leaf = frames[-1] if frames else "?"
        leaves[leaf] = leaves.get(leaf, 0) + n
    if not total:
        return "(no samples)", 0.0
    model = {name for _t, name, is_model, _m in GROUPS if is_model}

    def rows(counts: dict[str, int], head: str, limit: int, mark: bool) -> str:
        out = [(head, "ms/turn", "share")]
        out += [((("M " if k in model else "  ") if mark else "") + k[:100], f"{ms_per_turn * v / total:.1f}",
                 f"{100 * v / total:.1f} %") for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]]
        return table(out)

    share = sum(v for k, v in groups.items() if k in model) / total
    return (rows(groups, "where (M: model layer)", len(groups), True) + "\n\n"
            + rows(leaves, "function (own samples)", top, False)), share


def py_spy_exe() -> str | None:
    """py-spy next to this Python (``.venv/bin/pip install py-spy``), else on PATH, else None."""
    exe = Path(sys.executable).with_name("py-spy")
    return str(exe) if exe.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def py_spy(pid: int, out: Path):  # noqa: ANN201
    """Sample process ``pid`` (the thread holding the GIL, 200 Hz) into ``out`` while the block runs."""
    proc = subprocess.Popen([py_spy_exe() or "py-spy", "record", "--pid", str(pid), "--rate", "200",
                             "--format", "raw", "--nonblocking", "--gil", "--threads", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # attached
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode not in (0, -signal.SIGINT) and not out.exists():
            print(f"  py-spy failed ({proc.returncode}): {err.strip()[-300:]}", file=sys.stderr)


# --------------------------------------------------------------------------- the run


async def run(args: argparse.Namespace) -> dict:
    out: dict = {"batches": {k: [] for k in args.counts}, "floor": {}}
    biggest = max(args.counts)
    with tempfile.TemporaryDirectory(prefix="cowork-bench-") as tmp_s:
        tmp = Path(tmp_s)
        workspaces = make_workspaces(tmp, biggest)
        log = tmp / "requests.jsonl"
        with start_fake("hosted", log=str(log), **TIMING) as fake, start_server(
            tmp / "cowork.db", fake.url, home=tmp / "home", extra=server_flags(args),
        ) as server:
            await batch(server.url, workspaces, biggest)  # warm-up: imports, first checkpoints, connections
            for _ in range(args.runs):
                for k in args.counts:
                    wait_quiet(max_wait=args.quiet_wait)
                    load = os.getloadavg()[0]
                    w = Watch(fake, server)
                    r = await batch(server.url, workspaces, k, lambda: (server.cpu(), fake.cpu(), time.process_time()))
                    r["busy"], r["load"] = w.share(), load
                    out["batches"][k].append(r)
            if args.py_spy:
                with py_spy(server.pid, Path(args.py_spy)):
                    r = await batch(server.url, workspaces, biggest, lambda: (server.cpu(),))
                    out["spy_cpu"] = r["cpu"][0] / biggest
            bodies = recorded_turn(log)
            out["floor"] = await model_layer(fake.url, bodies, args.counts, args.quiet_wait)
            out["requests"] = fake.stop().get("requests", 0)
            out["request_kb"] = [len(json.dumps(b)) / 1024 for b in bodies]
    return out


def parse_counts(s: str) -> list[int]:
    counts = sorted({int(x) for x in s.split(",") if x.strip()})
    if any(c < 1 for c in counts):
        raise SystemExit("--sessions: counts must be >= 1")
    return counts if len(counts) > 1 else sorted({1, counts[0]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 and 16 sessions, 1 batch each (~30 s)")
    ap.add_argument("--sessions", default=None,
                    help="comma-separated session counts (default 1,8,64); one number N means 1,N")
    ap.add_argument("--runs", type=int, default=None,
                    help="batches per count (default 3): median wall time, CPU pooled over the runs")
    ap.add_argument("--quiet-wait", type=float, default=5.0,
                    help="seconds to wait at most for a quiet machine before each batch (default 5)")
    ap.add_argument("--py-spy", metavar="FILE",
                    help="profile the server with py-spy (raw format into FILE) during one extra batch of the "
                         "largest size, and print where its time goes")
    add_server_options(ap)
    args = ap.parse_args()
    args.counts = parse_counts(args.sessions or ("1,16" if args.quick else "1,8,64"))
    args.runs = args.runs or (1 if args.quick else 3)
    if args.py_spy and py_spy_exe() is None:
        raise SystemExit("--py-spy: py-spy not found; install it with .venv/bin/pip install py-spy")
    start_uptime = uptime()
    watch = CpuWatch()
    r = asyncio.run(run(args))
    model_s, ideal_ttfd = hosted_timing(**TIMING)

    print(f"Concurrency as users feel it: {', '.join(map(str, args.counts))} sessions, one turn each, all at once; "
          f"{args.runs} batch(es) per count" + (" [TCP_NODELAY]" if args.nodelay else ""))
    print(f"model: {TIMING['first_delay'] * 1000:g} ms to the first token, {TIMING['tokens_per_s']:g} tokens/s; "
          f"{TIMING['tools'] + 1} requests per turn (read, ls, {TIMING['answer_tokens']}-token answer); "
          f"request bodies {' / '.join(f'{x:.1f}' for x in r['request_kb'])} kB; "
          f"model time per turn {model_s:.2f} s, first content token at {ideal_ttfd * 1000:.0f} ms")
    print(f"machine: {machine()}")
    print(f"versions: {versions('cowork', 'uvicorn', 'websockets', 'pydantic-ai-slim', 'openai', 'httpx2', 'SQLAlchemy', 'aiosqlite')}")
    print(f"uptime at start: {start_uptime}")
    print()
    rows = [("sessions", "wall s (runs)", "wall / model time", "turn p50 / p95 s", "TTFD p50 / p95 ms", "events/turn",
             "server CPU ms/turn", "model layer ms/turn", "cowork own ms/turn", "CPU-s model/users",
             "others %", "load")]
    fig: dict[int, dict] = {}
    for k in args.counts:
        xs = r["batches"][k]
        wall = statistics.median(x["wall"] for x in xs)
        lat = [v for x in xs for v in x["latency"]]
        ttfd = [v for x in xs for v in x["ttfd"]]
        server_ms = 1000 * sum(x["cpu"][0] for x in xs) / (k * len(xs))  # /proc counts 10 ms ticks: pool the runs
        floor_ms = 1000 * r["floor"][k]
        fig[k] = {"wall": wall, "ttfd95": pct(ttfd, 95), "own": server_ms - floor_ms}
        walls = " ".join(f"{x['wall']:.2f}" for x in xs)
        rows.append((str(k), f"{wall:.2f} ({walls})", f"{wall / model_s:.2f}x",
                     f"{pct(lat, 50):.2f} / {pct(lat, 95):.2f}",
                     f"{1000 * pct(ttfd, 50):.0f} / {1000 * pct(ttfd, 95):.0f}",
                     f"{statistics.median(x['events'] for x in xs):.0f}",
                     f"{server_ms:.1f}", f"{floor_ms:.1f}", f"{server_ms - floor_ms:.1f}",
                     f"{statistics.median(x['cpu'][1] for x in xs):.1f} / {statistics.median(x['cpu'][2] for x in xs):.1f}",
                     f"{100 * max(x['busy'] for x in xs):.0f}",
                     " ".join(f"{x['load']:.1f}" for x in xs)))
    print(table(rows))
    print()
    steps = [("sessions", "-> turn.started p50 / p95", "-> checkpoint.created p50 / p95", "-> first item.delta p50 / p95")]
    for k in args.counts:
        xs = r["batches"][k]
        steps.append((str(k), *(" / ".join(f"{1000 * pct([v for x in xs for v in x[key]], q):.0f}" for q in (50, 95))
                                 for key in ("to_started", "to_checkpoint", "ttfd"))))
    print("time to first delta, step by step (ms from turn/start sent, as the session's client saw the events):")
    print(table(steps))
    print()
    lo, hi = min(args.counts), max(args.counts)
    ratio = fig[hi]["wall"] / fig[lo]["wall"]
    print(table([
        ("figure", "value", "target", "met"),
        (f"wall({hi}) / wall({lo})", f"{ratio:.2f}x", f"<= {TARGET_RATIO:g}x", met(ratio <= TARGET_RATIO)),
        (f"cowork's own CPU per turn at {hi}", f"{fig[hi]['own']:.1f} ms", f"<= {TARGET_OWN_MS:g} ms",
         met(fig[hi]["own"] <= TARGET_OWN_MS)),
        (f"cowork's own CPU per turn at {lo}", f"{fig[lo]['own']:.1f} ms", f"<= {TARGET_OWN_MS:g} ms",
         met(fig[lo]["own"] <= TARGET_OWN_MS)),
        (f"TTFD p95 at {hi}", f"{1000 * fig[hi]['ttfd95']:.0f} ms", f"(model: {ideal_ttfd * 1000:.0f} ms)", ""),
    ]))
    print(f"  model requests served in all: {r['requests']}; TTFD: turn/start sent -> first item.delta received; "
          "cowork own = server CPU - model layer alone (same requests, same concurrency)")
    failed = [ev for k in args.counts for x in r["batches"][k] for ev in x["failed"]]
    if failed:
        err = failed[0].get("error") or {}
        print(f"  FAILED turns: {len(failed)} (counted in the times above); first: {failed[0].get('type')} "
              f"{err.get('code', '')}: {str(err.get('message', ''))[:160]}")
    print(f"uptime at end: {uptime()}")
    print("whole run: " + watch.report())
    if args.py_spy and Path(args.py_spy).exists():
        print()
        print(f"py-spy profile of the server, one extra batch of {hi} ({r.get('spy_cpu', 0) * 1000:.1f} ms server "
              f"CPU per turn while sampled; {args.py_spy}):")
        spy = r.get("spy_cpu", 0) * 1000
        text, share = summarize_profile(Path(args.py_spy), spy)
        print(text)
        print(f"  by the samples: model layer {share * spy:.1f} ms, the rest (cowork) {(1 - share) * spy:.1f} ms per turn "
              f"(a check on the subtraction above; py-spy --gil samples the thread holding the GIL)")


if __name__ == "__main__":
    main()
