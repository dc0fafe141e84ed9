"""Policy rules: the TOML syntax, its errors, and what each kind of rule matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowork.policy.rules import PolicyFileError, Rule, load_rules, match_argv, session_rule, split_mcp_name

WS = Path("/w/ws")
HOME = Path("/w/home")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_a_file_of_every_rule_kind(tmp_path):
    path = write(tmp_path, """
[[rules]]
outcome = "allow"
tool = "bash"
command = "git status"

[[rules]]
outcome = "allow"
command = "npm run *"
network = true

[[rules]]
outcome = "deny"
path = "secrets/**"
reason = "keep out of secrets"

[[rules]]
outcome = "ask"
tool = "write"
path = "~/notes/**"

[[rules]]
outcome = "allow"
domain = "*.Python.org"

[[rules]]
outcome = "deny"
mcp = "github/delete_*"

[[rules]]
outcome = "ask"
tool = "web_fetch"
""")
    rules = load_rules(path)
    assert [r.id for r in rules] == [f"{path}#{n}" for n in range(1, 8)]
    assert [r.kind for r in rules] == ["command", "command", "path", "path", "domain", "mcp", "tool"]
    assert rules[0].command == ("git", "status") and rules[1].network
    assert rules[2].reason == "keep out of secrets" and rules[3].tool == "write"
    assert rules[4].domain == "*.python.org" and rules[5].mcp == ("github", "delete_*")


@pytest.mark.parametrize("text, message", [
    ("rules = 3", "rules must be an array of tables"),
    ("[[rules]]\ntool = 'bash'", "rule 1: outcome must be one of allow, ask, deny, not None"),
    ("[[rules]]\noutcome = 'allow'\ntool = 'bash'\n[[rules]]\noutcome = 'maybe'\ntool = 'x'",
     "rule 2: outcome must be one of allow, ask, deny, not 'maybe'"),
    ("[[rules]]\noutcome = 'allow'", "rule 1: give a scope"),
    ("[[rules]]\noutcome = 'allow'\ncommand = 'ls'\npath = 'x'", "rule 1: give one of command, path, domain, mcp"),
    ("[[rules]]\noutcome = 'allow'\ncommand = 'echo \"open'", "rule 1: command 'echo \"open' cannot be split"),
    ("[[rules]]\noutcome = 'allow'\ncommand = '   '", "rule 1: command must be a non-empty string"),
    ("[[rules]]\noutcome = 'allow'\ntool = 'bash'\ncolour = 'red'", "rule 1: unknown key 'colour'"),
    ("[[rules]]\noutcome = 'deny'\ncommand = 'curl *'\nnetwork = true", "rule 1: network = true goes with an allow"),
    ("[[rules]]\noutcome = 'allow'\ntool = 3", "rule 1: tool must be a non-empty string"),
    ("[rules]\noutcome = 'allow'", "rules must be an array of tables"),
    ("[[rule]]\noutcome = 'allow'", "unknown top-level key 'rule'"),
    ("[[rules]\noutcome = 'allow'", "not valid TOML"),
])
def test_bad_files_name_the_file_and_the_rule(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(PolicyFileError) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value), str(caught.value)


@pytest.mark.parametrize("pattern, argv, open_ended, matches", [
    ("git status", "git status", False, True),
    ("git status", "git status --short", False, False),  # exact unless it ends with *
    ("git status", "git", False, False),
    ("git status *", "git status --short", False, True),
    ("git status *", "git status", False, True),
    ("npm run *", "npm run test -- -x", False, True),
    ("npm run *", "npm test", False, False),
    ("npm run test:*", "npm run test:unit", False, True),
    ("npm run test:*", "npm run lint", False, False),
    ("git *", "git push --force", False, True),
    ("git", "/usr/bin/git", False, False),  # a path is not the bare name: ./git could be anything
    ("rm -f", "rm -f", True, False),  # xargs adds arguments: only a pattern ending in * matches
    ("rm *", "rm -f", True, True),
    ("echo *", "echo $(id)", False, True),
    ("echo hi", "echo $x", False, False),
    ("pytest tests/*.py", "pytest tests/a.py", False, True),
])
def test_command_patterns(pattern, argv, open_ended, matches):
    assert match_argv(tuple(pattern.split()), tuple(argv.split()), open_ended) is matches


@pytest.mark.parametrize("pattern, path, matches", [
    ("src/**", WS / "src/a/b.py", True),
    ("src/**", WS / "src", False),
    ("src/*.py", WS / "src/a.py", True),
    ("src/*.py", WS / "src/a/b.py", False),
    ("**/*.env", WS / "deep/er/x.env", True),
    ("**/*.env", WS / "x.env", True),
    ("src/**", Path("/elsewhere/src/a.py"), False),  # relative patterns stay in the workspace
    ("/etc/**", Path("/etc/passwd"), True),
    ("/etc/**", WS / "etc/passwd", False),
    ("~/notes/**", HOME / "notes/today.md", True),
    ("~/notes/**", WS / "notes/today.md", False),
])
def test_path_patterns(pattern, path, matches):
    assert Rule("deny", "t", path=pattern).matches_path(path, WS, HOME) is matches


@pytest.mark.parametrize("pattern, host, matches", [
    ("*.python.org", "docs.python.org", True),
    ("*.python.org", "python.org", False),
    ("python.org", "PYTHON.org", True),
    ("*", "anything.example", True),
    ("pypi.org", "pypi.org.evil.com", False),
])
def test_domain_patterns(pattern, host, matches):
    assert Rule("allow", "t", domain=pattern).matches_host(host) is matches


@pytest.mark.parametrize("mcp, tool, matches", [
    (("github", "create_issue"), "mcp__github__create_issue", True),
    (("github", "*"), "mcp__github__delete_repo", True),
    (("github", "delete_*"), "mcp__github__create_issue", False),
    (("git*", "*"), "mcp__gitlab__list", True),
    (("github", "*"), "github_create_issue", False),
    (("github", "*"), "bash", False),
])
def test_mcp_patterns(mcp, tool, matches):
    assert Rule("allow", "t", mcp=mcp).covers_tool(tool) is matches


def test_mcp_names_split():
    assert split_mcp_name("mcp__srv__do_it") == ("srv", "do_it")
    assert split_mcp_name("mcp__srv") is None and split_mcp_name("bash") is None


def test_tool_globs_and_command_rules_cover_only_their_tools():
    assert Rule("allow", "t", tool="mcp__*").covers_tool("mcp__a__b")
    assert not Rule("allow", "t", tool="write").covers_tool("edit")
    assert not Rule("allow", "t", command=("ls",)).covers_tool("write")


@pytest.mark.parametrize("pattern, kind, scope", [
    ("write", "tool", None),
    ("mcp__github__create_issue", "tool", None),
    ("bash:git status", "command", ("git", "status")),
    ("bash:npm run 'my script'", "command", ("npm", "run", "my script")),
    ("web_fetch:Docs.Python.org", "domain", "docs.python.org"),
    ("path:out.txt", "path", "out.txt"),
    ("write:src/**", "path", "src/**"),
])
def test_session_patterns(pattern, kind, scope):
    rule = session_rule(pattern)
    assert rule.outcome == "allow" and rule.id == f"session:{pattern}" and rule.kind == kind
    if scope is not None:
        assert getattr(rule, kind) == scope
    assert rule.covers_tool("bash", shell=True) is (pattern.startswith(("bash:", "path:")))
    if kind == "command":  # a command pattern needs a tool that runs shell commands
        assert not rule.covers_tool("bash")


@pytest.mark.parametrize("pattern", ["", ":x", "bash:"])
def test_bad_session_patterns(pattern):
    with pytest.raises(ValueError):
        session_rule(pattern)
