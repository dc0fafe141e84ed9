"""The ``grep`` tool: regex search over workspace files.

Uses ripgrep (``rg --json``) when it is on PATH and a pure-Python walk with :mod:`re` otherwise;
both print the same format: ``relpath:line:text`` for matching lines and ``relpath-line-text``
for context lines, ``--`` between non-adjacent groups when context is asked for. Hidden files are
searched, ``.git`` never; symlinks met while walking are not followed. ripgrep also honours
``.gitignore``; the fallback does not.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from pydantic import Field

from cowork.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, truncate_middle
from cowork.tools.paths import display_path, glob_to_regex, resolve_in_workspace

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


async def _run_rg(rg: str, args: GrepArgs, target: Path, ws: Path, out: _Collector) -> list[str]:
    """Feed ripgrep's results into ``out``; returns notes (errors, timeout) to append."""
    cmd = [rg, "--json", "--hidden", "--sort", "path", "--regexp", args.pattern]
    if args.glob:
        cmd += ["--glob", args.glob]
    cmd += ["--glob", "!.git"]
    if args.ignore_case:
        cmd.append("--ignore-case")
    if args.context:
        cmd += ["--context", str(args.context)]
    # ripgrep matches --glob relative to its cwd, so run it from the search root.
    cwd = target if target.is_dir() else target.parent
    cmd += ["--", "." if target.is_dir() else target.name]
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, limit=16 * 1024 * 1024,
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
                rel = display_path(ws, cwd / _text_of(data["path"]))
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


def _walk_files(target: Path):
    """Regular files under ``target`` in path order; skips ``.git`` and symlinks."""
    if target.is_file():
        yield target
        return
    try:
        entries = sorted(os.scandir(target), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink():
            continue
        if entry.is_dir():
            if entry.name != ".git":
                yield from _walk_files(Path(entry.path))
        elif entry.is_file():
            yield Path(entry.path)


def _glob_filter(glob: str | None, target: Path):
    """Predicate on a file path following ripgrep's --glob: no ``/`` → match the file name."""
    if not glob:
        return lambda p: True
    negate = glob.startswith("!")
    pat = glob[1:] if negate else glob
    regex = glob_to_regex(pat)
    by_name = "/" not in pat.strip("/")

    def keep(p: Path) -> bool:
        subject = p.name if by_name else p.relative_to(target).as_posix()
        return bool(regex.fullmatch(subject)) != negate

    return keep


def _python_grep(args: GrepArgs, target: Path, ws: Path, out: _Collector) -> list[str]:
    """The fallback: same results as ripgrep for ordinary regexes, without .gitignore support."""
    try:
        regex = re.compile(args.pattern, re.IGNORECASE if args.ignore_case else 0)
    except re.error as exc:
        raise ToolError(f"grep failed: invalid regex {args.pattern!r}: {exc}") from None
    # like ripgrep, an explicitly named file is searched whatever the glob says
    keep = _glob_filter(args.glob if target.is_dir() else None, target)
    for path in _walk_files(target):
        if not keep(path):
            continue
        try:
            if path.stat().st_size > _FALLBACK_MAX_FILE_BYTES:
                continue
            data = path.read_bytes()
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
        rel = display_path(ws, path)
        matched = set(hits)
        for i in sorted(show):
            if not out.add(rel, i + 1, lines[i], i in matched):
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
    mutating = False

    async def run(self, args: GrepArgs, ctx: ToolContext) -> ToolResult:
        if not args.pattern:
            raise ToolError("pattern is empty")
        target = resolve_in_workspace(ctx.workspace, args.path, must_exist=True)
        ws = ctx.workspace.resolve()
        out = _Collector(args.context)
        rg = find_rg()
        if rg:
            notes = await _run_rg(rg, args, target, ws, out)
        else:
            notes = await asyncio.to_thread(_python_grep, args, target, ws, out)
        if out.capped:
            notes.append(f"[stopped after {MAX_MATCHES} matches; narrow the pattern, path or glob]")
        if not out.lines:
            where = display_path(ws, target)
            text = f"No matches for {args.pattern!r} in {where}"
            return ToolResult("\n".join([text, *notes]), summary="0 matches")
        text = "\n".join(out.lines + notes)
        n, files = out.matches, len(out.files)
        return ToolResult(
            truncate_middle(text, ctx.max_output_chars),
            summary=f"{n}{'+' if out.capped else ''} matches in {files} file{'s' if files != 1 else ''}",
        )
