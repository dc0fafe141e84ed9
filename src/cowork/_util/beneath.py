"""Open, stat, create and replace files *beneath* a root directory, race-free.

Every path is resolved one component at a time relative to a directory file descriptor the
module holds: each directory is opened with ``O_DIRECTORY | O_NOFOLLOW`` relative to its parent's
descriptor, and the final file with ``O_NOFOLLOW``. ``..`` pops the module's own stack of
descriptors (it is never looked up on disk), so it can never climb above the root. Checking a path
and using it are therefore one operation: a folder swapped for a symlink to elsewhere between a
check and an open makes the open fail instead of landing outside (a time-of-check/time-of-use
race). ``openat2(RESOLVE_BENEATH)`` would give the same guarantee in one syscall, but Python 3.11
has no binding for it; this walk works on every POSIX kernel.

Symlinks:

- ``follow=True`` (the default): a symlink met on the way is read (``readlinkat``) and its target
  is walked in its place, still beneath the root and still component by component. A relative
  target that climbs above the root, or an absolute target outside the root's real path, raises
  :class:`EscapesRoot` naming the link and where it leads. At most :data:`MAX_SYMLINKS` links.
- ``follow=False``: any symlink on the way, the last component included, raises
  :class:`EscapesRoot` (checkpoint restore uses this: it never follows a link it did not create).

Excluded folders (``exclude``, a set of ``(st_dev, st_ino)`` from :func:`identities`): entering a
directory whose identity is in the set raises :class:`Excluded`. The check is made on the opened
descriptor, so renaming or linking the folder under another name does not get round it.

Roots are a path (opened with ``O_DIRECTORY``; symlinks in the root's own path are followed, the
root is trusted) or a directory descriptor, which is never closed here. Every function that
returns a descriptor hands its ownership to the caller.

Errors: :class:`EscapesRoot` and :class:`Excluded` (both ``OSError``); otherwise the ordinary
``OSError`` subclasses (``FileNotFoundError``, ``NotADirectoryError``, ``IsADirectoryError``,
``FileExistsError``, ``PermissionError``); ``ValueError`` for a path with a NUL byte.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections import deque
from collections.abc import Iterable
from typing import Union

Root = Union[str, "os.PathLike[str]", int]
Rel = Union[str, "os.PathLike[str]"]
Identity = tuple[int, int]

MAX_SYMLINKS = 40
"""Symlinks followed while resolving one path before ``ELOOP`` (as the Linux kernel does)."""
MAX_RETRIES = 64
"""Times a component that vanishes or is re-created while it is opened is tried again before
``EAGAIN`` (a tree another process keeps changing)."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NO_IDS: frozenset[Identity] = frozenset()


class EscapesRoot(OSError):
    """The path leaves the root: ``..`` above it, a symlink leading outside, or (``follow=False``)
    any symlink at all, or a component that changed into a symlink while it was being opened.

    Attributes:
        rel: the path asked for (as given).
        link: root-relative POSIX path of the symlink met, or None (``..`` above the root).
        target: what that symlink points to, or None.
    """

    def __init__(self, message: str, *, rel: str, link: str | None = None, target: str | None = None) -> None:
        super().__init__(errno.EXDEV, message)
        self.message, self.rel, self.link, self.target = message, rel, link, target

    def __str__(self) -> str:
        return self.message


class Excluded(PermissionError):
    """The path enters an excluded folder (see :func:`identities`).

    Attributes: ``rel`` the path asked for, ``where`` the root-relative path of the excluded folder.
    """

    def __init__(self, message: str, *, rel: str, where: str) -> None:
        super().__init__(errno.EACCES, message)
        self.message, self.rel, self.where = message, rel, where

    def __str__(self) -> str:
        return self.message


def identities(paths: Iterable[str | os.PathLike[str]]) -> frozenset[Identity]:
    """``(st_dev, st_ino)`` of each existing path in ``paths`` (symlinks followed; missing paths
    are skipped), for the ``exclude`` argument of the other functions."""
    out = set()
    for p in paths:
        try:
            st = os.stat(p)
        except (OSError, ValueError):
            continue
        out.add((st.st_dev, st.st_ino))
    return frozenset(out)


def parts_of(target: str) -> list[str]:
    """The components of a symlink target as the walk takes them (``""`` and ``.`` dropped)."""
    return [p for p in target.split("/") if p not in ("", ".")]


def split_rel(rel: Rel) -> list[str]:
    """The components of a relative path, ``""``/``.`` dropped, ``..`` kept (the walk handles it).

    Raises EscapesRoot for an absolute path, ValueError for a NUL byte."""
    s = os.fspath(rel)
    if "\0" in s:
        raise ValueError(f"path {s!r} contains a NUL byte")
    if s.startswith("/"):
        raise EscapesRoot(f"'{s}' is absolute; give a path relative to the root", rel=s)
    return [p for p in s.split("/") if p not in ("", ".")]


# ------------------------------------------------------------------------------------ the walk


class _Walk:
    """A stack of open directory descriptors from the root down; closes what it owns."""

    def __init__(self, root: Root, rel: Rel, follow: bool, exclude: frozenset[Identity],
                 shown: str | None = None) -> None:
        self.rel = os.fspath(rel)
        self.shown = shown if shown is not None else self.rel  # the path named in messages
        self.follow, self.exclude = follow, exclude
        if isinstance(root, int):
            self.root_fd, self._own_root = root, False
            try:
                self.root_path: str | None = os.readlink(f"/proc/self/fd/{root}")
            except OSError:
                self.root_path = None
        else:
            self.root_path = os.path.realpath(root)
            self.root_fd, self._own_root = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), True
        self.fds: list[int] = []  # below the root
        self.names: list[str] = []
        self.links = 0
        self.retries = 0
        try:
            self._check_excluded(self.root_fd)
        except BaseException:
            self.close()
            raise

    @property
    def cur(self) -> int:
        return self.fds[-1] if self.fds else self.root_fd

    def here(self, name: str | None = None) -> str:
        return "/".join([*self.names, name] if name else self.names) or "."

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()
        self.names.clear()
        if self._own_root:
            os.close(self.root_fd)
            self._own_root = False

    def take_cur(self) -> int:
        """The current directory's descriptor, now owned by the caller (the rest is closed)."""
        fd = self.cur
        if self.fds:
            self.fds.pop()
        elif self._own_root:
            self._own_root = False
        else:
            fd = os.dup(fd)
        self.close()
        return fd

    def _check_excluded(self, fd: int) -> None:
        if self.exclude:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) in self.exclude:
                where = self.here()
                raise Excluded(f"'{self.shown}' is in an excluded folder ({where})", rel=self.shown, where=where)

    def up(self) -> None:
        if not self.fds:
            raise EscapesRoot(f"'{self.shown}' leads above the root", rel=self.shown)
        os.close(self.fds.pop())
        self.names.pop()

    def push(self, fd: int, name: str) -> None:
        self.fds.append(fd)
        self.names.append(name)
        try:
            self._check_excluded(fd)
        except BaseException:
            self.up()
            raise

    def splice(self, name: str, pending: deque[str]) -> None:
        """``name`` in the current directory is a symlink: walk its target instead (or refuse)."""
        link = self.here(name)
        try:
            target = os.readlink(name, dir_fd=self.cur)
        except OSError as exc:
            raise EscapesRoot(f"'{self.shown}': '{link}' changed while it was being opened ({exc.strerror})",
                              rel=self.shown, link=link) from None
        if not self.follow:
            raise EscapesRoot(f"'{self.shown}' goes through '{link}', a symlink (to {target}); symlinks are not followed",
                              rel=self.shown, link=link, target=target)
        horizon = len(pending)  # what follows the link in the path
        self.links += 1
        if self.links > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, f"too many levels of symbolic links in '{self.shown}'")
        if target.startswith("/"):
            norm = target  # not normalised: the walk takes its ".." physically, as the kernel does
            root = self.root_path
            if root is None or not (norm == root or norm.startswith(root.rstrip("/") + "/")):
                raise EscapesRoot(f"'{self.shown}' goes through '{link}', a symlink that leads to {target}, "
                                  f"outside {root or 'the root'}", rel=self.shown, link=link, target=target)
            while self.fds:
                self.up()
            pending.extendleft(reversed(split_rel(norm[len(root):].lstrip("/"))))
        else:
            pending.extendleft(reversed(parts_of(target)))
        self._last_link = (link, target, horizon)

    def blame(self, pending: deque[str]) -> tuple[str | None, str | None]:
        """(link, target) when the ``..`` just taken came from the last symlink's target."""
        last = getattr(self, "_last_link", None)
        if last is None or len(pending) < last[2]:
            return None, None
        return last[0], last[1]

    def retry(self, name: str, pending: deque[str]) -> None:
        self.retries += 1
        if self.retries > MAX_RETRIES:
            raise OSError(errno.EAGAIN, f"'{self.shown}': '{self.here(name)}' kept changing while it was being opened")
        pending.appendleft(name)

    def walk(self, *, to_parent: bool, create_dirs: bool = False, dir_mode: int = 0o777) -> str | None:
        """Walk every component (the last one too unless ``to_parent``). Returns the last
        component's name (``to_parent``; None when the path is the root itself), with the
        current descriptor at its parent."""
        pending = deque(split_rel(self.rel))
        while pending:
            name = pending.popleft()
            if name == "..":
                try:
                    self.up()
                except EscapesRoot:
                    link, target = self.blame(pending)
                    if link is not None:
                        raise EscapesRoot(f"'{self.shown}' goes through '{link}', a symlink that leads to "
                                          f"{target}, outside {self.root_path or 'the root'}",
                                          rel=self.shown, link=link, target=target) from None
                    raise
                continue
            if to_parent and not pending:
                try:
                    st = os.stat(name, dir_fd=self.cur, follow_symlinks=False)
                except FileNotFoundError:
                    return name
                if stat.S_ISLNK(st.st_mode):
                    self.splice(name, pending)
                    if not pending:  # a link to "." or ".."-only: the directory it names
                        return None
                    continue
                return name
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=self.cur)
            except FileNotFoundError:
                if not create_dirs:
                    raise FileNotFoundError(errno.ENOENT, f"'{self.here(name)}' does not exist") from None
                try:
                    os.mkdir(name, dir_mode, dir_fd=self.cur)
                except FileExistsError:
                    pass
                self.retry(name, pending)
                continue
            except (NotADirectoryError, OSError) as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                try:
                    st = os.stat(name, dir_fd=self.cur, follow_symlinks=False)
                except FileNotFoundError:
                    self.retry(name, pending)  # vanished meanwhile: try again
                    continue
                if stat.S_ISLNK(st.st_mode):
                    self.splice(name, pending)
                    continue
                raise NotADirectoryError(errno.ENOTDIR, f"'{self.here(name)}' is not a directory") from None
            self.push(fd, name)
        return None


# ----------------------------------------------------------------------------------- the API


def open_beneath(root: Root, rel: Rel, flags: int = os.O_RDONLY, mode: int = 0o666, *, follow: bool = True,
                 create_dirs: bool = False, exclude: frozenset[Identity] = _NO_IDS) -> int:
    """Open ``rel`` beneath ``root`` like ``os.open(rel, flags, mode)``; returns a descriptor the
    caller closes. ``O_NOFOLLOW`` and ``O_CLOEXEC`` are always added (the last component, when a
    symlink, is resolved by the walk when ``follow``). ``create_dirs`` makes missing parent
    folders (mode 0777 minus umask). ``rel`` ``""``/``"."`` opens the root itself.

    Raises EscapesRoot, Excluded, or the OSError ``os.open`` would raise."""
    w = _Walk(root, rel, follow, exclude)
    try:
        name = w.walk(to_parent=True, create_dirs=create_dirs)
        if name is None:
            fd = os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=w.cur)
        else:
            try:
                fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=w.cur)
            except OSError as exc:
                if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and flags & os.O_DIRECTORY
                                                and _is_link(name, w.cur)):
                    raise EscapesRoot(f"'{w.shown}': '{w.here(name)}' became a symlink while it was being opened",
                                      rel=w.shown, link=w.here(name)) from None
                raise
        try:
            w._check_excluded(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd
    finally:
        w.close()


def open_dir_beneath(root: Root, rel: Rel, *, follow: bool = True, create: bool = False, mode: int = 0o777,
                     exclude: frozenset[Identity] = _NO_IDS, _shown: str | None = None) -> int:
    """Descriptor of the directory ``rel`` beneath ``root`` (caller closes). ``create`` makes it and
    its missing parents with ``mode`` (minus umask), like ``mkdir -p``.

    Raises EscapesRoot, Excluded, FileNotFoundError, NotADirectoryError."""
    w = _Walk(root, rel, follow, exclude, _shown)
    try:
        w.walk(to_parent=False, create_dirs=create, dir_mode=mode)
        return w.take_cur()
    finally:
        w.close()


def mkdirs_beneath(root: Root, rel: Rel, mode: int = 0o777, *, follow: bool = True,
                   exclude: frozenset[Identity] = _NO_IDS) -> int:
    """``mkdir -p rel`` beneath ``root``; returns the directory's descriptor (caller closes)."""
    return open_dir_beneath(root, rel, follow=follow, create=True, mode=mode, exclude=exclude)


def parent_beneath(root: Root, rel: Rel, *, follow: bool = True, create_dirs: bool = False,
                   exclude: frozenset[Identity] = _NO_IDS) -> tuple[int, str | None]:
    """``(descriptor of the folder holding rel's last component, that component's name)``; the
    name is None when ``rel`` names a folder without a last name (the root, or a path ending in
    ``..``): then the descriptor is that folder's. With
    ``follow`` a symlink as the last component is resolved first, so the name is never a symlink
    at the time of the call. For ``*at`` calls: ``os.unlink(name, dir_fd=fd)`` and the like.
    The caller closes the descriptor."""
    w = _Walk(root, rel, follow, exclude)
    try:
        name = w.walk(to_parent=True, create_dirs=create_dirs)
        return w.take_cur(), name
    finally:
        w.close()


def resolve_beneath(root: Root, rel: Rel, *, follow: bool = True, exclude: frozenset[Identity] = _NO_IDS) -> str:
    """The root-relative POSIX path ``rel`` names once its symlinks are resolved (beneath the
    root; the last component need not exist), ``"."`` for the root. For messages: the tree may
    change right after. Raises as :func:`parent_beneath`."""
    w = _Walk(root, rel, follow, exclude)
    try:
        name = w.walk(to_parent=True)
        return w.here(name)
    finally:
        w.close()


def stat_beneath(root: Root, rel: Rel, *, follow: bool = True,
                 exclude: frozenset[Identity] = _NO_IDS) -> os.stat_result:
    """``os.stat`` of ``rel`` beneath ``root``. With ``follow=False`` the last component is not
    followed (``lstat``) and no component before it may be a symlink (EscapesRoot)."""
    parts = split_rel(rel)
    if not follow and parts and parts[-1] != "..":
        fd, name = parent_of(root, rel, exclude)
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)
    w = _Walk(root, rel, follow, exclude)
    try:
        name = w.walk(to_parent=True)
        if name is None:
            return os.fstat(w.cur)
        return os.stat(name, dir_fd=w.cur, follow_symlinks=False)
    finally:
        w.close()


def parent_of(root: Root, rel: Rel, exclude: frozenset[Identity] = _NO_IDS) -> tuple[int, str]:
    """Like :func:`parent_beneath` with ``follow=False`` but the last component may itself be a
    symlink (it is not looked at): for ``lstat``, ``unlink``, ``readlink`` or ``symlink`` of it.
    Raises IsADirectoryError when ``rel`` is the root."""
    parts = split_rel(rel)
    if not parts or parts[-1] == "..":
        raise IsADirectoryError(errno.EISDIR, f"'{os.fspath(rel)}' names a folder, not an entry in one")
    fd = open_dir_beneath(root, "/".join(parts[:-1]), follow=False, exclude=exclude, _shown=os.fspath(rel))
    return fd, parts[-1]


def replace_beneath(root: Root, rel: Rel, data: bytes, *, mode: int | None = None, follow: bool = True,
                    create_dirs: bool = False, exclude: frozenset[Identity] = _NO_IDS,
                    fsync: bool = False) -> None:
    """Atomically make ``rel`` beneath ``root`` hold ``data``: a temporary file is written in the
    verified parent folder and renamed over the name (``renameat`` within that descriptor), so a
    reader sees the old or the new content, and an existing file's inode is never written in
    place (a hard link to it elsewhere keeps the old content). ``mode``: permission bits of the
    new file; default: those of the file replaced, else 0666 minus umask. With ``follow`` a
    symlink as the last component is resolved and its target replaced; otherwise a symlink
    there raises EscapesRoot. ``fsync`` flushes the file before the rename.

    Raises EscapesRoot, Excluded, IsADirectoryError (``rel`` is a folder), OSError (not a
    regular file: a FIFO, socket or device is never replaced), and what writing raises."""
    w = _Walk(root, rel, follow, exclude)
    try:
        name = w.walk(to_parent=True, create_dirs=create_dirs)
        if name is None:
            raise IsADirectoryError(errno.EISDIR, f"'{w.shown}' is a directory")
        parent = w.cur
        try:
            old = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is not None:
            if stat.S_ISDIR(old.st_mode):
                raise IsADirectoryError(errno.EISDIR, f"'{w.here(name)}' is a directory")
            if stat.S_ISLNK(old.st_mode):
                raise EscapesRoot(f"'{w.shown}': '{w.here(name)}' is a symlink", rel=w.shown, link=w.here(name))
            if not stat.S_ISREG(old.st_mode):
                raise OSError(errno.EINVAL, f"'{w.here(name)}' is not a regular file")
        stem = name.encode("utf-8", "surrogateescape")[:96].decode("utf-8", "ignore")
        tmp = f".{stem}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600 if (old is not None or mode is not None) else 0o666, dir_fd=parent)
        try:
            try:
                if mode is not None:
                    os.fchmod(fd, mode)
                elif old is not None:
                    os.fchmod(fd, stat.S_IMODE(old.st_mode))
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=parent)
            except OSError:
                pass
            raise
    finally:
        w.close()


def symlink_beneath(root: Root, rel: Rel, target: str, *, create_dirs: bool = False,
                    exclude: frozenset[Identity] = _NO_IDS) -> None:
    """Create the symlink ``rel`` → ``target`` beneath ``root`` (``target`` is stored as given and
    not checked); no component before the last may be a symlink. Raises FileExistsError when
    ``rel`` exists, EscapesRoot, Excluded."""
    parts = split_rel(rel)
    if not parts or parts[-1] == "..":
        raise FileExistsError(errno.EEXIST, f"'{os.fspath(rel)}' is a folder")
    fd = open_dir_beneath(root, "/".join(parts[:-1]), follow=False, create=create_dirs, exclude=exclude,
                          _shown=os.fspath(rel))
    try:
        os.symlink(target, parts[-1], dir_fd=fd)
    finally:
        os.close(fd)


def unlink_beneath(root: Root, rel: Rel, *, exclude: frozenset[Identity] = _NO_IDS) -> None:
    """Remove the file or symlink ``rel`` (a symlink itself, never its target; an empty folder
    is removed too) beneath ``root``; no component before the last may be a symlink. Raises
    FileNotFoundError, OSError(ENOTEMPTY) for a folder with content, EscapesRoot, Excluded."""
    fd, name = parent_of(root, rel, exclude)
    try:
        try:
            os.unlink(name, dir_fd=fd)
        except IsADirectoryError:
            os.rmdir(name, dir_fd=fd)
        except PermissionError:  # EPERM for a directory on some systems
            if not stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                raise
            os.rmdir(name, dir_fd=fd)
    finally:
        os.close(fd)


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def read_beneath(root: Root, rel: Rel, *, max_bytes: int | None = None, follow: bool = True,
                 exclude: frozenset[Identity] = _NO_IDS) -> bytes:
    """The bytes of the regular file ``rel`` beneath ``root`` (at most ``max_bytes``). Raises
    IsADirectoryError, OSError(EINVAL) for a FIFO/socket/device (never opened for reading:
    ``O_NONBLOCK`` then ``fstat``), EscapesRoot, Excluded."""
    fd = open_beneath(root, rel, os.O_RDONLY | os.O_NONBLOCK, follow=follow, exclude=exclude)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"'{os.fspath(rel)}' is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"'{os.fspath(rel)}' is not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read() if max_bytes is None else f.read(max_bytes)
    finally:
        os.close(fd)


__all__ = [
    "MAX_SYMLINKS", "EscapesRoot", "Excluded", "identities", "split_rel", "open_beneath", "open_dir_beneath",
    "mkdirs_beneath", "parent_beneath", "resolve_beneath", "parent_of", "stat_beneath", "replace_beneath", "symlink_beneath",
    "unlink_beneath", "read_beneath", "parts_of",
]
