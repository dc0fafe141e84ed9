"""``session/list`` latency with 10,000 sessions in the store (target p95 <= 20 ms).

The store (SQLite in a temp dir) gets 10,000 sessions spread evenly over 10 workspaces (1,000
each), inserted with SQL in one transaction through the store's engine, before the server starts
(its own process, no model needed). Then one WebSocket client (``websockets``, this process) calls
``session/list`` with ``limit`` 50 — the first page — 200 times in a row, timing each call from
sending the request to receiving its answer; once over all sessions, once with the ``workspace``
filter. For comparison the same through REST (``GET /api/v1/sessions``, ``httpx``), and the
second page (with the cursor of the first).

Run: ``python bench/server_list.py [--quick] [--sessions N] [--calls N] [--nodelay] [--profile FILE]``.
Prints figures only; ``--nodelay`` and ``--profile`` are diagnostics (see ``server_common.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuWatch, machine, table, versions, wait_quiet  # noqa: E402
from server_common import Child, Rpc, Watch, add_server_options, met, ms, pct, server_flags, start_server  # noqa: E402

TARGET_MS = 20.0
WORKSPACES = 10
WARMUP = 10


async def seed(db: Path, tmp: Path, n: int) -> tuple[list[Path], float]:
    """``n`` sessions over :data:`WORKSPACES` workspaces, one transaction; returns the workspaces
    and the seconds it took."""
    from sqlalchemy import insert

    from cowork.store import Store, new_id
    from cowork.store.models import SessionRow, WorkspaceRow

    t0 = time.monotonic()
    store = await Store.open(f"sqlite+aiosqlite:///{db}")
    try:
        paths = []
        for i in range(WORKSPACES):
            p = tmp / f"ws{i}"
            p.mkdir()
            paths.append(p.resolve())
        base = datetime(2026, 1, 1, tzinfo=UTC)
        ws_rows = [dict(id=new_id("ws"), path=str(p), created_at=base) for p in paths]
        sessions = []
        for i in range(n):
            at = base + timedelta(seconds=i)
            sessions.append(dict(
                id=new_id("ses"), workspace_id=ws_rows[i % WORKSPACES]["id"], title=f"session {i}",
                model="openai:fake-model", mode="default", status="idle", last_seq=0, allowed_tools=[],
                created_at=at, updated_at=at,
            ))
        async with store.engine.begin() as conn:
            await conn.execute(insert(WorkspaceRow), ws_rows)
            await conn.execute(insert(SessionRow), sessions)
    finally:
        await store.close()
    return paths, time.monotonic() - t0


async def time_rpc(url: str, params: dict, calls: int) -> tuple[list[float], dict]:
    """``calls`` sequential session/list calls on a fresh connection, after WARMUP untimed ones."""
    rpc = await Rpc.open(url)
    try:
        for _ in range(WARMUP):  # the ORM's compiled-statement cache, pydantic
            await rpc.call("session/list", params)
        times = []
        result: dict = {}
        for _ in range(calls):
            t0 = time.perf_counter()
            result = await rpc.call("session/list", params)
            times.append(time.perf_counter() - t0)
        return times, result
    finally:
        await rpc.close()


async def time_rest(url: str, query: dict, calls: int) -> tuple[list[float], dict]:
    import httpx

    times = []
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        for _ in range(WARMUP):
            (await http.get("/api/v1/sessions", params=query)).raise_for_status()
        for _ in range(calls):
            t0 = time.perf_counter()
            r = await http.get("/api/v1/sessions", params=query)
            times.append(time.perf_counter() - t0)
            r.raise_for_status()
    return times, r.json()


def measure(server: Child, ws: Path, calls: int) -> tuple[list[tuple[str, list[float], int]], float]:
    """Each series on a quiet machine (waited for with no connection open: the wait blocks).
    Returns the series and the largest share of the machine other processes used during one."""
    out = []
    busy = 0.0
    cursor = None
    series = [
        ("session/list, all sessions", "rpc", {"limit": 50}),
        ("session/list, workspace filter", "rpc", {"limit": 50, "workspace": str(ws)}),
        ("session/list, second page (cursor)", "rpc", None),
        ("REST GET /api/v1/sessions?limit=50", "rest", {"limit": 50}),
        ("REST, workspace filter", "rest", {"limit": 50, "workspace": str(ws)}),
    ]
    for label, kind, params in series:
        if params is None:
            params = {"limit": 50, "cursor": cursor}
        wait_quiet(max_wait=60)
        w = Watch(server)
        times, result = asyncio.run((time_rpc if kind == "rpc" else time_rest)(server.url, params, calls))
        busy = max(busy, w.share())
        if cursor is None:
            cursor = result["nextCursor"]
        out.append((label, times, len(result["sessions"])))
    return out, busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 sessions, 50 calls")
    ap.add_argument("--sessions", type=int)
    ap.add_argument("--calls", type=int)
    add_server_options(ap)
    args = ap.parse_args()
    n = args.sessions or (1_000 if args.quick else 10_000)
    calls = args.calls or (50 if args.quick else 200)
    watch = CpuWatch()
    with tempfile.TemporaryDirectory(prefix="cowork-bench-") as tmp_s:
        tmp = Path(tmp_s)
        db = tmp / "cowork.db"
        paths, seeded = asyncio.run(seed(db, tmp, n))
        with start_server(db, None, home=tmp / "home", extra=server_flags(args)) as server:
            c0 = server.cpu()
            results, busy = measure(server, paths[3], calls)
            server_cpu = server.cpu() - c0

    print(f"session/list latency: {n:,} sessions over {WORKSPACES} workspaces, first page of 50, {calls} calls each"
          + (" [server sockets with TCP_NODELAY]" if args.nodelay else ""))
    print(f"machine: {machine()}")
    print(f"versions: {versions('cowork', 'uvicorn', 'websockets', 'fastapi', 'SQLAlchemy', 'aiosqlite')}")
    print(f"seeding {n:,} sessions (SQL, one transaction): {seeded:.2f} s")
    print()
    rows = [("call", "sessions", "p50 ms", "p95 ms", "max ms", "target", "met")]
    for label, times, got in results:
        p95 = pct(times, 95)
        target = label.startswith("session/list,") and "page" not in label
        rows.append((label, str(got), ms(pct(times, 50)), ms(p95), ms(max(times)),
                     f"p95 <= {TARGET_MS:g}" if target else "", met(p95 * 1000 <= TARGET_MS) if target else ""))
    print(table(rows))
    total = len(results) * (calls + WARMUP)
    print(f"  server process CPU during the calls: {server_cpu:.2f} s for {total} calls (with {WARMUP} warm-up calls "
          f"per series): {server_cpu / total * 1000:.2f} ms per call")
    print(f"other processes used up to {100 * busy:.0f} % of the machine during a series of calls"
          + ("  WARNING: figures disturbed" if busy > 0.10 else "") + "; whole run: " + watch.report(warn=False))


if __name__ == "__main__":
    main()
