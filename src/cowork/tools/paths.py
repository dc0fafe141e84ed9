"""Workspace confinement: turn a path a model gave into a real path inside the workspace, or refuse.

Every file tool resolves its ``path`` argument here. Relative paths are taken from the workspace;
absolute paths are accepted only when they lie inside it. Symlinks are resolved, so a link inside
the workspace that points outside it is refused as well, and the error says which part of the path
is the link and where it leads, so the model can tell why.

Also holds :func:`glob_to_regex`, the glob dialect shared by the ``glob`` tool and the pure-Python
``grep`` fallback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from cowork.tools.base import ToolError


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


def _segment_regex(seg: str) -> str:
    """Regex for one path segment of a glob: ``*``, ``?``, ``[abc]``, ``[!abc]``; never ``/``."""
    out: list[str] = []
    i, n = 0, len(seg)
    while i < n:
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and seg[j] in "!^":
                j += 1
            if j < n and seg[j] == "]":
                j += 1
            while j < n and seg[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
            else:
                body = seg[i + 1 : j]
                negate = body[:1] in ("!", "^")
                body = body[1:] if negate else body
                body = "".join(ch if ch == "-" else re.escape(ch) for ch in body)
                out.append(f"[^/{body}]" if negate else f"(?!/)[{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob over ``/``-separated relative paths into a full-match regex.

    ``*`` and ``?`` stay within one segment, ``[...]`` is a character class, a ``**`` segment
    matches zero or more directories, and a trailing ``**`` matches everything below. Like
    pathlib, ``*.py`` matches only at the top level; use ``**/*.py`` for any depth.
    """
    parts = [p for p in pattern.replace("\\", "/").split("/") if p not in ("", ".")]
    regex = ""
    for i, seg in enumerate(parts):
        last = i == len(parts) - 1
        if seg == "**":
            regex += ".*" if last else "(?:[^/]+/)*"
        else:
            regex += _segment_regex(seg) + ("" if last else "/")
    return re.compile(regex, re.DOTALL)
