"""The built-in layer: commands that change nothing, and the hard denies no mode lifts.

Hard denies (a call is run only after a person approves that one call; never in read-only mode,
never by yolo, never by a rule or an "always in this session" answer):

- reading or writing a credential store (``~/.ssh``, ``~/.aws``, ``~/.gnupg`` and the others of
  :data:`cowork.sandbox.CREDENTIAL_PATHS`), or ``$COWORK_HOME`` (database, keys, tokens)
  from a shell command;
- writing an existing file that has more than one hard link;
- writing inside ``.git`` (any ``.git`` folder of the workspace) or the workspace's ``.cowork``;
- deleting or overwriting anything outside the workspace (``rm``, ``mv``, ``cp``/``ln``/``install``
  targets, ``tee``, ``truncate``, ``shred``, ``dd of=``, redirections), except ``/dev/null`` and
  the like, and ``/tmp`` (private to the sandbox) unless the workspace itself is in ``/tmp``;
- ``sudo``, ``su``, ``doas``, ``pkexec``; ``mkfs*``, ``wipefs``; ``dd of=/dev/...``; fork bombs;
  downloaded code run by a shell or interpreter (``curl … | sh``, ``bash <(curl …)``,
  ``sh -c "$(curl …)"``, ``eval "$(wget …)"``).

Refused outright (no person, mode or rule lifts it): a file tool (``read``, ``write``, ``edit``,
``ls``, ``glob``, ``grep``: a ``paths`` trait) on ``$COWORK_HOME``, wherever it lies, inside the
workspace included. The tools refuse it themselves as well (:mod:`cowork.tools.paths`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .commands import SHELLS, SimpleCommand, resolve_word
from .rules import Rule
from ..sandbox.environment import CREDENTIAL_PATHS

READ_ONLY_COMMANDS = (
    "ls *", "pwd", "echo *", "printf *", "cat *", "head *", "tail *", "wc *", "grep *", "rg *", "diff *",
    "cmp *", "file *", "stat *", "du *", "df *", "which *", "type *", "whoami", "id", "date *", "uname *",
    "basename *", "dirname *", "realpath *", "readlink *", "true", "false", "test *", "[ *", "cd *", "sleep *",
    "printenv *", "git status *", "git diff *", "git log *", "git show *", "git rev-parse *", "git branch",
    "git ls-files *", "git blame *",
)
"""Commands (rule patterns) allowed in every mode, read-only included: they change nothing."""

BUILTIN_RULES: tuple[Rule, ...] = tuple(
    Rule("allow", f"builtin:read-only:{p.removesuffix(' *')}", command=tuple(p.split()), readonly=True)
    for p in READ_ONLY_COMMANDS
)

_PRIVILEGE = {"sudo": "sudo", "su": "su", "doas": "sudo", "pkexec": "sudo", "run0": "sudo"}
_DISK = ("mkfs", "mke2fs", "wipefs")
DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "http", "https", "nc", "ncat", "socat"})
RUNS_CODE = SHELLS | {"python", "python3", "perl", "ruby", "node", "php", "source", ".", "eval"}
"""Programs that run code they are given (on stdin, as a file, or as an argument)."""
SINKS = (Path("/dev/null"), Path("/dev/stdout"), Path("/dev/stderr"), Path("/dev/tty"), Path("/dev/fd"))
"""Writing here writes no file."""
TEMP = Path("/tmp")
"""Scratch space (private to the sandbox): writing here is not writing outside the workspace,
unless the workspace itself lies in it (then the rest of it is someone else's)."""
_WRITES_OPERANDS = {
    "rm": (), "rmdir": (), "unlink": (), "shred": ("-n", "-s"), "truncate": ("-s", "-r"), "tee": (),
    "mv": ("-t", "-S"),
}
"""Commands that delete or overwrite every operand, and their options that take a value."""
_WRITES_LAST = {"cp": ("-t", "-S"), "ln": ("-t", "-S"), "install": ("-t", "-m", "-o", "-g", "-S"),
                "rsync": ("-e", "-f")}
"""Commands that write their last operand (or the ``-t DIR`` folder)."""


@dataclass(frozen=True)
class Finding:
    """Something the built-in layer has to say about a call: ``rule`` (``builtin:hard-deny:ssh``),
    ``reason`` for people; ``hard`` False means "ask a person" (e.g. a target that cannot be
    known before the command runs); ``refuse`` means denied whatever anyone says."""

    rule: str
    reason: str
    hard: bool = True
    refuse: bool = False
    """Denied outright, in every mode, whatever a person or a rule says (a deny rule's id wins)."""


def credential_roots(home: Path, cowork_home: Path) -> list[tuple[str, Path]]:
    """(label, absolute path) of every credential store and of ``$COWORK_HOME``."""
    roots = []
    for raw in CREDENTIAL_PATHS:
        path = home / raw[2:] if raw.startswith("~/") else Path(raw)
        label = path.name.lstrip(".").removesuffix(".sock") or path.name
        roots.append((label, path))
    roots.append(("cowork-home", cowork_home))
    return roots


@dataclass(frozen=True)
class Places:
    """Where a call runs: the workspace, the person's home, ``$COWORK_HOME`` (all resolved)."""

    workspace: Path
    home: Path
    cowork_home: Path

    def inside(self, path: Path) -> bool:
        return path == self.workspace or path.is_relative_to(self.workspace)


def path_findings(path: Path, write: bool, places: Places, *, shell: bool = False) -> list[Finding]:
    """Hard denies for a tool reading (or, with ``write``, writing) ``path`` (absolute, normalised).

    ``$COWORK_HOME`` (and anything in it) is refused outright for the file tools (``shell`` False),
    wherever it lies, the workspace included; a shell command's words naming it (``shell``) get
    a hard deny, since the sandbox hides the folder anyway. Writing an existing regular file with
    more than one hard link is a hard deny too (another name of it may lie outside the workspace;
    the file tools replace the name they write, so the other names keep their content)."""
    found = []
    for label, root in credential_roots(places.home, places.cowork_home):
        if path == root or path.is_relative_to(root):
            verb = "writes" if write else "reads"
            if label == "cowork-home":
                found.append(Finding(f"builtin:hard-deny:{label}",
                                     f"{verb} {path}, in cowork's own state ($COWORK_HOME {root}), which "
                                     + ("the agent never touches" if not shell else "commands cannot see"),
                                     refuse=not shell))
            else:
                found.append(Finding(f"builtin:hard-deny:{label}", f"{verb} {path}, in a credential store ({root})"))
            break
    if not write:
        return found
    if places.inside(path):
        parts = path.relative_to(places.workspace).parts
        if ".git" in parts:
            found.append(Finding("builtin:hard-deny:git-internals", f"writes inside .git ({path})"))
        elif parts[:1] == (".cowork",):
            found.append(Finding("builtin:hard-deny:cowork-folder", f"writes inside the workspace's .cowork ({path})"))
        links = _hard_links(path)
        if links > 1:
            found.append(Finding("builtin:hard-deny:hard-link",
                                 f"writes {path}, a file with {links} hard links (another name of it may lie "
                                 "outside the workspace; the write replaces this name only)"))
    elif not _scratch(path, places):
        found.append(Finding("builtin:hard-deny:outside-workspace",
                             f"deletes or overwrites {path}, outside the workspace {places.workspace}"))
    return found


def real_path(path: Path) -> Path:
    """``path`` (absolute) with its symlinks resolved, like ``Path.resolve(strict=False)``, but
    never raising: a path whose folders change while it is resolved (``realpath`` can fail when a
    folder is swapped for a symlink by another process) is tried again, then normalised
    lexically. The file tools do not rely on this answer: they open beneath the workspace."""
    for _ in range(3):
        try:
            return path.resolve(strict=False)
        except (OSError, RuntimeError):
            continue
    return Path(os.path.normpath(path))


def _hard_links(path: Path) -> int:
    """``st_nlink`` of ``path`` when it is an existing regular file (not followed), else 0."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except (OSError, ValueError):
        return 0
    return st.st_nlink if stat.S_ISREG(st.st_mode) else 0


def command_findings(cmd: SimpleCommand, places: Places) -> list[Finding]:
    """Hard denies (and asks, for targets that cannot be known) for one simple command."""
    name, argv = cmd.name, cmd.argv
    found: list[Finding] = []
    if name in _PRIVILEGE:
        found.append(Finding(f"builtin:hard-deny:{_PRIVILEGE[name]}", f"{name} runs a command as another user"))
    if name.startswith(_DISK):
        found.append(Finding("builtin:hard-deny:mkfs", f"{name} erases a file system"))
    if name == "dd":
        for word in argv[1:]:
            path = _resolve(word[3:], cmd.cwd, places) if word.startswith("of=") else None
            if path is not None and path.is_relative_to("/dev") and not is_sink(path):
                found.append(Finding("builtin:hard-deny:dd-device", f"dd writes to the device {path}"))
    if name in RUNS_CODE:
        downloaded = DOWNLOADERS & set(cmd.piped_from) if _reads_stdin(cmd) else set()
        downloaded |= {n for _, names in cmd.substituted for n in names if n in DOWNLOADERS}
        if downloaded:
            found.append(Finding("builtin:hard-deny:pipe-to-shell",
                                 f"{name} runs code downloaded by {', '.join(sorted(downloaded))}"))
    found += _path_words(cmd, places)
    return found


def _reads_stdin(cmd: SimpleCommand) -> bool:
    """True when a shell or interpreter takes its program from stdin (no script or -c given)."""
    operands = [w for w in cmd.argv[1:] if not w.startswith("-") or w == "-"]
    return (not operands or operands[0] == "-" or "-s" in cmd.argv[1:]) and "-c" not in cmd.argv[1:]


def _path_words(cmd: SimpleCommand, places: Places) -> list[Finding]:
    found: list[Finding] = []
    reads = [w for i, w in enumerate(cmd.argv[1:], 1) if i not in cmd.expanded or _home_word(w)]
    reads += [w.split("=", 1)[1] for w in list(reads) if "=" in w]
    for target in written_words(cmd):
        path = _resolve(target, cmd.cwd, places)
        if path is None:
            found.append(Finding("builtin:unknown-target", f"cannot tell which file {target!r} is before it runs",
                                 hard=False))
        else:
            found += path_findings(path, True, places, shell=True)
    for word in reads:
        path = _resolve(word, cmd.cwd, places)
        if path is not None:
            found += [f for f in path_findings(path, False, places, shell=True) if f not in found]
    return _unique(found)


def written_words(cmd: SimpleCommand) -> list[str]:
    """The words naming files ``cmd`` deletes or overwrites: redirection targets, the operands
    of ``rm``/``mv``/``tee``/``truncate``/``shred``, the target of ``cp``/``ln``/``install``/
    ``rsync``, ``dd of=``."""
    words = [r.target for r in cmd.writes]
    name, args = cmd.name, list(cmd.argv[1:])
    if name in _WRITES_OPERANDS or name in _WRITES_LAST:
        takes = _WRITES_OPERANDS.get(name) or _WRITES_LAST.get(name) or ()
        operands, target_dir, i, options = [], None, 0, True
        while i < len(args):
            word = args[i]
            if options and word == "--":
                options = False
            elif options and word.startswith("--target-directory="):
                target_dir = word.split("=", 1)[1]
            elif options and word.startswith("-") and word != "-":
                if word in takes:
                    if word == "-t" and i + 1 < len(args):
                        target_dir = args[i + 1]
                    i += 1
            else:
                operands.append(word)
            i += 1
        if name in _WRITES_OPERANDS:
            words += operands
        elif target_dir is not None:
            words.append(target_dir)
        elif len(operands) >= 2:
            last = operands[-1]
            if not (name == "rsync" and ":" in last.split("/", 1)[0]):  # host:path is remote
                words.append(last)
    elif name == "dd":
        words += [w[3:] for w in args if w.startswith("of=")]
    return words


def is_sink(path: Path) -> bool:
    """``/dev/null`` and the like: no file is written."""
    return any(path == s or path.is_relative_to(s) for s in SINKS)


def _scratch(path: Path, places: Places) -> bool:
    return is_sink(path) or (path.is_relative_to(TEMP) and not places.workspace.is_relative_to(TEMP))


def _home_word(word: str) -> bool:
    return word.startswith(("~", "$HOME", "${HOME}"))


def _resolve(word: str, cwd: Path | None, places: Places) -> Path | None:
    """The path a word names, or None when it depends on an expansion or an unknown folder."""
    if "$" in word.replace("${HOME}", "").replace("$HOME", "") or "`" in word:
        return None
    if cwd is None and not (word.startswith("/") or _home_word(word)):
        return None
    return resolve_word(word, cwd or places.workspace, places.home)


def _unique(found: list[Finding]) -> list[Finding]:
    seen: list[Finding] = []
    for f in found:
        if f not in seen:
            seen.append(f)
    return seen
