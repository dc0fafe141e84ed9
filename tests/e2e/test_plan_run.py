"""``cowork run --plan`` / ``--dry-run`` and ``/plan`` in ``cowork chat``, end to end: the real
``cowork`` command (its in-process server and store) against the scripted model; approvals at a
pseudo-terminal driven by pexpect."""

from __future__ import annotations

import re
import sqlite3

import pytest
from e2e_support import MODEL, Cowork, Terminal, items, of_type, tool_messages
from fakemodel import FakeModelServer, reply, text, tool_call

pexpect = pytest.importorskip("pexpect", reason="pexpect is needed to drive cowork in a pseudo-terminal")

PLAN_PROMPT = re.escape("[y] approve  [e] edit  [n] reject")


def script(srv: FakeModelServer, path: str = "out.txt") -> None:
    srv.script(reply(tool_call("read", {"path": "notes.txt"})),
               reply(tool_call("propose_plan", {"steps": ["Read notes.txt", f"Write {path}"]})),
               reply(tool_call("write", {"path": path, "content": "done\n"})),
               reply(text("Carried out the plan.")))


def session_modes(cw: Cowork) -> list[str]:
    with sqlite3.connect(cw.home / "cowork.db") as db:
        return [row[0] for row in db.execute("select mode from sessions")]


def test_dry_run_shows_the_plan_changes_nothing_and_exits_0(cw: Cowork, srv: FakeModelServer) -> None:
    (cw.workspace / "notes.txt").write_text("notes\n")
    srv.script(reply(tool_call("read", {"path": "notes.txt"})),
               reply(tool_call("propose_plan", {"steps": ["Read notes.txt", "Write out.txt"]})),
               reply(text("Understood: a dry run.")))
    res = cw.task("summarise notes", "--dry-run", "--yes", json_out=False)
    assert res.code == 0, res.explain()
    assert "1. Read notes.txt" in res.stdout and "2. Write out.txt" in res.stdout
    assert res.stdout.rstrip().endswith("dry run: nothing was changed")
    assert sorted(p.name for p in cw.workspace.iterdir()) == ["notes.txt"]
    (rejected,) = [m["content"] for m in tool_messages(srv.requests[2]) if "plan" in m["content"]]
    assert "rejected the plan" in rejected and "dry run: nothing is executed" in rejected
    assert session_modes(cw) == ["plan"]


def test_dry_run_json_journals_the_rejection(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(reply(tool_call("propose_plan", {"steps": ["Write out.txt"]})), reply(text("ok")))
    res = cw.task("go", "--dry-run")
    assert res.code == 0, res.explain()
    (resolved,) = of_type(res.events, "approval.resolved")
    assert resolved["decision"] == "deny" and resolved["reason"] == "dry run: nothing is executed"
    assert "dry run: nothing was changed" in res.stderr


def test_plan_with_read_only_is_a_usage_error(cw: Cowork, srv: FakeModelServer) -> None:
    for flag in ("--plan", "--dry-run"):
        res = cw.task("go", flag, "--read-only")
        assert res.code == 2 and "contradict" in res.stderr, res.explain()
    assert not srv.requests


def test_plan_without_a_terminal_is_rejected_with_a_reason(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(reply(tool_call("read", {"path": "."})),
               reply(tool_call("propose_plan", {"steps": ["Write out.txt"]})),
               reply(text("I need someone to approve it.")))
    res = cw.task("go", "--plan")
    ev = res.events
    (resolved,) = of_type(ev, "approval.resolved")
    assert resolved["decision"] == "deny" and "nobody at a terminal" in resolved["reason"]
    assert not (cw.workspace / "out.txt").exists()
    assert [c["name"] for c in items(ev, "tool_call")] == ["read", "propose_plan"]


def test_plan_yes_approved_at_the_terminal_runs_in_yolo(cw: Cowork, srv: FakeModelServer) -> None:
    (cw.workspace / "notes.txt").write_text("notes\n")
    script(srv)
    t = Terminal(cw, "summarise", "--plan", "--yes")
    try:
        t.expect(PLAN_PROMPT)
        assert "1. Read notes.txt" in t.seen and "(yolo mode)" in t.seen
        assert not (cw.workspace / "out.txt").exists()
        t.answer("y")
        assert t.finish() == 0, t.seen
    finally:
        t.child.terminate(force=True)
    assert (cw.workspace / "out.txt").read_text() == "done\n"  # yolo: the write did not ask
    assert "allow? [y] once" not in t.seen
    assert session_modes(cw) == ["yolo"]


def test_plan_edited_in_the_editor_is_what_runs(cw: Cowork, srv: FakeModelServer) -> None:
    (cw.workspace / "notes.txt").write_text("notes\n")
    script(srv)
    editor = "sh -c 'printf \"# mine\\nWrite other.txt\\n\\nThen stop\\n\" > \"$1\"' sh"
    t = Terminal(cw, "summarise", "--plan", "--mode", "accept-edits", EDITOR=editor, VISUAL=None)
    try:
        t.expect(PLAN_PROMPT)
        t.answer("e")
        t.expect("your plan")
        t.expect(PLAN_PROMPT)
        assert "1. Write other.txt" in t.seen and "2. Then stop" in t.seen
        t.answer("y")
        assert t.finish() == 0, t.seen
    finally:
        t.child.terminate(force=True)
    seen = [m["content"] for m in tool_messages(srv.requests[2])][-1]
    assert "edited the plan" in seen and "Write other.txt" in seen and "Then stop" in seen
    assert session_modes(cw) == ["accept-edits"]
    assert (cw.workspace / "out.txt").exists()  # accept-edits: the model's write inside the workspace ran


def test_plan_rejected_at_the_terminal_leaves_the_workspace(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(reply(tool_call("propose_plan", {"steps": ["Delete everything"]})), reply(text("Stopping.")))
    (cw.workspace / "keep.txt").write_text("k")
    t = Terminal(cw, "clean up", "--plan")
    try:
        t.expect(PLAN_PROMPT)
        t.answer("n")
        t.expect("reason for the agent")
        t.answer("too risky")
        assert t.finish() == 0, t.seen
    finally:
        t.child.terminate(force=True)
    assert sorted(p.name for p in cw.workspace.iterdir()) == ["keep.txt"]
    assert "too risky" in tool_messages(srv.requests[1])[-1]["content"]
    assert session_modes(cw) == ["plan"]


def test_chat_plan_command_switches_to_plan_mode_and_back(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(reply(tool_call("write", {"path": "x.txt", "content": "x"})), reply(text("I will plan first.")))
    res = cw.run("chat", "--dir", str(cw.workspace), "--model", MODEL, "--mode", "accept-edits",
                 input="/plan\nwrite x\n/plan off\n")
    assert res.code == 0, res.explain()
    assert "mode: plan" in res.stdout and "carried out in accept-edits mode" in res.stdout
    assert "mode: accept-edits" in res.stdout
    assert not (cw.workspace / "x.txt").exists()  # the turn ran in plan mode: the write was denied
    assert "plan mode" in tool_messages(srv.requests[1])[-1]["content"]
    assert "propose_plan" in {t["function"]["name"] for t in srv.requests[0]["tools"]}
    assert session_modes(cw) == ["accept-edits"]
