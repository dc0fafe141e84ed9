"""The shadow repository of one workspace: a bare git repository under
``$COWORK_HOME/checkpoints/<sha256 of the workspace path, 16 hex>/`` (outside the workspace; the
workspace's own ``.git`` is never opened for writing).

A checkpoint is a git commit (no parents, so dropping its ref lets ``git gc`` collect what only
it used) whose root tree holds two entries: ``files``, the workspace tree (git's tree format:
https://git-scm.com/book/en/v2/Git-Internals-Git-Objects, empty folders kept as empty trees),
and ``manifest.json``, what git trees cannot say: full permission bits that are not git's 644/755
defaults, files over the size limit (size and SHA-256, content not stored) and whether the
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
    sha256 hex, permission bits)``), ``truncated`` when the file cap was reached."""

    entries: dict[str, Entry] = field(default_factory=dict)
    large: dict[str, tuple[int, str, int]] = field(default_factory=dict)
    truncated: bool = False


def manifest(modes: dict[str, int], large: dict[str, tuple[int, str, int]], truncated: bool) -> bytes:
    """The ``manifest.json`` of a checkpoint: non-default permission bits by path, files over the
    size limit (path → ``[size, sha256 hex, permission bits]``), whether the file cap was hit."""
    value = {"version": 1, "modes": modes, "large": {p: list(v) for p, v in large.items()}, "truncated": truncated}
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def workspace_key(workspace: Path) -> str:
    return hashlib.sha256(str(workspace).encode("utf-8", "surrogateescape")).hexdigest()[:16]


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
    def locked(self) -> Iterator[None]:
        """Exclusive across processes (``flock`` on ``lock``): one scan, restore or gc at a time."""
        with open(self.path / "lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
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
