"""The policy engine: decides each tool call ``allow``, ``ask`` or ``deny``, and says why.

Rules come in layers, in this order: the built-in layer (:mod:`.builtin`), the person's
``$COWORK_HOME/policy.toml``, the workspace's ``.cowork/policy.toml`` (only once the workspace is
trusted, see :mod:`.trust`), then the "always in this session" answers. Among the rules that
match, deny wins over ask and ask over allow, whatever their layer (the earliest rule of the
strongest outcome is the one named). A call no rule decides gets its mode's outcome
(:mod:`.modes`). ``read-only`` turns every allow of something that can change anything into deny
(except the built-in read-only commands); ``yolo`` turns every ask into allow — except hard denies
(:mod:`.builtin`), which always ask a person for that one call (and are denied in read-only mode).

The policy never names a tool: it reads the call's traits (:class:`CallTraits`, which a tool's
``ToolTraits`` satisfies). A shell command (``command_arg``) is split into its simple commands
(:mod:`.commands`); each is decided on its own, and so is each file it redirects output into, and
each construct that cannot be analysed (ask). Each workspace path argument (``paths``) is confined
on its own, and a URL argument (``url_arg``) is matched by its host. The call's outcome is the
strongest of its parts.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..config import cowork_home
from .builtin import BUILTIN_RULES, Finding, Places, command_findings, is_sink, path_findings, real_path
from .commands import SimpleCommand, analyse, resolve_word
from .modes import check_mode, mode_outcome
from .rules import STRENGTH, Outcome, Rule, load_rules, session_rule
from .trust import is_trusted

log = logging.getLogger(__name__)



class CallTraits(Protocol):
    """What the policy reads of the tool a call is for (see ``cowork.tools.base.ToolTraits``)."""

    @property
    def mutating(self) -> bool: ...
    @property
    def destructive(self) -> bool: ...
    @property
    def edits_files(self) -> bool: ...
    @property
    def paths(self) -> Mapping[str, str]: ...
    @property
    def command_arg(self) -> str | None: ...
    @property
    def url_arg(self) -> str | None: ...


@dataclass(frozen=True)
class PlainTraits:
    """The traits of a tool the policy knows nothing about but whether it can change something."""

    mutating: bool = True
    destructive: bool = True
    edits_files: bool = False
    paths: Mapping[str, str] = field(default_factory=dict)
    command_arg: str | None = None
    url_arg: str | None = None

_URL = re.compile(r"(?i)\b(?:https?|ftp|wss?|git|ssh|sftp|rsync)://(?:[^/\s@]+@)?(\[[^\]/]+\]|[^/\s:?#]+)")
_SCP = re.compile(r"^[\w.-]+@([\w.-]+):")
_MAX_REASON = 600


@dataclass(frozen=True)
class Decision:
    """What the policy says about one call.

    Attributes:
        outcome: ``allow``, ``ask`` or ``deny``.
        reason: why, for people and the model (``"rm -rf build: deletes …"``).
        rule: the rule that decided: ``builtin:hard-deny:ssh``, ``builtin:read-only:git status``,
            ``/home/u/.cowork/policy.toml#3``, ``mode:accept-edits``, ``session:bash:git status``.
        suggestion: the narrowest "always in this session" patterns that would allow the parts
            that ask (``bash:git status``, ``write``, ``path:out.txt``); empty when none would.
        hard: a hard deny: only ``once`` and ``deny`` are offered, nothing lifts it otherwise.
        network: a ``bash`` call may use the network: a rule gives it, or a person approves a
            command that names URLs. yolo alone never does (nobody saw the URL); a command that
            fails for the lack of it gets the sandbox's escalation approval.
    """

    outcome: Outcome
    reason: str
    rule: str
    suggestion: tuple[str, ...] = ()
    hard: bool = False
    network: bool = False

    @property
    def options(self) -> list[str]:
        """The answers a person may give when the outcome is ``ask``."""
        return ["once", "deny"] if self.hard or not self.suggestion else ["once", "session", "deny"]


@dataclass(frozen=True)
class _Verdict:
    outcome: Outcome
    rule: str
    reason: str
    hard: bool = False
    suggestion: str | None = None
    network: bool = False


@dataclass(frozen=True)
class Policy:
    """The rules in force for one workspace (see :func:`load_policy`). ``notes`` say what was
    left out and why (an untrusted workspace's policy file)."""

    places: Places
    rules: tuple[Rule, ...]
    notes: tuple[str, ...] = ()

    def decide(self, tool: str, arguments: Mapping[str, Any], *, mode: str, traits: CallTraits | None = None,
               mutating: bool = True, session: Iterable[str] = ()) -> Decision:
        """Decide one call of ``tool`` with its validated ``arguments``. ``traits``: what the tool
        is (without them, a tool that can change something when ``mutating``, with no argument
        the policy analyses); ``session``: the session's "always" patterns. Raises ValueError for
        an unknown mode."""
        check_mode(mode)
        traits = traits if traits is not None else PlainTraits(mutating=mutating)
        shell = bool(traits.command_arg)
        answers = session_rules(tuple(session), tool if shell else None)
        rules = [r for r in (*self.rules, *answers) if r.covers_tool(tool, shell=shell)]
        return _combine(list(self._verdicts(tool, arguments, traits, mode, rules)))

    def tool_outcome(self, tool: str, *, mutating: bool, mode: str, session: Iterable[str] = ()) -> Outcome:
        """What a call of ``tool`` gets from the rules that cover the whole tool and the mode
        (what ``tools/list`` shows; a call's own arguments can change it)."""
        check_mode(mode)
        whole = [r for r in (*self.rules, *session_rules(tuple(session)))
                 if r.covers_tool(tool) and r.kind in ("tool", "mcp")]
        return _judge(tool, whole, [], mode, mutating=mutating, suggestion=None).outcome

    # -- the parts of a call ---------------------------------------------------------------------

    def _verdicts(self, tool: str, args: Mapping[str, Any], traits: CallTraits, mode: str,
                  rules: list[Rule]) -> Iterator[_Verdict]:
        whole = [r for r in rules if r.kind in ("tool", "mcp")]
        places = self.places
        mutating = traits.mutating
        analysed = False
        if traits.command_arg:
            analysed = True
            yield from self._bash(tool, str(args.get(traits.command_arg) or ""), mode, rules, whole)
        for name, access in traits.paths.items():
            analysed = True
            raw = str(args.get(name) or ".")
            given = Path(raw).expanduser() if raw.startswith("~") else Path(raw)
            path = real_path(given if given.is_absolute() else places.workspace / given)
            matched = whole + [r for r in rules if r.matches_path(path, places.workspace, places.home)]
            edit_inside = traits.edits_files and not traits.destructive and places.inside(path)
            yield _judge(f"{tool} {_show(path, places)}", matched, path_findings(path, access == "write", places),
                         mode, mutating=mutating, edit_inside=edit_inside, suggestion=tool)
        if traits.url_arg:
            analysed = True
            url = args.get(traits.url_arg)
            host = _host(str(url or ""))
            matched = whole + [r for r in rules if host and r.matches_host(host)]
            yield _judge(f"fetch {host or url!r}", matched, [], mode, mutating=mutating, suggestion=None)
        if not analysed:
            yield _judge(tool, whole, [], mode, mutating=mutating, suggestion=tool)

    def _bash(self, tool: str, command: str, mode: str, rules: list[Rule], whole: list[Rule]) -> Iterator[_Verdict]:
        places = self.places
        analysis = analyse(command, places.workspace, places.home)
        for problem in analysis.problems:
            yield _judge(problem, whole, [Finding("builtin:cannot-analyse", "a person must read this command", False)],
                         mode, mutating=True, suggestion=None)
        for name in analysis.fork_bombs:
            finding = Finding("builtin:hard-deny:fork-bomb", f"the function {name} starts copies of itself without end")
            yield _judge(f"{name}()", whole, [finding], mode, mutating=True, suggestion=None)
        if not analysis.commands and not analysis.problems and not analysis.fork_bombs:
            yield _Verdict("allow", "builtin:empty", "the command runs nothing")
        by_outcome_domain = [r for r in rules if r.kind == "domain"]
        any_network = any(r.outcome == "allow" and r.domain == "*" for r in by_outcome_domain)
        for cmd in analysis.commands:
            findings = command_findings(cmd, places)
            hosts = _hosts(cmd.argv)
            paths = [p for p in (_word_path(w, cmd, places) for w in (*cmd.argv[1:], *(r.target for r in cmd.writes)))
                     if p is not None]
            if cmd.argv:
                matched = whole + [r for r in rules if r.matches_argv(cmd.argv, cmd.open_ended)]
                matched += [r for r in rules if r.kind == "path" and r.outcome != "allow"
                            and any(r.matches_path(p, places.workspace, places.home) for p in paths)]
                matched += [r for r in by_outcome_domain if r.outcome != "allow" and any(map(r.matches_host, hosts))]
                pattern = cmd.text() + (" *" if cmd.open_ended else "")
                verdict = _judge(_label(cmd), matched, findings, mode, mutating=True, hosts=hosts,
                                 suggestion=f"{tool}:{pattern}")
                if verdict.outcome != "deny" and (any_network or any(
                        r.outcome == "allow" and r.matches_host(h) for r in by_outcome_domain for h in hosts)):
                    verdict = _with_network(verdict)
                yield verdict
            for redirect in cmd.writes:
                target = _word_path(redirect.target, cmd, places)
                if target is None or is_sink(target):
                    continue  # an unknown target is already a finding of the command
                matched = whole + [r for r in rules if r.matches_path(target, places.workspace, places.home)]
                yield _judge(f"{redirect.op} {redirect.target}", matched, path_findings(target, True, places), mode,
                             mutating=True, edit_inside=places.inside(target),
                             suggestion=f"path:{_show(target, places)}")


def _judge(label: str, matched: Sequence[Rule], findings: Sequence[Finding], mode: str, *, mutating: bool,
           suggestion: str | None, edit_inside: bool = False, hosts: Sequence[str] = ()) -> _Verdict:
    """One part's verdict: deny rules, then hard denies, then asks (findings, rules), then allow
    rules, then the mode."""
    best = max(matched, key=lambda r: STRENGTH[r.outcome], default=None)
    hard = [f for f in findings if f.hard]
    soft = [f for f in findings if not f.hard]
    network = bool(hosts)
    if best is not None and best.outcome == "deny":
        return _Verdict("deny", best.id, _because(label, best, "denied"))
    refused = [f for f in findings if f.refuse]
    if refused:  # no person can lift these (a file tool on cowork's own state)
        return _Verdict("deny", refused[0].rule, f"{label}: {refused[0].reason}")
    if hard:
        if mode in ("read-only", "plan"):
            return _Verdict("deny", hard[0].rule, f"{label}: {hard[0].reason} (the session is {mode})")
        return _Verdict("ask", hard[0].rule, f"{label}: {hard[0].reason}", hard=True, network=network)
    if soft or (best is not None and best.outcome == "ask"):
        rule, why = (soft[0].rule, soft[0].reason) if soft else (best.id, best.reason or f"asked by {best.id}")
        if mode in ("read-only", "plan") and mutating:
            return _Verdict("deny", f"mode:{mode}", f"{label}: the session is {mode} ({why})")
        if mode == "yolo":
            # yolo lifts the question but not the network: nobody saw the URL (the sandbox's
            # escalation asks if the command needs it)
            return _Verdict("allow", "mode:yolo", f"{label}: yolo mode ({rule} would ask: {why})")
        return _Verdict("ask", rule, f"{label}: {why}", network=network)
    if best is not None:
        if mode in ("read-only", "plan") and mutating and not best.readonly:
            return _Verdict("deny", f"mode:{mode}", f"{label}: the session is {mode} (allowed by {best.id})")
        granted = best.network or (best.id.startswith("session:") and network)
        return _Verdict("allow", best.id, _because(label, best, "allowed"), network=granted)
    outcome = mode_outcome(mode, mutating=mutating, edit_inside=edit_inside)
    words = {"allow": "runs", "ask": "asks", "deny": "is denied"}[outcome]
    return _Verdict(outcome, f"mode:{mode}", f"{label}: {words} in {mode} mode",
                    suggestion=suggestion if outcome == "ask" else None, network=network and outcome == "ask")


def _combine(verdicts: list[_Verdict]) -> Decision:
    top = max(STRENGTH[v.outcome] for v in verdicts)
    decisive = [v for v in verdicts if STRENGTH[v.outcome] == top]
    outcome = decisive[0].outcome
    hard = outcome == "ask" and any(v.hard for v in decisive)
    if hard:
        rule = next(v.rule for v in decisive if v.hard)
    elif outcome == "deny":  # a rule or a hard deny says more than the mode
        rule = min(decisive, key=lambda v: v.rule.startswith("mode:")).rule
    else:  # an allow names the weakest reason it had: the mode, then a session answer, then a rule
        rule = min(decisive, key=lambda v: (not v.rule.startswith("mode:"), not v.rule.startswith("session:"))).rule
    suggestion = () if hard or outcome != "ask" else tuple(dict.fromkeys(v.suggestion for v in decisive if v.suggestion))
    reason = "; ".join(dict.fromkeys(v.reason for v in decisive))
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 1] + "…"
    return Decision(outcome, reason, rule, suggestion, hard, outcome != "deny" and any(v.network for v in verdicts))


def _because(label: str, rule: Rule, verb: str) -> str:
    return f"{label}: {rule.reason}" if rule.reason else f"{label}: {verb} by {rule.id}"


def _with_network(v: _Verdict) -> _Verdict:
    return _Verdict(v.outcome, v.rule, v.reason, v.hard, v.suggestion, True)


def _label(cmd: SimpleCommand) -> str:
    text = cmd.text()
    text = text if len(text) <= 80 else text[:79] + "…"
    return f"{text} (in {cmd.via})" if cmd.via else text


def _show(path: Path, places: Places) -> str:
    return path.relative_to(places.workspace).as_posix() if places.inside(path) else str(path)


def _word_path(word: str, cmd: SimpleCommand, places: Places) -> Path | None:
    if "$" in word.replace("${HOME}", "").replace("$HOME", "") or "`" in word:
        return None
    if cmd.cwd is None and not word.startswith(("/", "~", "$HOME", "${HOME}")):
        return None
    return resolve_word(word, cmd.cwd or places.workspace, places.home)


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _hosts(argv: Sequence[str]) -> tuple[str, ...]:
    """Host names of the URLs (``https://host/...``, ``git@host:path``) among the words."""
    found = [m.group(1).strip("[]").lower() for w in argv for m in _URL.finditer(w)]
    found += [m.group(1).lower() for w in argv if (m := _SCP.match(w))]
    return tuple(dict.fromkeys(found))


@functools.lru_cache(maxsize=256)
def session_rules(patterns: tuple[str, ...], shell_tool: str | None = None) -> tuple[Rule, ...]:
    """The allow rules of a session's "always" patterns; malformed ones are skipped (logged).
    ``shell_tool``: the tool being decided, when its traits name a shell-command argument (its
    ``TOOL:COMMAND`` patterns are command patterns, as ``bash:COMMAND`` ones are)."""
    rules = []
    for pattern in patterns:
        try:
            rules.append(session_rule(pattern, shell_tools=(shell_tool,) if shell_tool else ()))
        except ValueError as exc:
            log.warning("ignoring a session pattern: %s", exc)
    return tuple(rules)


_FILES: dict[Path, tuple[tuple[int, int], tuple[Rule, ...]]] = {}
_WARNED: set[tuple[Path, int]] = set()


def _file_rules(path: Path) -> tuple[Rule, ...]:
    """The rules of ``path`` (none when it does not exist), parsed again only when the file's
    mtime or size changed. Raises PolicyFileError."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return ()
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _FILES.get(path)
    if cached is None or cached[0] != key:
        cached = (key, load_rules(path))
        _FILES[path] = cached
    return cached[1]


def load_policy(workspace: Path, *, home: Path | None = None, state: Path | None = None) -> Policy:
    """The policy of ``workspace``: the built-in rules, ``STATE/policy.toml`` (``state``: default
    ``$COWORK_HOME``), and ``WORKSPACE/.cowork/policy.toml`` when the workspace is trusted (else
    a note, logged once per file version). ``home``: the person's home (default ``Path.home()``).
    Raises PolicyFileError for a bad policy file, ValueError for a malformed trusted.json."""
    ws = workspace.resolve()
    state = (state or cowork_home()).resolve()
    places = Places(ws, (home or Path.home()).resolve(), state)
    rules = [*BUILTIN_RULES, *_file_rules(state / "policy.toml")]
    notes = []
    local = ws / ".cowork" / "policy.toml"
    if local.is_file():
        if is_trusted(ws, state):
            rules += _file_rules(local)
        else:
            note = f"{local} is ignored: this workspace is not trusted (trust it with: cowork trust {ws})"
            notes.append(note)
            mark = (local, local.stat().st_mtime_ns)
            if mark not in _WARNED:
                _WARNED.add(mark)
                log.warning("%s", note)
    return Policy(places, tuple(rules), tuple(notes))
