"""``cowork run`` end to end: a multi-step task, read-only sessions, approvals without a terminal."""

from __future__ import annotations

from e2e_support import (
    Cowork,
    all_text,
    assert_gapless,
    items,
    of_type,
    tool_messages,
)
from fakemodel import FakeModelServer, reply, text, tool_call


def test_multi_step_task_writes_edits_runs_and_answers(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(
        reply(tool_call("write", {"path": "notes.txt", "content": "one\ntwo\n"}, id="call_w"), usage=(11, 1)),
        reply(tool_call("edit", {"path": "notes.txt", "old_string": "two", "new_string": "two\nthree"}, id="call_e"),
              usage=(22, 2)),
        reply(tool_call("bash", {"command": "wc -l notes.txt"}, id="call_b"), usage=(33, 3)),
        reply(text("notes.txt now has 3 lines."), usage=(44, 7)),
    )
    res = cw.task("Write notes.txt, add a line, count its lines", "--yes")
    assert res.code == 0, res.explain()

    # The workspace after the run.
    assert (cw.workspace / "notes.txt").read_text() == "one\ntwo\nthree\n"

    # Events: one session, gapless from 1, bracketed by turn.started / turn.completed.
    ev = res.events
    assert_gapless(ev, first=1)
    assert len({e["session_id"] for e in ev}) == 1
    assert len({e["turn_id"] for e in ev}) == 1
    assert ev[0]["type"] == "turn.started" and ev[0]["model"] == "openai:fake-model"
    end = res.terminal()
    assert end["type"] == "turn.completed" and end["stop_reason"] == "end_turn"
    assert end["usage"] == {"input_tokens": 11 + 22 + 33 + 44, "output_tokens": 1 + 2 + 3 + 7, "requests": 4,
                            "cached_input_tokens": 0,  # the scripted model reports no prompt cache
                            "cost": None}  # the scripted model has no price

    calls = items(ev, "tool_call")
    assert [(c["name"], c["call_id"], c["status"]) for c in calls] == [
        ("write", "call_w", "completed"), ("edit", "call_e", "completed"), ("bash", "call_b", "completed"),
    ]
    write, edit, bash = calls
    assert write["arguments"] == {"path": "notes.txt", "content": "one\ntwo\n"}
    diff = edit["metadata"]["diff"]
    assert "+three" in diff and "notes.txt" in diff
    assert bash["metadata"]["exit_code"] == 0
    assert "3 notes.txt" in bash["output"]
    # Each tool call was announced before it completed, and streamed its arguments.
    started_ids = {i["id"] for i in items(ev, "tool_call", kind="item.started")}
    assert {c["id"] for c in calls} <= started_ids
    answers = items(ev, "assistant_message")
    assert [a["text"] for a in answers] == ["notes.txt now has 3 lines."]
    assert items(ev, "user_message")[0]["text"] == "Write notes.txt, add a line, count its lines"
    assert not of_type(ev, "approval.requested")  # --yes never asks

    # The model saw each tool's result in its next request.
    reqs = srv.requests
    assert len(reqs) == 4
    assert not tool_messages(reqs[0])
    for n, (call_id, needle) in enumerate(
        [("call_w", "notes.txt"), ("call_e", "+three"), ("call_b", "3 notes.txt")], start=1
    ):
        got = {m["tool_call_id"]: m["content"] for m in tool_messages(reqs[n])}
        assert call_id in got, f"request {n} lacks the result of {call_id}: {got}"
        assert needle in got[call_id]
    assert reqs[-1]["stream"] is True

    # The session is listed and its transcript replays.
    session_id = ev[0]["session_id"]
    listing, shown, replay = cw.run_many(
        ["sessions", "list", "--json"], ["sessions", "show", session_id], ["sessions", "show", session_id, "--json"]
    )
    for r in (listing, shown, replay):
        assert r.code == 0, r.explain()
    listed = listing.events
    assert [s["id"] for s in listed] == [session_id]
    assert listed[0]["workspace"] == str(cw.workspace.resolve())
    assert listed[0]["model"] == "openai:fake-model" and listed[0]["mode"] == "yolo"
    assert listed[0]["last_seq"] == ev[-1]["seq"]
    assert listed[0]["status"] == "idle"

    out = shown.stdout
    assert "Write notes.txt, add a line, count its lines" in out
    assert "notes.txt now has 3 lines." in out
    assert "✓ write notes.txt" in out
    assert "✓ edit notes.txt" in out
    assert "✓ bash wc -l notes.txt" in out
    assert "+three" in out  # the edit's diff
    assert "✓ done" in out

    journal = replay.events
    assert_gapless(journal, first=1)
    assert journal == ev  # the journal holds exactly what was streamed


def test_read_only_denies_write(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(
        reply(tool_call("write", {"path": "nope.txt", "content": "should not exist"}, id="call_w")),
        reply(text("Understood, I could not write.")),
    )
    res = cw.task("write nope.txt", "--read-only")
    assert res.code == 0, res.explain()
    assert_gapless(res.events, first=1)
    assert not (cw.workspace / "nope.txt").exists()
    (call,) = items(res.events, "tool_call")
    assert call["status"] == "denied"
    assert "read-only" in call["output"]
    assert not of_type(res.events, "approval.requested")
    reqs = srv.requests
    assert len(reqs) == 2
    (tm,) = tool_messages(reqs[1])
    assert tm["tool_call_id"] == "call_w"
    assert "read-only" in tm["content"] and "Not allowed" in tm["content"]
    assert res.terminal()["type"] == "turn.completed"


def test_without_yes_and_without_terminal_bash_is_denied_reads_run(cw: Cowork, srv: FakeModelServer) -> None:
    (cw.workspace / "readme.md").write_text("hello from the workspace\n")
    srv.script(
        reply(
            tool_call("ls", {"path": "."}, id="call_ls"),
            tool_call("read", {"path": "readme.md"}, id="call_read"),
            tool_call("bash", {"command": "touch ran.txt"}, id="call_bash"),
        ),
        reply(text("I could read but not run bash.")),
    )
    res = cw.task("look around and touch ran.txt")  # stdin is /dev/null: nobody can approve
    assert res.code == 0, res.explain()
    assert_gapless(res.events, first=1)
    assert not (cw.workspace / "ran.txt").exists()

    by_name = {c["name"]: c for c in items(res.events, "tool_call")}
    assert by_name["ls"]["status"] == "completed" and "readme.md" in by_name["ls"]["output"]
    assert by_name["read"]["status"] == "completed" and "hello from the workspace" in by_name["read"]["output"]
    assert by_name["bash"]["status"] == "denied"
    assert "--yes" in by_name["bash"]["output"]

    (asked,) = of_type(res.events, "approval.requested")
    assert asked["tool"] == "bash" and asked["item_id"] == by_name["bash"]["id"]
    (resolved,) = of_type(res.events, "approval.resolved")
    assert resolved["approval_id"] == asked["approval_id"]
    assert resolved["decision"] == "deny" and "--yes" in resolved["reason"]
    assert "--yes" in res.stderr  # the person running it is told how to allow tools

    results = {m["tool_call_id"]: m["content"] for m in tool_messages(srv.requests[1])}
    assert "hello from the workspace" in results["call_read"]
    assert "denied" in results["call_bash"] and "--yes" in results["call_bash"]
    assert "touch ran.txt" in all_text(srv.requests[1])

    # Deleting the session removes it and its journal.
    session_id = res.events[0]["session_id"]
    deleted = cw.run("sessions", "delete", session_id)
    assert deleted.code == 0, deleted.explain()
    assert session_id in deleted.stdout
    shown, listing = cw.run_many(["sessions", "show", session_id, "--json"], ["sessions", "list", "--json"])
    assert shown.code == 2 and session_id in shown.stderr, shown.explain()
    assert listing.code == 0 and listing.stdout.strip() == "", listing.explain()
