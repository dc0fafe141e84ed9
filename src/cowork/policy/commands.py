"""Split a bash command line into the simple commands it runs, so each is checked on its own.

The line is parsed with bashlex (https://github.com/idank/bashlex, a port of bash's own grammar)
and walked recursively: lists (``&&``, ``||``, ``;``, ``&``), pipelines, subshells and groups,
``if``/``for``/``while``/``until`` bodies, function bodies, command and process substitutions
(``$(...)``, backticks, ``<(...)``), the script of ``bash -c``/``sh -c``/``zsh -c``, the words of
``eval``, and the command behind wrappers such as ``env``, ``nice``, ``timeout``, ``nohup``,
``xargs``, ``exec`` and ``command``.

What cannot be analysed is reported as a *problem* (the policy asks a person): a line bashlex
cannot parse (``case``, ``[[ ]]``, ``$((…))``, ``time``, ``coproc``...), a command name that comes
from an expansion (``$CMD args``), a substitution hidden inside ``${...}``, an unquoted here-doc
whose body has a substitution, the script of ``bash -c`` or ``eval`` built from expansions.

Relative paths depend on the working directory: ``cd DIR`` changes it for the commands written
after it (``cd -``, ``pushd``/``popd`` and ``cd $X`` make it unknown). Scoping by subshells is
ignored, which can only over-approximate where a later command runs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import bashlex
import bashlex.errors

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "busybox"})
"""Programs that run shell code; ``-c STRING`` is parsed, reading stdin is code nobody can check."""

_WRAPPER_OPTIONS_WITH_VALUE = {
    "env": {"-u", "--unset", "-C", "--chdir"},
    "nice": {"-n", "--adjustment"},
    "timeout": {"-s", "--signal", "-k", "--kill-after"},
    "xargs": {"-a", "--arg-file", "-d", "--delimiter", "-E", "-I", "-L", "--max-lines", "-n", "--max-args",
              "-P", "--max-procs", "-s", "--max-chars"},
    "stdbuf": {"-i", "-o", "-e"},
    "ionice": {"-c", "-n", "-p", "-P", "-u"},
    "nohup": set(),
    "setsid": set(),
    "exec": {"-a"},
    "command": set(),
    "builtin": set(),
}
"""Wrappers that run the command after their options, and which of their options take a value."""

_QUOTED_HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"])([A-Za-z0-9_.-]+)\2")


@dataclass(frozen=True)
class Redirect:
    """An output redirection: ``op`` (``>``, ``>>``, ``>|``, ``&>``...) and its target word."""

    op: str
    target: str


@dataclass(frozen=True)
class SimpleCommand:
    """One command that runs, with what is known about it.

    Attributes:
        argv: the words after quote removal; expansions stay as written (``$HOME``, ``$(id)``).
        cwd: the folder it runs in as far as known (None: unknown after ``cd $X`` or ``cd -``).
        writes: output redirections (``>``, ``>>``...) to files.
        open_ended: more arguments are added at run time (the command behind ``xargs``).
        via: how it was found, for messages: ``""`` (top level), ``"$(...)"``, ``"bash -c"``...
        piped_from: the program names earlier in its pipeline (what its stdin comes from).
        expanded: indexes of ``argv`` words that contain an expansion (``$X``, ``$(...)``, globs
            are not counted): their value is only known at run time.
        substituted: for each argv word with a command or process substitution, the program names
            the substitution runs (index -> names), e.g. ``bash <(curl x)`` -> {1: ("curl",)}.
    """

    argv: tuple[str, ...]
    cwd: Path | None
    writes: tuple[Redirect, ...] = ()
    open_ended: bool = False
    via: str = ""
    piped_from: tuple[str, ...] = ()
    expanded: frozenset[int] = frozenset()
    substituted: tuple[tuple[int, tuple[str, ...]], ...] = ()

    @property
    def name(self) -> str:
        """The program's base name (``/usr/bin/git`` -> ``git``; ``""`` for a bare redirection)."""
        return os.path.basename(self.argv[0]) if self.argv else ""

    def text(self) -> str:
        """The command as one line for people (``git status``)."""
        return " ".join(_quote(w) for w in self.argv) or " ".join(f"{r.op} {r.target}" for r in self.writes)


@dataclass
class Analysis:
    """The simple commands of a command line, and what could not be analysed.

    Attributes:
        commands: every simple command, in the order written (substitutions before the command
            that uses them).
        problems: one sentence per construct that cannot be analysed; non-empty means a person
            must look at the command.
        fork_bombs: names of functions that call themselves in a pipeline or in the background.
    """

    commands: list[SimpleCommand] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fork_bombs: list[str] = field(default_factory=list)


def analyse(command: str, cwd: Path, home: Path | None = None) -> Analysis:
    """Split ``command`` (a bash command line) into its simple commands, starting in ``cwd``.

    ``home`` is where ``cd`` alone and ``~`` lead (default: ``Path.home()``). Never raises for bad
    input: what cannot be parsed or analysed is in ``Analysis.problems``.
    """
    walker = _Walker(home or Path.home())
    walker.cwd = cwd
    walker.line(command, via="", depth=0)
    return walker.out


def _quote(word: str) -> str:
    if word and re.fullmatch(r"[A-Za-z0-9_@%+=:,./~*?\[\]{}^-]+", word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


class _Walker:
    MAX_DEPTH = 8  # bash -c inside bash -c inside ...

    def __init__(self, home: Path) -> None:
        self.home = home
        self.cwd: Path | None = None
        self.out = Analysis()
        self.functions: set[str] = set()

    # -- parsing -----------------------------------------------------------------------------

    def line(self, text: str, via: str, depth: int) -> None:
        if depth > self.MAX_DEPTH:
            self.out.problems.append(f"commands nested more than {self.MAX_DEPTH} levels deep")
            return
        if not text.strip():
            return
        quoted = {m.group(3) for m in _QUOTED_HEREDOC.finditer(text)}
        # bashlex 0.18 cannot parse a quoted here-doc delimiter (<<'EOF'); unquote it and remember
        # that its body is literal text.
        source = _QUOTED_HEREDOC.sub(lambda m: f"<<{m.group(1)}{m.group(3)}", text)
        try:
            trees = bashlex.parse(source)
        except (bashlex.errors.ParsingError, NotImplementedError) as exc:
            self.out.problems.append(f"cannot parse {_short(text)} ({_short(str(exc), 80)})")
            return
        except Exception as exc:  # bashlex raises assorted errors on odd input
            self.out.problems.append(f"cannot parse {_short(text)} ({type(exc).__name__})")
            return
        for tree in trees:
            self.node(tree, via, depth, quoted, ())

    def node(self, node, via: str, depth: int, quoted: set[str], piped_from: tuple[str, ...]) -> None:
        kind = node.kind
        if kind == "command":
            self.command(node, via, depth, quoted, piped_from)
        elif kind == "pipeline":
            upstream: list[str] = []
            for part in node.parts:
                if part.kind in ("pipe", "reservedword"):
                    continue
                before = len(self.out.commands)
                self.node(part, via, depth, quoted, tuple(upstream))
                upstream += [c.name for c in self.out.commands[before:]]
        elif kind in ("list", "compound", "if", "for", "while", "until"):
            for part in getattr(node, "parts", None) or getattr(node, "list", []):
                self.node(part, via, depth, quoted, piped_from)
        elif kind == "function":
            self.function(node, via, depth, quoted)
        elif kind in ("word", "assignment"):
            self.substitutions(node, via, depth, quoted)
        elif kind in ("reservedword", "operator", "pipe"):
            return
        elif kind == "redirect":
            self.redirect_substitutions(node, via, depth, quoted)
        else:
            self.out.problems.append(f"cannot analyse a {kind} construct")

    def function(self, node, via: str, depth: int, quoted: set[str]) -> None:
        name = node.name.word
        before = len(self.out.commands)
        self.node(node.body, via, depth, quoted, ())
        body = self.out.commands[before:]
        if any(c.argv[:1] == (name,) for c in body):
            if _runs_concurrently(node.body, name):
                self.out.fork_bombs.append(name)
            self.out.commands[before:] = [c for c in body if c.argv[:1] != (name,)]  # checked as the body
        self.functions.add(name)

    def substitutions(self, node, via: str, depth: int, quoted: set[str]) -> list[str]:
        """Walk the command/process substitutions inside a word; returns the programs they run."""
        names: list[str] = []
        for part in getattr(node, "parts", []) or []:
            if part.kind in ("commandsubstitution", "processsubstitution"):
                label = "$(...)" if part.kind == "commandsubstitution" else "<(...)"
                before = len(self.out.commands)
                saved = self.cwd
                self.node(part.command, label, depth + 1, quoted, ())
                self.cwd = saved  # a substitution runs in a subshell
                names += [c.name for c in self.out.commands[before:]]
            elif part.kind == "parameter" and ("$(" in part.value or "`" in part.value):
                self.out.problems.append(f"a command substitution inside ${{{part.value}}} cannot be checked")
            elif part.kind not in ("parameter", "tilde"):
                names += self.substitutions(part, via, depth, quoted)
        return names

    def redirect_substitutions(self, node, via: str, depth: int, quoted: set[str]) -> None:
        target = getattr(node, "output", None)
        if target is not None and not isinstance(target, int):
            self.substitutions(target, via, depth, quoted)
        heredoc = getattr(node, "heredoc", None)
        if heredoc is not None:
            delimiter = target.word if target is not None and not isinstance(target, int) else ""
            body = heredoc.value
            if delimiter not in quoted and ("$(" in body or "`" in body):
                self.out.problems.append("a here-document runs command substitutions in its text")

    # -- one simple command ------------------------------------------------------------------

    def command(self, node, via: str, depth: int, quoted: set[str], piped_from: tuple[str, ...]) -> None:
        words: list[str] = []
        expanded: set[int] = set()
        substituted: list[tuple[int, tuple[str, ...]]] = []
        writes: list[Redirect] = []
        for part in node.parts:
            if part.kind == "assignment":
                self.substitutions(part, via, depth, quoted)
            elif part.kind == "word":
                names = self.substitutions(part, via, depth, quoted)
                if any(p.kind in ("parameter", "commandsubstitution", "processsubstitution")
                       for p in _descendants(part)):
                    expanded.add(len(words))
                if names:
                    substituted.append((len(words), tuple(names)))
                words.append(part.word)
            elif part.kind == "redirect":
                self.redirect_substitutions(part, via, depth, quoted)
                target = part.output
                if isinstance(target, int) or part.type in ("<", "<<", "<<<", "<&", "<<-"):
                    continue
                if part.type in (">&", "<&") and target.word.isdigit():
                    continue
                writes.append(Redirect(part.type, target.word))
        if not words:
            if writes:
                self.out.commands.append(SimpleCommand((), self.cwd, tuple(writes), via=via))
            return
        if 0 in expanded:
            self.out.problems.append(f"the command name of {_short(' '.join(words))} comes from an expansion")
            return
        self.simple(words, frozenset(expanded), tuple(substituted), tuple(writes), via, depth, quoted, piped_from)

    def simple(self, argv: list[str], expanded: frozenset[int], substituted: tuple[tuple[int, tuple[str, ...]], ...],
               writes: tuple[Redirect, ...], via: str, depth: int, quoted: set[str],
               piped_from: tuple[str, ...], open_ended: bool = False) -> None:
        name = os.path.basename(argv[0])
        inner = _unwrap(argv)
        if inner is not None:
            start, _ = inner
            if start >= len(argv):
                if name != "xargs":  # `env` alone prints the environment; `xargs` alone runs echo
                    self._add(argv, expanded, substituted, writes, via, piped_from, open_ended)
                    return
                argv, start = [*argv, "echo"], len(argv)
            shift = lambda idx: frozenset(i - start for i in idx if i >= start)  # noqa: E731
            subs = tuple((i - start, n) for i, n in substituted if i >= start)
            if start in expanded:
                self.out.problems.append(f"the command run by {name} comes from an expansion")
                return
            self.simple(argv[start:], shift(expanded), subs, writes, via or name, depth, quoted, piped_from,
                        open_ended or name == "xargs")
            return
        if name in SHELLS and "-c" in argv[1:]:
            i = argv.index("-c", 1)
            if i + 1 >= len(argv):
                self.out.problems.append(f"{name} -c without a script")
            elif (i + 1) in expanded:
                self.out.problems.append(f"the script given to {name} -c comes from an expansion")
                self._add(argv, expanded, substituted, writes, via, piped_from, open_ended)
            else:
                saved = self.cwd
                self.line(argv[i + 1], f"{name} -c", depth + 1)
                self.cwd = saved
                if writes:
                    self.out.commands.append(SimpleCommand((), self.cwd, writes, via=via))
            return
        if name == "eval":
            if any(i in expanded for i in range(1, len(argv))):
                self.out.problems.append("eval of words built from expansions cannot be checked")
                self._add(argv, expanded, substituted, writes, via, piped_from, open_ended)
                return
            self.line(" ".join(argv[1:]), "eval", depth + 1)
            return
        if name in self.functions:
            return  # a call of a function defined in this line: its body was checked where defined
        self._add(argv, expanded, substituted, writes, via, piped_from, open_ended)
        if name in ("cd", "pushd", "popd"):
            self._cd(argv, expanded)

    def _add(self, argv: list[str], expanded: frozenset[int], substituted, writes, via: str,
             piped_from: tuple[str, ...], open_ended: bool) -> None:
        self.out.commands.append(SimpleCommand(
            tuple(argv), self.cwd, writes, open_ended, via, piped_from, expanded, substituted))

    def _cd(self, argv: list[str], expanded: frozenset[int]) -> None:
        args = [a for a in argv[1:] if not a.startswith("-") or a == "-"]
        if argv[0] != "cd" or (args and (args[0] == "-" or 1 + argv[1:].index(args[0]) in expanded)):
            self.cwd = None
            return
        target = args[0] if args else "~"
        if self.cwd is None and not (target.startswith(("/", "~"))):
            return
        self.cwd = resolve_word(target, self.cwd or Path("/"), self.home)


def resolve_word(word: str, cwd: Path, home: Path) -> Path:
    """The absolute, normalised path a shell word names: ``~``, ``~/x``, ``$HOME``, ``${HOME}``
    lead to ``home``; relative words are taken from ``cwd``. Symlinks are not followed."""
    if word == "~" or word.startswith("~/"):
        word = str(home) + word[1:]
    else:
        for var in ("$HOME", "${HOME}"):
            if word == var or word.startswith(var + "/"):
                word = str(home) + word[len(var):]
    path = Path(word)
    return Path(os.path.normpath(path if path.is_absolute() else cwd / path))


def _unwrap(argv: list[str]) -> tuple[int, str] | None:
    """(index of the wrapped command, wrapper name) for ``env X=1 cmd``, ``nice -n 5 cmd``...;
    None when ``argv`` is not a wrapper (or ``command -v``, which runs nothing)."""
    name = os.path.basename(argv[0])
    takes_value = _WRAPPER_OPTIONS_WITH_VALUE.get(name)
    if takes_value is None:
        return None
    i = 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if name == "command" and word in ("-v", "-V"):
            return None
        if word.startswith("-") and word != "-":
            i += 2 if word in takes_value else 1
            continue
        if name == "env" and "=" in word:
            i += 1
            continue
        if name == "nice" and re.fullmatch(r"-?\d+", word) and i == 1:
            i += 1
            continue
        break
    if name == "timeout" and i < len(argv):
        i += 1  # the duration
    return i, name


def _descendants(node) -> list:
    found = []
    for part in getattr(node, "parts", []) or []:
        found.append(part)
        found += _descendants(part)
    return found


def _runs_concurrently(body, name: str) -> bool:
    """True when ``name`` is called inside a pipeline or a backgrounded list within ``body``."""
    nodes = [body, *_all_nodes(body)]
    for node in nodes:
        if node.kind == "pipeline" and any(_calls(p, name) for p in node.parts):
            return True
        if node.kind == "list":
            parts = node.parts
            for i, part in enumerate(parts):
                nxt = parts[i + 1] if i + 1 < len(parts) else None
                if nxt is not None and nxt.kind == "operator" and nxt.op == "&" and _calls(part, name):
                    return True
    return False


def _all_nodes(node) -> list:
    found = []
    children = list(getattr(node, "parts", None) or getattr(node, "list", None) or [])
    for attr in ("command", "body"):
        child = getattr(node, attr, None)
        if child is not None and hasattr(child, "kind"):
            children.append(child)
    for child in children:
        found.append(child)
        found += _all_nodes(child)
    return found


def _calls(node, name: str) -> bool:
    return any(n.kind == "command" and n.parts and getattr(n.parts[0], "word", None) == name
               for n in [node, *_all_nodes(node)])


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= width else text[: width - 1] + "…")
