"""Workspace confinement: a path a model gave, opened inside the workspace and nowhere else.

Every file tool turns its ``path`` argument into a workspace-relative path with
:func:`rel_in_workspace` (relative paths are taken from the workspace; absolute ones are accepted
only inside it) and then opens it with :mod:`cowork._util.beneath`: one directory descriptor per
component, ``O_NOFOLLOW`` everywhere, so checking the path and using it are one operation and a
folder swapped for a symlink meanwhile makes the call fail instead of landing outside.

Symlinks inside the workspace are followed *by that walk*: a link whose target stays inside the
workspace works as it would in a shell; a link leading outside (or climbing above the workspace
with ``..``) is refused, and the error says which part of the path is the link and where it leads.

cowork's own state folder (``$COWORK_HOME``, :func:`excluded_ids`) is never read, listed or
written by a file tool, wherever it lies, inside the workspace included: entering it raises
:class:`~cowork._util.beneath.Excluded` (checked on the opened descriptor, so no other name for
it gets round the check) and the walks of ``ls``, ``glob`` and ``grep`` leave it out.

:func:`resolve_in_workspace` (the resolved absolute path, for messages and previews) and
:func:`display_path` remain for callers that need a path, not a descriptor. Re-exports
:func:`cowork._util.globs.glob_to_regex`, the glob dialect shared by the ``glob`` tool and the
pure-Python ``grep`` fallback.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from cowork import config
from cowork._util import beneath
from cowork._util.globs import glob_to_regex  # noqa: F401 (re-exported: the file tools' glob dialect)
from cowork.sandbox.environment import hidden_paths
from cowork.tools.base import ToolError

Identity = beneath.Identity


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def resolve_in_workspace(workspace: Path, path: str, *, must_exist: bool = False) -> Path:
    """Return the resolved absolute path ``path`` names inside ``workspace``.

    Args:
        workspace: the session's workspace folder (resolved here again, so any form is accepted).
        path: what the model gave: relative to the workspace, or absolute; ``""`` or ``"."`` is
            the workspace itself; a leading ``~`` is expanded (and then usually refused).
        must_exist: raise when the resolved path does not exist.

    Raises:
        ToolError: the path is outside the workspace (``'../x' is outside the workspace /ws``),
            goes through a symlink leading outside (``'link' is a symlink that leads to
            /etc/passwd, outside the workspace /ws``), is an absolute path elsewhere, is malformed
            (NUL byte, symlink loop), or does not exist while ``must_exist`` is set.
    """
    root = workspace.resolve()
    if path in ("", "."):
        return root
    try:
        given = Path(path).expanduser() if path.startswith("~") else Path(path)
        candidate = given if given.is_absolute() else root / given
        resolved = candidate.resolve(strict=False)
    except (ValueError, OSError, RuntimeError) as exc:
        raise ToolError(f"'{path}' is not a valid path: {exc}") from None

    if not _inside(resolved, root):
        raise ToolError(_why_outside(root, path, given, candidate, resolved))
    if must_exist and not resolved.exists():
        raise ToolError(f"'{path}' not found in the workspace {root}")
    return resolved


def _why_outside(root: Path, path: str, given: Path, candidate: Path, resolved: Path) -> str:
    """Explain in one sentence why ``candidate`` (resolving to ``resolved``) leaves ``root``."""
    lexical = Path(os.path.normpath(candidate))
    if not _inside(lexical, root):
        if given.is_absolute():
            return f"'{path}' is an absolute path outside the workspace {root}"
        return f"'{path}' is outside the workspace {root}"
    # Lexically inside, so some component is a symlink that leads out: find the first one.
    rel_parts = lexical.relative_to(root).parts
    for i in range(1, len(rel_parts) + 1):
        prefix = root.joinpath(*rel_parts[:i])
        if prefix.is_symlink():
            try:
                target = prefix.resolve(strict=False)
            except (OSError, RuntimeError):
                continue
            if _inside(target, root):
                continue
            link = PurePosixPath(*rel_parts[:i]).as_posix()
            if i == len(rel_parts):
                return f"'{path}' is a symlink that leads to {target}, outside the workspace {root}"
            return (
                f"'{path}' goes through '{link}', a symlink that leads to {target}, "
                f"outside the workspace {root}"
            )
    return f"'{path}' resolves to {resolved}, outside the workspace {root}"


def display_path(workspace: Path, p: Path) -> str:
    """``p`` relative to the workspace in POSIX form (``"."`` for the workspace itself).

    A path outside the workspace is returned as its absolute string.
    """
    root = workspace.resolve()
    p = p if p.is_absolute() else root / p
    for base in (root, workspace):
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return rel.as_posix() if rel.parts else "."
    return str(p)


# ------------------------------------------------------------------ descriptor-based confinement


def excluded_ids() -> frozenset[Identity]:
    """``(st_dev, st_ino)`` of the folders no file tool enters: ``$COWORK_HOME``
    (:func:`cowork.config.cowork_home`), read afresh on each call."""
    return beneath.identities([config.cowork_home()])


def private_places(workspace: Path) -> tuple[frozenset[Identity], list[str]]:
    """What the walks of ``glob`` and ``grep`` leave out: ``$COWORK_HOME`` and the credential
    stores a sandboxed command cannot see either (``~/.ssh``, ``~/.aws``, ``~/.netrc``… of
    :func:`cowork.sandbox.hidden_paths`). Returns their identities (folders and files) and, for
    those inside ``workspace``, their workspace-relative POSIX paths (for ripgrep's ``--glob``).
    A credential store named explicitly as the search root is searched (the policy asks first);
    ``$COWORK_HOME`` never is."""
    paths = [config.cowork_home(), *hidden_paths(os.environ)]
    root = workspace.resolve()
    rels = set()
    for p in paths:
        real = Path(os.path.realpath(p))
        if real != root and real.is_relative_to(root):
            rels.add(real.relative_to(root).as_posix())
    return beneath.identities(paths), sorted(rels)


def rel_in_workspace(workspace: Path, path: str) -> str:
    """``path`` as a workspace-relative POSIX path for :mod:`cowork._util.beneath` (not resolved:
    symlinks and ``..`` are taken by the walk, beneath the workspace). ``""``/``"."`` give ``"."``;
    a leading ``~`` is expanded; an absolute path must lie inside the workspace (as given, or
    once resolved).

    Raises ToolError: an absolute path elsewhere, a NUL byte."""
    if path in ("", "."):
        return "."
    if "\0" in path:
        raise ToolError(f"'{path}' is not a valid path: it contains a NUL byte")
    given = os.path.expanduser(path) if path.startswith("~") else path
    if not given.startswith("/"):
        return given
    root = workspace.resolve()
    parts = PurePosixPath(given).parts
    for base in (root, Path(os.path.abspath(workspace))):
        if parts[: len(base.parts)] == base.parts:
            return "/".join(parts[len(base.parts):]) or "."
    try:
        resolved = Path(given).resolve()
    except (OSError, RuntimeError, ValueError):
        resolved = None
    if resolved is not None and _inside(resolved, root):
        return resolved.relative_to(root).as_posix() or "."
    raise ToolError(f"'{path}' is an absolute path outside the workspace {root}")


def shown(rel: str) -> str:
    """How a workspace-relative path is named in results: normalised, ``"."`` for the root."""
    return os.path.normpath(rel) if rel not in ("", ".") else "."


def resolved_rel(workspace: Path, rel: str) -> str:
    """How the file tools name ``rel`` in results: its workspace-relative path with symlinks
    inside the workspace resolved (``"."`` for the root), else :func:`shown`. For display only."""
    try:
        return beneath.resolve_beneath(workspace, rel)
    except (OSError, ValueError):
        return shown(rel)


def home_refusal(given: str) -> ToolError:
    return ToolError(f"'{given}' is in cowork's own state folder ($COWORK_HOME, {config.cowork_home()}); "
                     "the file tools never read, list or write it")


@contextmanager
def confined(workspace: Path, given: str) -> Iterator[None]:
    """Turn what :mod:`cowork._util.beneath` raises for ``given`` into ToolErrors a model can read:
    outside the workspace (naming the symlink and where it leads), in ``$COWORK_HOME``, not found,
    a parent that is not a folder, a symlink loop."""
    root = workspace.resolve()
    try:
        yield
    except beneath.Excluded:
        raise home_refusal(given) from None
    except beneath.EscapesRoot as exc:
        if exc.link is None:
            raise ToolError(f"'{given}' is outside the workspace {root}") from None
        if exc.target is None:
            raise ToolError(f"'{given}': '{exc.link}' was changed into a symlink while it was being opened; "
                            "not followed (try again)") from None
        target = exc.target if exc.target.startswith("/") else os.path.normpath(
            os.path.join(root, os.path.dirname(exc.link), exc.target))
        if os.path.normpath(exc.link) == shown(rel_or_none(workspace, given) or ""):
            raise ToolError(f"'{given}' is a symlink that leads to {target}, outside the workspace {root}") from None
        raise ToolError(f"'{given}' goes through '{exc.link}', a symlink that leads to {target}, "
                        f"outside the workspace {root}") from None
    except FileNotFoundError:
        raise ToolError(f"'{given}' not found in the workspace {root}") from None
    except NotADirectoryError:
        raise ToolError(f"'{given}': a part of the path is not a directory") from None
    except ValueError as exc:
        raise ToolError(f"'{given}' is not a valid path: {exc}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ToolError(f"'{given}' is not a valid path: a symlink loop") from None
        raise ToolError(f"cannot open '{given}': {exc.strerror or exc}") from None


def rel_or_none(workspace: Path, given: str) -> str | None:
    try:
        return rel_in_workspace(workspace, given)
    except ToolError:
        return None


MAX_WALK_DEPTH = 128
"""Folders nested deeper than this below a walk's root are not entered (each level holds a
descriptor while it is walked)."""


def walk_beneath(dir_fd: int, exclude: frozenset[Identity], prefix: str = "",
                 skip: tuple[str, ...] = (".git",), _depth: int = 0) -> Iterator[tuple[int, str, str, os.DirEntry[str]]]:
    """Every entry that is not a directory under the directory ``dir_fd``, depth first in name
    order (a folder's content comes where its name sorts, as ``rg --sort path`` orders them):
    ``(descriptor of its folder, name, prefix + relative path, DirEntry)``. Folders named in
    ``skip`` and folders whose identity is in ``exclude`` are not entered; symlinks are yielded,
    never followed; a folder that cannot be opened (or became a symlink) is skipped, and so are
    folders deeper than :data:`MAX_WALK_DEPTH`. The descriptors are valid during the iteration
    only."""
    try:
        entries = sorted(os.scandir(dir_fd), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if not is_dir:
            yield dir_fd, entry.name, prefix + entry.name, entry
            continue
        if entry.name in skip or _depth >= MAX_WALK_DEPTH:
            continue
        try:
            sub = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            continue
        try:
            st = os.fstat(sub)
            if (st.st_dev, st.st_ino) in exclude:
                continue
            yield from walk_beneath(sub, exclude, f"{prefix}{entry.name}/", skip, _depth + 1)
        finally:
            os.close(sub)


def open_regular_at(dir_fd: int, name: str) -> tuple[int, os.stat_result] | None:
    """``(descriptor, stat)`` of the regular file ``name`` in ``dir_fd`` (opened ``O_NOFOLLOW``,
    ``O_NONBLOCK`` then made blocking), or None for anything else (symlink, FIFO, vanished)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    os.set_blocking(fd, True)
    return fd, st
