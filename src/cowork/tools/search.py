"""The ``grep`` tool: regex search over workspace files.

Uses ripgrep (``rg --json``) when it is on PATH and a pure-Python walk with :mod:`re` otherwise;
both print the same format: ``relpath:line:text`` for matching lines and ``relpath-line-text``
for context lines, ``--`` between non-adjacent groups when context is asked for. Hidden files are
searched, ``.git``, ``$COWORK_HOME`` and credential stores (``~/.ssh``…) never; symlinks met while
walking are not followed. ripgrep
also honours ``.gitignore``; the fallback does not.

Confinement: the ``path`` is opened beneath the workspace (:mod:`cowork.tools.paths`) and the
search runs on that descriptor, not on the name: ripgrep is started in the opened folder
(``/proc/self/fd/N`` as its working directory) or reads the opened file on its stdin, and the
fallback walks directory descriptors with ``O_NOFOLLOW``. A folder swapped for a symlink after
the check therefore cannot redirect the search outside. ``$COWORK_HOME`` inside the searched
folder is excluded (``--glob !/...`` for ripgrep, by identity in the fallback) and any result
under it is dropped; so are the credential stores, unless one is itself the folder named.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import stat
from typing import Any

from pydantic import Field

from cowork.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, truncate_middle
from cowork.tools.base import ToolTraits
from cowork._util import beneath
from cowork.tools.paths import (
    Identity, confined, excluded_ids, glob_to_regex, open_regular_at, private_places, rel_in_workspace,
    resolved_rel, walk_beneath,
)

MAX_MATCHES = 500
"""Matching lines reported before the search stops."""
MAX_LINE_CHARS = 1000
"""Characters of one line shown; the rest is cut with a marker."""
GREP_TIMEOUT_S = 60.0
"""Seconds before a ripgrep search is stopped and partial results returned."""
_FALLBACK_MAX_FILE_BYTES = 100 * 1024 * 1024


def find_rg() -> str | None:
    """Path of the ``rg`` executable, or None (tests patch this to force the fallback)."""
    return shutil.which("rg")


class GrepArgs(ToolArgs):
    pattern: str = Field(description="Regular expression to search for (ripgrep/Rust syntax).")
    path: str = Field(".", description="File or directory to search, relative to the workspace.")
    glob: str | None = Field(
        None, description="Only search files matching this glob, e.g. `*.py` (any depth) or "
        "`src/**/*.ts`; prefix with `!` to exclude."
    )
    ignore_case: bool = Field(False, description="Match case-insensitively.")
    context: int = Field(0, ge=0, le=50, description="Lines of context to show around each match.")


class _Collector:
    """Accumulates output lines in the shared format and counts matches against the cap."""

    def __init__(self, context: int) -> None:
        self.context = context
        self.lines: list[str] = []
        self.matches = 0
        self.files: set[str] = set()
        self.capped = False
        self._last: tuple[str, int] | None = None

    def add(self, rel: str, number: int, text: str, is_match: bool) -> bool:
        """Record one line; returns False once the match cap is hit (the caller should stop)."""
        if is_match and self.matches >= MAX_MATCHES:
            self.capped = True
            return False
        last = self._last
        if self.context and last is not None and (last[0] != rel or number > last[1] + 1):
            self.lines.append("--")
        text = text.rstrip("\r\n")
        if len(text) > MAX_LINE_CHARS:
            text = f"{text[:MAX_LINE_CHARS]} [... {len(text) - MAX_LINE_CHARS:,} more characters]"
        self.lines.append(f"{rel}{':' if is_match else '-'}{number}{':' if is_match else '-'}{text}")
        self._last = (rel, number)
        if is_match:
            self.matches += 1
            self.files.add(rel)
        return True


def _text_of(field: dict[str, Any]) -> str:
    if "text" in field:
        return field["text"]
    return base64.b64decode(field.get("bytes", "")).decode("utf-8", errors="replace")


def _join(base: str, rel: str) -> str:
    """Workspace-relative POSIX path of ``rel`` (relative to the searched folder ``base``)."""
    return os.path.normpath(rel if base == "." else f"{base}/{rel}")


def _under(rel: str, folders: list[str]) -> bool:
    return any(rel == f or rel.startswith(f + "/") for f in folders)


def _glob_escape(text: str) -> str:
    return re.sub(r"([\\*?\[\]{}!])", r"\\\1", text)


async def _run_rg(rg: str, args: GrepArgs, fd: int, is_dir: bool, base: str, hidden: list[str],
                  out: _Collector) -> list[str]:
    """Feed ripgrep's results into ``out``; returns notes (errors, timeout) to append.

    ``fd`` is the opened search root (a folder: ripgrep runs in it; a file: ripgrep reads it on
    stdin), ``base`` its workspace-relative path, ``hidden`` the workspace-relative
    places left out (``$COWORK_HOME``, credential stores: :func:`cowork.tools.paths.private_places`)."""
    cmd = [rg, "--json", "--hidden", "--sort", "path", "--regexp", args.pattern]
    if args.glob:
        cmd += ["--glob", args.glob]
    cmd += ["--glob", "!.git"]
    prefix = "" if base == "." else base + "/"
    hidden = [f for f in hidden if f.startswith(prefix)]  # strictly below the search root
    for folder in hidden:  # later globs win over the person's --glob
        cmd += ["--glob", "!/" + _glob_escape(folder[len(prefix):])]
    if args.ignore_case:
        cmd.append("--ignore-case")
    if args.context:
        cmd += ["--context", str(args.context)]
    if is_dir:
        # ripgrep matches --glob relative to its cwd, so run it in the opened search root
        cmd += ["--", "."]
        where = dict(cwd=f"/proc/self/fd/{fd}", pass_fds=(fd,), stdin=asyncio.subprocess.DEVNULL)
    else:
        cmd += ["-"]
        where = dict(stdin=fd)
    proc = await asyncio.create_subprocess_exec(
        *cmd, **where, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=16 * 1024 * 1024,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.create_task(proc.stderr.read())
    notes: list[str] = []
    try:
        async with asyncio.timeout(GREP_TIMEOUT_S):
            while True:
                try:
                    raw = await proc.stdout.readline()
                except ValueError:  # a line longer than the stream limit: skip it
                    continue
                if not raw:
                    break
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if msg.get("type") not in ("match", "context"):
                    continue
                data = msg["data"]
                rel = _join(base, _text_of(data["path"])) if is_dir else base
                if _under(rel, hidden):
                    continue
                text = _text_of(data["lines"])
                if not out.add(rel, data["line_number"], text, msg["type"] == "match"):
                    return notes
            await proc.wait()
    except TimeoutError:
        notes.append(f"[search stopped after {GREP_TIMEOUT_S:.0f} s; results are incomplete]")
        return notes
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        stderr = (await stderr_task).decode("utf-8", errors="replace").strip()
        if proc.returncode == 2 and stderr:
            if out.matches == 0 and not out.capped:
                raise ToolError(f"grep failed: {stderr}")
            notes.append(f"[some files could not be searched: {stderr.splitlines()[0]}]")
    return notes


def _glob_filter(glob: str | None):
    """Predicate on a path relative to the searched folder, following ripgrep's --glob: no ``/``
    → match the file name."""
    if not glob:
        return lambda rel: True
    negate = glob.startswith("!")
    pat = glob[1:] if negate else glob
    regex = glob_to_regex(pat)
    by_name = "/" not in pat.strip("/")

    def keep(rel: str) -> bool:
        subject = rel.rsplit("/", 1)[-1] if by_name else rel
        return bool(regex.fullmatch(subject)) != negate

    return keep


def _files(fd: int, is_dir: bool, glob: str | None, exclude: frozenset[Identity]):
    """``(path relative to the search root, open descriptor, stat)`` of each regular file to
    search: the opened file itself, or every file under the opened folder (``.git``, excluded
    folders and symlinks skipped) that ``glob`` keeps. The caller closes each descriptor."""
    if not is_dir:
        yield "", os.dup(fd), os.fstat(fd)
        return
    keep = _glob_filter(glob)
    for dir_fd, name, rel, entry in walk_beneath(fd, exclude):
        if entry.is_symlink() or not keep(rel):
            continue
        opened = open_regular_at(dir_fd, name)
        if opened is None:
            continue
        if (opened[1].st_dev, opened[1].st_ino) in exclude:
            os.close(opened[0])
            continue
        yield rel, *opened


def _python_grep(args: GrepArgs, fd: int, is_dir: bool, base: str, exclude: frozenset[Identity],
                 out: _Collector) -> list[str]:
    """The fallback: same results as ripgrep for ordinary regexes, without .gitignore support."""
    try:
        regex = re.compile(args.pattern, re.IGNORECASE if args.ignore_case else 0)
    except re.error as exc:
        raise ToolError(f"grep failed: invalid regex {args.pattern!r}: {exc}") from None
    # like ripgrep, an explicitly named file is searched whatever the glob says
    for rel, file_fd, st in _files(fd, is_dir, args.glob, exclude):
        with os.fdopen(file_fd, "rb") as f:
            if st.st_size > _FALLBACK_MAX_FILE_BYTES:
                continue
            try:
                f.seek(0)
                data = f.read()
            except OSError:
                continue
        if b"\0" in data[:8192]:
            continue
        lines = data.decode("utf-8", errors="replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        hits = [i for i, line in enumerate(lines) if regex.search(line)]
        if not hits:
            continue
        show: set[int] = set()
        for i in hits:
            show.update(range(max(0, i - args.context), min(len(lines), i + args.context + 1)))
        name = _join(base, rel) if rel else base
        matched = set(hits)
        for i in sorted(show):
            if not out.add(name, i + 1, lines[i], i in matched):
                return []
    return []


class GrepTool(Tool):
    """Search file contents with a regular expression."""

    name = "grep"
    description = (
        "Search file contents in the workspace for a regular expression (ripgrep syntax). "
        "Prints `path:line:text` for each matching line and `path-line-text` for context lines. "
        "Narrow with `path` and `glob` (e.g. `*.py`); set `ignore_case` or `context` as needed. "
        "Hidden files are searched, `.git` and .gitignored files are not. Stops after 500 matches."
    )
    Args = GrepArgs
    traits = ToolTraits(read_only=True, destructive=False, open_world=False, paths={"path": "read"},
                        must_exist={"path": "any"})

    async def run(self, args: GrepArgs, ctx: ToolContext) -> ToolResult:
        if not args.pattern:
            raise ToolError("pattern is empty")
        ws = ctx.workspace
        rel = rel_in_workspace(ws, args.path)
        ids = excluded_ids()
        with confined(ws, args.path):
            fd = beneath.open_beneath(ws, rel, os.O_RDONLY | os.O_NONBLOCK, exclude=ids)
        try:
            st = os.fstat(fd)
            is_dir = stat.S_ISDIR(st.st_mode)
            if not is_dir and not stat.S_ISREG(st.st_mode):
                raise ToolError(f"'{args.path}' is not a regular file (a pipe, socket or device); not searched")
            os.set_blocking(fd, True)
            where = resolved_rel(ws, rel)
            private_ids, private_rels = private_places(ws)
            out = _Collector(args.context)
            rg = find_rg()
            if rg:
                notes = await _run_rg(rg, args, fd, is_dir, where, private_rels, out)
            else:
                walk_ids = private_ids - {(st.st_dev, st.st_ino)}  # a store named explicitly is searched
                notes = await asyncio.to_thread(_python_grep, args, fd, is_dir, where, walk_ids, out)
        finally:
            os.close(fd)
        if out.capped:
            notes.append(f"[stopped after {MAX_MATCHES} matches; narrow the pattern, path or glob]")
        if not out.lines:
            text = f"No matches for {args.pattern!r} in {where}"
            return ToolResult("\n".join([text, *notes]), summary="0 matches")
        text = "\n".join(out.lines + notes)
        n, files = out.matches, len(out.files)
        return ToolResult(
            truncate_middle(text, ctx.max_output_chars),
            summary=f"{n}{'+' if out.capped else ''} matches in {files} file{'s' if files != 1 else ''}",
        )
