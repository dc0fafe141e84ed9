"""Approving tool calls at a real terminal: ``cowork run`` in a pseudo-terminal driven by pexpect."""

from __future__ import annotations

import re

import pytest
from e2e_support import Cowork, Terminal, tool_messages
from fakemodel import FakeModelServer, reply, text, tool_call

pexpect = pytest.importorskip("pexpect", reason="pexpect is needed to drive cowork in a pseudo-terminal")

PROMPT = re.escape("allow? [y] once")


@pytest.fixture
def term(cw: Cowork):
    made: list[Terminal] = []

    def start(task: str) -> Terminal:
        t = Terminal(cw, task)
        made.append(t)
        return t

    yield start
    for t in made:
        if t.child.isalive():
            t.child.terminate(force=True)


def test_yes_runs_the_call_once(cw: Cowork, srv: FakeModelServer, term) -> None:
    srv.script(reply(tool_call("write", {"path": "a.txt", "content": "approved\n"})), reply(text("Wrote a.txt.")))
    t = term("write a.txt")
    t.expect(PROMPT)
    assert "write" in t.seen and "a.txt" in t.seen
    assert not (cw.workspace / "a.txt").exists()  # nothing runs before the answer
    t.answer("y")
    assert t.finish() == 0, t.seen
    assert (cw.workspace / "a.txt").read_text() == "approved\n"
    assert "allowed once" in t.seen
    assert "Wrote a.txt." in t.seen
    assert len(srv.requests) == 2
    (tm,) = tool_messages(srv.requests[1])
    assert "a.txt" in tm["content"] and "denied" not in tm["content"]


def test_always_allows_the_tool_for_the_rest_of_the_session(cw: Cowork, srv: FakeModelServer, term) -> None:
    srv.script(
        reply(tool_call("write", {"path": "b.txt", "content": "first\n"})),
        reply(tool_call("write", {"path": "c.txt", "content": "second\n"})),
        reply(text("Both written.")),
    )
    t = term("write b.txt and c.txt")
    t.expect(PROMPT)
    t.answer("a")
    t.expect("allowed for this session")
    after = len(t.seen)
    assert t.finish() == 0, t.seen
    assert "allow?" not in t.seen[after:], "the second write asked again"
    assert (cw.workspace / "b.txt").read_text() == "first\n"
    assert (cw.workspace / "c.txt").read_text() == "second\n"
    assert "Both written." in t.seen
    assert len(srv.requests) == 3


def test_no_with_reason_denies_and_tells_the_model(cw: Cowork, srv: FakeModelServer, term) -> None:
    srv.script(
        reply(tool_call("write", {"path": "d.txt", "content": "unwanted\n"}, id="call_d")),
        reply(text("OK, I will not write d.txt.")),
    )
    t = term("write d.txt")
    t.expect(PROMPT)
    t.answer("n")
    t.expect("reason for the agent")
    t.answer("keep the folder clean")
    assert t.finish() == 0, t.seen
    assert not (cw.workspace / "d.txt").exists()
    assert "denied: keep the folder clean" in t.seen
    assert len(srv.requests) == 2
    (tm,) = tool_messages(srv.requests[1])
    assert tm["tool_call_id"] == "call_d"
    assert "denied" in tm["content"] and "keep the folder clean" in tm["content"]
