"""``GET /api/v1/health`` latency, idle and while 16 sessions run tool-calling turns
(target p95 <= 10 ms under load).

The scripted model (``server_common.py fake toolloop``, its own process) answers every request with
two tool calls, ``bash`` ``echo hi`` and ``read notes.txt``, so a turn never ends by itself. The
cowork server runs in its own process (SQLite in a temp dir, ``max_steps`` 1,000,000). From this
process: 500 sequential ``GET /api/v1/health`` with ``httpx`` over one keep-alive connection,
each timed from sending to the whole response; first with no turn running (baseline), then with 16
yolo sessions running such turns (started through JSON-RPC ``turn/start``; the measurement starts
once every session has made a few model requests). Afterwards the turns are interrupted. The
model requests and tool calls per second during the measurement show how busy the server was.
A turn that ends by itself meanwhile (it must not; e.g. a store error such as ``database is
locked``) is reported with its error, and so is a ``turn/interrupt`` that does not return within
30 s.

``--nodelay`` is a diagnostic: the server's listening socket is made with ``proto=IPPROTO_TCP``,
so asyncio sets TCP_NODELAY on its connections (see the README: ``cowork.server.app.bind`` leaves
proto 0, asyncio then leaves Nagle's algorithm on, and each REST response waits ~40 ms for the
client's delayed ACK).

Run: ``python bench/server_health.py [--quick] [--requests N] [--sessions N] [--nodelay] [--profile FILE]``.
Prints figures only; ``--nodelay`` and ``--profile`` are diagnostics (see ``server_common.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuWatch, machine, table, versions, wait_quiet  # noqa: E402
from server_common import (  # noqa: E402
    Rpc,
    Watch,
    add_server_options,
    met,
    ms,
    pct,
    server_flags,
    start_fake,
    start_server,
    workspace,
)

TARGET_MS = 10.0


async def health_times(url: str, n: int) -> list[float]:
    import httpx

    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        for _ in range(5):
            (await http.get("/api/v1/health")).raise_for_status()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            r = await http.get("/api/v1/health")
            times.append(time.perf_counter() - t0)
            r.raise_for_status()
    return times


async def run(args: argparse.Namespace) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="cowork-bench-") as tmp_s:
        tmp = Path(tmp_s)
        ws = workspace(tmp)
        with start_fake("toolloop") as fake, start_server(
            tmp / "cowork.db", fake.url, max_steps=1_000_000, home=tmp / "home",
            extra=server_flags(args),
        ) as server:
            wait_quiet(max_wait=60)
            w = Watch(fake, server)
            out["idle"] = await health_times(server.url, args.requests)
            out["idle_busy"] = w.share()

            rpc = await Rpc.open(server.url)
            sessions = [await rpc.create_session(ws) for _ in range(args.sessions)]
            tools = {"n": 0}
            ended: list[dict] = []  # turns that ended by themselves (they must not)
            last_event: dict[str, tuple[float, str]] = {}

            def on_event(frame: str) -> None:
                if '"item.completed"' in frame and '"tool_call"' in frame:
                    tools["n"] += 1
                if '"type":"turn.' in frame and '"type":"turn.started"' not in frame:
                    ev = json.loads(frame)["params"]
                    if ev["type"] != "turn.interrupted" or not interrupting:
                        ended.append(ev)
                if interrupting:
                    sid = frame[frame.index('"session_id":"') + 14:].split('"', 1)[0]
                    last_event[sid] = (time.monotonic(), frame[:300])

            interrupting = False
            sub = await Rpc.open(server.url, on_event=on_event)
            for s in sessions:
                await sub.call("session/subscribe", {"sessionId": s, "afterSeq": 0})
            await asyncio.gather(*(rpc.start_turn(s, "Keep checking the notes.") for s in sessions))
            # wait until every session has had a few tool round trips
            t_wait = time.monotonic()
            while tools["n"] < 4 * args.sessions and time.monotonic() - t_wait < 60:
                await asyncio.sleep(0.1)
            w = Watch(fake, server)
            c_server, c_fake, n_tools = server.cpu(), fake.cpu(), tools["n"]
            t0 = time.monotonic()
            out["load"] = await health_times(server.url, args.requests)
            wall = time.monotonic() - t0
            out["load_busy"] = w.share()
            out["load_wall"] = wall
            out["tools_per_s"] = (tools["n"] - n_tools) / wall
            out["server_cpu"] = (server.cpu() - c_server) / wall
            out["fake_cpu"] = (fake.cpu() - c_fake) / wall
            out["ended"] = list(ended)
            # Stop the turns; a turn that does not stop within 30 s is reported.
            interrupting = True
            t_int = time.monotonic()
            asks = {s: rpc.send("turn/interrupt", {"sessionId": s}) for s in sessions}
            await asyncio.wait(asks.values(), timeout=30)
            out["stuck"] = [(s, *last_event.get(s, (t_int, "(none)"))) for s, f in asks.items() if not f.done()]
            out["stuck"] = [(s, t - t_int, frame) for s, t, frame in out["stuck"]]
            await sub.close()
            await rpc.close()
            fake_report = fake.stop()
            out["model_requests"] = fake_report.get("requests", 0)
            stamps = [t for t, _ in fake_report.get("stamps", [])]
            out["model_per_s"] = sum(1 for t in stamps if t0 <= t <= t0 + wall) / wall
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 requests, 4 sessions")
    ap.add_argument("--requests", type=int)
    ap.add_argument("--sessions", type=int)
    add_server_options(ap)
    args = ap.parse_args()
    args.requests = args.requests or (100 if args.quick else 500)
    args.sessions = args.sessions or (4 if args.quick else 16)
    watch = CpuWatch()
    r = asyncio.run(run(args))

    print(f"/api/v1/health latency: {args.requests} sequential requests (httpx, keep-alive), idle and with "
          f"{args.sessions} sessions running tool loops" + (" [server sockets with TCP_NODELAY]" if args.nodelay else ""))
    print(f"machine: {machine()}")
    print(f"versions: {versions('cowork', 'uvicorn', 'h11', 'fastapi', 'httpx')}")
    print()
    rows = [("condition", "p50 ms", "p95 ms", "max ms", "target", "met")]
    for key, label in (("idle", "no load (baseline)"), ("load", f"{args.sessions} sessions running tool loops")):
        xs = r[key]
        p95 = pct(xs, 95)
        rows.append((label, ms(pct(xs, 50)), ms(p95), ms(max(xs)), f"p95 <= {TARGET_MS:g}" if key == "load" else "",
                     met(p95 * 1000 <= TARGET_MS) if key == "load" else ""))
    print(table(rows))
    print(f"  load during the measurement ({r['load_wall']:.1f} s): {r['model_per_s']:.0f} model requests/s, "
          f"{r['tools_per_s']:.0f} tool calls/s; server process {100 * r['server_cpu']:.0f} % of a core, "
          f"model {100 * r['fake_cpu']:.0f} %")
    for ev in r["ended"]:
        err = ev.get("error") or {}
        print(f"  a turn ENDED during the run: {ev['type']} {err.get('code', '')}: {str(err.get('message', ''))[:160]}")
    for s, after, frame in r["stuck"]:
        print(f"  turn/interrupt of {s} did NOT return within 30 s; its last event came {after:.1f} s after the "
              f"interrupt: {frame}")
    busy = max(r["idle_busy"], r["load_busy"])
    print(f"other processes used up to {100 * busy:.0f} % of the machine during a measurement"
          + ("  WARNING: figures disturbed" if busy > 0.10 else "") + "; whole run: " + watch.report(warn=False))


if __name__ == "__main__":
    main()
