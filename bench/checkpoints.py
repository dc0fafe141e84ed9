"""Workspace checkpoints on a generated tree of 10,000 files / 40 MB, side by side with the
shadow-git method other agents use (``git add -A && git write-tree`` with ``GIT_DIR`` /
``GIT_WORK_TREE`` pointing at the same tree).

Figures (median of ``--runs``): first checkpoint, checkpoint with no change, checkpoint after 10
files changed, and restore of 10 changed files (ours: scan + plan + write the 10 files back; git:
``git add -A && git write-tree`` then ``git checkout <tree> -- .``, which also needs the index
refreshed first). Targets: no change <= 50 ms, 10 changed <= 100 ms, both faster than git.

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuWatch, machine, table, versions, wait_quiet  # noqa: E402

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
        watch = CpuWatch()

        # -- cowork ---------------------------------------------------------------------------
        shadow = ShadowRepo(tmp / "shadow", ws)
        scanner = Scanner(shadow, CheckpointSettings())
        wait_quiet()
        t0 = time.perf_counter()
        first = scanner.scan("first").commit
        ours_first = ms(t0)
        time.sleep(RACY_COARSE_NS / 1e9 + 0.1)  # past any racy window: what steady state sees
        scanner.scan("settle")
        ours_same, ours_ten, ours_restore = [], [], []
        for r in range(runs):
            t0 = time.perf_counter()
            scanner.scan("no change")
            ours_same.append(ms(t0))
        for r in range(runs):
            change(ws, files, r)
            t0 = time.perf_counter()
            base = scanner.scan("ten changed").commit
            ours_ten.append(ms(t0))
            change(ws, files, r + 1000)
            time.sleep(0.05)
            t0 = time.perf_counter()
            target = shadow.read(base)
            scanner.scan("before restore")
            current = scanner.state()
            plan = restoring.plan(target, current, None)
            done = restoring.apply(shadow, str(ws), target, current, plan, None)
            ours_restore.append(ms(t0))
            assert len(done.restored) == 10, done
        del first

        # -- git ------------------------------------------------------------------------------
        env = {**os.environ, "GIT_DIR": str(tmp / "git"), "GIT_WORK_TREE": str(ws)}
        git(dict(os.environ), "init", "-q", "--bare", str(tmp / "git"))
        git(env, "config", "core.bare", "false")
        wait_quiet()
        t0 = time.perf_counter()
        git(env, "add", "-A")
        git(env, "write-tree")
        git_first = ms(t0)
        time.sleep(1.1)
        git(env, "add", "-A")
        git_same, git_ten, git_restore = [], [], []
        for r in range(runs):
            t0 = time.perf_counter()
            git(env, "add", "-A")
            git(env, "write-tree")
            git_same.append(ms(t0))
        for r in range(runs):
            change(ws, files, r + 2000)
            t0 = time.perf_counter()
            git(env, "add", "-A")
            tree = git(env, "write-tree")
            git_ten.append(ms(t0))
            change(ws, files, r + 3000)
            time.sleep(0.05)
            t0 = time.perf_counter()
            git(env, "add", "-A")
            git(env, "write-tree")
            git(env, "checkout", tree, "--", ".")
            git_restore.append(ms(t0))

        med = statistics.median
        rows = [("figure", "cowork ms", "git ms", "target", "met")]
        rows.append(("first checkpoint", f"{ours_first:.0f}", f"{git_first:.0f}", "-", "-"))
        rows.append(("no change", f"{med(ours_same):.1f}", f"{med(git_same):.1f}", "<= 50, < git",
                     "yes" if med(ours_same) <= 50 and med(ours_same) < med(git_same) else "no"))
        rows.append(("10 files changed", f"{med(ours_ten):.1f}", f"{med(git_ten):.1f}", "<= 100, < git",
                     "yes" if med(ours_ten) <= 100 and med(ours_ten) < med(git_ten) else "no"))
        rows.append(("restore 10 files", f"{med(ours_restore):.1f}", f"{med(git_restore):.1f}", "-", "-"))
        print(table(rows))
        du = sum(f.stat().st_size for f in (tmp / "shadow" / "objects").rglob("*") if f.is_file())
        print(f"\ncowork shadow repository: {du / 1e6:.1f} MB after {1 + 2 * runs + 1} scans (loose objects, zlib 1)")
        print(f"runs: {runs} (median); {watch.report()}")
        print(f"machine: {machine()}")
        print(f"versions: {versions('dulwich')}, {git({}, '--version')}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
