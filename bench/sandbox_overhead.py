"""Sandbox overhead per ``bash`` call: the real BashTool running ``true`` under each backend
against the same tool with ``sandbox="off"`` (a plain subprocess), median of N calls; target:
bubblewrap adds at most 30 ms. Then what a bare ``bwrap`` spawn costs with parts of the isolation
removed, to show where the time goes.

    python bench/sandbox_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table, versions, wait_quiet  # noqa: E402

from cowork import sandbox  # noqa: E402
from cowork.tools.base import ToolContext  # noqa: E402
from cowork.tools.shell import BashArgs, BashTool  # noqa: E402

TARGET_MS = 30.0


async def tool_ms(ws: Path, backend: str, n: int) -> list[float]:
    tool, ctx, args = BashTool(), ToolContext(workspace=ws, sandbox=backend), BashArgs(command="true")
    await tool.run(args, ctx)  # warm up (page cache, first probe)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        res = await tool.run(args, ctx)
        out.append((time.perf_counter() - t) * 1000)
        assert res.metadata["exit_code"] == 0, res.output
    return out


def spawn_ms(argv: list[str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        out.append((time.perf_counter() - t) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 2 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 calls per row instead of 200")
    n = 30 if parser.parse_args().quick else 200
    s = sandbox.support()
    print(f"sandbox support: {s}")
    wait_quiet()
    ws = Path(tempfile.mkdtemp(prefix="cowork-bench-")).resolve()
    backends = ["off"] + (["bwrap"] if s.userns else []) + (["landlock"] if s.landlock_abi else [])
    medians: dict[str, float] = {}
    rows = [("bash tool, `true`", "median ms", "p90 ms", "added vs off", "target", "met")]
    for backend in backends:
        ms = asyncio.run(tool_ms(ws, backend, n))
        medians[backend] = statistics.median(ms)
        added = medians[backend] - medians["off"]
        target = f"<= {TARGET_MS:.0f} ms" if backend == "bwrap" else ""
        met = ("yes" if added <= TARGET_MS else "NO") if backend == "bwrap" else ""
        rows.append((backend, f"{medians[backend]:.1f}", f"{p(ms, 90):.1f}",
                     "" if backend == "off" else f"{added:+.1f} ms", target, met))
    print(f"\nN = {n} calls per row, sequential\n")
    print(table(rows))

    if s.userns and s.bwrap:
        base = [s.bwrap, "--ro-bind", "/", "/", "--dev", "/dev"]
        variants = [
            ("plain `true` (fork+exec)", ["true"]),
            ("bwrap, mounts only", [*base, "true"]),
            ("+ --unshare-user --unshare-pid", [*base, "--unshare-user", "--unshare-pid", "true"]),
            ("+ --proc /proc", [*base, "--unshare-user", "--unshare-pid", "--proc", "/proc", "true"]),
            ("+ --unshare-net (loopback)", [*base, "--unshare-user", "--unshare-pid", "--proc", "/proc",
                                            "--unshare-net", "true"]),
            ("--unshare-all, full spec", sandbox.bwrap_argv(s.bwrap, sandbox.Spec(
                workspace=ws, hidden=sandbox.hidden_paths(os.environ), env=sandbox.scrubbed_env(os.environ),
                prlimit="prlimit"), ["true"])),
        ]
        rows = [("bare spawn (subprocess.run)", "median ms", "p90 ms")]
        for label, argv in variants:
            ms = spawn_ms(argv, n)
            rows.append((label, f"{statistics.median(ms):.1f}", f"{p(ms, 90):.1f}"))
        print("\nWhere the time goes\n")
        print(table(rows))
    print(f"\n{machine()}\n{versions('landlockpy')}; bwrap {subprocess.run([s.bwrap or 'true', '--version'], capture_output=True, text=True).stdout.strip()}")
    os.rmdir(ws)


if __name__ == "__main__":
    main()
