"""The glob dialect of cowork: the ``glob`` tool, the pure-Python ``grep`` fallback and policy rules.

:func:`glob_to_regex` compiles a glob over ``/``-separated relative paths into a full-match regex.
Imports nothing of cowork.
"""

from __future__ import annotations

import re

__all__ = ["glob_to_regex"]


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
