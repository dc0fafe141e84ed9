"""AGENTS.md: the project's and the person's standing instructions, in every turn's context.

Which files (the ecosystem's convention, https://agents.md; Codex and Claude Code read the same):

- the person's own ``$COWORK_HOME/AGENTS.md``, for every workspace (title "User instructions");
- the workspace's ``AGENTS.md``, or its ``CLAUDE.md`` when there is no ``AGENTS.md``
  ("Project instructions");
- a subfolder's ``AGENTS.md`` (or ``CLAUDE.md``) when the agent works there: after a tool call
  that names a path (a tool's ``traits.paths`` arguments), the instruction files of every folder
  between the workspace's root (left out: it is already loaded) and that path are added to the
  call's result, outermost first, each at most once per turn
  (:meth:`AgentsMd.notes_for_paths`; the engine appends them, see :mod:`cowork.engine.tool_calls`).

Order: the user's first, then the workspace's, then a subfolder's: the nearer instruction comes
last, so it wins where they disagree.

Caps: each file at most :data:`FILE_CAP` bytes (32 KiB), the turn's instructions together at most
:data:`TOTAL_CAP` (64 KiB; the workspace's file is served first, the user's gets what is left). A
file cut to its cap ends with the visible mark :data:`TRUNCATED` and its section says
``truncated=True``.

Safety: the workspace's files are opened beneath the workspace with ``O_NOFOLLOW`` component by
component (:mod:`cowork._util.beneath`): an ``AGENTS.md`` (or a folder on the way) that is a
symlink leading outside the workspace is not read, nor is anything in ``$COWORK_HOME``; a FIFO,
device or folder named ``AGENTS.md`` is never read from. The user's own file may be a symlink
(dotfiles). A file with NUL bytes (binary) is left out; bytes that are not UTF-8 are replaced with
U+FFFD (a UTF-16 file with a byte-order mark is decoded as such). Nothing here raises for a bad
file: it is logged and left out.
"""

from __future__ import annotations

import codecs
import errno
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import config
from .._util import beneath
from ..engine.extensions import ContextSection, Extension
from ..tools.paths import excluded_ids

log = logging.getLogger(__name__)

FILE_CAP = 32 * 1024
"""Bytes of one instruction file that are loaded; the rest is cut (see :data:`TRUNCATED`)."""
TOTAL_CAP = 64 * 1024
"""Bytes of instruction files one turn's instructions carry together."""
NAMES = ("AGENTS.md", "CLAUDE.md")
"""In each folder the first of these that exists is its instruction file."""
TRUNCATED = "[truncated]"
"""The mark that ends the text of a file cut to its cap."""
KIND = "agents_md"
"""``ContextSection.kind`` of every section this module gives."""


@dataclass(frozen=True)
class Loaded:
    """One instruction file as read.

    Attributes:
        text: what the model reads (decoded, cut to the cap with :data:`TRUNCATED` at the end).
        size: the file's size on disk, in bytes.
        truncated: the file was larger than the cap.
    """

    text: str
    size: int
    truncated: bool


def decode(data: bytes) -> str | None:
    """``data`` as text: UTF-8 (a byte-order mark dropped, bad bytes replaced with U+FFFD), or
    UTF-16 when it starts with a UTF-16 byte-order mark; None for binary data (a NUL byte)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    if b"\0" in data:
        return None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    return data.decode("utf-8", "replace")


def _cut(data: bytes, cap: int) -> bytes:
    """The first ``cap`` bytes of ``data``, ending on a whole UTF-8 character (UTF-16: an even
    count), at the last line break when one is in the last quarter."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data[:cap - cap % 2]
    end = cap
    while end > 0 and (data[end] & 0xC0) == 0x80:  # a continuation byte: back to the character's start
        end -= 1
    line = data.rfind(b"\n", 0, end)
    if line >= end * 3 // 4:
        end = line + 1
    return data[:end]


def load(fd: int, name: str, cap: int) -> Loaded | None:
    """Read the regular file open as ``fd`` (``name``: for messages) up to ``cap`` bytes.
    Returns None (and logs why) for something that is not a regular file or is binary."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        log.warning("%s is not a regular file: not loaded", name)
        return None
    os.set_blocking(fd, True)
    chunks, left = [], cap + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    truncated = len(data) > cap
    if truncated:
        data = _cut(data, cap)
    text = decode(data)
    if text is None:
        log.warning("%s looks binary (it has NUL bytes): not loaded", name)
        return None
    if truncated:
        size = max(st.st_size, len(data))
        text = (f"{text.rstrip()}\n\n{TRUNCATED} ({name} is {size:,} bytes; only the first "
                f"{len(data):,} are loaded)")
    return Loaded(text, st.st_size, truncated)


def read_beneath(root: Path, rel: str, cap: int) -> Loaded | None:
    """The instruction file ``rel`` beneath ``root``, read with :func:`load`; None when it does
    not exist, leads outside ``root`` (a symlink), lies in ``$COWORK_HOME``, or cannot be read
    (logged, except for a missing file). Raises nothing but FileNotFoundError (missing)."""
    try:
        fd = beneath.open_beneath(root, rel, os.O_RDONLY | os.O_NONBLOCK, exclude=excluded_ids())
    except FileNotFoundError:
        raise
    except NotADirectoryError:
        raise FileNotFoundError(errno.ENOENT, f"{rel}: a folder on the way is a file") from None
    except (beneath.EscapesRoot, beneath.Excluded) as exc:
        log.warning("%s in %s is not loaded: %s", rel, root, exc)
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s in %s cannot be opened: %s", rel, root, exc)
        return None
    try:
        return load(fd, rel, cap)
    except OSError as exc:
        log.warning("%s in %s cannot be read: %s", rel, root, exc)
        return None
    finally:
        os.close(fd)


def read_folder(root: Path, folder: str, cap: int) -> tuple[str, Loaded] | None:
    """``(rel path, file)`` of ``folder``'s instruction file (``""``: ``root`` itself): its
    ``AGENTS.md``, else its ``CLAUDE.md`` (see :data:`NAMES`); None when it has neither or the
    one it has is not loaded."""
    for name in NAMES:
        rel = f"{folder}/{name}" if folder else name
        try:
            loaded = read_beneath(root, rel, cap)
        except FileNotFoundError:
            continue
        return (rel, loaded) if loaded is not None else None
    return None


def read_user_file(home: Path, cap: int) -> tuple[Path, Loaded] | None:
    """``$COWORK_HOME/AGENTS.md`` (a symlink is followed: it is the person's own file)."""
    path = home / NAMES[0]
    try:
        real = os.path.realpath(path)
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("%s cannot be opened: %s", path, exc)
        return None
    try:
        loaded = load(fd, str(path), cap)
    except OSError as exc:
        log.warning("%s cannot be read: %s", path, exc)
        return None
    finally:
        os.close(fd)
    return (path, loaded) if loaded is not None else None


def _relative(workspace: Path, path: Path) -> str | None:
    """``path`` relative to ``workspace`` as POSIX text (``""``: the workspace), lexically
    (symlinks are left to the walk beneath the workspace); None when it is outside."""
    for root, p in ((workspace, path), (Path(os.path.realpath(workspace)), path)):
        rel = os.path.relpath(os.path.normpath(p), root)
        if rel == ".":
            return ""
        if rel != ".." and not rel.startswith("../"):
            return rel.replace(os.sep, "/")
    return None


def folders_of(workspace: Path, path: Path) -> list[str]:
    """The workspace-relative folders from the workspace's first level down to ``path`` (itself
    when it is a folder, else the folder it is in), outermost first; the workspace's root is
    left out. ``[]`` for the workspace itself or a path outside it."""
    rel = _relative(workspace, path)
    if not rel:
        return []
    parts = [p for p in rel.split("/") if p]
    try:
        is_dir = stat.S_ISDIR(beneath.stat_beneath(workspace, rel).st_mode)
    except (OSError, ValueError):
        is_dir = False  # missing (a file about to be written), or not reachable: its folder counts
    if not is_dir:
        parts = parts[:-1]
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]


class AgentsMd:
    """The :class:`~cowork.engine.extensions.ContextSource` of AGENTS.md files (see the module
    docstring).

    Args:
        home: the folder of the user's ``AGENTS.md``; default ``$COWORK_HOME``, read at each turn.
        file_cap: bytes loaded of one file (:data:`FILE_CAP`).
        total_cap: bytes of the user's and the workspace's files together (:data:`TOTAL_CAP`).

    Raises:
        ValueError: a cap below 1.
    """

    name = "agents_md"

    def __init__(self, home: Path | None = None, *, file_cap: int = FILE_CAP, total_cap: int = TOTAL_CAP) -> None:
        if file_cap < 1 or total_cap < 1:
            raise ValueError(f"AGENTS.md caps must be at least 1 byte (file_cap={file_cap}, total_cap={total_cap})")
        self._home = home
        self.file_cap = file_cap
        self.total_cap = total_cap

    @property
    def home(self) -> Path:
        return self._home if self._home is not None else config.cowork_home()

    def sections(self, session_id: str, workspace: Path, prompt: str | None) -> list[ContextSection]:
        """The user's instructions, then the workspace's (see the module docstring); each a
        section of kind ``"agents_md"`` whose ``source`` is the file's absolute path."""
        project = read_folder(workspace, "", min(self.file_cap, self.total_cap))
        used = min(project[1].size, self.file_cap) if project else 0
        out: list[ContextSection] = []
        left = min(self.file_cap, self.total_cap - used)
        user = read_user_file(self.home, left) if left > 0 else None
        if user is not None and not (project and _same(user[0], workspace / project[0])):
            path, loaded = user
            out.append(ContextSection(KIND, "User instructions", loaded.text, str(path), loaded.truncated))
        if project is not None:
            rel, loaded = project
            out.append(ContextSection(KIND, "Project instructions", loaded.text, str(workspace / rel),
                                      loaded.truncated))
        return out

    def notes_for_paths(self, session_id: str, workspace: Path, paths: Sequence[Path]) -> list[ContextSection]:
        """The instruction files of the subfolders ``paths`` lie in (see :func:`folders_of`),
        outermost first, each once; ``source`` is the file's absolute path."""
        out: list[ContextSection] = []
        seen: set[str] = set()
        for path in paths:
            for folder in folders_of(workspace, Path(path)):
                if folder in seen:
                    continue
                seen.add(folder)
                found = read_folder(workspace, folder, self.file_cap)
                if found is None:
                    continue
                rel, loaded = found
                title = (f"Instructions for {folder}/ from {rel}: follow them for work under {folder}/ "
                         "(they take precedence over the project instructions)")
                out.append(ContextSection(KIND, title, loaded.text, str(workspace / rel), loaded.truncated))
        return out


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def agents_md_extension(home: Path | None = None, *, file_cap: int = FILE_CAP,
                        total_cap: int = TOTAL_CAP) -> Extension:
    """The ``agents_md`` extension for :class:`~cowork.engine.Runtime`: one :class:`AgentsMd`
    context source (also its ``service``). Arguments as :class:`AgentsMd`'s."""
    source = AgentsMd(home, file_cap=file_cap, total_cap=total_cap)
    return Extension("agents_md", context_sources=[source], service=source)


__all__ = ["FILE_CAP", "KIND", "NAMES", "TOTAL_CAP", "TRUNCATED", "AgentsMd", "Loaded", "agents_md_extension",
           "decode", "folders_of", "load", "read_folder"]
