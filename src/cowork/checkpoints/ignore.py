"""Which workspace entries a checkpoint leaves out: ``.gitignore`` files (at every level, git's
rules: https://git-scm.com/docs/gitignore), the workspace's ``.git/info/exclude`` and a
``.coworkignore`` at the workspace root (same syntax; ``.gitignore`` files can re-include what it
excludes). Matching is dulwich's (:mod:`dulwich.ignore`); decisions are cached per path until an
ignore file changes, so an unchanged tree costs one dict lookup per entry.

An ignore file is read only when it is a regular file (not a symlink, FIFO or device: opened
with ``O_NOFOLLOW | O_NONBLOCK`` and checked with ``fstat``) of at most :data:`MAX_IGNORE_BYTES`;
otherwise it counts as absent, so a FIFO named ``.gitignore`` cannot block a checkpoint.
"""

from __future__ import annotations

import os
import stat

from dulwich.ignore import IgnoreFilter, IgnoreFilterManager, read_ignore_patterns

COWORKIGNORE = ".coworkignore"
MAX_IGNORE_BYTES = 1 << 20


def read_filter(path: str, ignorecase: bool = False) -> IgnoreFilter | None:
    """The rules of the ignore file at ``path``; None when it is missing, unreadable, too big or
    not a regular file (never opened for reading then)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_IGNORE_BYTES:
            return None
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as f:
            return IgnoreFilter(read_ignore_patterns(f), ignorecase, path=path)
    except OSError:
        return None
    finally:
        os.close(fd)


class _Manager(IgnoreFilterManager):
    """dulwich's manager, reading each folder's ``.gitignore`` through :func:`read_filter`."""

    def _load_path(self, path: str) -> IgnoreFilter | None:
        try:
            return self._path_filters[path]
        except KeyError:
            found = self._path_filters[path] = read_filter(os.path.join(self._top_path, path, ".gitignore"),
                                                           self._ignorecase)
            return found


class IgnoreRules:
    """``ignored(rel, is_dir)`` for paths relative to ``workspace`` ('/'-separated)."""

    def __init__(self, workspace: str) -> None:
        self.workspace = workspace
        self._globals_key: tuple[object, ...] | None = None
        self._manager: IgnoreFilterManager | None = None
        self._decided: dict[str, bool] = {}
        self._folders: dict[str, dict[str, bool]] = {}

    def _global_files(self) -> list[str]:
        return [os.path.join(self.workspace, ".git", "info", "exclude"), os.path.join(self.workspace, COWORKIGNORE)]

    def refresh(self) -> bool:
        """Start of a scan: reload everything if the root-level ignore files changed (returns
        whether they did)."""
        key: list[object] = []
        for path in self._global_files():
            try:
                st = os.stat(path)
                key.append((st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino))
            except OSError:
                key.append(None)
        if tuple(key) == self._globals_key:
            return False
        self._globals_key = tuple(key)
        self.reset()
        return True

    def reset(self) -> None:
        """Forget every decision (a ``.gitignore`` changed)."""
        filters = [f for f in map(read_filter, self._global_files()) if f is not None]
        self._manager = _Manager(self.workspace, filters, False)
        self._decided, self._folders = {}, {}

    def folder(self, rel: str) -> dict[str, bool]:
        """The decisions on the files of folder ``rel`` by name, for the caller to fill (cleared
        with every other decision by :meth:`reset`)."""
        found = self._folders.get(rel)
        if found is None:
            found = self._folders[rel] = {}
        return found

    def ignored(self, rel: str, is_dir: bool) -> bool:
        key = rel + "/" if is_dir else rel
        found = self._decided.get(key)
        if found is None:
            if self._manager is None:
                self.reset()
            assert self._manager is not None
            found = self._decided[key] = bool(self._manager.is_ignored(key))
        return found
