"""Workspace checkpoints on a generated tree of 10,000 files / 40 MB, side by side with the
shadow-git method other agents use (``git add -A && git write-tree`` with ``GIT_DIR`` /
``GIT_WORK_TREE`` pointing at the same tree).

Figures (median of ``--runs``): first checkpoint, checkpoint with no change, checkpoint after 10
files changed, and restore of 10 changed files (ours: what ``Checkpoints.restore`` runs in its
worker thread, :func:`cowork.checkpoints.restore.run`: the undo checkpoint's scan, the plan over
the subtrees whose ids differ, the writes, the scan of the folders written and the agent state;
git: ``git add -A && git write-tree`` then ``git checkout <tree> -- .``). cowork and git are
measured alternately within each round (which goes first alternates too), on the same tree, so
a machine that gets busier or quieter during the run moves both. Targets: no change <= 50 ms,
10 changed <= 100 ms, both and restore faster than git.

    python bench/checkpoints.py            # 10,000 files, 5 runs (~1 min)
    python bench/checkpoints.py --quick    # 2,000 files, 3 runs
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuWatch, machine, table, uptime, versions, wait_quiet  # noqa: E402

from cowork.checkpoints import CheckpointSettings  # noqa: E402
from cowork.checkpoints import restore as restoring  # noqa: E402
from cowork.checkpoints.shadow import ShadowRepo  # noqa: E402
from cowork.checkpoints.snapshot import RACY_COARSE_NS, Scanner  # noqa: E402


def generate(root: Path, files: int, total: int) -> None:
    rnd = random.Random(1)
    per = total // files
    for i in range(files):
        d = root / f"d{i % 100:02d}" / f"s{(i // 100) % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_bytes(rnd.randbytes(per // 2).hex().encode())
    (root / ".gitignore").write_text("*.log\nbuild/\n")


def change(root: Path, files: int, round_: int, n: int = 10) -> list[str]:
    paths = []
    for k in range(n):
        i = (round_ * 37 + k * 101) % files
        p = root / f"d{i % 100:02d}" / f"s{(i // 100) % 10}" / f"f{i:05d}.txt"
        p.write_bytes(p.read_bytes()[::-1] + str(round_).encode())
        paths.append(str(p.relative_to(root)))
    return paths


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def git(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["git", *args], env=env, check=True, capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=None)
    a = ap.parse_args()
    files, total = (2_000, 8_000_000) if a.quick else (10_000, 40_000_000)
    runs = a.runs or (3 if a.quick else 5)
    tmp = Path(tempfile.mkdtemp(prefix="cowork-bench-ckpt-"))
    try:
        ws = tmp / "ws"
        ws.mkdir()
        generate(ws, files, total)
        print(f"tree: {files} files, {total / 1e6:.0f} MB, in {ws}", file=sys.stderr)
        shadow = ShadowRepo(tmp / "shadow", ws)
        scanner = Scanner(shadow, CheckpointSettings())
        env = {**os.environ, "GIT_DIR": str(tmp / "git"), "GIT_WORK_TREE": str(ws)}
        git(dict(os.environ), "init", "-q", "--bare", str(tmp / "git"))
        git(env, "config", "core.bare", "false")
        wait_quiet()
        watch = CpuWatch()

        def ours_checkpoint() -> bytes:
            return scanner.scan("checkpoint").commit

        def git_checkpoint() -> str:
            git(env, "add", "-A")
            return git(env, "write-tree")

        t0 = time.perf_counter()
        ours_checkpoint()
        ours_first = ms(t0)
        t0 = time.perf_counter()
        git_checkpoint()
        git_first = ms(t0)
        time.sleep(RACY_COARSE_NS / 1e9 + 0.1)  # past any racy window: what steady state sees
        ours_checkpoint()
        git(env, "add", "-A")
        figures: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in ("same", "ten", "restore")}

        def timed(key: str, ours: Callable[[], object], theirs: Callable[[], object], r: int) -> None:
            for side in ((0, 1) if r % 2 == 0 else (1, 0)):
                t0 = time.perf_counter()
                (ours if side == 0 else theirs)()
                figures[key][side].append(ms(t0))

        for r in range(runs):
            timed("same", ours_checkpoint, git_checkpoint, r)
        for r in range(runs):
            change(ws, files, r)
            bases: dict[str, object] = {}
            timed("ten", lambda: bases.__setitem__("ours", ours_checkpoint()),
                  lambda: bases.__setitem__("git", git_checkpoint()), r)

            def ours_restore() -> None:
                done = restoring.run(shadow, scanner, bases["ours"], None, preview=False,  # type: ignore[arg-type]
                                     overwrite=None, message="restore", max_diffs=0)
                assert done.applied is not None and len(done.applied.restored) == 10, done.applied

            def git_restore() -> None:
                git_checkpoint()
                git(env, "checkout", str(bases["git"]), "--", ".")

            # the same 10 files changed the same way before each side's restore
            for side in ((0, 1) if r % 2 == 0 else (1, 0)):
                change(ws, files, r + 1000)
                time.sleep(0.05)
                t0 = time.perf_counter()
                (ours_restore if side == 0 else git_restore)()
                figures["restore"][side].append(ms(t0))
            time.sleep(0.1)  # both sides take in what the other's restore rewrote, unmeasured
            ours_checkpoint()
            git(env, "add", "-A")

        med = statistics.median
        rows = [("figure", "cowork ms", "git ms", "target", "met")]
        rows.append(("first checkpoint", f"{ours_first:.0f}", f"{git_first:.0f}", "-", "-"))
        for key, name, target in (("same", "no change", 50), ("ten", "10 files changed", 100),
                                  ("restore", "restore 10 files", None)):
            o, g = med(figures[key][0]), med(figures[key][1])
            met = o < g and (target is None or o <= target)
            rows.append((name, f"{o:.1f}", f"{g:.1f}", f"<= {target}, < git" if target else "< git",
                         "yes" if met else "no"))
        print(table(rows))
        du = sum(f.stat().st_size for f in (tmp / "shadow" / "objects").rglob("*") if f.is_file())
        print(f"\ncowork shadow repository: {du / 1e6:.1f} MB after the run (loose objects, zlib 1)")
        print(f"runs: {runs} (median), cowork and git alternately; {watch.report()}")
        print(f"at the end: {uptime()}")
        print(f"machine: {machine()}")
        print(f"versions: {versions('dulwich')}, {git({}, '--version')}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
