"""Scans that list only the folders whose own stat changed (the flat stat check of a long-lived
scanner) capture exactly what a fresh walk of the whole workspace captures."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

from checkpoint_support import Shadow

from cowork.checkpoints.snapshot import RACY_NS

SETTLE_S = RACY_NS / 1e9 + 0.02  # past the racy window: the next scan trusts the stat cache


def fresh_state(ws: Path, home: Path) -> dict:
    shutil.rmtree(home, ignore_errors=True)
    shadow = Shadow(ws, home)
    return shadow.repo.read(shadow.checkpoint()).entries


def settled(shadow: Shadow) -> dict:
    """Scan, wait past the racy window, scan again (now trusted); the state of the last scan."""
    shadow.checkpoint()
    time.sleep(SETTLE_S)
    return shadow.repo.read(shadow.checkpoint()).entries


def make_tree(ws: Path) -> None:
    for i in range(40):
        d = ws / f"a{i % 4}" / f"b{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_text(f"file {i}\n")


def test_random_edits_are_captured_like_a_fresh_walk(tmp_path: Path):
    ws = tmp_path / "ws"
    make_tree(ws)
    live = Shadow(ws, tmp_path / "live")
    settled(live)
    rnd = random.Random(7)
    for step in range(40):
        files = sorted(p for p in ws.rglob("*") if p.is_file() and not p.is_symlink())
        dirs = sorted(p for p in ws.rglob("*") if p.is_dir() and not p.is_symlink()) + [ws]
        op = rnd.choice(["edit", "edit", "add", "delete", "mkdir", "rmtree", "rename", "chmod", "ignore", "link"])
        if op == "edit" and files:
            p = rnd.choice(files)
            p.write_text(p.read_text() + "more\n")
        elif op == "add":
            (rnd.choice(dirs) / f"new{step}{rnd.choice(['.txt', '.log'])}").write_text("new\n")
        elif op == "delete" and files:
            rnd.choice(files).unlink()
        elif op == "mkdir":
            (rnd.choice(dirs) / f"d{step}").mkdir()
        elif op == "rmtree" and len(dirs) > 1:
            shutil.rmtree(rnd.choice(dirs[:-1]))
        elif op == "rename" and files:
            rnd.choice(files).rename(rnd.choice(dirs) / f"moved{step}.txt")
        elif op == "chmod" and files:
            rnd.choice(files + dirs[:-1]).chmod(rnd.choice([0o600, 0o644, 0o755, 0o700]))
        elif op == "ignore":
            (rnd.choice(dirs) / ".gitignore").write_text(rnd.choice(["*.log\n", "b1/\n", "", "f1*\n"]))
        elif op == "link" and files:
            os.symlink(rnd.choice(files), rnd.choice(dirs) / f"link{step}")
        assert settled(live) == fresh_state(ws, tmp_path / "fresh"), (step, op)


def test_a_same_size_edit_with_its_mtime_put_back_is_seen_by_its_ctime(tmp_path: Path):
    ws = tmp_path / "ws"
    make_tree(ws)
    live = Shadow(ws, tmp_path / "live")
    settled(live)
    p = ws / "a1" / "b1" / "f1.txt"
    st = p.stat()
    p.write_text("file X\n")  # same size
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    state = live.repo.read(live.checkpoint()).entries
    assert state == fresh_state(ws, tmp_path / "fresh")
    assert live.repo.blob(state["a1/b1/f1.txt"][1]) == b"file X\n"


def test_a_new_gitignore_applies_to_folders_below_it(tmp_path: Path):
    ws = tmp_path / "ws"
    make_tree(ws)
    live = Shadow(ws, tmp_path / "live")
    assert "a2/b1/f10.txt" in settled(live)
    (ws / "a2" / ".gitignore").write_text("f10.txt\n")  # a rule for a folder the check does not list
    state = live.repo.read(live.checkpoint()).entries
    assert "a2/b1/f10.txt" not in state and "a2/b1" in state
    assert "a2/b0/f6.txt" in state
    assert state == fresh_state(ws, tmp_path / "fresh")


def test_a_file_made_readable_again_is_captured(tmp_path: Path):
    ws = tmp_path / "ws"
    make_tree(ws)
    p = ws / "a0" / "b0" / "f0.txt"
    p.chmod(0)
    live = Shadow(ws, tmp_path / "live")
    first = settled(live)
    if os.access(p, os.R_OK):  # running as root: permissions do not stop reading
        return
    assert "a0/b0/f0.txt" not in first
    p.chmod(0o644)
    assert "a0/b0/f0.txt" in live.repo.read(live.checkpoint()).entries
