"""Subagent fan-out: the wall time of three subagents working in parallel vs the same work in sequence.

A scripted OpenAI-compatible server (``tests/fakemodel.py``) plays a hosted model: every reply
waits ``--latency`` seconds before its first chunk. Each subagent's job is one ``bash`` call that
sleeps ``--work`` seconds (a test run, a build), then a report. The parent turn runs through
:class:`cowork.engine.Runtime` over SQLite in yolo mode (no approvals to wait for), in two ways on
the same runtime, side by side:

* **parallel**: one response spawns the three subagents, then ``wait_agents`` waits for all;
* **sequence**: spawn one, wait for it, then the next (the same work, the same number of model
  requests and tool calls, one at a time).

Each way runs ``--repeat`` times (median shown). Prints figures only; never asserts on timings.

Run: ``python bench/subagent_fanout.py`` (latency 0.4 s, work 1.0 s, 3 repeats).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakemodel import FakeModelServer, reply, system_text, text, tool_call, tool_texts  # noqa: E402

from cowork.config import EngineSettings  # noqa: E402
from cowork.engine import Runtime  # noqa: E402

TASKS = ["Run part one", "Run part two", "Run part three"]


def handler(parallel: bool, latency: float, work: float):
    def answer(body: dict) -> Any:
        results = tool_texts(body)
        if "You are a subagent" in system_text(body):
            if not results:
                return reply(tool_call("bash", {"command": f"sleep {work}"}), first_delay=latency)
            return reply(text("part done"), first_delay=latency)
        reports = max((r.count("part done") for r in results), default=0)  # wait_agents lists every child so far
        if parallel:
            if not results:
                return reply(*(tool_call("spawn_agent", {"task": t}) for t in TASKS), first_delay=latency)
            if not reports:
                return reply(tool_call("wait_agents", {"timeout": 120}), first_delay=latency)
            return reply(text("all parts done"), first_delay=latency)
        spawned = sum("Started subagent" in r for r in results)
        if spawned == reports and spawned < len(TASKS):
            return reply(tool_call("spawn_agent", {"task": TASKS[spawned]}), first_delay=latency)
        if spawned > reports:
            return reply(tool_call("wait_agents", {"timeout": 120}), first_delay=latency)
        return reply(text("all parts done"), first_delay=latency)
    return answer


async def one_turn(runtime: Runtime, workspace: Path) -> tuple[float, str]:
    session = await runtime.create_session(workspace, model="openai:fake", mode="yolo")
    started = time.monotonic()
    turn = await runtime.start_turn(session.id, "Do the three parts")
    await runtime.wait(session.id)
    elapsed = time.monotonic() - started
    events = [e async for e in _until_end(runtime, session.id, turn.turn_id)]
    return elapsed, events[-1].type


async def _until_end(runtime: Runtime, session_id: str, turn_id: str):
    async for ev in runtime.subscribe(session_id):
        yield ev
        if ev.turn_id == turn_id and ev.type.startswith("turn.") and ev.type != "turn.started":
            return


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.4, help="seconds before each reply's first chunk")
    parser.add_argument("--work", type=float, default=1.0, help="seconds each subagent's bash call sleeps")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"parallel": [], "sequence": []}
    with tempfile.TemporaryDirectory() as tmp, FakeModelServer() as srv:
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        os.environ["COWORK_HOME"] = str(Path(tmp) / "home")
        runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp}/cowork.db", openai_base_url=srv.base_url,
                                     settings=EngineSettings(max_steps=20, max_retries=0))
        try:
            for _ in range(args.repeat):
                for way in ("parallel", "sequence"):
                    srv.handler = handler(way == "parallel", args.latency, args.work)
                    elapsed, end = await one_turn(runtime, workspace)
                    if end != "turn.completed":
                        raise SystemExit(f"{way}: the turn ended with {end}")
                    figures[way].append(elapsed)
        finally:
            await runtime.close()
    par, seq = statistics.median(figures["parallel"]), statistics.median(figures["sequence"])
    print(f"3 subagents, model latency {args.latency:.1f} s per reply, {args.work:.1f} s of work each, "
          f"median of {args.repeat}:")
    print(f"{'':12}{'wall time':>12}")
    print(f"{'parallel':12}{par:>11.2f}s")
    print(f"{'sequence':12}{seq:>11.2f}s")
    print(f"speed-up     {seq / par:>11.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
