"""File tools: ``read``, ``write``, ``edit``, ``ls`` and ``glob``.

Every path is opened beneath the workspace through directory descriptors with ``O_NOFOLLOW``
(:mod:`cowork.tools.paths`, :mod:`cowork._util.beneath`), so nothing outside the workspace is
read, listed or written, symlinks and folders swapped for symlinks mid-call included, and
``$COWORK_HOME`` never is, wherever it lies. ``write`` and ``edit`` replace the file atomically
(a temporary file in the verified parent folder, renamed over the name): a reader sees the old or
the new content, and a file with several hard links gets a copy of its own under this name while
its other names, possibly outside the workspace, keep the old content. Text is UTF-8; a file with a NUL byte in
its first 8 KiB, or that is not valid UTF-8, is treated as binary and never shown or edited.
Filesystem work runs in a worker thread so a slow disk never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import difflib
import errno
import os
import re
import stat
from pathlib import Path, PurePosixPath

from pydantic import Field

from cowork.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, plural, truncate_middle
from cowork.tools.base import ToolTraits
from cowork._util import beneath
from cowork.tools.paths import (
    confined, excluded_ids, glob_to_regex, private_places, rel_in_workspace, resolved_rel, shown, walk_beneath,
)

MAX_FILE_BYTES = 10 * 1024 * 1024
"""Largest file read whole, edited, or written (bytes)."""
MAX_LINE_CHARS = 2000
"""Lines longer than this (characters) are cut in ``read`` output."""
MAX_LIST_ENTRIES = 1000
"""Most entries ``ls`` and ``glob`` return."""
BINARY_SNIFF_BYTES = 8192


# ---------------------------------------------------------------------------------------- helpers


def human_size(n: int) -> str:
    """``1536`` → ``"1.5 KiB"``; bytes under 1 KiB as ``"12 B"``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def count_lines(text: str) -> int:
    """Number of lines in ``text``; a final line without newline counts, ``""`` has 0."""
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def decode_text(data: bytes) -> str | None:
    """``data`` as UTF-8 text, or None when it looks binary (NUL in the first 8 KiB, bad UTF-8)."""
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def unified_diff(old: str, new: str, rel: str) -> str:
    """Unified diff of ``old`` → ``new`` labelled ``a/rel`` and ``b/rel`` (``""`` if equal)."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


def _open_file(workspace: Path, given: str) -> tuple[int, os.stat_result, str]:
    """``(descriptor, stat, workspace-relative path)`` of the existing regular file ``given``,
    opened beneath the workspace (the caller closes). Raises ToolError: outside the workspace, in
    ``$COWORK_HOME``, not found, a directory, a pipe, socket or device (never opened blocking)."""
    rel = rel_in_workspace(workspace, given)
    with confined(workspace, given):
        fd = beneath.open_beneath(workspace, rel, os.O_RDONLY | os.O_NONBLOCK, exclude=excluded_ids())
    return fd, _regular(fd, given, "a directory, not a file; use ls to list it", "not opened"), rel


def _regular(fd: int, given: str, directory: str, refused: str) -> os.stat_result:
    """The stat of ``fd``, opened non-blocking, made blocking once it is a regular file; else
    ``fd`` is closed and ToolError says ``'given' is DIRECTORY`` or ``… not a regular file …; REFUSED``."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(f"'{given}' is {directory}")
        raise ToolError(f"'{given}' is not a regular file (a pipe, socket or device); {refused}")
    os.set_blocking(fd, True)
    return st


def _read_text_file(workspace: Path, given: str, verb: str) -> tuple[str, str, os.stat_result]:
    """``(text, workspace-relative path, stat)`` of an existing regular file, or ToolError
    (outside, directory, too big, binary)."""
    fd, st, rel = _open_file(workspace, given)
    with os.fdopen(fd, "rb") as f:
        if st.st_size > MAX_FILE_BYTES:
            raise ToolError(
                f"'{given}' is {human_size(st.st_size)} ({st.st_size:,} bytes), over the "
                f"{human_size(MAX_FILE_BYTES)} limit to {verb} a file whole"
            )
        data = f.read(MAX_FILE_BYTES + 1)
    text = decode_text(data)
    if text is None:
        raise ToolError(f"'{given}' is a binary file ({len(data):,} bytes); not shown")
    return text, rel, st


def _replace_text(workspace: Path, given: str, rel: str, text: str, *, create_dirs: bool) -> None:
    """Atomically make ``rel`` hold ``text`` (UTF-8), beneath the workspace; missing parents are
    created with ``create_dirs``. Raises ToolError (outside, ``$COWORK_HOME``, a directory, not a
    regular file, a parent that is not a folder, bad text, a disk error)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ToolError(f"content is not valid text: {exc}") from None
    with confined(workspace, given):
        try:
            beneath.replace_beneath(workspace, rel, data, create_dirs=create_dirs, exclude=excluded_ids())
        except IsADirectoryError:
            raise ToolError(f"'{given}' is a directory; give a file path to write") from None
        except FileExistsError as exc:
            raise ToolError(f"cannot write '{given}': a parent is not a directory ({exc})") from None
        except (beneath.EscapesRoot, beneath.Excluded, FileNotFoundError, NotADirectoryError):
            raise
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise ToolError(f"'{given}' is not a regular file (a pipe, socket or device); not written") from None
            raise ToolError(f"cannot write '{given}': {exc.strerror or exc}") from None


def _links_note(links: int) -> str:
    if links <= 1:
        return ""
    return (f"; it had {links} hard links: this name now has its own copy, the other names keep "
            "the old content")


# ------------------------------------------------------------------------------------------- read


class ReadArgs(ToolArgs):
    path: str = Field(description="File to read, relative to the workspace (or absolute inside it).")
    offset: int = Field(1, ge=1, description="1-based line number to start at.")
    limit: int = Field(2000, ge=1, description="Maximum number of lines to return.")


def _format_line(number: int, line: str) -> str:
    if len(line) > MAX_LINE_CHARS:
        extra = len(line) - MAX_LINE_CHARS
        line = f"{line[:MAX_LINE_CHARS]} [... line cut, {extra:,} more characters]"
    return f"{number:>6}\t{line}"


def _stream_window(f, size: int, given: str, offset: int, limit: int, budget: int) -> ToolResult:
    """Lines ``offset..offset+limit-1`` of the open file ``f`` (``size`` bytes), too big to load,
    read line by line."""
    with f:
        if b"\0" in f.read(BINARY_SNIFF_BYTES):
            raise ToolError(f"'{given}' is a binary file ({size:,} bytes); not shown")
        f.seek(0)
        out: list[str] = []
        used = 0
        number = 0
        more = False
        while True:
            raw = f.readline(MAX_LINE_CHARS * 4 + 1)
            if not raw:
                break
            cut = not raw.endswith(b"\n")
            while cut:  # skip the rest of an overlong line
                rest = f.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            number += 1
            if number < offset:
                continue
            if len(out) >= limit or used > budget:
                more = True
                break
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            line = _format_line(number, text)
            out.append(line)
            used += len(line) + 1
    if not out:
        raise ToolError(f"offset {offset} is past the end of '{given}' ({number:,} lines)")
    first = offset
    last = offset + len(out) - 1
    if more:
        out.append(f"[showing lines {first}-{last} of a {human_size(size)} file; "
                   "use offset to read more]")
    return ToolResult("\n".join(out), summary=f"read lines {first}-{last}")


class ReadTool(Tool):
    """Show a text file with line numbers, a window at a time."""

    name = "read"
    description = (
        "Read a UTF-8 text file from the workspace. Returns lines as `cat -n` does: line number, "
        "a tab, the line. Starts at line `offset` (1-based) and returns at most `limit` lines; "
        "lines over 2000 characters are cut. If more remains, a final note says how to continue "
        "with `offset`. Directories (use `ls`), binary files and files over 10 MiB (pass offset/"
        "limit to read a slice, or use `grep`) are refused."
    )
    Args = ReadArgs
    traits = ToolTraits(read_only=True, destructive=False, open_world=False, paths={"path": "read"},
                        must_exist={"path": "file"})

    async def run(self, args: ReadArgs, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self._run, args, ctx)

    def _run(self, args: ReadArgs, ctx: ToolContext) -> ToolResult:
        fd, st, rel = _open_file(ctx.workspace, args.path)
        rel = resolved_rel(ctx.workspace, rel)
        size = st.st_size
        budget = max(ctx.max_output_chars - 200, 1000)
        f = os.fdopen(fd, "rb")
        if size > MAX_FILE_BYTES:
            if not ({"offset", "limit"} & args.model_fields_set):
                f.close()
                raise ToolError(
                    f"'{args.path}' is {human_size(size)} ({size:,} bytes), over the "
                    f"{human_size(MAX_FILE_BYTES)} limit for a whole read; pass offset and limit "
                    "to read a slice, or use grep to find what you need"
                )
            return _stream_window(f, size, args.path, args.offset, args.limit, budget)
        with f:
            data = f.read(MAX_FILE_BYTES + 1)
        text = decode_text(data)
        if text is None:
            raise ToolError(f"'{args.path}' is a binary file ({len(data):,} bytes); not shown")
        if not text:
            return ToolResult(f"'{rel}' is empty (0 bytes).", summary="empty file")
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        total = len(lines)
        if args.offset > total:
            raise ToolError(
                f"offset {args.offset} is past the end of '{args.path}', which has {total:,} lines"
            )
        out: list[str] = []
        used = 0
        end = min(total, args.offset - 1 + args.limit)
        for i in range(args.offset - 1, end):
            line = _format_line(i + 1, lines[i].rstrip("\r"))
            if out and used + len(line) > budget:
                break
            out.append(line)
            used += len(line) + 1
        first, last = args.offset, args.offset + len(out) - 1
        if first > 1 or last < total:
            out.append(f"[showing lines {first}-{last} of {total:,}; use offset to read more]")
        return ToolResult(
            "\n".join(out), summary=f"read {rel} lines {first}-{last} of {total}",
            metadata={"path": rel},
        )


# ------------------------------------------------------------------------------------------ write


def _plan_write(args: WriteArgs, workspace: Path) -> tuple[str, str, bool, str, int]:
    """(workspace-relative path, its name in results, whether it exists, its text now, its hard
    link count) for a write, without writing. Raises ToolError (outside the workspace, in
    ``$COWORK_HOME``, a directory, not a regular file, too big)."""
    rel = rel_in_workspace(workspace, args.path)
    name = resolved_rel(workspace, rel)
    if name == ".":
        raise ToolError(f"'{args.path}' is a directory; give a file path to write")
    size = len(args.content.encode("utf-8", errors="surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise ToolError(f"content is {human_size(size)}, over the {human_size(MAX_FILE_BYTES)} write limit")
    with confined(workspace, args.path):
        try:
            fd = beneath.open_beneath(workspace, rel, os.O_RDONLY | os.O_NONBLOCK, exclude=excluded_ids())
        except FileNotFoundError:
            return rel, name, False, "", 0
    st = _regular(fd, args.path, "a directory; give a file path to write", "not written")
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1) if st.st_size <= MAX_FILE_BYTES else b"\0"
    return rel, name, True, decode_text(data) or "", st.st_nlink


class WriteArgs(ToolArgs):
    path: str = Field(description="File to create or overwrite, relative to the workspace.")
    content: str = Field(description="The complete new content of the file (UTF-8 text).")


class WriteTool(Tool):
    """Create or overwrite a text file."""

    name = "write"
    description = (
        "Write a UTF-8 text file in the workspace, replacing it entirely if it exists; missing "
        "parent directories are created. Give the full content. To change part of an existing "
        "file prefer `edit`. Content over 10 MiB is refused."
    )
    Args = WriteArgs
    traits = ToolTraits(read_only=False, destructive=False, open_world=False, checkpoint=True, edits_files=True,
                        paths={"path": "write"})

    async def run(self, args: WriteArgs, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self._run, args, ctx)

    def preview(self, args: WriteArgs, workspace: Path) -> str | None:
        return preview_diff(self.name, args, workspace)

    def _run(self, args: WriteArgs, ctx: ToolContext) -> ToolResult:
        path, rel, existed, old, links = _plan_write(args, ctx.workspace)
        _replace_text(ctx.workspace, args.path, path, args.content, create_dirs=True)
        n = count_lines(args.content)
        what = f"overwrote {rel}" if existed else f"created {rel}"
        return ToolResult(
            f"Wrote {plural(n, 'line')} to {rel} "
            f"({'overwrote the existing file' if existed else 'new file'}{_links_note(links)})",
            summary=f"{what} · {plural(n, 'line')}",
            metadata={"diff": unified_diff(old, args.content, rel), "path": rel},
        )


# ------------------------------------------------------------------------------------------- edit


class EditArgs(ToolArgs):
    path: str = Field(description="File to edit, relative to the workspace.")
    old_string: str = Field(
        description="Exact text to replace, including whitespace and indentation; must occur "
        "exactly once unless replace_all is true. Include surrounding lines to make it unique."
    )
    new_string: str = Field(description="Text to put in its place (may be empty to delete).")
    replace_all: bool = Field(False, description="Replace every occurrence instead of exactly one.")


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _near_match_hint(text: str, old: str) -> str:
    """A hint when ``old`` matches ``text`` once whitespace differences are ignored, else ``""``."""
    old_lines = [line.strip() for line in old.strip("\n").split("\n")]
    lines = [line.strip() for line in text.split("\n")]
    if any(old_lines):
        for i in range(len(lines) - len(old_lines) + 1):
            if lines[i : i + len(old_lines)] == old_lines:
                return (f"; the text at line {i + 1} matches if indentation/whitespace is ignored "
                        "(read the file and copy the exact text)")
    squash = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    if squash(old) and squash(old) in squash(text):
        return ("; a match exists if whitespace is ignored (check indentation, tabs vs spaces and "
                "line breaks; read the file and copy the exact text)")
    return ""


class EditTool(Tool):
    """Replace an exact string in a text file."""

    name = "edit"
    description = (
        "Edit a text file by exact string replacement: `old_string` must match the file "
        "character for character (whitespace included) and occur exactly once, or set "
        "`replace_all` to change every occurrence. Read the file first. Returns a unified diff."
    )
    Args = EditArgs
    traits = ToolTraits(read_only=False, destructive=False, open_world=False, checkpoint=True, edits_files=True,
                        paths={"path": "write"}, must_exist={"path": "file"})

    async def run(self, args: EditArgs, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self._run, args, ctx)

    def preview(self, args: EditArgs, workspace: Path) -> str | None:
        return preview_diff(self.name, args, workspace)

    def _run(self, args: EditArgs, ctx: ToolContext) -> ToolResult:
        path, rel, text, new, count, links = _plan_edit(args, ctx.workspace)
        _replace_text(ctx.workspace, args.path, path, new, create_dirs=False)
        diff = unified_diff(text, new, rel)
        n = count if args.replace_all else 1
        head = f"Edited {rel}: replaced {n} occurrence{'s' if n != 1 else ''}{_links_note(links)}"
        return ToolResult(
            truncate_middle(f"{head}\n\n{diff}", ctx.max_output_chars),
            summary=f"edited {rel} · {n} replacement{'s' if n != 1 else ''}",
            metadata={"diff": diff, "path": rel},
        )


def _plan_edit(args: EditArgs, workspace: Path) -> tuple[str, str, str, str, int, int]:
    """(workspace-relative path, its name in results, text now, text after, occurrences, hard
    link count) for an edit, without writing. Raises ToolError (no such file, outside the
    workspace, in ``$COWORK_HOME``, no or several matches, binary, too big)."""
    if args.old_string == "":
        raise ToolError("old_string is empty; to create or rewrite a file use write")
    if args.old_string == args.new_string:
        raise ToolError("old_string and new_string are identical; nothing to change")
    text, path, st = _read_text_file(workspace, args.path, "edit")
    rel = resolved_rel(workspace, path)
    count = text.count(args.old_string)
    if count == 0:
        raise ToolError(f"old_string not found in {rel}{_near_match_hint(text, args.old_string)}")
    if count > 1 and not args.replace_all:
        starts, i = [], text.find(args.old_string)
        while i != -1:
            starts.append(_line_of(text, i))
            i = text.find(args.old_string, i + len(args.old_string))
        lines = ", ".join(map(str, starts[:20])) + (", ..." if len(starts) > 20 else "")
        raise ToolError(
            f"old_string occurs {count} times in {rel} (lines {lines}); include more "
            "surrounding context to make it unique, or set replace_all to true"
        )
    new = text.replace(args.old_string, args.new_string, -1 if args.replace_all else 1)
    return path, rel, text, new, count, st.st_nlink


def preview_diff(tool: str, args: ToolArgs, workspace: Path) -> str | None:
    """The unified diff a ``write`` or ``edit`` call would make, computed without writing (for
    approval requests); None for other tools or a call that would fail (the tool says why)."""
    try:
        if isinstance(args, WriteArgs) and tool == "write":
            _, rel, _, old, _ = _plan_write(args, workspace)
            return unified_diff(old, args.content, rel)
        if isinstance(args, EditArgs) and tool == "edit":
            _, rel, text, new, _, _ = _plan_edit(args, workspace)
            return unified_diff(text, new, rel)
    except (ToolError, OSError):
        return None
    return None


# --------------------------------------------------------------------------------------------- ls


class LsArgs(ToolArgs):
    path: str = Field(".", description="Directory to list, relative to the workspace.")


class LsTool(Tool):
    """List one directory."""

    name = "ls"
    description = (
        "List a directory of the workspace (not recursive): subdirectories first with a trailing "
        "`/`, then files with their size, symlinks as `name -> target`. At most 1000 entries."
    )
    Args = LsArgs
    traits = ToolTraits(read_only=True, destructive=False, open_world=False, paths={"path": "read"},
                        must_exist={"path": "folder"})

    async def run(self, args: LsArgs, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self._run, args, ctx)

    def _run(self, args: LsArgs, ctx: ToolContext) -> ToolResult:
        rel = rel_in_workspace(ctx.workspace, args.path)
        ids = excluded_ids()
        with confined(ctx.workspace, args.path):
            try:
                fd = beneath.open_dir_beneath(ctx.workspace, rel, exclude=ids)
            except NotADirectoryError:
                raise ToolError(f"'{args.path}' is not a directory; use read to show a file") from None
        rel = resolved_rel(ctx.workspace, rel)
        try:
            dirs, others = _list_dir(fd, ids)
        except OSError as exc:
            raise ToolError(f"cannot list '{args.path}': {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        lines = [text for _, text in sorted(dirs) + sorted(others)]
        total = len(lines)
        if total == 0:
            return ToolResult(f"{rel}/ is empty", summary="0 entries", metadata={"path": rel})
        if total > MAX_LIST_ENTRIES:
            lines = lines[:MAX_LIST_ENTRIES]
            lines.append(f"[showing {MAX_LIST_ENTRIES} of {total:,} entries; use glob to narrow]")
        return ToolResult(
            truncate_middle("\n".join(lines), ctx.max_output_chars),
            summary=f"{total} entries", metadata={"path": rel},
        )


def _list_dir(fd: int, exclude: frozenset[beneath.Identity]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(folders, other entries) of the open directory ``fd`` as (name, line); excluded folders
    (``$COWORK_HOME``) are left out."""
    dirs, others = [], []
    for e in os.scandir(fd):
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            others.append((e.name, f"{e.name}  (?)"))
            continue
        if stat.S_ISLNK(st.st_mode):
            try:
                others.append((e.name, f"{e.name} -> {os.readlink(e.name, dir_fd=fd)}"))
            except OSError:
                others.append((e.name, f"{e.name} -> ?"))
        elif stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) not in exclude:
                dirs.append((e.name, f"{e.name}/"))
        else:
            others.append((e.name, f"{e.name}  ({human_size(st.st_size)})"))
    return dirs, others


# ------------------------------------------------------------------------------------------- glob


class GlobArgs(ToolArgs):
    pattern: str = Field(
        description="Glob relative to `path`: `*` and `?` within a name, `**` for any number of "
        "directories, e.g. `**/*.py` or `src/**/test_*.py`. `*.py` matches only directly in `path`."
    )
    path: str = Field(".", description="Directory to search from, relative to the workspace.")


def _glob_files(workspace: Path, base_fd: int, base: str, pattern: str,
                exclude: frozenset[beneath.Identity]) -> list[tuple[float, str]]:
    """(mtime, workspace-relative path) of files under the open folder ``base_fd`` (the
    workspace-relative ``base``) matching ``pattern``, newest first.

    Never enters ``.git``, nor the places in ``exclude`` (``$COWORK_HOME``, credential stores),
    nor follows directory symlinks; file symlinks are listed when they lead to a regular file
    inside the workspace (resolved beneath it)."""
    regex = glob_to_regex(pattern)
    prefix = "" if base == "." else f"{base}/"
    found: list[tuple[float, str]] = []
    for _, _, rel, entry in walk_beneath(base_fd, exclude):
        if not regex.fullmatch(rel):
            continue
        try:
            if entry.is_symlink():
                st = beneath.stat_beneath(workspace, prefix + rel, exclude=exclude)
                if not stat.S_ISREG(st.st_mode):
                    continue
            else:
                st = entry.stat(follow_symlinks=False)
        except (OSError, ValueError):
            continue
        if (st.st_dev, st.st_ino) in exclude:
            continue
        found.append((st.st_mtime, prefix + rel))
    found.sort(key=lambda item: (-item[0], item[1]))
    return found


class GlobTool(Tool):
    """Find files by name pattern."""

    name = "glob"
    description = (
        "Find files in the workspace whose path matches a glob pattern, e.g. `**/*.py` (any "
        "depth) or `src/*.ts` (one level). Returns workspace-relative paths, most recently "
        "modified first, at most 1000. `.git` is never searched."
    )
    Args = GlobArgs
    traits = ToolTraits(read_only=True, destructive=False, open_world=False, paths={"path": "read"},
                        must_exist={"path": "folder"})

    async def run(self, args: GlobArgs, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self._run, args, ctx)

    def _run(self, args: GlobArgs, ctx: ToolContext) -> ToolResult:
        pattern = args.pattern.strip()
        if not pattern:
            raise ToolError("pattern is empty")
        if pattern.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", pattern):
            raise ToolError(f"pattern '{pattern}' is absolute; give a pattern relative to `path`")
        if ".." in PurePosixPath(pattern.replace("\\", "/")).parts:
            raise ToolError(f"pattern '{pattern}' contains '..'; set `path` to search elsewhere "
                            "in the workspace")
        base = rel_in_workspace(ctx.workspace, args.path)
        ids = excluded_ids()
        with confined(ctx.workspace, args.path):
            try:
                fd = beneath.open_dir_beneath(ctx.workspace, base, exclude=ids)
            except NotADirectoryError:
                raise ToolError(f"'{args.path}' is not a directory") from None
        try:
            root = os.fstat(fd)
            private, _ = private_places(ctx.workspace)
            walk_ids = ids | (private - {(root.st_dev, root.st_ino)})  # a store named explicitly is listed
            found = _glob_files(ctx.workspace, fd, shown(base), pattern, walk_ids)
        finally:
            os.close(fd)
        if not found:
            where = shown(base)
            return ToolResult(f"No files match '{pattern}' in {where}", summary="0 files")
        lines = [rel for _, rel in found[:MAX_LIST_ENTRIES]]
        if len(found) > MAX_LIST_ENTRIES:
            lines.append(f"[showing {MAX_LIST_ENTRIES} of {len(found):,} files; narrow the pattern]")
        return ToolResult(
            truncate_middle("\n".join(lines), ctx.max_output_chars),
            summary=f"{len(found)} files",
        )
