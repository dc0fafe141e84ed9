"""Ctrl-C during a running tool: the turn is interrupted, the process group killed, the session kept."""

from __future__ import annotations

import signal
import subprocess
import time

from e2e_support import MODEL, Cowork, all_text, assert_gapless, items, parse_events, tool_messages
from fakemodel import FakeModelServer, reply, text, tool_call
from procs import marked


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def test_ctrl_c_interrupts_the_running_tool_and_the_session_continues(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(
        reply(tool_call("bash", {"command": "sleep 30.2468 & echo started > child.pid; wait"}, id="call_sleep")),
        reply(text("should never be requested in the first turn")),
    )
    proc = cw.popen("run", "start a long job", "--dir", str(cw.workspace), "--model", MODEL, "--yes", "--json",
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pid_file = cw.workspace / "child.pid"
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "" or proc.poll() is not None,
                 40, "child.pid")
        assert proc.poll() is None, f"cowork exited early: {proc.communicate()}"
        assert marked(b"30.2468")

        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, f"exit {proc.returncode}\n{out}\n{err}"
    assert took < 5, f"exit took {took:.1f}s after Ctrl-C"
    assert "interrupting" in err
    wait_for(lambda: not marked(b"30.2468"), 3, "the sleep process to be killed")

    events = parse_events(out)
    assert_gapless(events, first=1)
    assert events[-1]["type"] == "turn.interrupted"
    assert len(srv.requests) == 1  # the model was not asked again after the interruption
    session_id = events[0]["session_id"]

    # The journal holds exactly what was streamed, ending with the interruption.
    journal = cw.journal(session_id)
    assert journal == events
    (call,) = items(journal, "tool_call")
    assert call["call_id"] == "call_sleep" and call["status"] == "interrupted"

    srv.script(reply(text("The long job was interrupted; nothing else to do.")))
    later = cw.task("what happened to the job?", "--continue", "--yes", model=None)
    assert later.code == 0, later.explain()
    assert later.events[0]["session_id"] == session_id
    assert_gapless(later.events, first=events[-1]["seq"] + 1)
    assert later.terminal()["type"] == "turn.completed"

    # The model's request carries the interrupted call and its result.
    req = srv.requests[1]
    assert "sleep 30" in all_text(req)
    results = {m["tool_call_id"]: m["content"] for m in tool_messages(req)}
    assert "call_sleep" in results
    assert "nterrupted" in results["call_sleep"]
