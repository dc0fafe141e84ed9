"""Scanning a workspace into its shadow repository, cheaply when little changed.

The walk (``os.scandir`` on folder descriptors, never following symbolic links, never entering a
``.git``) keeps a stat cache per folder: the names of its files with their ``(mtime_ns, ctime_ns,
size, inode, st_mode)`` and the blob ids they had. A folder whose files all kept their stat is
taken from the cache whole; otherwise only the files whose stat changed are read, hashed and
stored, and only the tree objects of folders whose entries changed are rebuilt. So a checkpoint
of an unchanged tree costs one ``lstat`` per entry, and its disk use is the changed files'
compressed bytes plus a few trees. Later scans of the same process do not even list folders: see
:class:`_Index` (the stat of every recorded folder and file, checked in one C loop).

Only folders, regular files and symbolic links are captured: FIFOs, sockets and devices are
skipped and never opened, and a file is opened with ``O_NONBLOCK | O_NOFOLLOW`` and checked with
``fstat`` to be the regular file the walk saw before a byte is read (a file swapped for a FIFO
cannot block the scan). Files over the size limit are recorded by size and mtime without being
read. Folders in ``exclude`` (cowork's own state folder, by device and inode) are never entered.
A scan checks its ``cancel`` event between files and between chunks of a file, and stops with
:class:`Cancelled`.

Racy entries (git's "racily clean" problem, https://git-scm.com/docs/racy-git): a file changed
twice within one timestamp tick can keep the same stat. A file is trusted only when its ctime is
at least :data:`RACY_NS` (:data:`RACY_COARSE_NS` on filesystems with whole-second timestamps)
older than the start of the scan that recorded it; newer ones are hashed
again by the next scan.

The cache lives in memory for the life of the process and in the file ``statcache`` (``marshal``)
of the shadow directory for the next one. A ``generation`` file, bumped by garbage collection,
tells other processes to reload it.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import marshal
import operator
import os
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any

from . import statpool
from .ignore import IgnoreRules
from .settings import CheckpointSettings
from .shadow import DIR_MODE, EXEC_MODE, FILE_MODE, LINK_MODE, ShadowRepo, State, default_perm
from .shadow import manifest as make_manifest

RACY_NS = 50_000_000
"""Files changed less than this before a scan started are hashed again by the next scan (five
ticks of the coarsest kernel clock, HZ=100)."""

RACY_COARSE_NS = 2_000_000_000
"""The same for a file whose ctime has no sub-second part (FAT, some network filesystems)."""


def _settled(ctime_ns: int, scanned_at: int) -> bool:
    """Whether a file with this ctime, stat'ed by a scan that started at ``scanned_at``, cannot
    change again without its stat changing."""
    return ctime_ns < scanned_at - (RACY_COARSE_NS if ctime_ns % 1_000_000_000 == 0 else RACY_NS)

SAVE_EVERY = 30.0
"""Seconds between writes of the persisted stat cache (see :meth:`Scanner.save`)."""

_CACHE_VERSION = 6
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CHUNK = 1 << 20
"""Bytes read at a time; the cancel event is checked between chunks."""


class Cancelled(Exception):
    """The scan was asked to stop (its ``cancel`` event was set)."""


# A file: (git mode, blob id (b"" when over the size limit), permission bits, size, mtime_ns when over it else 0)
_File = tuple[int, bytes, int, int, int]
_Key = tuple[int, int, int, int, int]  # (mtime_ns, ctime_ns, size, ino, st_mode)


@dataclass
class _Dir:
    """What the cache keeps of one folder's files (sub-folders have their own record)."""

    names: tuple[str, ...]
    keys: tuple[_Key, ...]
    trusted: bool  # every file was settled (see _settled) when scanned_at's scan saw it
    scanned_at: int  # time.time_ns() when the scan that hashed these files started
    files: dict[str, _File]
    items: tuple[tuple[bytes, int, bytes], ...]  # the files' tree entries
    perm: int  # the folder's own permission bits
    modes: tuple[tuple[str, int], ...] = ()  # files whose permission bits are not git's defaults
    large: tuple[tuple[str, int, int, int], ...] = ()  # (name, size, mtime_ns, perm) over the size limit
    tree: bytes = b""
    tree_items: tuple[tuple[bytes, int, bytes], ...] = ()
    key: tuple[int, ...] = ()  # the folder's own (mtime_ns, ctime_ns, ino, st_mode) before it was listed
    partial: bool = False  # some entries were not recorded (unreadable, special files): always listed again

    def dump(self) -> tuple[object, ...]:
        return (self.names, self.keys, self.trusted, self.scanned_at, self.files, self.items, self.perm,
                self.modes, self.large, self.tree, self.tree_items, self.key, self.partial)


@dataclass
class Snapshot:
    """One scan: the commit holding it and what it cost.

    ``changed``: entries added, changed or removed since the previous scan of the workspace;
    ``hashed_bytes``: bytes read because their stat changed; ``files``: entries captured."""

    commit: bytes
    files: int
    changed: int
    hashed_bytes: int
    large: int
    truncated: bool
    ms: float

    def stats(self) -> dict[str, object]:
        return {"files": self.files, "changed": self.changed, "hashed_bytes": self.hashed_bytes,
                "large": self.large, "truncated": self.truncated, "ms": round(self.ms, 1)}


class Scanner:
    """Scans one workspace into its :class:`ShadowRepo`. Not thread-safe: hold the repo's lock.

    ``exclude``: ``(st_dev, st_ino)`` of folders never entered (cowork's own state folder, when it
    lies inside the workspace; see :func:`cowork._util.beneath.identities`). ``cancel``: set it
    (from any thread) to stop a running scan with :class:`Cancelled`; a scan does not clear it."""

    def __init__(self, shadow: ShadowRepo, settings: CheckpointSettings,
                 exclude: frozenset[tuple[int, int]] = frozenset()):
        self.shadow = shadow
        self.settings = settings
        self.exclude = exclude
        self.cancel = threading.Event()
        self.root = str(shadow.workspace)
        self.ignore = IgnoreRules(self.root)
        self._cache_path = shadow.path / "statcache"
        self._gen_path = shadow.path / "generation"
        self._generation: str | None = None
        self.dirs: dict[str, _Dir] = {}
        self.ignore_keys: dict[str, tuple[int, ...] | None] = {}
        self.truncated = False
        self._last: tuple[bytes, bytes, bytes] = (b"", b"", b"")  # (files tree, manifest, commit)
        self._large = 0  # files over the size limit in the newest scan
        self._count = 0  # entries captured by the newest scan
        self._index: _Index | None = None  # what the newest walk recorded, to check without listing folders
        self._paths: dict[str, tuple[tuple[str, ...], list[str], list[str]]] = {}  # see _Index.build
        self._unsaved, self._saved_at = False, time.monotonic()

    # -- the persisted cache ----------------------------------------------------------------------

    def _read_generation(self) -> str:
        try:
            return self._gen_path.read_text()
        except OSError:
            return ""

    def _load(self) -> None:
        self.dirs, self.ignore_keys, self._last, self._index = {}, {}, (b"", b"", b""), None
        self.ignore.reset()
        with contextlib.suppress(OSError, ValueError, EOFError, TypeError, KeyError):
            data = marshal.loads(self._cache_path.read_bytes())
            if data.get("version") == _CACHE_VERSION:
                self.dirs = {rel: _Dir(*d) for rel, d in data["dirs"].items()}
                self.ignore_keys = data["ignore_keys"]

    def save(self) -> None:
        """Write the cache for the next process (scans do it at most every :data:`SAVE_EVERY` s;
        a stale file only costs re-hashing what changed since)."""
        self._unsaved, self._saved_at = False, time.monotonic()
        data = {"version": _CACHE_VERSION, "dirs": {rel: d.dump() for rel, d in self.dirs.items()},
                "ignore_keys": self.ignore_keys}
        tmp = self._cache_path.with_suffix(".tmp")
        tmp.write_bytes(marshal.dumps(data))
        os.replace(tmp, self._cache_path)

    def flush(self) -> None:
        """Save the cache now if a scan changed it since the last save."""
        if self._unsaved:
            self.save()

    def prune_cache(self) -> None:
        """After ``git gc``: drop cached ids whose objects are gone, save, and bump the generation
        so other processes reload."""
        has = self.shadow.has
        for d in self.dirs.values():
            if not all(has(sha) for _, _, sha in d.items):
                d.trusted, d.names, d.keys, d.files, d.items, d.modes, d.large = False, (), (), {}, (), (), ()
            if d.tree and not has(d.tree):
                d.tree, d.tree_items = b"", ()
        self._last, self._index = (b"", b"", b""), None
        self.save()
        self._generation = f"{time.time_ns()}-{os.getpid()}"
        self._gen_path.write_text(self._generation)

    # -- the state --------------------------------------------------------------------------------

    def state(self) -> State:
        """The workspace as the newest scan saw it."""
        out = State(truncated=self.truncated)
        for rel, d in self.dirs.items():
            prefix = rel + "/" if rel else ""
            if rel:
                out.entries[rel] = (DIR_MODE, b"", d.perm)
            for name, (git_mode, sha, perm, size, mtime) in d.files.items():
                if sha:
                    out.entries[prefix + name] = (git_mode, sha, perm)
                else:
                    out.large[prefix + name] = (size, mtime, perm)
        return out

    # -- the scan ---------------------------------------------------------------------------------

    def scan(self, message: str, only: set[str] | None = None) -> Snapshot:
        """Walk the workspace, store what changed, and commit the whole state (the newest commit
        is reused when nothing changed). ``only``: folders ('/'-separated, ``""`` the root) known
        to be all that changed since the previous scan of this process (a restore's own writes):
        they are listed again without checking the stat of every other entry (the next scan
        still checks those). Raises OSError when the workspace cannot be read or the shadow
        repository written, Cancelled when :attr:`cancel` is set."""
        collecting = gc.isenabled()
        gc.disable()  # a scan builds a tuple per entry and frees none: collections would only cost (~25 %)
        try:
            return self._scan(message, only)
        finally:
            if collecting:
                gc.enable()

    def _scan(self, message: str, only: set[str] | None) -> Snapshot:
        t0 = time.perf_counter()
        generation = self._read_generation()
        if generation != self._generation:
            self._generation = generation
            self._load()
        if self.ignore.refresh():
            self._index = None
        if self._index is None:
            listed = None
        elif only is not None:
            listed = self._index.racy | only
        else:
            listed = self._index.check()
        if listed is not None and not listed:  # every folder and file kept its stat: the newest commit holds
            return Snapshot(self._last[2], self._count, 0, 0, self._large, False, (time.perf_counter() - t0) * 1000)
        run, files_tree = self._walk(listed)
        if listed is not None and (run.ignore_changed or run.count > run.max_files):
            run, files_tree = self._walk(None)  # a new ignore file reaches into folders not listed; or truncation
        gone = [rel for rel in self.dirs if rel not in run.dirs]
        changed = run.changed + sum(len(self.dirs[rel].files) + 1 for rel in gone)
        self.dirs, self.truncated, self._count = run.dirs, run.truncated, run.count
        if not changed and not run.dirty and self._last[2] and self.shadow.has(self._last[2]):
            self._index = _Index.build(self, run.racy, self._paths) if not run.truncated else None
            return Snapshot(self._last[2], run.count, 0, 0, self._large, run.truncated,
                            (time.perf_counter() - t0) * 1000)
        modes: dict[str, int] = {}
        large: dict[str, tuple[int, int, int]] = {}
        for rel, d in self.dirs.items():
            prefix = rel + "/" if rel else ""
            if rel and d.perm != 0o755:
                modes[rel] = d.perm
            for name, perm in d.modes:
                modes[prefix + name] = perm
            for name, size, mtime, perm in d.large:
                large[prefix + name] = (size, mtime, perm)
        manifest = make_manifest(modes, large, run.truncated)
        self._large = len(large)
        if self._last[:2] == (files_tree, manifest) and self.shadow.has(self._last[2]):
            commit = self._last[2]
        else:
            commit = self.shadow.commit(files_tree, manifest, message)
            self._last = (files_tree, manifest, commit)
        self._index = _Index.build(self, run.racy, self._paths) if not run.truncated else None
        if changed or run.dirty:
            self._unsaved = True
        if self._unsaved and time.monotonic() - self._saved_at > SAVE_EVERY:
            self.save()
        return Snapshot(commit, run.count, changed, run.hashed_bytes, len(large), run.truncated,
                        (time.perf_counter() - t0) * 1000)

    def _walk(self, listed: set[str] | None) -> tuple[_Run, bytes]:
        """Walk the whole workspace (``listed`` None), or only the folders in ``listed`` and their
        parents, taking every other folder from the cache. Returns the run and the files tree."""
        run = _Run(self, time.time_ns(), listed)
        try:
            fd = os.open(self.root, _DIR_FLAGS)
        except OSError as exc:
            raise FileNotFoundError(f"workspace {self.root} cannot be read: {exc.strerror}") from None
        root_st = os.fstat(fd)
        if (root_st.st_dev, root_st.st_ino) in self.exclude:
            os.close(fd)
            raise PermissionError(errno.EACCES, f"workspace {self.root} is cowork's own state folder")
        collecting = gc.isenabled()
        gc.disable()  # the walk allocates a tuple per file and frees none: collections would only cost
        try:
            files_tree = run.visit(fd, self.root, "", root_st, listed is None)
        finally:
            os.close(fd)
            if collecting:
                gc.enable()
        if listed is not None:
            run.carry()
        return run, files_tree


_DIR_KEY = operator.attrgetter("st_mtime_ns", "st_ctime_ns", "st_ino", "st_mode")
_FILE_KEY = operator.attrgetter("st_mtime_ns", "st_ctime_ns", "st_size", "st_ino", "st_mode")
_IGNORE_KEY = operator.attrgetter("st_mtime_ns", "st_ctime_ns", "st_size", "st_ino")


def _stat_keys(key: operator.attrgetter[Any], paths: list[str]) -> list[Any]:
    """``key(os.lstat(path))`` for each path (None for one that cannot be stat'ed): one C loop."""
    try:
        return list(map(key, map(os.lstat, paths)))
    except OSError:
        out: list[Any] = []
        for p in paths:
            try:
                out.append(key(os.lstat(p)))
            except OSError:
                out.append(None)
        return out


class _Index:
    """Every folder, file and ``.gitignore`` the newest walk recorded, as flat lists of absolute
    paths and stat keys, so the next scan can ``lstat`` them all in one C loop (``map``) and
    compare with one ``==`` per list, instead of listing each folder.

    Listing a folder is needed only when its own stat changed: creating, deleting or renaming an
    entry changes the folder's mtime and ctime (POSIX), the fact git's untracked cache relies on
    (https://git-scm.com/docs/git-update-index#_untracked_cache). Folders whose files or own stat
    are racy (see :func:`_settled`), or that hold entries the walk could not record, are always
    listed. :meth:`check` returns the folders to list again (empty: nothing changed), or None
    when a ``.gitignore`` changed and everything must be walked."""

    def __init__(self) -> None:
        self.dir_rels: list[str] = []
        self.dir_paths: list[str] = []
        self.dir_keys: list[tuple[int, ...]] = []
        self.file_dirs: list[str] = []
        self.file_paths: list[str] = []
        self.file_keys: list[_Key] = []
        self.ignore_paths: list[str] = []
        self.ignore_keys: list[tuple[int, ...] | None] = []
        self.racy: set[str] = set()

    @classmethod
    def build(cls, s: Scanner, racy: set[str], paths: dict[str, tuple[tuple[str, ...], list[str], list[str]]]) -> _Index:
        """The index of ``s.dirs``; ``paths`` caches each folder's file paths by its names (updated)."""
        idx = cls()
        idx.racy = set(racy)
        root = s.root
        for rel, d in s.dirs.items():
            folder = root + "/" + rel if rel else root
            idx.dir_rels.append(rel)
            idx.dir_paths.append(folder)
            idx.dir_keys.append(d.key)
            if not d.trusted or d.partial or not d.key:
                idx.racy.add(rel)
            if d.names:
                cached = paths.get(rel)
                if cached is None or cached[0] is not d.names:
                    cached = paths[rel] = (d.names, [folder + "/" + n for n in d.names], [rel] * len(d.names))
                idx.file_paths += cached[1]
                idx.file_keys += d.keys
                idx.file_dirs += cached[2]
        if len(paths) > len(s.dirs):
            for rel in [r for r in paths if r not in s.dirs]:
                del paths[rel]
        for rel, key in s.ignore_keys.items():
            idx.ignore_paths.append((root + "/" + rel if rel else root) + "/.gitignore")
            idx.ignore_keys.append(key)
        return idx

    def check(self) -> set[str] | None:
        ignore_keys = _stat_keys(_IGNORE_KEY, self.ignore_paths)
        if ignore_keys != self.ignore_keys:
            return None
        box: list[list[Any]] = []

        def own(paths: list[str]) -> list[Any]:  # while the helper process takes the other half
            box[:] = [_stat_keys(_DIR_KEY, self.dir_paths)]
            return _stat_keys(_FILE_KEY, paths)

        file_keys = statpool.stat_keys(self.file_paths, own, len(self.dir_paths))
        dir_keys = box[0]
        listed = set(self.racy)
        if dir_keys != self.dir_keys:
            listed.update(compress(self.dir_rels, map(operator.ne, dir_keys, self.dir_keys)))
        if file_keys != self.file_keys:
            listed.update(compress(self.file_dirs, map(operator.ne, file_keys, self.file_keys)))
        return listed


class _Run:
    """The state of one walk: of every folder (``listed`` None), or of the folders in ``listed``
    (and their parents, to rebuild their trees)."""

    def __init__(self, scanner: Scanner, scanned_at: int, listed: set[str] | None = None) -> None:
        self.s = scanner
        self.scanned_at = scanned_at
        self.dirs: dict[str, _Dir] = {}
        self.count = self.changed = self.hashed_bytes = 0
        self.dirty = False
        self.truncated = False
        self.ignore_changed = False
        self.max_files = scanner.settings.max_files
        self.max_bytes = scanner.settings.max_file_bytes
        self.racy: set[str] = set()  # folders whose own stat was too new to trust
        self.listed = listed or set()
        self.need: set[str] = set()  # the listed folders and their parents
        for rel in self.listed:
            while rel not in self.need:
                self.need.add(rel)
                rel = rel.rpartition("/")[0]
        self.kept: set[str] = set()  # folders taken whole from the cache, with everything under them

    def carry(self) -> None:
        """After a partial walk: take the folders under the kept ones from the cache, and count."""
        for rel, d in self.s.dirs.items():
            if rel in self.dirs:
                continue
            up = rel
            while up and up not in self.kept:
                up = up.rpartition("/")[0]
            if up:
                self.dirs[rel] = d
        self.count = sum(len(d.names) for d in self.dirs.values()) + len(self.dirs) - 1

    def visit(self, fd: int, absdir: str, rel: str, st: os.stat_result, full: bool) -> bytes:
        """Scan the folder open as ``fd`` (``st``: its stat); returns its tree id. ``full``:
        every folder under it is walked; otherwise only those in ``need``."""
        s = self.s
        if s.cancel.is_set():
            raise Cancelled("the checkpoint was cancelled")
        old = s.dirs.get(rel)
        perm = st.st_mode & 0o7777
        key = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)
        if not _settled(st.st_ctime_ns, self.scanned_at):
            self.racy.add(rel)
        prefix = rel + "/" if rel else ""
        if not full and old is not None and rel not in self.listed and old.key == key:
            # a parent of listed folders: its entries are as cached, only some sub-folders' trees change
            self.dirs[rel] = old
            items = []
            for raw, mode, sha in old.tree_items:
                name = os.fsdecode(raw)
                if mode == DIR_MODE:
                    if prefix + name not in self.need:
                        self.kept.add(prefix + name)
                    else:
                        found_tree = self._enter(fd, absdir, name, prefix + name, False)
                        if found_tree is None:
                            continue
                        sha = found_tree
                items.append((raw, mode, sha))
            return self._tree(old, items)
        try:
            with os.scandir(fd) as it:
                found = list(it)
        except OSError:
            found = []
        self._check_ignore_file(rel, found)
        ignored_here = s.ignore.folder(rel)
        entries: list[os.DirEntry[str]] = []
        subdirs: list[os.DirEntry[str]] = []
        room = self.max_files - self.count
        # Fast path: compare each stat with the cached key in place (no tuple is built for a file
        # that kept its stat); the first difference sends the folder to _rescan.
        same = old is not None and old.trusted and not old.partial
        old_names, old_keys = (old.names, old.keys) if old is not None else ((), ())
        n_old, j = len(old_names), 0
        partial = False
        for e in found:
            name = e.name
            try:
                if e.is_dir(follow_symlinks=False):
                    if name != ".git":
                        subdirs.append(e)
                    continue
                ignored = ignored_here.get(name)
                if ignored is None:
                    ignored = ignored_here[name] = name == ".git" or s.ignore.ignored(prefix + name, False)
                if ignored:
                    continue
                fst = e.stat(follow_symlinks=False)
            except OSError:  # gone meanwhile, or unreadable: not captured
                partial = True
                continue
            if same:
                if j < n_old and old_names[j] == name:
                    k = old_keys[j]
                    same = (fst.st_mtime_ns == k[0] and fst.st_ctime_ns == k[1] and fst.st_size == k[2]
                            and fst.st_ino == k[3] and fst.st_mode == k[4])
                else:
                    same = False
            j += 1
            entries.append(e)
        if full and len(entries) > room:
            self.truncated = True
            del entries[room:]
            same = False
        self.count += len(entries)
        if same and j == n_old and old is not None:
            d = old if old.perm == perm else _Dir(old.names, old.keys, True, old.scanned_at, old.files, old.items,
                                                   perm, old.modes, old.large, old.tree, old.tree_items)
        else:
            keys = []
            for e in entries:
                fst = e.stat(follow_symlinks=False)  # cached by the DirEntry
                keys.append((fst.st_mtime_ns, fst.st_ctime_ns, fst.st_size, fst.st_ino, fst.st_mode))
            d = self._rescan(fd, tuple(e.name for e in entries), tuple(keys), entries, old, perm)
        d.key, d.partial = key, partial or len(d.names) < len(entries)
        self.dirs[rel] = d
        items = list(d.items) if subdirs else d.items
        for e in subdirs:
            name = e.name
            r = prefix + name
            if s.ignore.ignored(r, True):  # cached by the rules
                continue
            cached = s.dirs.get(r)
            if not full:
                if r not in self.need and cached is not None and cached.tree:
                    self.kept.add(r)
                    items.append((os.fsencode(name), DIR_MODE, cached.tree))  # type: ignore[union-attr]
                    continue
            elif self.count >= self.max_files:
                self.truncated = True
                break
            self.count += 1
            tree = self._enter(fd, absdir, name, r, full or cached is None or not cached.tree)
            if tree is not None:
                items.append((os.fsencode(name), DIR_MODE, tree))  # type: ignore[union-attr]
        if old is None or old.perm != perm:
            self.changed += 1 if rel else 0
        return self._tree(d, items)

    def _enter(self, fd: int, absdir: str, name: str, rel: str, full: bool) -> bytes | None:
        """Visit the sub-folder ``name`` of the folder open as ``fd``; None when it cannot be opened."""
        try:
            sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError:
            return None
        try:
            st = os.fstat(sub)
            if (st.st_dev, st.st_ino) in self.s.exclude:  # cowork's own state: never captured
                return None
            return self.visit(sub, absdir + "/" + name, rel, st, full)
        finally:
            os.close(sub)

    def _tree(self, d: _Dir, items: Sequence[tuple[bytes, int, bytes]]) -> bytes:
        """The tree id of folder ``d`` with these entries: the cached one when they did not change."""
        key = tuple(items)  # no copy for a folder without sub-folders
        if d.tree and (d.tree_items is key or d.tree_items == key):
            return d.tree
        d.tree, d.tree_items = self.s.shadow.add_tree(list(key)), key
        self.dirty = True
        return d.tree

    def _rescan(self, fd: int, names: tuple[str, ...], keys: tuple[_Key, ...], entries: list[os.DirEntry[str]],
                old: _Dir | None, perm: int) -> _Dir:
        """The files of a folder where something changed: hash those whose stat changed."""
        self.dirty = True
        old_index = {n: i for i, n in enumerate(old.names)} if old is not None else {}
        files: dict[str, _File] = {}
        out_names: list[str] = []
        out_keys: list[_Key] = []
        trusted = True
        cancel = self.s.cancel
        for name, key, e in zip(names, keys, entries, strict=True):
            if cancel.is_set():
                raise Cancelled("the checkpoint was cancelled")
            i = old_index.get(name)
            before = old.files.get(name) if old is not None else None
            if i is not None and old is not None and before is not None and old.keys[i] == key \
                    and _settled(key[1], old.scanned_at):
                rec = before
            else:
                try:
                    found = self._hash(fd, name, key)
                except OSError:
                    continue
                if found is None:  # a socket, fifo or device: not captured
                    continue
                rec = found
            if not _settled(key[1], self.scanned_at):
                trusted = False
            if before != rec:
                self.changed += 1
            files[name] = rec
            out_names.append(name)
            out_keys.append(key)
        if old is not None:
            self.changed += sum(1 for n in old.files if n not in files)
        items = tuple((os.fsencode(n), f[0], f[1]) for n, f in files.items() if f[1])
        modes = tuple((n, f[2]) for n, f in files.items() if f[0] != LINK_MODE and f[2] != default_perm(f[0]))
        large = tuple((n, f[3], f[4], f[2]) for n, f in files.items() if not f[1])
        return _Dir(tuple(out_names), tuple(out_keys), trusted, self.scanned_at, files, items, perm, modes, large)

    def _hash(self, fd: int, name: str, key: _Key) -> _File | None:
        mode, size = key[4], key[2]
        perm = mode & 0o7777
        if stat.S_ISLNK(mode):
            data = os.fsencode(os.readlink(name, dir_fd=fd))
            self.hashed_bytes += len(data)
            return (LINK_MODE, self.s.shadow.add_blob(data), 0o777, len(data), 0)
        if not stat.S_ISREG(mode):  # a FIFO, socket or device: never opened
            return None
        git_mode = EXEC_MODE if mode & 0o100 else FILE_MODE
        if size > self.max_bytes:  # recorded by size and mtime, never read
            return (git_mode, b"", perm, size, key[0])
        f = os.open(name, _FILE_FLAGS, dir_fd=fd)
        try:
            fst = os.fstat(f)
            if not stat.S_ISREG(fst.st_mode) or fst.st_ino != key[3]:
                return None  # replaced since the walk saw it: the next scan sees what is there now
            # O_NONBLOCK does not change reads of a regular file: no need to clear it
            chunks: list[bytes] = []
            got, limit, cancel = 0, self.max_bytes, self.s.cancel
            while True:
                if cancel.is_set():
                    raise Cancelled("the checkpoint was cancelled")
                n = min(CHUNK, limit + 1 - got)
                if got <= size:  # sized by the stat (a 1 MiB buffer per small file costs an mmap)
                    n = min(n, size + 1 - got)
                chunk = os.read(f, n)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
                if got > limit:  # grew past the limit since its stat: recorded by size and mtime
                    return (git_mode, b"", perm, fst.st_size, fst.st_mtime_ns)
        finally:
            os.close(f)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.hashed_bytes += len(data)
        return (git_mode, self.s.shadow.add_blob(data), perm, len(data), 0)

    def _check_ignore_file(self, rel: str, found: list[os.DirEntry[str]]) -> None:
        key: tuple[int, ...] | None = None
        for e in found:
            if e.name == ".gitignore":
                with contextlib.suppress(OSError):
                    st = e.stat(follow_symlinks=False)
                    key = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
                break
        if self.s.ignore_keys.get(rel) != key:
            self.s.ignore.reset()
            self.dirty = self.ignore_changed = True
            if key is None:
                self.s.ignore_keys.pop(rel, None)
            else:
                self.s.ignore_keys[rel] = key
