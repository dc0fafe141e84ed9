"""Event fan-out: events per second delivered to 1 and to 50 subscribers of one busy session.

The scripted model (``server_common.py fake stream``, its own process) answers one turn with a text
of N one-character deltas, written as fast as it can (N=20,000; ``--quick`` 2,000). The cowork
server (its own process, SQLite in a temp dir) journals each as an ``item.delta`` event and sends
it to every subscriber. Each subscriber is a separate WebSocket connection from this process
(``websockets``, permessage-deflate as the SDK negotiates it) that called ``session/subscribe``
before the turn started; it counts event frames without parsing them.

Per subscriber: rate = events received / (time of its last event - time of its first). Total =
all events received by all subscribers / (last event anywhere - first event anywhere). "Slowest
behind" is how long after the first subscriber to finish the slowest one received its last event;
"after the model" is the time from the model's last byte (stamped by the fake, same monotonic
clock) to the slowest subscriber's last event. CPU seconds of each process during the turn say
who was the bottleneck (a process near 1 CPU-s per wall second is saturated).

Run: ``python bench/server_fanout.py [--quick] [--subscribers 1,50] [-n N] [--nodelay] [--profile FILE]``.
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
from server_common import Rpc, Watch, add_server_options, server_flags, start_fake, start_server, workspace  # noqa: E402

TERMINAL = ('"turn.completed"', '"turn.failed"', '"turn.interrupted"')


class Subscriber:
    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.final: dict | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_event(self, frame: str) -> None:
        t = time.monotonic()
        if not self.count:
            self.first = t
        self.count += 1
        self.last = t
        if '"type":"turn.' in frame and any(k in frame for k in TERMINAL):
            self.final = json.loads(frame)["params"]
            if not self.done.done():
                self.done.set_result(None)


async def one_turn(url: str, ws: Path, n_subs: int, n_deltas: int, server_pid: int, fake_pid: int) -> dict:
    from server_common import cpu_seconds

    ctl = await Rpc.open(url)
    session_id = await ctl.create_session(ws)
    subs = [Subscriber() for _ in range(n_subs)]
    conns = await asyncio.gather(*(Rpc.open(url, on_event=s.on_event) for s in subs))
    await asyncio.gather(*(c.call("session/subscribe", {"sessionId": session_id, "afterSeq": 0}) for c in conns))
    cpu0 = (cpu_seconds(server_pid), cpu_seconds(fake_pid), time.process_time())
    t0 = time.monotonic()
    await ctl.start_turn(session_id, f"stream {n_deltas}")
    await asyncio.wait_for(asyncio.gather(*(s.done for s in subs)), timeout=600)
    wall = time.monotonic() - t0
    cpu1 = (cpu_seconds(server_pid), cpu_seconds(fake_pid), time.process_time())
    for c in (ctl, *conns):
        await c.close()
    finals = [s.final for s in subs]
    if any(f is None or f["type"] != "turn.completed" for f in finals):
        raise SystemExit(f"a turn did not complete: {finals[0]!r}")
    expected = finals[0]["seq"]
    short = [s.count for s in subs if s.count != expected]
    if short:
        raise SystemExit(f"subscribers missed events: expected {expected}, got {short[:5]}")
    return {
        "subs": subs, "wall": wall, "events": expected,
        "cpu": {"server": cpu1[0] - cpu0[0], "model": cpu1[1] - cpu0[1], "clients": cpu1[2] - cpu0[2]},
    }


def summarize(r: dict, model_done: float) -> dict:
    subs = r["subs"]
    rates = [s.count / (s.last - s.first) for s in subs]
    first, last = min(s.first for s in subs), max(s.last for s in subs)
    return {
        "n": len(subs), "events": r["events"], "rate_median": sorted(rates)[len(rates) // 2], "rate_min": min(rates),
        "total": sum(s.count for s in subs) / (last - first), "span": last - first,
        "behind": last - min(s.last for s in subs), "after_model": last - model_done, "wall": r["wall"],
        "cpu": r["cpu"],
    }


async def run(cases: list[int], n: int, flags: list[str]) -> tuple[list[dict], str]:
    with tempfile.TemporaryDirectory(prefix="cowork-bench-") as tmp_s:
        tmp = Path(tmp_s)
        ws = workspace(tmp)
        with start_fake("stream") as fake, start_server(
            tmp / "cowork.db", fake.url, home=tmp / "home", extra=flags,
        ) as server:
            await one_turn(server.url, ws, 2, min(n, 500), server.pid, fake.pid)  # warm-up
            raw = []
            for k in cases:
                wait_quiet(max_wait=60)
                w = Watch(fake, server)
                r = await one_turn(server.url, ws, k, n, server.pid, fake.pid)
                r["busy"] = w.share()
                raw.append(r)
            stamps = fake.stop()["stamps"]
            server.stop()
    # Requests in order: the warm-up, then one per case (a text answer ends the turn).
    done = [d for _, d in stamps][1:]
    out = []
    for r, d in zip(raw, done):
        s = summarize(r, d)
        s["busy"] = r["busy"]
        out.append(s)
    return out, ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 deltas instead of 20,000")
    ap.add_argument("-n", type=int, help="text deltas in the turn")
    ap.add_argument("--subscribers", default="1,50", help="comma-separated subscriber counts (default 1,50)")
    add_server_options(ap)
    args = ap.parse_args()
    n = args.n or (2_000 if args.quick else 20_000)
    cases = [int(x) for x in args.subscribers.split(",")]
    watch = CpuWatch()
    results, _ = asyncio.run(run(cases, n, server_flags(args)))

    print(f"event fan-out: one turn streaming {n:,} one-character text deltas, subscribers on separate WebSockets")
    print(f"machine: {machine()}")
    print(f"versions: {versions('cowork', 'uvicorn', 'websockets', 'fastapi', 'SQLAlchemy', 'aiosqlite')}")
    print()
    rows = [("subscribers", "events each", "ev/s per sub (median)", "ev/s per sub (min)", "ev/s total",
             "first->last (s)", "slowest behind (ms)", "after model (ms)", "CPU-s server/model/clients")]
    for s in results:
        c = s["cpu"]
        rows.append((str(s["n"]), f"{s['events']:,}", f"{s['rate_median']:,.0f}", f"{s['rate_min']:,.0f}",
                     f"{s['total']:,.0f}", f"{s['span']:.2f}", f"{s['behind'] * 1000:.0f}",
                     f"{s['after_model'] * 1000:.0f}", f"{c['server']:.1f} / {c['model']:.1f} / {c['clients']:.1f}"))
    print(table(rows))
    print("  no target; 'after model': from the model's last byte to the slowest subscriber's last event")
    busy = max(s["busy"] for s in results)
    print(f"other processes used up to {100 * busy:.0f} % of the machine during a measured turn"
          + ("  WARNING: figures disturbed" if busy > 0.10 else "") + "; whole run: " + watch.report(warn=False))


if __name__ == "__main__":
    main()
