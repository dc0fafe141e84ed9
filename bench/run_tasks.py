"""Run the local-model task suite (``bench/tasks``) through ``cowork run`` and print figures.

For each ``--model`` and each ``--path`` (the embedded model's tool-call format, passed as
``COWORK_LOCAL_TOOL_FORMAT``; ignored, and run once, for models that are not ``local:``), every
chosen task gets a fresh temporary workspace built by its ``setup``, a fresh ``COWORK_HOME``, and
one ``cowork run --dir WS --yes --json PROMPT`` subprocess (the ``cowork`` beside this Python).
The task counts as solved when its checker passes on the workspace afterwards, whatever cowork's
exit code; the exit code, ``stop_reason`` and error are recorded beside it.

Per model and path it prints solved/total and %, the medians of steps (``usage.requests``), wall
time (``time.monotonic`` around the subprocess), input and output tokens, the solved share per
kind, and each failure with the checker's reason. ``--json-out FILE`` writes every result::

    {"meta": {...}, "runs": [{"model", "path", "solved", "total", "medians": {...},
                              "results": [{"task", "kind", "solved", "reason", "exit_code",
                                           "stop_reason", "terminal", "error", "steps",
                                           "input_tokens", "output_tokens", "tool_calls",
                                           "wall_s", "timed_out", "stderr_tail"}, ...]}, ...]}

Usage: ``python bench/run_tasks.py [--model M]... [--path native|schema|auto]... [--task ID]...
[--kind K]... [--limit N] [--timeout S] [--max-steps N] [--seed N] [--base-url URL]
[--json-out FILE] [--verbose] [--list]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # bench.tasks from the repository root; _common beside us

from _common import machine, table, uptime, versions  # noqa: E402
from bench.tasks import KINDS, TASKS, Task, select  # noqa: E402

DEFAULT_MODEL = "local:qwen2.5-coder-1.5b"
PATHS = ("native", "schema", "auto")
# Outer variables that would change which model or store a run uses.
_SCRUB = ("COWORK_HOME", "COWORK_MODEL", "COWORK_DATABASE_URL", "COWORK_MAX_STEPS", "COWORK_LOCAL_TOOL_FORMAT",
          "COWORK_LOCAL_SEED", "COWORK_SERVER", "COWORK_TOKEN", "OPENAI_BASE_URL")


@dataclass
class Result:
    """One task's run: the checker's verdict and what cowork reported."""

    task: str
    kind: str
    solved: bool
    reason: str
    exit_code: int | None
    stop_reason: str | None
    terminal: str | None = None  # turn.completed / turn.failed / turn.interrupted, None when none came
    error: str | None = None  # turn.failed's error code and message, or why the run broke
    steps: int | None = None  # usage.requests
    input_tokens: int | None = None
    cached_input_tokens: int | None = None  # of input_tokens, reused from the provider's prompt cache
    output_tokens: int | None = None
    tool_calls: list[str] = field(default_factory=list)  # tool names, in order
    wall_s: float = 0.0
    timed_out: bool = False
    stderr_tail: str = ""


def cowork_bin() -> str:
    """The ``cowork`` console script of this Python's environment."""
    exe = Path(sys.executable).parent / "cowork"
    if not exe.exists():
        raise SystemExit(f"no cowork beside {sys.executable}: install the project (pip install -e .) in that venv")
    return str(exe)


def parse_stream(stdout: str) -> dict:
    """The parts of a ``--json`` event stream the figures need: the terminal event's type,
    ``usage``, ``stop_reason`` and error, and the names of the completed tool calls. Lines that
    are not JSON objects are skipped."""
    out: dict = {"terminal": None, "usage": {}, "stop_reason": None, "error": None, "tool_calls": []}
    for line in stdout.splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(ev, dict):
            continue
        kind = ev.get("type")
        item = ev.get("item") or {}
        if kind == "item.completed" and item.get("type") == "tool_call":
            out["tool_calls"].append(item.get("name", "?"))
        elif kind in ("turn.completed", "turn.failed", "turn.interrupted"):
            out["terminal"] = kind
            out["usage"] = ev.get("usage") or {}
            out["stop_reason"] = ev.get("stop_reason")
            if kind == "turn.failed":
                err = ev.get("error") or {}
                out["error"] = f"{err.get('code')}: {err.get('message')}"
    return out


def run_one(task: Task, model: str, path: str | None, args: argparse.Namespace) -> Result:
    """Build the task's workspace, run cowork on it, check it. Never raises for a model's failure."""
    with tempfile.TemporaryDirectory(prefix=f"cowork-task-{task.id}-") as tmp:
        ws, home = Path(tmp) / "ws", Path(tmp) / "home"
        ws.mkdir()
        home.mkdir()
        task.setup(ws)
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
        env.update({"COWORK_HOME": str(home), "COWORK_MAX_STEPS": str(args.max_steps),
                    "COWORK_LOCAL_SEED": str(args.seed), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1",
                    "COLUMNS": "400"})  # rich: keep an error message on one line
        if path is not None:
            env["COWORK_LOCAL_TOOL_FORMAT"] = path
        argv = [cowork_bin(), "run", "--dir", str(ws), "--yes", "--json", "--model", model]
        if args.base_url and not model.startswith("local:"):
            argv += ["--base-url", args.base_url]
        argv.append(task.prompt)
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=ws, start_new_session=True)
        timed_out = False
        try:
            stdout, stderr = proc.communicate(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            stdout, stderr = proc.communicate()
        wall = time.monotonic() - started
        if args.keep is not None:  # the event stream and stderr, to read what the model did
            args.keep.mkdir(parents=True, exist_ok=True)
            stem = f"{model.replace(':', '_').replace('/', '_')}-{path or 'x'}-{task.id}"
            (args.keep / f"{stem}.jsonl").write_text(stdout or "")
            (args.keep / f"{stem}.stderr").write_text(stderr or "")
        stream = parse_stream(stdout or "")
        solved, reason = task.run_check(ws)
        usage = stream["usage"]
        error = stream["error"]
        if timed_out:
            error = f"timed out after {args.timeout:g} s"
        elif stream["terminal"] is None:
            last = next((ln.strip() for ln in reversed((stderr or "").splitlines()) if ln.strip()), "")
            error = f"no terminal event (exit {proc.returncode})" + (f": {last[:200]}" if last else "")
        return Result(task=task.id, kind=task.kind, solved=solved, reason=reason, exit_code=proc.returncode,
                      stop_reason=stream["stop_reason"], terminal=stream["terminal"], error=error,
                      steps=usage.get("requests"), input_tokens=usage.get("input_tokens"),
                      cached_input_tokens=usage.get("cached_input_tokens"),
                      output_tokens=usage.get("output_tokens"), tool_calls=stream["tool_calls"],
                      wall_s=round(wall, 3), timed_out=timed_out, stderr_tail=(stderr or "")[-1500:])


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop the timed-out cowork and everything it started (its own session, so its own group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def _median(xs: list[float | int | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def _new_per_step(r: Result) -> float | None:
    """Prompt tokens the model processed per step (input minus what its prompt cache reused)."""
    if not r.steps or r.input_tokens is None:
        return None
    return (r.input_tokens - (r.cached_input_tokens or 0)) / r.steps


def summarise(model: str, path: str | None, results: list[Result]) -> dict:
    """The figures of one model and path: counts, medians, per-kind counts, and the results."""
    solved = sum(r.solved for r in results)
    kinds: dict[str, list[int]] = {}
    for r in results:
        k = kinds.setdefault(r.kind, [0, 0])
        k[0] += r.solved
        k[1] += 1
    return {
        "model": model, "path": path, "solved": solved, "total": len(results),
        "percent": round(100 * solved / len(results), 1) if results else None,
        "medians": {"steps": _median([r.steps for r in results]), "wall_s": _median([r.wall_s for r in results]),
                    "input_tokens": _median([r.input_tokens for r in results]),
                    "output_tokens": _median([r.output_tokens for r in results]),
                    "new_prompt_tokens_per_step": _median([_new_per_step(r) for r in results])},
        "kinds": {k: {"solved": v[0], "total": v[1]} for k, v in kinds.items()},
        "results": [asdict(r) for r in results],
    }


def _fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "-"
    return f"{x:.1f}{unit}" if isinstance(x, float) and not x.is_integer() else f"{x:.0f}{unit}"


def report(runs: list[dict]) -> str:
    """The printed tables: one row per model and path, then kinds, then every failure."""
    rows = [("model", "path", "solved", "%", "steps", "wall", "in tok", "new in/step", "out tok")]
    for run in runs:
        m = run["medians"]
        rows.append((run["model"], run["path"] or "-", f"{run['solved']}/{run['total']}", _fmt(run["percent"]),
                     _fmt(m["steps"]), _fmt(m["wall_s"], " s"), _fmt(m["input_tokens"]),
                     _fmt(m["new_prompt_tokens_per_step"]), _fmt(m["output_tokens"])))
    out = ["Solved tasks (steps, wall, tokens: medians per task)", table(rows), ""]
    kinds = [k for k in KINDS if any(k in run["kinds"] for run in runs)]
    krows = [("kind", *[f"{run['model']} {run['path'] or ''}".strip() for run in runs])]
    for k in kinds:
        krows.append((k, *[f"{run['kinds'][k]['solved']}/{run['kinds'][k]['total']}" if k in run["kinds"] else "-"
                           for run in runs]))
    out += ["Solved per kind", table(krows), ""]
    for run in runs:
        failed = [r for r in run["results"] if not r["solved"]]
        if not failed:
            continue
        out.append(f"Failures, {run['model']} {run['path'] or ''}".rstrip() + ":")
        for r in failed:
            extra = f"exit {r['exit_code']}, stop {r['stop_reason'] or '-'}" + (f", {r['error']}" if r["error"] else "")
            out.append(f"  {r['task']}: {r['reason']}  [{extra}]")
        out.append("")
    return "\n".join(out)


def plan(models: list[str], paths: list[str]) -> list[tuple[str, str | None]]:
    """(model, path) pairs to run: every path for ``local:`` models, once (path None) for others."""
    pairs: list[tuple[str, str | None]] = []
    for m in models:
        for p in (paths if m.startswith("local:") else [None]):
            if (m, p) not in pairs:
                pairs.append((m, p))
    return pairs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help=f"provider:model, repeatable (default {DEFAULT_MODEL})")
    ap.add_argument("--base-url", help="OpenAI-compatible server for openai: models (passed to cowork run)")
    ap.add_argument("--path", action="append", choices=PATHS,
                    help="embedded model's tool-call format (COWORK_LOCAL_TOOL_FORMAT), repeatable (default auto)")
    ap.add_argument("--task", action="append", help="only this task id, repeatable")
    ap.add_argument("--kind", action="append", help="only tasks of this kind, repeatable")
    ap.add_argument("--limit", type=int, help="at most N tasks")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per task (default 240)")
    ap.add_argument("--max-steps", type=int, default=12, help="COWORK_MAX_STEPS (default 12)")
    ap.add_argument("--seed", type=int, default=0, help="COWORK_LOCAL_SEED (default 0)")
    ap.add_argument("--json-out", type=Path, help="write every result to this JSON file")
    ap.add_argument("--verbose", "-v", action="store_true", help="print each task's result as it finishes")
    ap.add_argument("--list", action="store_true", help="list the tasks and exit")
    ap.add_argument("--keep", type=Path, help="save each run's event stream and stderr in this folder")
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    if args.timeout <= 0 or args.max_steps < 1:
        ap.error("--timeout must be positive and --max-steps at least 1")
    try:
        tasks = select(args.task, args.kind, args.limit)
    except ValueError as exc:
        ap.error(str(exc))
    if args.list:
        for t in tasks:
            print(f"{t.id:28} {t.kind:14} {t.prompt}")
        print(f"{len(tasks)} of {len(TASKS)} tasks")
        return 0
    if not tasks:
        ap.error("no task matches the filters")
    models = args.model or [DEFAULT_MODEL]
    pairs = plan(models, args.path or ["auto"])

    runs = []
    for model, path in pairs:
        results = []
        for i, task in enumerate(tasks, 1):
            r = run_one(task, model, path, args)
            results.append(r)
            if args.verbose:
                verdict = "solved" if r.solved else f"FAILED: {r.reason}"
                print(f"[{model} {path or '-'} {i}/{len(tasks)}] {task.id}: {verdict} "
                      f"({r.wall_s:.1f} s, steps {r.steps if r.steps is not None else '-'}, exit {r.exit_code}, "
                      f"stop {r.stop_reason or '-'}{', ' + r.error if r.error else ''})", flush=True)
        runs.append(summarise(model, path, results))

    print(f"{len(tasks)} tasks, timeout {args.timeout:g} s, max steps {args.max_steps}, seed {args.seed}\n")
    print(report(runs))
    print(f"machine: {machine()}\nversions: {versions('cowork', 'xllamacpp', 'pydantic-ai-slim')}\n{uptime()}")
    if args.json_out:
        meta = {"machine": machine(), "versions": versions("cowork", "xllamacpp", "pydantic-ai-slim"),
                "timeout_s": args.timeout, "max_steps": args.max_steps, "seed": args.seed,
                "tasks": [t.id for t in tasks]}
        args.json_out.write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
