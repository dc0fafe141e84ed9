"""Comparing a checkpoint with the workspace, and restoring it.

Changes are named as a diff from the checkpoint to the workspace now (``git diff <checkpoint>``):
``added`` exists now but not in the checkpoint (a restore deletes it), ``deleted`` was in the
checkpoint and is gone (a restore brings it back), ``modified`` differs in content, kind or
permissions. A restore touches only those paths.

A change is a ``conflict`` when the workspace's version is not what the agent last left there
(the shadow repository's agent state, taken after every change the agent made): a person edited
it since, and the restore would lose that edit. Conflicting paths are left alone unless the
caller names them in ``overwrite`` (or passes ``force``).

States are compared by tree: only folders whose tree ids differ are entered
(:meth:`ShadowRepo.differences`). Writes go through directory descriptors and never follow a
symbolic link (see :func:`apply`); cowork's own state folder is never written into.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .._util import beneath
from .shadow import AGENT_REF, DIR_MODE, LINK_MODE, Entry, ShadowRepo, State
from .snapshot import Scanner, Snapshot

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
    """What restoring ``target`` over ``current`` changes (restricted to ``paths``). A folder
    above a selected path that the checkpoint has as a folder and the workspace has as something
    else (a symlink, a file) or not at all is part of the plan: restoring the path brings the
    folder back in its place, and never writes through what is there now. States may hold only
    their differences (:meth:`ShadowRepo.differences`); an entry absent from both is unchanged."""
    out = Plan()
    names = set(target.entries) | set(current.entries) | set(target.large) | set(current.large)
    chosen: set[str] = set()
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
        out.changes.append(_change(p, t, c))
        chosen.add(p)
    if paths is not None:  # folders above the selected paths that must be brought back first
        above: set[str] = set()
        for ch in out.changes:
            if ch.path in target.entries:
                up = ch.path.rpartition("/")[0]
                while up and up not in above:
                    above.add(up)
                    up = up.rpartition("/")[0]
        for p in sorted(above - chosen):
            t, c = target.entries.get(p), current.entries.get(p)
            if t is not None and t[0] == DIR_MODE and (c is None or c[0] != DIR_MODE):
                out.changes.append(_change(p, t, c))
        out.changes.sort(key=lambda ch: ch.path)
    if agent is not None:
        mark_conflicts(out, current, agent)
    return out


def _change(p: str, t: Entry | None, c: Entry | None) -> Change:
    change: ChangeKind = "added" if t is None else "deleted" if c is None else "modified"
    entry = c if c is not None else t
    assert entry is not None
    return Change(p, change, _kind(entry))


def mark_conflicts(todo: Plan, current: State, agent: State) -> None:
    """Mark the changes whose workspace version is not what the agent last left (``agent`` may
    hold only the changed paths: :meth:`ShadowRepo.entries`)."""
    for ch in todo.changes:
        c = current.entries.get(ch.path)
        if c is not None and c[0] != DIR_MODE:
            ch.conflict = agent.entries.get(ch.path) != c and ch.path not in agent.large


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
          overwrite: set[str] | None, exclude: frozenset[tuple[int, int]] = frozenset()) -> Applied:
    """Carry out ``todo``: conflicts only when in ``overwrite`` (None: all). Folders are removed
    only when empty (what a checkpoint does not capture, e.g. ignored files, is never deleted).

    Every entry is reached from a descriptor of ``root`` one folder at a time without following
    a symbolic link (:mod:`cowork._util.beneath`, ``follow=False``): a path whose folder is now a
    symlink fails (``not_restored``) unless the plan replaces that symlink by the checkpoint's
    folder first; nothing is ever written through a link. Folders in ``exclude`` (``(st_dev,
    st_ino)``: cowork's own state) are never entered. Raises OSError when ``root`` cannot be opened."""
    out = Applied()
    changes = []
    for ch in todo.changes:
        if ch.conflict and overwrite is not None and ch.path not in overwrite:
            out.skipped.append(ch.path)
        else:
            changes.append(ch)
    skipped = set(out.skipped)

    def blocked(p: str) -> bool:  # under a path left alone
        return any(p.startswith(s + "/") for s in skipped)

    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        # 1. remove what the checkpoint lacks, or has as another kind; deepest first
        removals = [ch for ch in changes if ch.change == "added"
                    or (ch.change == "modified" and _kind(target.entries[ch.path]) != ch.kind)]
        for ch in sorted(removals, key=lambda ch: ch.path.count("/"), reverse=True):
            if blocked(ch.path):
                out.failed.append((ch.path, "it is inside a path left alone"))
                skipped.add(ch.path)
                continue
            try:
                beneath.unlink_beneath(fd, ch.path, exclude=exclude)
                if ch.change == "added":
                    out.restored.append(ch.path)
            except OSError as exc:
                reason = "folder not empty (it holds files checkpoints do not capture)" \
                    if ch.kind == "folder" and exc.errno == errno.ENOTEMPTY else _reason(exc)
                out.failed.append((ch.path, reason))
                skipped.add(ch.path)
        # 2. bring back what the checkpoint has; folders shallowest first
        writes = sorted((ch for ch in changes if ch.path in target.entries), key=lambda ch: ch.path.count("/"))
        dirs_to_chmod: list[tuple[str, int]] = []
        for ch in writes:
            if blocked(ch.path) or ch.path in skipped:
                out.failed.append((ch.path, "its place could not be cleared"))
                skipped.add(ch.path)
                continue
            mode, sha, perm = target.entries[ch.path]
            try:
                if mode == DIR_MODE:
                    _make_dir(fd, ch.path, exclude)
                    dirs_to_chmod.append((ch.path, perm))
                elif mode == LINK_MODE:
                    _replace_link(fd, ch.path, os.fsdecode(shadow.blob(sha)), exclude)
                else:
                    c = current.entries.get(ch.path)
                    if c is not None and c[:2] == (mode, sha):
                        _chmod(fd, ch.path, perm, exclude)  # only the permissions differ
                    else:
                        beneath.replace_beneath(fd, ch.path, shadow.blob(sha), mode=perm, follow=False,
                                                exclude=exclude)
                out.restored.append(ch.path)
            except OSError as exc:
                out.failed.append((ch.path, _reason(exc)))
                skipped.add(ch.path)
        for p, big in target.large.items():  # permission-only changes of big files
            if any(ch.path == p for ch in changes):
                with contextlib.suppress(OSError):
                    _chmod(fd, p, big[2], exclude)
                    out.restored.append(p)
        for p, perm in sorted(dirs_to_chmod, key=lambda x: x[0].count("/"), reverse=True):
            with contextlib.suppress(OSError):
                _chmod(fd, p, perm, exclude)
    finally:
        os.close(fd)
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


def _reason(exc: OSError) -> str:
    if isinstance(exc, beneath.EscapesRoot):
        return f"{exc.link or exc.rel} is a symbolic link now: a restore never writes through one"
    if isinstance(exc, beneath.Excluded):
        return "inside cowork's own state folder (COWORK_HOME), which checkpoints never touch"
    return exc.strerror or str(exc)


def _make_dir(root: int, rel: str, exclude: frozenset[tuple[int, int]]) -> None:
    parent, name = beneath.parent_of(root, rel, exclude)
    try:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            os.mkdir(name, 0o700, dir_fd=parent)
            return
        if not stat.S_ISDIR(st.st_mode):
            raise FileExistsError(errno.EEXIST, "something else is in the way of the folder")
    finally:
        os.close(parent)


def _replace_link(root: int, rel: str, target: str, exclude: frozenset[tuple[int, int]]) -> None:
    """Put the symlink ``rel`` → ``target`` in place in one rename (never over a folder)."""
    parent, name = beneath.parent_of(root, rel, exclude)
    tmp = f".{name[:200]}.cowork-restore-{secrets.token_hex(6)}"
    try:
        os.symlink(target, tmp, dir_fd=parent)
        try:
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                    raise IsADirectoryError(errno.EISDIR, "a folder is in the way")
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=parent)
            raise
    finally:
        os.close(parent)


def _chmod(root: int, rel: str, perm: int, exclude: frozenset[tuple[int, int]]) -> None:
    """Set the permission bits of the file or folder ``rel`` itself (never a symlink's target):
    through an ``O_PATH | O_NOFOLLOW`` descriptor, so what is checked is what is changed."""
    parent, name = beneath.parent_of(root, rel, exclude)
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    finally:
        os.close(parent)
    try:
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode):
            raise beneath.EscapesRoot(f"'{rel}' is a symlink", rel=rel, link=rel)
        if (st.st_dev, st.st_ino) in exclude:
            raise beneath.Excluded(f"'{rel}' is an excluded folder", rel=rel, where=rel)
        os.chmod(f"/proc/self/fd/{fd}", perm)
    finally:
        os.close(fd)


@dataclass
class Outcome:
    """What :func:`run` did: the plan (with diffs in a preview), what was applied (None in a
    preview or when nothing differs) and the scan of the workspace just before."""

    plan: Plan
    applied: Applied | None
    before: Snapshot


def run(shadow: ShadowRepo, scanner: Scanner, commit: bytes, paths: list[str] | None, *, preview: bool,
        overwrite: set[str] | None, message: str, max_diffs: int,
        before_apply: Callable[[Snapshot], None] | None = None) -> Outcome:
    """Compare the checkpoint ``commit`` with the workspace (scanned now, with ``message``) and,
    unless ``preview``, restore it: ``before_apply(before)`` runs first (the caller keeps the
    scan as the undo checkpoint), then :func:`apply`, a scan of the folders it touched, and the
    agent state updated. Only subtrees whose ids differ are compared. Call with the shadow
    repository's lock held. Raises OSError, KeyError (a missing commit), Cancelled."""
    before = scanner.scan(message)
    target, current = shadow.differences(commit, before.commit, paths)
    todo = plan(target, current, None, paths)
    agent_commit = shadow.ref(AGENT_REF)
    if agent_commit is not None and todo.changes:
        mark_conflicts(todo, current, shadow.entries(agent_commit, [ch.path for ch in todo.changes]))
    if preview or not todo.changes:
        for ch in todo.changes[:max_diffs]:
            ch.diff = diff_text(shadow, ch, target, current)
        return Outcome(todo, None, before)
    if before_apply is not None:
        before_apply(before)
    applied = apply(shadow, scanner.root, target, current, todo, overwrite, scanner.exclude)
    touched = {""}
    for p in applied.restored + [p for p, _ in applied.failed]:
        up = p
        while up:
            up = up.rpartition("/")[0]
            touched.add(up)
        touched.add(p)  # a folder made or chmod'ed (no record when it is a file)
    after = scanner.scan("after restore", only=touched)
    if agent_commit is None or (not applied.failed and shadow.tree_of(agent_commit) == shadow.tree_of(before.commit)):
        shadow.set_ref(AGENT_REF, after.commit)  # the agent's state was the workspace's: now it is the restored one
    else:  # what the agent left, with the restored paths as they are now (see settled)
        shadow.set_ref(AGENT_REF, shadow.graft(agent_commit, after.commit, applied.restored, "agent state after restore"))
    return Outcome(todo, applied, before)
