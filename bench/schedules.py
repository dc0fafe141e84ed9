"""The scheduler with 1,000 active schedules: how late fires start, and what the idle scheduler
costs (issue 16; targets: fire delay p95 <= 1 s, idle CPU <= 1 % of one core).

A real :class:`cowork.jobs.Scheduler` loop on the real clock over a real SQLite store, firing
into a :class:`cowork.jobs.Runs` queue that only queues (the runs' turns are not what is measured:
each fire still creates its run's session and row, as in production).

- **Busy**: 1,000 ``every`` schedules with periods drawn uniformly from 10-100 s (seeded), made
  in a burst, then watched for ``--seconds``. Fire delay = when the fire's run was queued minus
  the fire's time. CPU = the process's CPU time over the window.
- **Idle**: 1,000 daily schedules (none due in the window): the process's CPU over ``--idle``
  seconds while the loop only wakes to look (every 30 s at most, or at the next due time).

    python bench/schedules.py               # 60 s busy + 30 s idle, ~2 min
    python bench/schedules.py --quick       # 20 s busy + 10 s idle
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, pct, table  # noqa: E402

from cowork.config import EngineSettings  # noqa: E402
from cowork.engine import Runtime  # noqa: E402
from cowork.jobs import Runs, Scheduler  # noqa: E402
from cowork.store import runs as run_records  # noqa: E402
from cowork.store import schedules as records  # noqa: E402

MODEL = "openai:bench"


async def phase(count: int, seconds: float, periods: tuple[float, float] | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp}/cowork.db", settings=EngineSettings())
        runs = Runs(rt, dispatch=False)
        scheduler = Scheduler(runs)
        rng = random.Random(16)
        try:
            made = time.monotonic()
            for n in range(count):
                trigger = {"every": rng.uniform(*periods)} if periods else {"cron": f"{n % 60} {n % 24} * * *",
                                                                           "timezone": "UTC"}
                await scheduler.create(ws, f"job {n}", trigger, model=MODEL, overlap="queue")
            made = time.monotonic() - made
            await scheduler.start()
            cpu, wall = time.process_time(), time.monotonic()
            await asyncio.sleep(seconds)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            await scheduler.close()
            delays = []
            for s in await records.list_schedules(rt.store):
                for fire in await records.fires(rt.store, s.id, 1000):
                    if fire.run_id:
                        run = await run_records.get_run(rt.store, fire.run_id)
                        delays.append((run.created_at - fire.scheduled_for).total_seconds())
        finally:
            await rt.close()
    return {"made_s": made, "fires": len(delays), "cpu": cpu / wall * 100,
            "p50": pct(delays, 50) if delays else 0.0, "p95": pct(delays, 95) if delays else 0.0,
            "max": max(delays) if delays else 0.0}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--schedules", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60.0, help="busy window")
    ap.add_argument("--idle", type=float, default=30.0, help="idle window")
    ap.add_argument("--quick", action="store_true", help="20 s busy, 10 s idle")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.idle = 20.0, 10.0
    print(machine())
    busy = await phase(args.schedules, args.seconds, (10.0, 100.0))
    idle = await phase(args.schedules, args.idle, None)
    print(table([
        ("figure", "measured", "target"),
        (f"{args.schedules:,} schedules made (s)", f"{busy['made_s']:.1f}", ""),
        (f"fires in {args.seconds:g} s", f"{busy['fires']:,}", ""),
        ("fire delay p50 (s)", f"{busy['p50']:.3f}", ""),
        ("fire delay p95 (s)", f"{busy['p95']:.3f}", "<= 1"),
        ("fire delay max (s)", f"{busy['max']:.3f}", ""),
        ("busy: CPU, % of one core", f"{busy['cpu']:.1f}", ""),
        (f"idle ({args.schedules:,} daily schedules): CPU, % of one core", f"{idle['cpu']:.2f}", "<= 1"),
    ]))


if __name__ == "__main__":
    asyncio.run(main())
