"""Comparing a checkpoint with the workspace, and restoring it.

Changes are named as a diff from the checkpoint to the workspace now (``git diff <checkpoint>``):
``added`` exists now but not in the checkpoint (a restore deletes it), ``deleted`` was in the
checkpoint and is gone (a restore brings it back), ``modified`` differs in content, kind or
permissions. A restore touches only those paths.

A change is a ``conflict`` when the workspace's version is not what the agent last left there
(the shadow repository's agent state, taken after every change the agent made): a person edited
it since, and the restore would lose that edit. Conflicting paths are left alone unless the
caller names them in ``overwrite`` (or passes ``force``).
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .shadow import DIR_MODE, LINK_MODE, Entry, ShadowRepo, State

MAX_DIFF_CHARS = 20_000
"""Diff text kept per file; longer diffs are cut with a note."""

ChangeKind = Literal["added", "modified", "deleted"]
EntryKind = Literal["file", "symlink", "folder"]


@dataclass
class Change:
    path: str
    change: ChangeKind
    kind: EntryKind
    conflict: bool = False
    diff: str | None = None


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    not_restorable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def normalize_paths(paths: list[str] | None, workspace: str) -> list[str] | None:
    """Workspace-relative '/'-separated paths (absolute ones must lie inside the workspace).
    Raises ValueError for a path outside it."""
    if not paths:
        return None
    out = []
    for p in paths:
        full = os.path.normpath(os.path.join(workspace, p))
        rel = os.path.relpath(full, workspace)
        if rel == ".":
            return None
        if rel.startswith(".." + os.sep) or rel == ".." or os.path.isabs(rel):
            raise ValueError(f"path {p!r} is outside the workspace")
        out.append(rel.replace(os.sep, "/"))
    return out


def _selected(path: str, paths: list[str] | None) -> bool:
    return paths is None or any(path == p or path.startswith(p + "/") for p in paths)


def _kind(entry: Entry) -> EntryKind:
    return "folder" if entry[0] == DIR_MODE else "symlink" if entry[0] == LINK_MODE else "file"


def plan(target: State, current: State, agent: State | None, paths: list[str] | None = None) -> Plan:
    """What restoring ``target`` over ``current`` changes (restricted to ``paths``)."""
    out = Plan()
    names = set(target.entries) | set(current.entries) | set(target.large) | set(current.large)
    for p in sorted(names):
        if not _selected(p, paths):
            continue
        t, c = target.entries.get(p), current.entries.get(p)
        if p in target.large:
            big, now = target.large[p], current.large.get(p)
            if now is None or now[:2] != big[:2]:
                out.not_restorable.append((p, "larger than the size limit when the checkpoint was taken: its "
                                              "content was not stored"))
            elif now[2] != big[2]:
                out.changes.append(Change(p, "modified", "file"))
            continue
        if p in current.large:
            if t is not None or not target.truncated:
                out.not_restorable.append((p, "larger than the size limit: no checkpoint holds its content, so a "
                                              "restore leaves it as it is"))
            continue
        if t == c:
            continue
        if t is None and target.truncated:
            out.not_restorable.append((p, "not in the checkpoint, which was truncated (file cap): left as it is"))
            continue
        change: ChangeKind = "added" if t is None else "deleted" if c is None else "modified"
        entry = c if c is not None else t
        assert entry is not None
        conflict = False
        if agent is not None and c is not None and c[0] != DIR_MODE:
            conflict = agent.entries.get(p) != c and p not in agent.large
        out.changes.append(Change(p, change, _kind(entry), conflict))
    return out


def diff_text(shadow: ShadowRepo, change: Change, target: State, current: State) -> str | None:
    """A unified diff (checkpoint → now) of one changed file or link, None for folders;
    binary content is named, not shown."""
    if change.kind == "folder":
        return None
    t, c = target.entries.get(change.path), current.entries.get(change.path)
    before = shadow.blob(t[1]) if t is not None and t[0] != DIR_MODE else b""
    after = shadow.blob(c[1]) if c is not None and c[0] != DIR_MODE else b""
    header = ""
    if t is not None and c is not None and t[2] != c[2]:
        header = f"mode {t[2]:o} → {c[2]:o}\n"
    if before == after:
        return header or None
    if b"\0" in before or b"\0" in after:
        return header + f"Binary files differ ({len(before)} → {len(after)} bytes)\n"
    try:
        a, b = before.decode(), after.decode()
    except UnicodeDecodeError:
        return header + f"Binary files differ ({len(before)} → {len(after)} bytes)\n"
    lines = difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                 "a/" + change.path if t else "/dev/null", "b/" + change.path if c else "/dev/null")
    text = header + "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                            for line in lines)
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS] + f"\n… diff cut at {MAX_DIFF_CHARS} characters\n"
    return text


@dataclass
class Applied:
    restored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # conflicts not confirmed
    failed: list[tuple[str, str]] = field(default_factory=list)


def apply(shadow: ShadowRepo, root: str, target: State, current: State, todo: Plan,
          overwrite: set[str] | None) -> Applied:
    """Carry out ``todo``: conflicts only when in ``overwrite`` (None: all). Folders are removed
    only when empty (what a checkpoint does not capture, e.g. ignored files, is never deleted)."""
    out = Applied()
    changes = []
    for ch in todo.changes:
        if ch.conflict and overwrite is not None and ch.path not in overwrite:
            out.skipped.append(ch.path)
        else:
            changes.append(ch)
    skipped = set(out.skipped)

    def full(p: str) -> str:
        return os.path.join(root, p)

    def blocked(p: str) -> bool:  # under a path left alone
        return any(p.startswith(s + "/") for s in skipped)

    # 1. remove what the checkpoint lacks, or has as another kind; deepest first
    removals = [ch for ch in changes
                if ch.change == "added" or (ch.change == "modified" and _kind(target.entries[ch.path]) != ch.kind)]
    for ch in sorted(removals, key=lambda ch: ch.path.count("/"), reverse=True):
        try:
            if ch.kind == "folder":
                os.rmdir(full(ch.path))
            else:
                os.unlink(full(ch.path))
            if ch.change == "added":
                out.restored.append(ch.path)
        except OSError as exc:
            reason = "folder not empty (it holds files checkpoints do not capture)" if ch.kind == "folder" \
                else exc.strerror or str(exc)
            out.failed.append((ch.path, reason))
            skipped.add(ch.path)
    # 2. bring back what the checkpoint has; folders shallowest first
    writes = sorted((ch for ch in changes if ch.path in target.entries), key=lambda ch: ch.path.count("/"))
    dirs_to_chmod: list[tuple[str, int]] = []
    for ch in writes:
        if blocked(ch.path) or ch.path in skipped:
            out.failed.append((ch.path, "its place could not be cleared"))
            continue
        mode, sha, perm = target.entries[ch.path]
        path = full(ch.path)
        try:
            if mode == DIR_MODE:
                if not os.path.isdir(path) or os.path.islink(path):
                    os.mkdir(path, 0o700)
                dirs_to_chmod.append((path, perm))
            elif mode == LINK_MODE:
                _replace_link(path, os.fsdecode(shadow.blob(sha)))
            else:
                c = current.entries.get(ch.path)
                if c is not None and c[:2] == (mode, sha) and os.path.isfile(path) and not os.path.islink(path):
                    os.chmod(path, perm)  # only the permissions differ
                else:
                    _replace_file(path, shadow.blob(sha), perm)
            out.restored.append(ch.path)
        except OSError as exc:
            out.failed.append((ch.path, exc.strerror or str(exc)))
    for p, big in target.large.items():  # permission-only changes of big files
        if any(ch.path == p for ch in changes):
            with contextlib.suppress(OSError):
                os.chmod(full(p), big[2])
                out.restored.append(p)
    for path, perm in sorted(dirs_to_chmod, key=lambda x: x[0].count("/"), reverse=True):
        with contextlib.suppress(OSError):
            os.chmod(path, perm)
    return out


def settled(agent: State | None, after: State, restored: list[str]) -> State:
    """The agent state after a restore: what the agent last left, with the restored paths as
    they are now (paths a person edited and the restore skipped stay their edits)."""
    if agent is None:
        return after
    out = State(dict(agent.entries), dict(agent.large), agent.truncated)
    for p in restored:
        for mine, now in ((out.entries, after.entries), (out.large, after.large)):
            if p in now:
                mine[p] = now[p]  # type: ignore[assignment]
            else:
                mine.pop(p, None)
    return out


def _replace_file(path: str, data: bytes, perm: int) -> None:
    def make(tmp: str) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, perm)

    _replace(path, make)


def _replace_link(path: str, target: str) -> None:
    _replace(path, lambda tmp: os.symlink(target, tmp))


def _replace(path: str, make: Callable[[str], None]) -> None:
    """Put what ``make(tmp)`` creates at ``path`` in one rename (never over a folder); the
    temporary entry is removed if anything fails."""
    tmp = f"{path}.cowork-restore-{os.getpid()}"
    try:
        make(tmp)
        if os.path.isdir(path) and not os.path.islink(path):
            raise IsADirectoryError(21, "a folder is in the way", path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
