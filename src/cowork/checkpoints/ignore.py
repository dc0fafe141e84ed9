"""Which workspace entries a checkpoint leaves out: ``.gitignore`` files (at every level, git's
rules: https://git-scm.com/docs/gitignore), the workspace's ``.git/info/exclude`` and a
``.coworkignore`` at the workspace root (same syntax; ``.gitignore`` files can re-include what it
excludes). Matching is dulwich's (:mod:`dulwich.ignore`); decisions are cached per path until an
ignore file changes, so an unchanged tree costs one dict lookup per entry.
"""

from __future__ import annotations

import contextlib
import os

from dulwich.ignore import IgnoreFilter, IgnoreFilterManager

COWORKIGNORE = ".coworkignore"


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
        filters = []
        for path in self._global_files():
            with contextlib.suppress(OSError):
                filters.append(IgnoreFilter.from_path(path))
        self._manager = IgnoreFilterManager(self.workspace, filters, False)
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
