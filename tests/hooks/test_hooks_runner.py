"""The hooks files and the runner on their own: parsing and its errors, matchers, trust, answers
and how they combine, the process's life (real subprocesses), and the CLI's rendering."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path

import pytest
from hooks_support import toml_str

from cowork.engine import HookRun, Hooks
from cowork.hooks import (
    CommandRun,
    HookConfigError,
    HookRunner,
    combine,
    extension,
    interpret,
    load_hooks,
    parse_hooks,
)
from cowork.policy import set_trusted


@pytest.mark.parametrize(("text", "says"), [
    ("[[pre_tool_use]\ncommand = 'x'", "not valid TOML"),
    ("[[before_tool]]\ncommand = 'x'", "unknown hook event 'before_tool'; the events are session_start"),
    ("pre_tool_use = 'x'", "must be an array of tables"),
    ("[[stop]]\ncommand = 'x'\nmatch = 'bash'", "unknown key 'match'"),
    ("[[stop]]\ncommand = ''", "command must be a non-empty string"),
    ("[[stop]]\ncommand = 'x'\ntimeout = 0", "timeout must be a number of seconds above 0"),
    ("[[stop]]\ncommand = 'x'\ntimeout = 'ten'", "timeout must be a number"),
    ("[[stop]]\ncommand = 'x'\nmatcher = 'bash'", "matcher applies to pre_tool_use and post_tool_use only"),
    ("[[pre_tool_use]]\ncommand = 'x'\nmatcher = 3", "matcher must be a string"),
])
def test_a_bad_hooks_file_is_refused_with_where_and_why(text: str, says: str) -> None:
    with pytest.raises(HookConfigError) as info:
        parse_hooks(text, "/home/me/.cowork/hooks.toml")
    assert says in str(info.value) and str(info.value).startswith("/home/me/.cowork/hooks.toml")


def test_matchers_are_regular_expressions_or_globs_on_the_whole_name() -> None:
    hooks = parse_hooks("""
        [[pre_tool_use]]
        matcher = "bash|write"
        command = "a"
        [[pre_tool_use]]
        matcher = "mcp__github__*"
        command = "b"
        [[pre_tool_use]]
        matcher = "mcp__.*__create_.*"
        command = "c"
        [[pre_tool_use]]
        matcher = "*"
        command = "d"
        [[pre_tool_use]]
        command = "e"
        """.replace("        ", ""), "f")["pre_tool_use"]
    a, b, c, d, e = hooks
    assert a.matches("bash") and a.matches("write") and not a.matches("bash_output") and not a.matches("read")
    assert b.matches("mcp__github__issues") and not b.matches("mcp__gitlab__issues")
    assert c.matches("mcp__github__create_issue") and not c.matches("mcp__github__list_issues")
    assert d.matches("anything") and e.matches("anything")
    assert [h.timeout for h in hooks] == [30.0] * 5


def test_the_workspace_file_is_read_after_the_persons_once_trusted(tmp_path: Path) -> None:
    home, ws = tmp_path / "home", tmp_path / "ws"
    (ws / ".cowork").mkdir(parents=True)
    home.mkdir()
    (home / "hooks.toml").write_text("[[stop]]\ncommand = 'mine'\n")
    (ws / ".cowork" / "hooks.toml").write_text("[[stop]]\ncommand = 'theirs'\n")
    config = load_hooks(ws, home)
    assert [h.command for h in config.for_event("stop")] == ["mine"]
    assert config.ignored == str(ws / ".cowork" / "hooks.toml") and config.files == (str(home / "hooks.toml"),)
    set_trusted(ws, True, home)
    config = load_hooks(ws, home)
    assert [h.command for h in config.for_event("stop")] == ["mine", "theirs"] and config.ignored is None
    (home / "trusted.json").write_text("{not json")
    with pytest.raises(HookConfigError, match="trusted.json"):
        load_hooks(ws, home)


def _run(event: str, code: int, stdout: str = "", stderr: str = "") -> CommandRun:
    run = CommandRun("cmd", code, 5, event=event)
    interpret(event, run, stdout, stderr)
    return run


def test_answers_as_claude_codes_hooks_give_them() -> None:
    assert _run("pre_tool_use", 2, stderr="nope\n").decision == "deny"
    assert _run("pre_tool_use", 2, stderr="nope\n").reason == "nope"
    assert _run("stop", 2, stderr="keep going").decision == "block"
    ask = _run("pre_tool_use", 0, json.dumps({"decision": "ask", "reason": "check"}))
    assert (ask.decision, ask.reason) == ("ask", "check")
    claude = _run("pre_tool_use", 0, json.dumps({"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "no prod"}}))
    assert (claude.decision, claude.reason) == ("deny", "no prod")
    assert _run("user_prompt_submit", 0, json.dumps({"decision": "block", "reason": "r"})).decision == "block"
    assert _run("user_prompt_submit", 0, "plain text\n").context == "plain text"
    assert _run("pre_tool_use", 0, "plain text\n").context == ""  # plain stdout is context for two events only
    failed = _run("pre_tool_use", 1, stderr="crash\nmore")
    assert failed.decision is None and failed.error == "exited with status 1: crash"
    odd = _run("pre_tool_use", 0, json.dumps({"decision": "maybe"}))
    assert odd.decision is None and "unknown decision 'maybe'" in odd.error
    start = _run("session_start", 2, stderr="no")
    assert start.decision is None and "cannot block" in start.error
    assert _run("stop", 0, json.dumps({"decision": "ask"})).decision is None


def test_deny_wins_over_ask_over_allow() -> None:
    def runs(*decisions):
        return [CommandRun(f"c{i}", 0, 1, decision=d, reason=f"r{i}", context=f"x{i}", event="pre_tool_use")
                for i, d in enumerate(decisions)]

    assert combine("pre_tool_use", runs("allow", "ask", "deny", "deny")).decision == "deny"
    assert combine("pre_tool_use", runs("allow", "ask", "deny", "deny")).reason == "r2\nr3"
    assert combine("pre_tool_use", runs("allow", "ask", None)).decision == "ask"
    assert combine("pre_tool_use", runs("allow", None)).decision == "allow"
    assert combine("pre_tool_use", runs(None)).decision is None
    out = combine("stop", runs(None, "block"))
    assert out.block and out.reason == "r1" and out.context == "x0\n\nx1" and len(out.runs) == 2


async def test_the_runner_is_the_engines_hooks_and_runs_an_events_hooks_in_parallel(tmp_path: Path) -> None:
    """Each of the two hooks waits for the other's mark: run one after the other, the first would
    time out."""
    home = tmp_path
    meet = ("import os, sys, time; me, other = sys.argv[1:]; open(me, 'w').close()\n"
            "while not os.path.exists(other): time.sleep(0.02)")
    (home / "meet.py").write_text(meet)
    a, b = tmp_path / "a", tmp_path / "b"
    (home / "hooks.toml").write_text(
        f"[[stop]]\ncommand = {toml_str(f'{sys.executable} meet.py {a} {b}')}\ntimeout = 20\n"
        f"[[stop]]\ncommand = {toml_str(f'{sys.executable} meet.py {b} {a}')}\ntimeout = 20\n")
    runner = HookRunner(home)
    assert isinstance(runner, Hooks) and extension(home).hooks is not None and extension().name == "hooks"
    outcome = await runner.run("stop", {}, session_id="ses_1", workspace=tmp_path)
    assert [(r.exit_code, r.error) for r in outcome.runs] == [(0, ""), (0, "")]
    assert all(isinstance(r, HookRun) for r in outcome.runs)
    assert (await runner.run("pre_tool_use", {"tool_name": "bash"}, session_id="s", workspace=tmp_path)).runs == []


async def test_output_is_capped_and_stdin_need_not_be_read(tmp_path: Path) -> None:
    noisy = f"{sys.executable} -c 'import sys; sys.stdout.write(\"x\" * 3_000_000)'"
    (tmp_path / "hooks.toml").write_text(f"[[stop]]\ncommand = {toml_str(noisy)}\n")
    outcome = await HookRunner(tmp_path).run("stop", {"answer": "y" * 500_000}, session_id="s", workspace=tmp_path)
    [run] = outcome.runs
    assert run.exit_code == 0 and run.error == "" and len(run.output) <= 2001


async def test_a_cancelled_turn_kills_its_running_hook(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    hang = f"echo $$ > {pidfile}; exec sleep 300"
    (tmp_path / "hooks.toml").write_text(f"[[stop]]\ncommand = {toml_str(hang)}\n")
    task = asyncio.ensure_future(HookRunner(tmp_path).run("stop", {}, session_id="s", workspace=tmp_path))
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pid = int(pidfile.read_text())
    await asyncio.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]


def test_the_cli_shows_a_deny_and_a_failure_briefly() -> None:
    from datetime import UTC, datetime

    from rich.console import Console

    from cowork.cli.render import Renderer
    from cowork.protocol import HookRan

    out = io.StringIO()
    renderer = Renderer(Console(file=out, width=200, force_terminal=False), live=False)
    common = dict(session_id="s", turn_id="t", ts=datetime.now(UTC), duration_ms=3)
    renderer.event(HookRan(seq=1, event="pre_tool_use", command="./check.sh", exit_code=2, decision="deny",
                           reason="no rm -rf here\nmore", tool_name="bash", **common))
    renderer.event(HookRan(seq=2, event="stop", command="./t.sh", exit_code=None, error="timed out after 30 s",
                           **common))
    renderer.event(HookRan(seq=3, event="post_tool_use", command="./quiet.sh", exit_code=0, **common))
    shown = out.getvalue()
    assert "pre_tool_use hook denied bash: no rm -rf here" in shown and "more" not in shown
    assert "stop hook failed: timed out after 30 s" in shown and "quiet.sh" not in shown


def test_a_real_cowork_server_gets_the_hooks_extension() -> None:
    from cowork.cli.inprocess import extensions

    assert "hooks" in [e.name for e in extensions()]
