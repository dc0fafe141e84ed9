"""Subagents through the real CLI: ``cowork run`` fans out to three subagents and shows each one's
status; ``cowork sessions show`` folds each subagent's work under the call that spawned it; the
REPL's ``/agents`` lists them and ``/memory`` shows what is remembered."""

from __future__ import annotations


from e2e_support import MODEL, Cowork
from fakemodel import FakeModelServer
from fanout_script import TASKS, fan_out


def test_run_fans_out_and_sessions_show_folds_each_subagent_under_its_call(cw: Cowork, srv: FakeModelServer) -> None:
    srv.handler = fan_out(wait_timeout=60)
    res = cw.task("Fan out the three writes", "--mode", "yolo", json_out=False)
    assert res.code == 0, res.explain()
    out = res.stdout
    for task in TASKS.values():
        assert f"«{task}»: done" in out, out
    assert "All three reported." in out
    for name in TASKS:
        assert (cw.workspace / f"{name}.txt").read_text() == f"{name}\n"

    (parent,) = cw.sessions()  # the subagents' sessions are not listed
    shown = cw.run("sessions", "show", parent["id"])
    assert shown.code == 0, shown.explain()
    lines = shown.stdout.splitlines()
    spawn = [i for i, line in enumerate(lines) if "spawn_agent" in line]
    assert len(spawn) == 3, shown.stdout
    # under each spawn_agent line, indented: the subagent's own transcript (its task, its bash call, its report)
    first = lines[spawn[0] + 1: spawn[1]]
    assert any(line.startswith("    ") and "› Write alpha.txt" in line for line in first), first
    assert any(line.startswith("    ") and "bash echo alpha > alpha.txt" in line for line in first), first
    assert any(line.startswith("    ") and "alpha report: wrote alpha.txt" in line for line in first), first

    chat = cw.run("chat", "--dir", str(cw.workspace), "--model", MODEL,
                  input=f"/resume {parent['id']}\n/agents\n/memory\n/help\n")
    assert chat.code == 0, chat.explain()
    listed = " ".join(chat.stdout.split())
    for task in TASKS.values():
        assert task in listed
    assert "no memories yet" in listed
    assert "/agents" in listed and "/memory [QUERY]" in listed  # /help lists both
