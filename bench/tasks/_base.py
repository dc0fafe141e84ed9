"""The :class:`Task` record and the file helpers the task definitions share.

A task's ``setup(path)`` builds its fixture in an existing, empty folder; ``check(path)`` looks only
at that folder afterwards and returns ``(True, "")`` or ``(False, reason)``; ``solve(path)`` is a
reference solution in Python, used by the tests to prove the checker can pass.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Check = tuple[bool, str]
OK: Check = (True, "")


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    ``id``: unique, kebab-case. ``kind``: the family (``organise-type``, ``config``, …).
    ``prompt``: what a person would type. ``setup(path)``: build the fixture in the empty folder
    ``path``. ``check(path) -> (solved, reason)``: inspect the workspace afterwards (never the
    model's words); ``reason`` says what is wrong when not solved. ``solve(path)``: a reference
    solution, for tests only.
    """

    id: str
    kind: str
    prompt: str
    setup: Callable[[Path], None]
    check: Callable[[Path], Check]
    solve: Callable[[Path], None]

    def run_check(self, path: Path) -> Check:
        """``check(path)``, with a checker that raises reported as a failure instead."""
        try:
            ok, reason = self.check(path)
        except Exception as exc:  # a broken workspace must not crash the runner
            return False, f"checker error: {type(exc).__name__}: {exc}"
        return bool(ok), "" if ok else (reason or "not solved")


# --- building fixtures -------------------------------------------------------------------------


def put(root: Path, files: dict[str, str | bytes]) -> None:
    """Write ``files`` (relative path -> text or bytes) under ``root``, creating folders."""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            p.write_bytes(data)
        else:
            p.write_text(data, encoding="utf-8")


def writer(files: dict[str, str | bytes]) -> Callable[[Path], None]:
    """A ``setup`` that writes ``files``."""
    return lambda root: put(root, files)


# --- inspecting workspaces ---------------------------------------------------------------------


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, str]:
    """Every regular file under ``root`` (``.git`` excluded): POSIX relative path -> SHA-256."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink():
                out[p.relative_to(root).as_posix()] = sha(p)
    return out


def fixture_snapshot(setup: Callable[[Path], None]) -> dict[str, str]:
    """:func:`snapshot` of a fresh fixture built by ``setup`` in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="cowork-task-") as tmp:
        setup(Path(tmp))
        return snapshot(Path(tmp))


def read(root: Path, rel: str) -> str | None:
    """The text of ``root/rel``, or None when it is not a file."""
    p = root / rel
    return p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None


def unchanged(root: Path, original: dict[str, str], rels: list[str]) -> Check:
    """Each of ``rels`` still exists with its ``original`` hash."""
    for rel in rels:
        p = root / rel
        if not p.is_file():
            return False, f"{rel} is missing"
        if sha(p) != original[rel]:
            return False, f"{rel} was changed"
    return OK


def moved_to(root: Path, original: dict[str, str], expected: dict[str, str]) -> Check:
    """Each original file ``old`` is now at ``expected[old]`` with the same content, and gone from
    ``old`` (unless the two are the same path)."""
    for old, new in expected.items():
        p = root / new
        if not p.is_file():
            where = "" if not (root / old).exists() else f" ({old} is still there)"
            return False, f"{new} does not exist{where}"
        if sha(p) != original[old]:
            return False, f"{new} does not have the content of {old}"
        if old != new and (root / old).exists():
            return False, f"{old} is still there (copied, not moved?)"
    return OK


def first_int(text: str | None) -> int | None:
    """The first integer in ``text`` (thousands separators allowed), or None."""
    if text is None:
        return None
    m = re.search(r"-?\d[\d,_]*", text)
    return int(re.sub(r"[,_]", "", m.group())) if m else None


def run_python(root: Path, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` in ``root`` (this interpreter; stdin closed; output as text)."""
    return subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def move(root: Path, old: str, new: str) -> None:
    """Move ``root/old`` to ``root/new``, creating the new parent (for reference solutions)."""
    dst = root / new
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(root / old, dst)
