"""How often the model loads the right skill, with and without the skill hint.

Runs the labelled prompts of ``tests/skills/hint_cases.py`` (12 that ask for one of the skills
cowork ships: pdf, spreadsheet, docx; 5 that ask for none) as real turns through a
:class:`~cowork.engine.Runtime` with the skills extension, once with the hint (the "This request
looks like a job for skill X" line, :mod:`cowork.skills.context`) and once without, and prints
side by side:

- **right loads**: prompts asking for a skill whose turn called ``skill(name=THAT)``;
- **wrong skill**: prompts asking for a skill whose turn loaded another one;
- **false loads**: prompts asking for none whose turn loaded a skill;
- the median seconds per turn.

Each turn runs in a fresh empty workspace, in ``read-only`` mode (the ``skill`` tool is
read-only and runs; anything that would change the workspace is refused, so no approval waits),
with ``EngineSettings(max_steps=2)``: the model has one chance to load the skill and one to go on.

Usage (from the repository root, on a quiet machine; ~15-30 min with the default local model)::

    nice python bench/skills_hint.py                       # local:qwen2.5-coder-1.5b
    python bench/skills_hint.py --model local:qwen2.5-coder-0.5b --quick   # 4 + 2 prompts

The lexical matcher alone (no model) is checked on the same prompts in
tests/skills/test_skills_hint.py.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "skills"), str(ROOT / "bench"), str(ROOT / "src")]

from _common import CpuWatch, machine, table, uptime, versions, wait_quiet  # noqa: E402
from hint_cases import CASES  # noqa: E402

DEFAULT_MODEL = "local:qwen2.5-coder-1.5b"


async def run_condition(model: str, hint: bool, cases: list[tuple[str, str | None]], max_steps: int,
                        timeout: float, base_url: str | None = None) -> list[dict]:
    """One turn per case with the hint on or off; the skill each turn loaded first."""
    from cowork.config import EngineSettings
    from cowork.engine import Runtime
    from cowork.skills import extension

    results = []
    with tempfile.TemporaryDirectory(prefix="cowork-skills-hint-") as tmp:
        rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp}/c.db", settings=EngineSettings(max_steps=max_steps),
                                openai_base_url=base_url, extensions=[extension(hint=hint)])
        try:
            await rt.prepare_model(model)
            for i, (prompt, expected) in enumerate(cases):
                ws = Path(tmp) / f"ws{i}"
                ws.mkdir()
                session = await rt.create_session(ws, model, "read-only")
                started = time.monotonic()
                await rt.start_turn(session.id, prompt)
                try:
                    await asyncio.wait_for(rt.wait(session.id), timeout)
                    timed_out = False
                except TimeoutError:
                    await rt.interrupt(session.id)
                    await rt.wait(session.id)
                    timed_out = True
                wall = time.monotonic() - started
                loaded, calls, end = None, [], ""
                for stored in await rt.journal_page(session.id, 0, 10_000):
                    ev = json.loads(stored.data)
                    item = ev.get("item") or {}
                    if stored.type == "item.completed" and item.get("type") == "tool_call":
                        calls.append(item.get("name"))
                        args = item.get("arguments")
                        if item.get("name") == "skill" and loaded is None and isinstance(args, dict):
                            loaded = str(args.get("name", ""))
                    if stored.type.startswith("turn.") and stored.type != "turn.started":
                        end = stored.type
                results.append({"prompt": prompt, "expected": expected, "loaded": loaded, "calls": calls,
                                "wall": wall, "end": "timeout" if timed_out else end})
                mark = "ok" if loaded == expected else "--"
                print(f"  [{'hint' if hint else 'none'}] {mark} expected={expected} loaded={loaded} "
                      f"calls={calls} {wall:.0f}s {end}: {prompt}", file=sys.stderr, flush=True)
        finally:
            await rt.close()
    return results


def summary(results: list[dict]) -> tuple[str, str, str, str]:
    asking = [r for r in results if r["expected"] is not None]
    none = [r for r in results if r["expected"] is None]
    right = sum(r["loaded"] == r["expected"] for r in asking)
    wrong = sum(r["loaded"] is not None and r["loaded"] != r["expected"] for r in asking)
    false = sum(r["loaded"] is not None for r in none)
    med = statistics.median(r["wall"] for r in results) if results else float("nan")
    return f"{right}/{len(asking)}", f"{wrong}/{len(asking)}", f"{false}/{len(none)}", f"{med:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--max-steps", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per turn before it is interrupted")
    ap.add_argument("--quick", action="store_true", help="4 prompts asking for a skill and 2 asking for none")
    ap.add_argument("--base-url", help="an OpenAI-compatible server for openai: models (e.g. tests/fakemodel.py)")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine first")
    args = ap.parse_args(argv)
    cases = CASES
    if args.quick:
        cases = [c for c in CASES if c[1]][::3] + [c for c in CASES if not c[1]][:2]
    if not args.no_wait:
        wait_quiet()
    watch = CpuWatch()
    rows = [("condition", "right loads", "wrong skill", "false loads", "median s/turn")]
    for hint in (False, True):
        results = asyncio.run(run_condition(args.model, hint, cases, args.max_steps, args.timeout,
                                              args.base_url))
        rows.append(("with hint" if hint else "without hint", *summary(results)))
    print(f"skill loading over {len(cases)} labelled prompts, {args.model}, max_steps={args.max_steps}, "
          "read-only mode, one fresh workspace per prompt")
    print(table(rows))
    print(watch.report())
    print(uptime())
    print(machine())
    print(versions("xllamacpp", "pydantic-ai-slim", "pyyaml"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
