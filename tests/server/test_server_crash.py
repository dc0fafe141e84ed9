"""``cowork serve`` as a real process, killed and restarted on the same ``COWORK_HOME``.

What a client sees over the protocol after ``kill -9`` and after a graceful shutdown (SIGTERM,
SIGINT): the journal stays gapless, a turn cut off while a tool ran ends ``turn.interrupted`` with
its tool call ``interrupted`` and never run again, and a turn waiting for an approval survives
with the approval still answerable. The model is a :class:`FakeModelServer` in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from fakemodel import reply, text, tool_call
from procs import marked
from server_support import TERMINAL, Rpc

# -- helpers -----------------------------------------------------------------------------------


async def journal(c: Rpc, sid: str) -> list[dict[str, Any]]:
    """The session's whole journal as a new subscriber gets it (subscribe afterSeq 0)."""
    last = (await c.ok("session/subscribe", {"sessionId": sid, "afterSeq": 0}))["lastSeq"]
    if last:
        await c.wait_event(lambda e: e["session_id"] == sid and e["seq"] >= last)
    return [e for e in c.events if e["session_id"] == sid]


def assert_gapless(events: list[dict[str, Any]]) -> None:
    got = [e["seq"] for e in events]
    assert got == list(range(1, len(got) + 1)), f"seq not gapless from 1: {got}"


def assert_items_closed(events: list[dict[str, Any]]) -> None:
    """Every item.started has its item.completed (a crash or shutdown leaves nothing open)."""
    started = {e["item"]["id"] for e in events if e["type"] == "item.started"}
    completed = {e["item"]["id"] for e in events if e["type"] == "item.completed"}
    assert started <= completed, f"items left open: {started - completed}"


def of_turn(events: list[dict[str, Any]], turn_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["turn_id"] == turn_id]


def tool_results(request: dict[str, Any]) -> dict[str, str]:
    """tool_call_id -> content of the ``role: tool`` messages of a chat-completions request."""
    return {m["tool_call_id"]: m.get("content") or "" for m in request["messages"] if m.get("role") == "tool"}


async def wait_file(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout}s"
        await asyncio.sleep(0.02)
    return path.read_text().strip()


async def wait_pending_approval(c: Rpc, sid: str) -> dict[str, Any]:
    return await c.wait_event(lambda e: e["session_id"] == sid and e["type"] == "approval.requested")


# -- kill -9 -----------------------------------------------------------------------------------


async def test_kill_9_while_a_tool_runs(serve, fake, workspace):
    command = "echo run >> runs; sleep 30.5678; touch marker"  # each run appends a line
    fake.script(reply(tool_call("bash", {"command": command}, id="call_slow")))
    srv = await serve()
    try:
        async with Rpc.open(srv.ws_url) as c:
            sid = await c.create_session(workspace, mode="yolo")
            await c.ok("session/subscribe", {"sessionId": sid})
            turn = await c.start(sid, "run the slow command")
            await c.wait_event(lambda e: e["type"] == "item.started" and e["item"]["type"] == "tool_call")
            await wait_file(workspace / "runs")  # bash is running the command
            assert marked(b"30.5678")
            await asyncio.sleep(0.1)
            assert await srv.stop(signal.SIGKILL) == -signal.SIGKILL

        srv = await serve()
        async with Rpc.open(srv.ws_url) as c:
            listed = (await c.ok("session/list"))["sessions"]
            assert [s["id"] for s in listed] == [sid]
            assert listed[0]["status"] == "idle", listed[0]
            events = await journal(c, sid)
            assert_gapless(events)
            assert_items_closed(events)
            assert events[-1]["type"] == "turn.interrupted" and events[-1]["turn_id"] == turn, events[-1]
            calls = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "tool_call"]
            assert len(calls) == 1 and calls[0]["status"] == "interrupted", calls
            assert calls[0]["call_id"] == "call_slow" and calls[0]["name"] == "bash"
            assert [e["type"] for e in events].count("turn.interrupted") == 1

            await asyncio.sleep(0.3)
            assert (workspace / "runs").read_text().split() == ["run"], "the interrupted command was run again"

            fake.script(reply(text("back again")))
            second = await c.start(sid, "are you there?")
            end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == second)
            assert end["type"] == "turn.completed", end
            answer = [e["item"]["text"] for e in of_turn(c.events, second)
                      if e["type"] == "item.completed" and e["item"]["type"] == "assistant_message"]
            assert answer == ["back again"]
            request = fake.requests[-1]
            results = tool_results(request)
            assert "call_slow" in results, request["messages"]  # the history is valid for the provider
            assert "interrupted" in results["call_slow"], results
            assert_gapless([e for e in c.events if e["session_id"] == sid])
        assert (workspace / "runs").read_text().split() == ["run"]
        # the sandbox died with the server (bubblewrap's --die-with-parent), so the rest of the
        # command never runs
        assert not marked(b"30.5678"), "the command outlived the server that ran it"
    finally:
        for pid in marked(b"30.5678"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert not (workspace / "marker").exists()


def test_recovery_keeps_the_arguments_of_the_interrupted_call():
    """What test_kill_9_while_a_tool_runs leaves in the journal, reduced: the call's arguments
    arrived only as deltas (the tool started before its item.completed was journaled)."""
    from datetime import UTC, datetime

    from cowork.engine import recovery
    from cowork.protocol import ItemDelta, ItemStarted, ToolCall

    now, ids = datetime.now(UTC), {"session_id": "ses_x", "turn_id": "turn_x"}
    args = json.dumps({"command": "sleep 30; touch marker"})
    events = [ItemStarted(**ids, seq=1, ts=now, item=ToolCall(id="item_1", call_id="call_1", name="bash"))]
    events += [ItemDelta(**ids, seq=2 + i, ts=now, item_id="item_1", delta=args[i:i + 8])
               for i in range(0, len(args), 8)]
    [closed] = recovery.open_items(events)
    assert closed.status == "interrupted"
    assert closed.arguments == {"command": "sleep 30; touch marker"}, closed


async def test_kill_9_while_an_approval_is_pending(serve, fake, workspace):
    fake.script(reply(tool_call("write", {"path": "out.txt", "content": "hello"}, id="call_w")), reply(text("wrote it")))
    srv = await serve()
    async with Rpc.open(srv.ws_url) as c:
        sid = await c.create_session(workspace)  # default mode: write asks
        await c.ok("session/subscribe", {"sessionId": sid})
        turn = await c.start(sid, "write a file")
        asked = await wait_pending_approval(c, sid)
        assert await srv.stop(signal.SIGKILL) == -signal.SIGKILL
    assert not (workspace / "out.txt").exists()

    srv = await serve()
    async with Rpc.open(srv.ws_url) as c:
        events = await journal(c, sid)
        assert_gapless(events)
        types = [e["type"] for e in events]
        assert "approval.resolved" not in types and not set(types) & set(TERMINAL), types
        again = [e for e in events if e["type"] == "approval.requested"]
        assert [e["approval_id"] for e in again] == [asked["approval_id"]]  # the same approval, once
        assert (await c.ok("session/get", {"sessionId": sid}))["session"]["status"] != "idle"

        await c.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "once"})
        end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        assert end["type"] == "turn.completed", end
        assert (workspace / "out.txt").read_text() == "hello"
        everything = [e for e in c.events if e["session_id"] == sid]
        assert_gapless(everything)
        assert_items_closed(everything)
        calls = [e["item"] for e in everything if e["type"] == "item.completed" and e["item"]["type"] == "tool_call"]
        assert [(x["call_id"], x["status"]) for x in calls] == [("call_w", "completed")]
        answer = [e["item"]["text"] for e in everything
                  if e["type"] == "item.completed" and e["item"]["type"] == "assistant_message"]
        assert answer == ["wrote it"]
        assert "call_w" in tool_results(fake.requests[-1])
        again = await c.error("approval/respond", {"approvalId": asked["approval_id"], "decision": "once"})
        assert again["code"] == -32012


# -- graceful shutdown -------------------------------------------------------------------------

CLEAN_EXIT = {signal.SIGINT: (0,), signal.SIGTERM: (0,)}  # a requested shutdown that went well exits 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_graceful_shutdown(serve, fake, workspace, sig):
    srv = await serve()
    async with Rpc.open(srv.ws_url) as c:
        waiting = await c.create_session(workspace)
        streaming = await c.create_session(workspace)
        for sid in (waiting, streaming):
            await c.ok("session/subscribe", {"sessionId": sid})
        fake.script(reply(tool_call("write", {"path": "kept.txt", "content": "kept"}, id="call_k")))
        asking = await c.start(waiting, "write after the restart")
        asked = await wait_pending_approval(c, waiting)

        fake.script(reply(text("slow " * 100, chunk_size=2), delay=0.05))  # ~12 s
        slow = await c.start(streaming, "talk slowly")
        await c.wait_event(lambda e: e["type"] == "item.delta" and e["turn_id"] == slow)
        code = await srv.stop(sig)
    assert code in CLEAN_EXIT[sig], f"exit code {code}\n{srv.explain()}"
    print(f"cowork serve exit code after {signal.Signals(sig).name}: {code}")
    assert "Traceback" not in srv.err.read_text(), srv.explain()

    fake.script(reply(text("written after restart")))
    srv = await serve()
    async with Rpc.open(srv.ws_url) as c:
        events = await journal(c, streaming)
        assert_gapless(events)
        assert_items_closed(events)
        assert events[-1]["type"] == "turn.interrupted" and events[-1]["turn_id"] == slow, events[-1]
        assert [e["type"] for e in events].count("turn.interrupted") == 1
        partial = [e["item"]["text"] for e in events
                   if e["type"] == "item.completed" and e["item"]["type"] == "assistant_message"]
        assert len(partial) <= 1 and all("slow " * 100 != p for p in partial), partial

        events = await journal(c, waiting)
        assert_gapless(events)
        types = [e["type"] for e in events]
        assert "approval.resolved" not in types and not set(types) & set(TERMINAL), types

        await c.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "once"})
        end = await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == asking)
        assert end["type"] == "turn.completed", end
        assert (workspace / "kept.txt").read_text() == "kept"
        assert_gapless([e for e in c.events if e["session_id"] == waiting])
    assert await srv.stop() in CLEAN_EXIT[signal.SIGTERM]
