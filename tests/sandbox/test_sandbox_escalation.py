"""A command that failed because the sandbox had no network: the turn asks to re-run it with
network access, runs it again once if a person agrees, journals both runs, and the model reads
both. Driven end to end: scripted model, real engine and SQLite, real sandbox, a real listener."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from engine_support import MODEL, Script, collect, tool_returns
from sandbox_support import Listener, need


def fetch(port: int) -> str:
    """Connect to the host's listener; on failure print what a downloader prints without network."""
    return (f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); "
            f"print('connected')\" 2>/dev/null || {{ echo 'curl: (6) Could not resolve host: mirror.test'; exit 6; }}")


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


async def run_turn(runtime, ws: Path, mode: str, command: str, escalation_answer: str):
    script = Script([("bash", {"command": command})], "done")
    runtime.use_model(MODEL, script.model)
    session = await runtime.create_session(ws, MODEL, mode)
    asked: list[str] = []

    def answer(ev):
        if ev.type == "approval.requested":
            asked.append(ev.reason)
            escalation = "network access" in ev.reason
            runtime.respond_approval(ev.approval_id, escalation_answer if escalation else "once")

    await runtime.start_turn(session.id, "fetch it")
    events = await collect(runtime, session.id, on_event=answer)
    return script, events, asked


@pytest.mark.parametrize("mode", ["default", "yolo"])
async def test_approved_escalation_reruns_with_network(runtime, ws: Path, listener: Listener, mode: str) -> None:
    script, events, asked = await run_turn(runtime, ws, mode, fetch(listener.port), "once")
    assert sum("network access" in r for r in asked) == 1  # asked in yolo mode too
    calls = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    assert [(c.status, c.metadata.get("sandbox_denied"), c.metadata.get("escalation")) for c in calls] == [
        ("failed", "network", None), ("completed", None, "network")]
    assert calls[0].call_id == calls[1].call_id and "Could not resolve host" in calls[0].output
    assert listener.accepted == 1  # only the approved re-run connected
    sent = tool_returns(script.calls[1][0])
    assert len(sent) == 1 and "Could not resolve host" in sent[0].content and "connected" in sent[0].content
    assert events[-1].type == "turn.completed"


async def test_denied_escalation_never_connects(runtime, ws: Path, listener: Listener) -> None:
    script, events, asked = await run_turn(runtime, ws, "yolo", fetch(listener.port), "deny")
    assert listener.accepted == 0
    calls = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    assert [c.status for c in calls] == ["failed", "denied"]
    assert "declined to re-run" in tool_returns(script.calls[1][0])[0].content


async def test_no_escalation_for_other_failures(runtime, ws: Path) -> None:
    _, events, asked = await run_turn(runtime, ws, "yolo", "echo 'no such file'; exit 1", "once")
    assert not any("network access" in r for r in asked)
    assert [e.item.status for e in events if e.type == "item.completed" and e.item.type == "tool_call"] == ["completed"]


async def test_landlock_backend_escalates_too(runtime, ws: Path, listener: Listener) -> None:
    need("landlock")
    runtime.settings = replace(runtime.settings, sandbox="landlock")
    _, events, _ = await run_turn(runtime, ws, "yolo", fetch(listener.port), "once")
    calls = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    assert [c.metadata.get("sandbox") for c in calls] == ["landlock", "landlock"]
    assert listener.accepted == 1
