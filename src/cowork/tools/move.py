"""The ``move`` tool: move or rename one file, folder or symlink inside the workspace.

Both ends are opened beneath the workspace through directory descriptors
(:mod:`cowork._util.beneath`, ``follow=False``): no folder on either path may be a symlink (the
walk refuses it, so a folder swapped for a link mid-call cannot redirect the move outside), and the
rename is made between those two descriptors with ``renameat2(RENAME_NOREPLACE)`` (Linux, through
ctypes), so a destination that appears after the checks is never overwritten. Where that call is
missing or the filesystem refuses the flag, the destination is checked and then renamed: a file
created in that window (microseconds) would be replaced; a non-empty folder makes the rename fail.

The source itself may be a symlink: the link is moved, never its target. A destination that is an
existing folder, ``.`` or ends with ``/`` receives the source under its own name (``mv a.txt
docs/``); missing parent folders of the destination are created. Never moved, entered or moved
into: ``$COWORK_HOME`` and the credential stores (:func:`cowork.tools.paths.private_places`), nor a
folder holding one. A hard-linked file is renamed like any other: its other names keep pointing at
the same content.

Errors are :class:`~cowork.tools.base.ToolError` s the model can act on: the source is missing,
the destination exists (nothing is overwritten), a folder into itself, a path outside the
workspace or the workspace itself, a symlinked folder on the way, another filesystem (``EXDEV``).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import functools
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from cowork import config
from cowork._util import beneath
from cowork.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, ToolTraits
from cowork.tools.paths import confined, excluded_ids, home_refusal, private_places, rel_in_workspace

RENAME_NOREPLACE = 1
"""``renameat2`` flag (``<linux/fs.h>``): fail with ``EEXIST`` instead of replacing the destination."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class MoveArgs(ToolArgs):
    source: str = Field(description="File or folder to move, relative to the workspace (e.g. `expenses.csv`).")
    destination: str = Field(
        description="New path, relative to the workspace (e.g. `data/expenses.csv`). An existing folder, "
        "or a path ending with `/`, receives the source under its own name (`data/`). Missing folders are "
        "created. Never overwrites an existing file."
    )


class MoveTool(Tool):
    """Move or rename a file or folder inside the workspace."""

    name = "move"
    description = (
        "Move or rename a file or folder inside the workspace, like `mv`. If `destination` is an "
        "existing folder or ends with `/`, the source goes inside it keeping its name (`a.txt` + "
        "`docs/` gives `docs/a.txt`); missing parent folders are created. Fails, changing nothing, "
        "if the destination already exists (nothing is overwritten) or the source does not exist. "
        "A symlink is moved as a link."
    )
    Args = MoveArgs
    traits = ToolTraits(read_only=False, destructive=False, open_world=False, checkpoint=True, edits_files=True,
                        paths={"source": "write", "destination": "write"}, must_exist={"source": "any"})

    async def run(self, args: MoveArgs, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self._run, args, ctx)

    def preview(self, args: MoveArgs, workspace: Path) -> str | None:
        """``move expenses.csv → data/expenses.csv``; None when the move would fail."""
        try:
            with _plan(workspace, args, create=False) as plan:
                return f"move {plan.source} → {plan.destination}"
        except (ToolError, OSError, ValueError):
            return None

    def _run(self, args: MoveArgs, ctx: ToolContext) -> ToolResult:
        with _plan(ctx.workspace, args, create=True) as plan:
            assert plan.dst_fd is not None
            try:
                rename_noreplace(plan.src_fd, plan.src_name, plan.dst_fd, plan.dst_name)
            except OSError as exc:
                raise _rename_error(exc, plan, args) from None
        what = "folder" if plan.is_dir else "symlink" if plan.is_link else "file"
        return ToolResult(
            f"Moved {plan.source} → {plan.destination}",
            summary=f"moved {what} {plan.source} → {plan.destination}",
            metadata={"path": plan.destination, "source": plan.source},
        )


# ------------------------------------------------------------------------------------ planning


@dataclass
class _Plan:
    """Both ends of a move, opened: ``src_name`` in ``src_fd`` goes to ``dst_name`` in ``dst_fd``
    (None only in a preview whose destination folder does not exist yet). ``source`` and
    ``destination`` are the workspace-relative paths shown to the model."""

    src_fd: int
    src_name: str
    dst_fd: int | None
    dst_name: str
    source: str
    destination: str
    is_dir: bool
    is_link: bool


@contextmanager
def _plan(workspace: Path, args: MoveArgs, *, create: bool) -> Iterator[_Plan]:
    """Open and check both ends of the move (``create``: make the destination's missing folders,
    only once every check has passed). The descriptors are closed on exit. Raises ToolError."""
    root = workspace.resolve()
    private, private_rels = private_places(workspace)
    fds: list[int] = []
    try:
        # -- the source
        src_parts, source = _parts(root, args.source, "source")
        if source == ".":
            raise ToolError(f"source '{args.source}' is the workspace itself; name a file or folder inside it")
        if src_parts[-1] == "..":
            raise ToolError(f"source '{args.source}' ends with '..'; name the file or folder itself ('{source}')")
        src_name = src_parts[-1]
        src_fd = _open_dir(root, args.source, "/".join(src_parts[:-1]), private, create=False)
        assert src_fd is not None
        fds.append(src_fd)
        try:
            st = os.stat(src_name, dir_fd=src_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise ToolError(f"source '{args.source}' not found in the workspace {root}; nothing was moved") from None
        if (st.st_dev, st.st_ino) in private or _holds(source, private_rels):
            raise _private_refusal(root, args.source, source)
        is_dir, is_link = stat.S_ISDIR(st.st_mode), stat.S_ISLNK(st.st_mode)

        # -- the destination: a folder to put the source in, or a new name
        dst_parts, _ = _parts(root, args.destination, "destination")
        into = not dst_parts or dst_parts[-1] == ".." or args.destination.rstrip().endswith("/")
        folder = "/".join(dst_parts if into else dst_parts[:-1])
        dst_name = src_name if into else dst_parts[-1]
        dst_fd = _open_dir(root, args.destination, folder, private, create=False, missing_ok=True)
        if dst_fd is not None:
            fds.append(dst_fd)
        if dst_fd is not None and not into:  # an existing folder receives the source under its name
            try:
                there = os.stat(dst_name, dir_fd=dst_fd, follow_symlinks=False)
            except FileNotFoundError:
                there = None
            if there is not None and stat.S_ISDIR(there.st_mode):
                if (there.st_dev, there.st_ino) in private:
                    raise _private_refusal(root, args.destination, _norm(folder, dst_name))
                try:
                    inner = os.open(dst_name, _DIR_FLAGS, dir_fd=dst_fd)
                except OSError as exc:
                    raise ToolError(f"cannot open the folder '{args.destination}': {exc.strerror or exc} "
                                    "(it changed meanwhile? try again)") from None
                fds.append(inner)
                dst_fd, folder, dst_name = inner, _norm(folder, dst_name), src_name
        destination = _norm(folder, dst_name)

        if destination == source:
            raise ToolError(f"source and destination are the same path ('{source}'); nothing to move")
        if is_dir and destination.startswith(source + "/"):
            raise ToolError(f"cannot move the folder '{source}' into itself ('{destination}'); "
                            "pick a destination outside it")
        if dst_fd is not None:
            try:
                os.stat(dst_name, dir_fd=dst_fd, follow_symlinks=False)
            except FileNotFoundError:
                pass
            else:
                raise _exists(destination)
        elif create:
            dst_fd = _open_dir(root, args.destination, folder, private, create=True)
            assert dst_fd is not None
            fds.append(dst_fd)
        yield _Plan(src_fd, src_name, dst_fd, dst_name, source, destination, is_dir, is_link)
    finally:
        for fd in fds:
            os.close(fd)


def _parts(root: Path, given: str, role: str) -> tuple[list[str], str]:
    """(components, normalised workspace-relative path) of the path ``given`` as ``role``
    (``"source"`` or ``"destination"``); ``"."`` for the workspace. Raises ToolError: empty,
    outside the workspace (``..``, an absolute path elsewhere), a NUL byte."""
    if not given.strip():
        raise ToolError(f"{role} is empty; give a path relative to the workspace")
    rel = rel_in_workspace(root, given)
    try:
        parts = beneath.split_rel(rel)
    except (ValueError, OSError) as exc:
        raise ToolError(f"{role} '{given}' is not a valid path: {exc}") from None
    norm = os.path.normpath("/".join(parts)) if parts else "."
    if norm == ".." or norm.startswith("../"):
        raise ToolError(f"{role} '{given}' is outside the workspace {root}")
    return parts, norm


def _norm(folder: str, name: str) -> str:
    return os.path.normpath(f"{folder}/{name}" if folder else name)


def _holds(rel: str, private_rels: list[str]) -> bool:
    """``rel`` is, or is a folder holding, one of the private places inside the workspace."""
    return any(p == rel or p.startswith(rel + "/") for p in private_rels)


def _open_dir(root: Path, given: str, folder: str, private: frozenset[beneath.Identity], *, create: bool,
              missing_ok: bool = False) -> int | None:
    """Descriptor of the workspace folder ``folder`` (no symlink on the way; ``create`` makes the
    missing ones); None when it is missing and ``missing_ok``. Raises ToolError naming ``given``."""
    with _confined(root, given, folder):
        try:
            return beneath.open_dir_beneath(root, folder, follow=False, create=create, exclude=private)
        except FileNotFoundError:
            if missing_ok:
                return None
            raise


@contextmanager
def _confined(root: Path, given: str, folder: str) -> Iterator[None]:
    """:func:`cowork.tools.paths.confined`, plus move's own words for a symlinked folder on the way
    (refused even when it leads inside) and for a credential store."""
    with confined(root, given):
        try:
            yield
        except beneath.EscapesRoot as exc:
            if exc.link is None or exc.target is None:
                raise
            hint = ""
            try:
                real = beneath.resolve_beneath(root, folder, exclude=excluded_ids())
                hint = f"; give the real folder's path instead ('{real}')" if real != "." else ""
            except (OSError, ValueError):
                pass
            raise ToolError(f"'{given}' goes through '{exc.link}', a symlink (to {exc.target}); move does not "
                            f"go through symlinked folders{hint}") from None
        except beneath.Excluded as exc:
            raise _private_refusal(root, given, exc.where) from None


def _private_refusal(root: Path, given: str, where: str) -> ToolError:
    """The refusal for a path that is, holds or enters ``$COWORK_HOME`` or a credential store."""
    home = os.path.realpath(config.cowork_home())
    here = os.path.realpath(root / where)
    if beneath.identities([here]) & excluded_ids() or home == here or home.startswith(here.rstrip("/") + "/"):
        return home_refusal(given)
    return ToolError(f"'{given}' is, holds or is inside a credential store ({root / where}); "
                     "move never touches those")


def _exists(destination: str) -> ToolError:
    return ToolError(f"destination '{destination}' already exists; move never overwrites. Pick another name, "
                     "or move or delete the existing one first")


def _rename_error(exc: OSError, plan: _Plan, args: MoveArgs) -> ToolError:
    """A ToolError for what the rename itself raised."""
    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
        return _exists(plan.destination)
    if exc.errno == errno.EXDEV:
        return ToolError(f"'{plan.source}' and '{plan.destination}' are on different filesystems (a mount point "
                         "inside the workspace); move cannot cross it: copy it, then delete the original")
    if exc.errno == errno.ENOENT:
        return ToolError(f"source '{plan.source}' disappeared before it could be moved; nothing was moved")
    if exc.errno == errno.EINVAL:
        return ToolError(f"cannot move the folder '{plan.source}' into itself ('{plan.destination}')")
    if exc.errno == errno.EBUSY:
        return ToolError(f"'{plan.source}' is in use as a mount point; it cannot be moved")
    return ToolError(f"cannot move '{plan.source}' → '{plan.destination}': {exc.strerror or exc}")


# ------------------------------------------------------------------------------------ renameat2


@functools.cache
def _renameat2():  # -> ctypes function or None
    """libc's ``renameat2`` (glibc ≥ 2.28, Linux), or None where it is missing."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def rename_noreplace(src_dir_fd: int, src_name: str, dst_dir_fd: int, dst_name: str) -> None:
    """Rename ``src_name`` in the folder ``src_dir_fd`` to ``dst_name`` in ``dst_dir_fd`` without
    ever replacing an existing ``dst_name``: ``renameat2(RENAME_NOREPLACE)`` where the kernel, libc
    and filesystem support it, else a check then ``renameat`` (a file created in between would be
    replaced). Raises FileExistsError when ``dst_name`` exists, else what ``rename(2)`` raises
    (``EXDEV``, ``ENOENT``, ``EINVAL`` for a folder into itself...)."""
    fn = _renameat2()
    if fn is not None:
        if fn(src_dir_fd, os.fsencode(src_name), dst_dir_fd, os.fsencode(dst_name), RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), dst_name)
        # ENOSYS/ENOTSUP: no renameat2 or no flag on this filesystem; EINVAL also means a folder
        # into itself, which the plain rename below reports again.
    try:
        os.stat(dst_name, dir_fd=dst_dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        pass
    else:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst_name)
    os.rename(src_name, dst_name, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
