"""The path-race attacker of issue 11 item 4: a second process swapping ``WS/d`` between a real
folder and a symlink to an outside folder as fast as it can, until a stop file appears. It prints
``flipped N`` (how many times ``d`` was a symlink) when it stops."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

FLIPPER = textwrap.dedent("""
    import os, shutil, sys
    ws, outside, stop = sys.argv[1], sys.argv[2], sys.argv[3]
    d, keep = os.path.join(ws, "d"), os.path.join(ws, ".d-real")

    def attempt(fn, *args):
        try:
            fn(*args)
            return True
        except OSError:
            return False

    links = 0
    while not os.path.exists(stop):
        attempt(os.rename, d, keep)
        links += attempt(os.symlink, outside, d)
        attempt(os.unlink, d)
        if not attempt(os.rename, keep, d):  # a write made the folder again (create parents)
            shutil.rmtree(d, ignore_errors=True)
    print("flipped", links)
""")


def start_flipper(ws: Path, outside: Path, stop: Path) -> subprocess.Popen:
    """Start the attacker on ``ws``; touch ``stop`` to end it (its stdout is a pipe)."""
    return subprocess.Popen([sys.executable, "-c", FLIPPER, str(ws), str(outside), str(stop)],
                            stdout=subprocess.PIPE, text=True)
