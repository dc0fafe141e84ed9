"""Replay of a 100,000-event session to a new subscriber (target <= 1 s over the WebSocket).

Before the server starts, the store (SQLite in a temp dir) gets one session with one ended turn
whose journal holds N ``item.delta`` events (N=100,000; ``--quick`` 10,000), written through
``Store.append_events`` in batches of 5,000 (which also sets ``sessions.last_seq``). Then the
server runs in its own process (no model needed) and this process replays the journal:

* **WebSocket**: a connected, initialized client (``websockets``, as the SDK) sends
  ``session/subscribe`` with ``afterSeq`` 0; timed from sending it to receiving the Nth event
  notification (notifications counted, not parsed); once as a client that gets one notification
  per frame, once as one that asked for batches (``capabilities.eventBatches``, as the SDK does);
* **SSE**: ``GET /api/v1/sessions/{id}/events?follow=false`` with ``httpx``, timed from sending the
  request to the end of the stream (N events; lines counted);
* **SDK**: the same over ``cowork.client.AsyncClient.subscribe`` (events parsed into models), for
  comparison with what an application sees.

Each is done ``--runs`` times (default 3, ``--quick`` 1) on a fresh connection; the table shows the
median and the best. CPU seconds of the server process and of this one say which side was busy.

Run: ``python bench/server_replay.py [--quick] [-n N] [--runs R] [--nodelay] [--profile FILE]``.
Prints figures only; ``--nodelay`` and ``--profile`` are diagnostics (see ``server_common.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuWatch, machine, table, versions, wait_quiet  # noqa: E402
from server_common import EVENT_HEAD, Rpc, Watch, add_server_options, met, server_flags, start_server  # noqa: E402

TARGET_S = 1.0
BATCH = 5_000


async def seed(db: Path, ws: Path, n: int) -> tuple[str, float]:
    from cowork.protocol import ItemDelta, utc_now
    from cowork.store import Store, new_id

    t0 = time.monotonic()
    store = await Store.open(f"sqlite+aiosqlite:///{db}")
    try:
        session = await store.create_session(ws, "openai:fake-model", "yolo", "replay")
        turn_id, item_id = new_id("turn"), new_id("item")
        await store.start_turn(session.id, turn_id, "stream", "openai:fake-model")
        for start in range(1, n + 1, BATCH):
            await store.append_events([
                ItemDelta(session_id=session.id, turn_id=turn_id, seq=seq, ts=utc_now(), item_id=item_id, delta="x")
                for seq in range(start, min(n, start + BATCH - 1) + 1)
            ])
        await store.end_turn(turn_id, "completed", 0, 0)
        got = await store.get_session(session.id)
        assert got.last_seq == n, got.last_seq
    finally:
        await store.close()
    return session.id, time.monotonic() - t0


async def ws_replay(url: str, session_id: str, n: int, batches: bool) -> tuple[float, float, int]:
    """(seconds to the Nth event, seconds to the subscribe answer, events received)."""
    state = {"count": 0}
    done = asyncio.get_running_loop().create_future()

    def on_event(frame: str) -> None:
        state["count"] += frame.count(EVENT_HEAD) if batches else 1
        if state["count"] >= n and not done.done():
            done.set_result(time.perf_counter())

    rpc = await Rpc.open(url, on_event=on_event, event_batches=batches)
    try:
        t0 = time.perf_counter()
        answer = rpc.send("session/subscribe", {"sessionId": session_id, "afterSeq": 0})
        await answer
        t_answer = time.perf_counter()
        t1 = await asyncio.wait_for(done, 300)
        return t1 - t0, t_answer - t0, state["count"]
    finally:
        await rpc.close()


async def sse_replay(url: str, session_id: str) -> tuple[float, int]:
    import httpx

    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=300) as http:
        await http.get("/api/v1/health")  # connect first
        count = 0
        t0 = time.perf_counter()
        async with http.stream("GET", f"/api/v1/sessions/{session_id}/events",
                               params={"follow": "false"}) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if line.startswith("id:"):
                    count += 1
        return time.perf_counter() - t0, count


async def sdk_replay(url: str, session_id: str, n: int) -> tuple[float, int]:
    from cowork.client import AsyncClient

    async with AsyncClient(url) as client:
        count = 0
        t0 = time.perf_counter()
        sub = await client.subscribe(session_id, 0)
        async for _event in sub:
            count += 1
            if count == n:
                break
        elapsed = time.perf_counter() - t0
        await sub.close()
        return elapsed, count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 events, 1 run")
    ap.add_argument("-n", type=int, help="events in the journal")
    ap.add_argument("--runs", type=int)
    add_server_options(ap)
    args = ap.parse_args()
    n = args.n or (10_000 if args.quick else 100_000)
    runs = args.runs or (1 if args.quick else 3)
    watch = CpuWatch()
    with tempfile.TemporaryDirectory(prefix="cowork-bench-") as tmp_s:
        tmp = Path(tmp_s)
        ws = tmp / "ws"
        ws.mkdir()
        session_id, seeded = asyncio.run(seed(tmp / "cowork.db", ws.resolve(), n))
        with start_server(tmp / "cowork.db", None, home=tmp / "home",
                          extra=server_flags(args)) as server:
            results: dict[str, list[tuple[float, float, float, float]]] = {"ws": [], "wsb": [], "sse": [], "sdk": []}
            answers = []
            for _ in range(runs):
                for kind in results:
                    wait_quiet(max_wait=60)
                    w = Watch(server)
                    c0, p0 = server.cpu(), time.process_time()
                    if kind in ("ws", "wsb"):
                        t, t_answer, count = asyncio.run(ws_replay(server.url, session_id, n, kind == "wsb"))
                        answers.append(t_answer)
                    elif kind == "sse":
                        t, count = asyncio.run(sse_replay(server.url, session_id))
                    else:
                        t, count = asyncio.run(sdk_replay(server.url, session_id, n))
                    if count != n:
                        raise SystemExit(f"{kind}: got {count} events, expected {n}")
                    results[kind].append((t, server.cpu() - c0, time.process_time() - p0, w.share()))

    print(f"replay of a {n:,}-event session to a new subscriber ({runs} run(s) each, fresh connection each)")
    print(f"machine: {machine()}")
    print(f"versions: {versions('cowork', 'uvicorn', 'websockets', 'fastapi', 'httpx', 'SQLAlchemy', 'aiosqlite')}")
    print(f"seeding {n:,} events (Store.append_events, batches of {BATCH:,}): {seeded:.2f} s")
    print()
    labels = {"ws": "WebSocket session/subscribe -> Nth event", "wsb": "  same, client asked for eventBatches",
              "sse": "SSE ?follow=false, request -> end",
              "sdk": "SDK AsyncClient.subscribe -> Nth event"}
    rows = [("path", "median s", "best s", "events/s", "CPU-s server", "CPU-s client", "target", "met")]
    busy = 0.0
    for kind, rs in results.items():
        times = [r[0] for r in rs]
        med = statistics.median(times)
        busy = max(busy, *(r[3] for r in rs))
        target = kind in ("ws", "wsb", "sse")
        rows.append((labels[kind], f"{med:.2f}", f"{min(times):.2f}", f"{n / med:,.0f}",
                     f"{statistics.median(r[1] for r in rs):.2f}", f"{statistics.median(r[2] for r in rs):.2f}",
                     f"<= {TARGET_S:g} s" if target else "", met(med <= TARGET_S) if target else ""))
    print(table(rows))
    print(f"  WebSocket: the subscribe answer came after {statistics.median(answers) * 1000:.1f} ms (median)")
    print(f"other processes used up to {100 * busy:.0f} % of the machine during a replay"
          + ("  WARNING: figures disturbed" if busy > 0.10 else "") + "; whole run: " + watch.report(warn=False))


if __name__ == "__main__":
    main()
