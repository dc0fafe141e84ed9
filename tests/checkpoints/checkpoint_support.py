"""Helpers for checkpoint tests: an exact picture of a folder, and scans/restores without a server."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cowork.checkpoints import CheckpointSettings
from cowork.checkpoints import restore as restoring
from cowork.checkpoints.shadow import ShadowRepo
from cowork.checkpoints.snapshot import Scanner


def picture(root: Path, skip: tuple[str, ...] = (".git",)) -> dict[str, tuple]:
    """Every entry under ``root`` (not following links): folders ('d', perm), files ('f', perm,
    bytes), links ('l', target)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", st.st_mode & 0o7777)
            else:
                out[rel] = ("f", st.st_mode & 0o7777, Path(full).read_bytes())
    return out


def identities(root: Path) -> dict[str, tuple[int, int, int]]:
    """``(inode, mtime_ns, ctime_ns)`` of every entry: what any write, replace or chmod changes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            out[os.path.relpath(full, root)] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return out


class Shadow:
    """A workspace's shadow repository and scanner, used directly."""

    def __init__(self, workspace: Path, home: Path, settings: CheckpointSettings | None = None) -> None:
        self.workspace = workspace
        self.repo = ShadowRepo(home, workspace)
        self.scanner = Scanner(self.repo, settings or CheckpointSettings())

    def checkpoint(self) -> bytes:
        return self.scanner.scan("test").commit

    def restore(self, commit: bytes, force: bool = True) -> restoring.Applied:
        target = self.repo.read(commit)
        self.scanner.scan("before restore")
        current = self.scanner.state()
        plan = restoring.plan(target, current, None)
        return restoring.apply(self.repo, str(self.workspace), target, current, plan, None if force else set())
