"""The shadow repository of one workspace: a bare git repository under
``$COWORK_HOME/checkpoints/<sha256 of the workspace path, 16 hex>/`` (outside the workspace; the
workspace's own ``.git`` is never opened for writing).

A checkpoint is a git commit (no parents, so dropping its ref lets ``git gc`` collect what only
it used) whose root tree holds two entries: ``files``, the workspace tree (git's tree format:
https://git-scm.com/book/en/v2/Git-Internals-Git-Objects, empty folders kept as empty trees),
and ``manifest.json``, what git trees cannot say: full permission bits that are not git's 644/755
defaults, files over the size limit (size and mtime, content neither read nor stored) and whether the
checkpoint was truncated. It is referenced by ``refs/checkpoints/<checkpoint id>``;
``refs/cowork/agent`` is the state the agent last left the workspace in (after its last change),
what a restore compares with to notice a person's edits.

Objects are written in-process with dulwich (zlib level 1 loose objects, as git's
``core.looseCompression`` default); collection runs ``git gc --prune=now``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

DIR_MODE, FILE_MODE, EXEC_MODE, LINK_MODE = 0o040000, 0o100644, 0o100755, 0o120000
AGENT_REF = b"refs/cowork/agent"
REF_PREFIX = b"refs/checkpoints/"
EMPTY_TREE = Tree().id

Entry = tuple[int, bytes, int]
"""``(git mode, blob id as 40 hex bytes (b"" for folders), permission bits st_mode & 0o7777)``."""


def default_perm(git_mode: int) -> int:
    return 0o755 if git_mode in (DIR_MODE, EXEC_MODE) else 0o777 if git_mode == LINK_MODE else 0o644


@dataclass
class State:
    """A workspace as a checkpoint holds it: ``entries`` by '/'-separated relative path (every
    folder, file and symbolic link), ``large`` the files over the size limit (path → ``(size,
    mtime_ns, permission bits)``; a checkpoint of manifest version 1 has a SHA-256 hex string in
    the middle), ``truncated`` when the file cap was reached. A state read by
    :meth:`ShadowRepo.differences` holds only the entries that differ from another state."""

    entries: dict[str, Entry] = field(default_factory=dict)
    large: dict[str, tuple[int, int | str, int]] = field(default_factory=dict)
    truncated: bool = False


def manifest(modes: dict[str, int], large: dict[str, tuple[int, int | str, int]], truncated: bool) -> bytes:
    """The ``manifest.json`` of a checkpoint: non-default permission bits by path, files over the
    size limit (path → ``[size, mtime_ns, permission bits]``), whether the file cap was hit."""
    value = {"version": 2, "modes": modes, "large": {p: list(v) for p, v in large.items()}, "truncated": truncated}
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def workspace_key(workspace: Path) -> str:
    return hashlib.sha256(str(workspace).encode("utf-8", "surrogateescape")).hexdigest()[:16]


class LockCancelled(Exception):
    """:meth:`ShadowRepo.locked` gave up waiting: its cancel event was set."""


class ShadowRepo:
    """The bare repository at ``path`` (created if missing) for ``workspace``."""

    def __init__(self, path: Path, workspace: Path) -> None:
        self.path = path
        self.workspace = workspace
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (path / "HEAD").exists():
            Repo.init_bare(str(path))
            (path / "workspace").write_text(str(workspace) + "\n")
        self.reopen()

    def reopen(self) -> None:
        """Open the repository afresh (after ``git gc`` moved objects into a new pack)."""
        self.repo = Repo(str(self.path))
        self.repo.object_store.loose_compression_level = 1  # type: ignore[attr-defined]
        self.store = self.repo.object_store

    @contextlib.contextmanager
    def locked(self, cancel: threading.Event | None = None) -> Iterator[None]:
        """Exclusive across processes and threads (``flock`` on ``lock``): one scan, restore or gc
        at a time. While another holds it, waits until ``cancel`` is set (then raises
        :class:`LockCancelled`)."""
        with open(self.path / "lock", "a") as f:
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if cancel is None:
                        fcntl.flock(f, fcntl.LOCK_EX)
                        break
                    if cancel.wait(0.02):
                        raise LockCancelled("cancelled while waiting for the checkpoint lock") from None
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # -- writing --------------------------------------------------------------------------------

    def add_blob(self, data: bytes) -> bytes:
        blob = Blob.from_string(data)
        self.store.add_object(blob)
        return blob.id

    def add_tree(self, items: list[tuple[bytes, int, bytes]]) -> bytes:
        tree = Tree()
        for name, mode, sha in items:
            tree.add(name, mode, sha)
        self.store.add_object(tree)
        return tree.id

    def commit(self, files_tree: bytes, manifest: bytes, message: str) -> bytes:
        """A parentless commit of ``files_tree`` and ``manifest`` (JSON bytes); returns its id."""
        root = self.add_tree([(b"files", DIR_MODE, files_tree), (b"manifest.json", FILE_MODE, self.add_blob(manifest))])
        c = Commit()
        c.tree = root
        c.author = c.committer = b"cowork <cowork@localhost>"
        c.author_time = c.commit_time = int(time.time())
        c.author_timezone = c.commit_timezone = 0
        c.encoding = b"UTF-8"
        c.message = message.encode() + b"\n"
        self.store.add_object(c)
        return c.id

    def write_state(self, state: State, message: str) -> bytes:
        """A commit of ``state`` (built from its flat entries); returns its id."""
        children: dict[str, list[tuple[bytes, int, bytes]]] = {"": []}
        for path, (mode, sha, _) in state.entries.items():
            parent, _, name = path.rpartition("/")
            children.setdefault(parent, [])
            if mode == DIR_MODE:
                children.setdefault(path, [])
            else:
                children[parent].append((os.fsencode(name), mode, sha))
        files_tree = b""
        for folder in sorted(children, key=lambda d: (d.count("/") if d else -1), reverse=True):
            tree = self.add_tree(children[folder])
            if not folder:
                files_tree = tree
                continue
            parent, _, name = folder.rpartition("/")
            children.setdefault(parent, []).append((os.fsencode(name), DIR_MODE, tree))
        modes = {p: e[2] for p, e in state.entries.items() if e[0] != LINK_MODE and e[2] != default_perm(e[0])}
        return self.commit(files_tree, manifest(modes, state.large, state.truncated), message)

    def set_ref(self, name: bytes, commit: bytes) -> None:
        self.repo.refs[name] = commit

    def drop_ref(self, name: bytes) -> None:
        with contextlib.suppress(KeyError):
            del self.repo.refs[name]

    def commit_time(self, ref: bytes) -> int:
        """Seconds since the epoch when the commit ``ref`` names was made (0 when unreadable)."""
        try:
            return self.store[self.repo.refs[ref]].commit_time  # type: ignore[attr-defined]
        except KeyError:
            return 0

    def ref(self, name: bytes) -> bytes | None:
        try:
            return self.repo.refs[name]
        except KeyError:
            return None

    # -- reading --------------------------------------------------------------------------------

    def has(self, sha: bytes) -> bool:
        return sha in self.store

    def blob(self, sha: bytes) -> bytes:
        return self.store[sha].as_raw_string()

    def _root(self, commit_id: bytes) -> tuple[bytes, dict[str, object]]:
        """(files tree id, manifest) of a checkpoint commit. Raises KeyError for a missing one."""
        commit = self.store[commit_id]
        assert isinstance(commit, Commit)
        root = {e.path: e.sha for e in self.store[commit.tree].iteritems()}  # type: ignore[attr-defined]
        return root[b"files"], json.loads(self.blob(root[b"manifest.json"]))

    def _items(self, tree_id: bytes | None) -> dict[bytes, tuple[int, bytes]]:
        if tree_id is None:
            return {}
        return {e.path: (e.mode, e.sha) for e in self.store[tree_id].iteritems()}  # type: ignore[attr-defined]

    def differences(self, a: bytes, b: bytes, paths: list[str] | None = None) -> tuple[State, State]:
        """The states of checkpoint commits ``a`` and ``b`` where they differ: each holds the
        entries (folders included) on the paths where the two differ, in content, kind or
        permission bits, restricted to ``paths`` (and their parent folders) when given; folders
        whose tree ids are equal are not entered. ``large`` and ``truncated`` are whole. Raises
        KeyError for a missing commit."""
        tree_a, man_a = self._root(a)
        tree_b, man_b = self._root(b)
        modes_a: dict[str, int] = man_a.get("modes", {})  # type: ignore[assignment]
        modes_b: dict[str, int] = man_b.get("modes", {})  # type: ignore[assignment]
        out = []
        for man in (man_a, man_b):
            st = State(truncated=bool(man.get("truncated")))
            st.large = {p: (v[0], v[1], v[2]) for p, v in man.get("large", {}).items()}  # type: ignore[union-attr]
            out.append(st)
        sa, sb = out
        wanted = [p + "/" for p in paths] if paths is not None else None

        def relevant(rel: str) -> bool:  # on a wanted path, under one, or a folder above one
            if wanted is None:
                return True
            r = rel + "/"
            return any(r.startswith(w) or w.startswith(r) for w in wanted)

        def record(state: State, modes: dict[str, int], rel: str, item: tuple[int, bytes] | None) -> None:
            if item is not None:
                mode, sha = item
                state.entries[rel] = (mode, b"" if mode == DIR_MODE else sha, modes.get(rel, default_perm(mode)))

        def walk(ta: bytes | None, tb: bytes | None, prefix: str) -> None:
            ia, ib = self._items(ta), self._items(tb)
            for raw in ia.keys() | ib.keys():
                rel = prefix + os.fsdecode(raw)
                x, y = ia.get(raw), ib.get(raw)
                if x == y or not relevant(rel):
                    continue
                record(sa, modes_a, rel, x)
                record(sb, modes_b, rel, y)
                xa = x[1] if x is not None and x[0] == DIR_MODE else None
                yb = y[1] if y is not None and y[0] == DIR_MODE else None
                if xa is not None or yb is not None:
                    walk(xa, yb, rel + "/")

        if tree_a != tree_b:
            walk(tree_a, tree_b, "")
        for rel in modes_a.keys() | modes_b.keys():  # permission changes under equal trees
            if modes_a.get(rel) != modes_b.get(rel) and rel not in sa.entries and rel not in sb.entries \
                    and relevant(rel):
                record(sa, modes_a, rel, self._lookup(tree_a, rel))
                record(sb, modes_b, rel, self._lookup(tree_b, rel))
        return sa, sb

    def _lookup(self, tree_id: bytes, rel: str) -> tuple[int, bytes] | None:
        """(git mode, id) of the entry ``rel`` in the tree, None when absent."""
        item: tuple[int, bytes] | None = (DIR_MODE, tree_id)
        for part in rel.split("/"):
            if item is None or item[0] != DIR_MODE:
                return None
            item = self._items(item[1]).get(os.fsencode(part))
        return item

    def entries(self, commit_id: bytes, paths: list[str]) -> State:
        """The entries of ``paths`` (those present) in a checkpoint commit, and its ``large``
        files. Raises KeyError for a missing commit."""
        tree, man = self._root(commit_id)
        modes: dict[str, int] = man.get("modes", {})  # type: ignore[assignment]
        st = State(truncated=bool(man.get("truncated")))
        st.large = {p: (v[0], v[1], v[2]) for p, v in man.get("large", {}).items()}  # type: ignore[union-attr]
        for rel in paths:
            item = self._lookup(tree, rel)
            if item is not None:
                mode, sha = item
                st.entries[rel] = (mode, b"" if mode == DIR_MODE else sha, modes.get(rel, default_perm(mode)))
        return st

    def tree_of(self, commit_id: bytes) -> bytes:
        """The root tree id of a commit (files and manifest: equal ids, equal states)."""
        commit = self.store[commit_id]
        assert isinstance(commit, Commit)
        return commit.tree

    def graft(self, base: bytes, source: bytes, paths: list[str], message: str) -> bytes:
        """A commit of checkpoint ``base`` with each of ``paths`` as it is in checkpoint
        ``source`` (an entry absent there is removed; a folder taken over keeps ``base``'s
        content below it unless paths below it are given too). Only the trees on those paths are
        rebuilt. Raises KeyError for a missing commit."""
        tree_b, man_b = self._root(base)
        tree_s, man_s = self._root(source)
        modes: dict[str, int] = dict(man_b.get("modes", {}))  # type: ignore[call-overload]
        large = {p: tuple(v) for p, v in man_b.get("large", {}).items()}  # type: ignore[union-attr]
        modes_s: dict[str, int] = man_s.get("modes", {})  # type: ignore[assignment]
        large_s: dict[str, list[object]] = man_s.get("large", {})  # type: ignore[assignment]
        for p in paths:
            for mine, theirs in ((modes, modes_s), (large, large_s)):
                if p in theirs:
                    mine[p] = theirs[p] if mine is modes else tuple(theirs[p])  # type: ignore[index,assignment]
                else:
                    mine.pop(p, None)

        def edit(base_tree: bytes, src_tree: bytes | None, rels: list[str]) -> bytes:
            items = self._items(base_tree)
            src = self._items(src_tree)
            groups: dict[bytes, list[str]] = {}
            for rel in rels:
                head, _, rest = rel.partition("/")
                groups.setdefault(os.fsencode(head), []).append(rest)
            for name, subs in groups.items():
                if "" in subs:  # the entry itself
                    theirs = src.get(name)
                    if theirs is None:
                        items.pop(name, None)
                    elif theirs[0] != DIR_MODE:
                        items[name] = theirs
                    elif name not in items or items[name][0] != DIR_MODE:
                        items[name] = (DIR_MODE, EMPTY_TREE)
                below = [r for r in subs if r]
                mine = items.get(name)
                if below and mine is not None and mine[0] == DIR_MODE:
                    theirs = src.get(name)
                    items[name] = (DIR_MODE, edit(mine[1], theirs[1] if theirs and theirs[0] == DIR_MODE else None,
                                                  below))
                elif below and (src.get(name) or (0, b""))[0] == DIR_MODE:
                    items[name] = (DIR_MODE, edit(EMPTY_TREE, src[name][1], below))
            return self.add_tree([(n, m, sha) for n, (m, sha) in sorted(items.items())])

        if EMPTY_TREE not in self.store:
            self.add_tree([])
        files = edit(tree_b, tree_s, paths) if paths else tree_b
        truncated = bool(man_b.get("truncated"))
        return self.commit(files, manifest(modes, large, truncated), message)  # type: ignore[arg-type]

    def read(self, commit_id: bytes) -> State:
        """The workspace state a checkpoint commit holds. Raises KeyError for a missing commit."""
        commit = self.store[commit_id]
        assert isinstance(commit, Commit)
        root = {e.path: e.sha for e in self.store[commit.tree].iteritems()}  # type: ignore[attr-defined]
        manifest = json.loads(self.blob(root[b"manifest.json"]))
        modes: dict[str, int] = manifest.get("modes", {})
        state = State(truncated=bool(manifest.get("truncated")))
        state.large = {p: (v[0], v[1], v[2]) for p, v in manifest.get("large", {}).items()}

        def walk(tree_id: bytes, prefix: str) -> None:
            for e in self.store[tree_id].iteritems():  # type: ignore[attr-defined]
                rel = prefix + os.fsdecode(e.path)
                perm = modes.get(rel, default_perm(e.mode))
                if e.mode == DIR_MODE:
                    state.entries[rel] = (DIR_MODE, b"", perm)
                    walk(e.sha, rel + "/")
                else:
                    state.entries[rel] = (e.mode, e.sha, perm)

        walk(root[b"files"], "")
        return state

    # -- retention ------------------------------------------------------------------------------

    def disk_bytes(self) -> int:
        """Bytes used by the repository's objects (loose and packed)."""
        total = 0
        for dirpath, _, files in os.walk(self.path / "objects"):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
        return total

    def gc(self) -> None:
        """Pack what refs reach and delete everything else (``git gc --prune=now``). Call with the
        lock held: an object written but not yet referenced would be deleted."""
        subprocess.run(
            ["git", "-c", "gc.auto=0", "-c", "core.logAllRefUpdates=false", "gc", "--prune=now", "--quiet"],
            cwd=self.path, env={**os.environ, "GIT_DIR": str(self.path)}, check=True, capture_output=True,
        )
