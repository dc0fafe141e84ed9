"""Helpers shared by the benchmarks: machine/version lines, a table printer, and a watch on the
CPU that other processes used during a run (a benchmark on a busy machine measures the machine)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import sys
import time


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores{', ' + model if model else ''}, {platform.system()} {platform.release()}"


def versions(*dists: str) -> str:
    out = [f"python {platform.python_version()}"]
    for dist in dists:
        try:
            out.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def pct(xs: list[float], p: float) -> float:
    """The ``p``-th percentile of ``xs``, interpolated linearly between the two nearest ranks
    (the "inclusive" method of ``statistics.quantiles``, numpy's default); nan when empty."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _busy_seconds() -> float | None:
    """CPU-seconds all processes have used since boot (Linux /proc/stat), else None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class CpuWatch:
    """How much CPU processes other than this one (and its waited-for children) used meanwhile."""

    def __init__(self) -> None:
        self.t0, self.busy0, self.own0 = time.monotonic(), _busy_seconds(), _own_seconds()
        self.load0 = os.getloadavg()[0]

    def other(self) -> tuple[float, float]:
        """(CPU-seconds used by other processes, their share of the machine) since creation."""
        wall = time.monotonic() - self.t0
        busy1 = _busy_seconds()
        if self.busy0 is None or busy1 is None or wall <= 0:
            return 0.0, 0.0
        other = max(0.0, (busy1 - self.busy0) - (_own_seconds() - self.own0))
        return other, other / (wall * (os.cpu_count() or 1))

    def share(self) -> float:
        return self.other()[1]

    def report(self, warn: bool = True) -> str:
        wall = time.monotonic() - self.t0
        other, share = self.other()
        warn = "  WARNING: the machine was busy, figures are unreliable" if warn and share > BUSY else ""
        return (f"other processes used {other:.1f} CPU-s in {wall:.0f} s ({100 * share:.0f} % of the machine); "
                f"load average at start {self.load0:.2f}{warn}")


BUSY = 0.10
"""Share of the machine used by other processes above which a measurement is called disturbed."""


def wait_quiet(max_wait: float = 180.0, threshold: float = 0.05, window: float = 0.5) -> float:
    """Wait (up to ``max_wait`` s) for ``window`` s during which other processes use less than
    ``threshold`` of the machine; return the share seen last. The caller must be idle meanwhile."""
    deadline = time.monotonic() + max_wait
    waited = False
    while True:
        w = CpuWatch()
        time.sleep(window)
        share = w.share()
        if share < threshold or time.monotonic() > deadline:
            if waited:
                print(f"  (waited for a quiet machine: {share:.0%} busy now)", file=sys.stderr)
            return share
        waited = True


def uptime() -> str:
    """The ``uptime`` line (load averages over 1, 5 and 15 minutes), to print beside a figure."""
    import subprocess

    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
