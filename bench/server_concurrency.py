"""64 sessions each running one turn at once versus one session alone (target ratio <= 2x).

The scripted model (``server_common.py fake turn``, its own process, one thread per connection)
answers each turn like a small real one: a ``read notes.txt`` call, then a ``bash echo hi`` call,
then a 120-character text answer in 4-character deltas, sleeping 5 ms between streamed chunks (so
a reply of k chunks takes ~5(k-1) ms, as a model's tokens would). The cowork server runs in its
own process (SQLite in a temp dir); sessions are in yolo mode.

From this process one WebSocket client subscribes to every session, then starts all the turns
(``turn/start`` requests sent back to back) and waits for every ``turn.completed``. Wall time is
from sending the first ``turn/start`` to the last ``turn.completed`` received; per-turn latency is
from a turn's ``turn/start`` to its ``turn.completed``. "Alone" is the same with one session.
Each is done ``--runs`` times (fresh sessions each time) after a warm-up; the ratio uses the medians.

It also measures a **floor**: the CPU that the model layer alone (pydantic-ai's direct API over the
OpenAI SDK, as cowork uses it, with cowork's tool definitions) spends on the same three streamed
requests of one turn, in this process, turn after turn, with no cowork code around it. The server
runs every turn's requests on one event loop, so ``sessions x floor`` is CPU time that one core
must spend before the last turn can end, whatever cowork's own code costs.

Run: ``python bench/server_concurrency.py [--quick] [--sessions N] [--runs R] [--delay S] [--nodelay] [--profile FILE]``.
Prints figures only; ``--nodelay`` and ``--profile`` are diagnostics (see ``server_common.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuWatch, machine, table, versions, wait_quiet  # noqa: E402
from server_common import Rpc, Watch, add_server_options, met, server_flags, start_fake, start_server, workspace  # noqa: E402

TARGET_RATIO = 2.0
TERMINAL = ('"turn.completed"', '"turn.failed"', '"turn.interrupted"')


async def batch(url: str, ws: Path, k: int) -> dict:
    """Run one turn in each of ``k`` new sessions at once."""
    ended: dict[str, tuple[float, dict]] = {}
    all_done = asyncio.get_running_loop().create_future()
    events = {"n": 0}

    def on_event(frame: str) -> None:
        events["n"] += 1
        if '"type":"turn.' in frame and any(t in frame for t in TERMINAL):
            ev = json.loads(frame)["params"]
            ended[ev["session_id"]] = (time.monotonic(), ev)
            if len(ended) == k and not all_done.done():
                all_done.set_result(None)

    rpc = await Rpc.open(url, on_event=on_event)
    try:
        sessions = [await rpc.create_session(ws) for _ in range(k)]
        for s in sessions:
            await rpc.call("session/subscribe", {"sessionId": s, "afterSeq": 0})
        started: dict[str, float] = {}
        futures = []
        t0 = time.monotonic()
        for s in sessions:
            started[s] = time.monotonic()
            futures.append(rpc.send("turn/start", {"sessionId": s, "input": [{"type": "text", "text": "Check the notes."}]}))
        answers = await asyncio.gather(*futures)
        if any("error" in a for a in answers):
            raise SystemExit(f"turn/start failed: {next(a for a in answers if 'error' in a)}")
        await asyncio.wait_for(all_done, 600)
        wall = max(t for t, _ in ended.values()) - t0
    finally:
        await rpc.close()
    bad = [ev for _, ev in ended.values() if ev["type"] != "turn.completed"]
    latencies = [ended[s][0] - started[s] for s in sessions]
    return {"wall": wall, "latencies": latencies, "events": events["n"], "failed": bad}


async def floor(fake_url: str, turns: int) -> float:
    """CPU seconds per turn of the model layer alone: the turn's three streamed requests."""
    from openai import AsyncOpenAI
    from pydantic_ai.direct import model_request_stream
    from pydantic_ai.messages import ModelRequest, ToolReturnPart, UserPromptPart
    from pydantic_ai.models import ModelRequestParameters
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    from cowork.engine.turn import tool_definitions

    client = AsyncOpenAI(api_key="not-needed", base_url=fake_url, max_retries=0)
    model = OpenAIChatModel("fake", provider=OpenAIProvider(openai_client=client))
    params = ModelRequestParameters(function_tools=tool_definitions())

    async def one_turn() -> None:
        messages: list = [ModelRequest(parts=[UserPromptPart("Check the notes.")])]
        for _ in range(3):
            async with model_request_stream(model, messages, model_request_parameters=params) as stream:
                async for _event in stream:
                    pass
                response = stream.get()
            messages.append(response)
            calls = [p for p in response.parts if p.part_kind == "tool-call"]
            if not calls:
                return
            messages.append(ModelRequest(parts=[ToolReturnPart(c.tool_name, "ok", c.tool_call_id) for c in calls]))

    await one_turn()  # warm-up
    c0 = time.process_time()
    for _ in range(turns):
        await one_turn()
    return (time.process_time() - c0) / turns


async def run(args: argparse.Namespace) -> dict:
    out: dict = {"alone": [], "together": []}
    with tempfile.TemporaryDirectory(prefix="cowork-bench-") as tmp_s:
        tmp = Path(tmp_s)
        ws = workspace(tmp)
        with start_fake("turn", delay=args.delay) as fake, start_server(
            tmp / "cowork.db", fake.url, home=tmp / "home", extra=server_flags(args),
        ) as server:
            await batch(server.url, ws, 2)  # warm-up
            busy = 0.0
            for _ in range(args.runs):
                for key, k in (("alone", 1), ("together", args.sessions)):
                    wait_quiet(max_wait=60)
                    w = Watch(fake, server)
                    c0, f0, p0 = server.cpu(), fake.cpu(), time.process_time()
                    r = await batch(server.url, ws, k)
                    r["cpu"] = (server.cpu() - c0, fake.cpu() - f0, time.process_time() - p0)
                    busy = max(busy, w.share())
                    out[key].append(r)
            out["busy"] = busy
            wait_quiet(max_wait=60)
            out["floor"] = await floor(fake.url, 32)
            out["requests"] = fake.stop().get("requests", 0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 sessions, 1 run")
    ap.add_argument("--sessions", type=int)
    ap.add_argument("--runs", type=int)
    ap.add_argument("--delay", type=float, default=0.005, help="seconds between streamed chunks (default 0.005)")
    add_server_options(ap)
    args = ap.parse_args()
    args.sessions = args.sessions or (16 if args.quick else 64)
    args.runs = args.runs or (1 if args.quick else 3)
    watch = CpuWatch()
    r = asyncio.run(run(args))

    alone = statistics.median(x["wall"] for x in r["alone"])
    together = statistics.median(x["wall"] for x in r["together"])
    ratio = together / alone
    print(f"{args.sessions} concurrent turns vs one alone (read, bash, 120-char answer; {args.delay * 1000:g} ms "
          f"between model chunks; {args.runs} run(s) each)" + (" [TCP_NODELAY]" if args.nodelay else ""))
    print(f"machine: {machine()}")
    print(f"versions: {versions('cowork', 'uvicorn', 'websockets', 'pydantic-ai-slim', 'openai', 'SQLAlchemy')}")
    print()
    rows = [("case", "wall s (median)", "wall s (runs)", "turn latency p50 / max s", "events", "CPU-s server/model/client")]
    for key, label in (("alone", "1 session"), ("together", f"{args.sessions} sessions at once")):
        xs = r[key]
        lat = [lt for x in xs for lt in x["latencies"]]
        cpu = [statistics.median(x["cpu"][i] for x in xs) for i in range(3)]
        rows.append((label, f"{statistics.median(x['wall'] for x in xs):.2f}",
                     " ".join(f"{x['wall']:.2f}" for x in xs),
                     f"{statistics.median(lat):.2f} / {max(lat):.2f}", str(xs[-1]["events"]),
                     f"{cpu[0]:.1f} / {cpu[1]:.1f} / {cpu[2]:.1f}"))
    print(table(rows))
    print()
    print(table([("figure", "value", "target", "met"),
                 (f"wall({args.sessions}) / wall(1)", f"{ratio:.2f}x", f"<= {TARGET_RATIO:g}x",
                  met(ratio <= TARGET_RATIO))]))
    print(f"  model requests served in all: {r['requests']}")
    server_cpu = statistics.median(x["cpu"][0] for x in r["together"]) / args.sessions
    print(f"  floor: the model layer alone spends {r['floor'] * 1000:.1f} ms CPU per turn (cowork server: "
          f"{server_cpu * 1000:.1f} ms per turn at {args.sessions} at once); {args.sessions} turns need at least "
          f"{args.sessions * r['floor']:.2f} s of one core for it, against {TARGET_RATIO * alone:.2f} s allowed")
    failed = [ev for key in ("alone", "together") for x in r[key] for ev in x["failed"]]
    if failed:
        err = failed[0].get("error") or {}
        print(f"  FAILED turns: {len(failed)} (counted in the times above); first: {failed[0]['type']} "
              f"{err.get('code', '')}: {str(err.get('message', ''))[:160]}")
    print(f"other processes used up to {100 * r['busy']:.0f} % of the machine during a measured batch"
          + ("  WARNING: figures disturbed" if r["busy"] > 0.10 else "") + "; whole run: " + watch.report(warn=False))


if __name__ == "__main__":
    main()
