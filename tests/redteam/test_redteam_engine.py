"""Red team, engine: decisions on a workspace changed by an earlier call of the same response, and
interrupt races (several ``turn/interrupt`` at once, an interrupt before the turn's task runs).

Every approval is answered "once" unless a test says otherwise: what is proved is that the
question is asked at all, against the workspace as it is when the call runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from engine_support import MODEL, Script, collect
from sandbox_support import need

from cowork.protocol import is_terminal
from cowork.sandbox import support

HOOK = "#!/bin/sh\necho pwned > /tmp/cowork-redteam-hook\n"


@pytest.fixture
def repo(ws: Path) -> Path:
    (ws / ".git" / "hooks").mkdir(parents=True)
    return ws


async def _turn(runtime, ws: Path, mode: str, steps: list, answer) -> list:
    runtime.use_model(MODEL, Script(*steps).model)
    session = await runtime.create_session(ws, MODEL, mode)

    def on_event(ev):
        if ev.type == "approval.requested":
            runtime.respond_approval(ev.approval_id, answer(ev))

    await runtime.start_turn(session.id, "go")
    return await collect(runtime, session.id, on_event=on_event)


@pytest.mark.parametrize("mode", ["yolo", "default"])
async def test_a_symlink_made_earlier_in_the_response_meets_the_hard_deny(runtime, repo, mode):
    """``ln -s .git/hooks h`` then ``write h/pre-commit`` in one response: when the write was
    decided, ``h`` did not exist (a plain write in the workspace: allowed in yolo); when it runs,
    it writes a git hook, which a person must approve even in yolo."""
    need(support().backend if support().backend != "none" else "bwrap")
    steps = [[("bash", {"command": "ln -s .git/hooks h"}), ("write", {"path": "h/pre-commit", "content": HOOK})],
             "done"]
    events = await _turn(runtime, repo, mode, steps, lambda ev: "deny" if ev.rule.startswith("builtin:hard") else "once")
    asked = [e for e in events if e.type == "approval.requested" and e.tool == "write"]
    assert asked, "the write into .git/hooks through the new symlink ran without the hard-deny approval"
    assert asked[-1].rule == "builtin:hard-deny:git-internals" and asked[-1].options == ["once", "deny"]
    assert (repo / "h").is_symlink()  # the link was made: the decision was taken after it
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    write = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"
             and e.item.name == "write"][-1]
    assert write.status == "denied" and write.policy.rule == "builtin:hard-deny:git-internals"


async def test_a_call_whose_path_becomes_denied_is_denied_when_it_runs(runtime, repo, tmp_path):
    """A deny rule matched only through a symlink made by the call before."""
    need(support().backend if support().backend != "none" else "bwrap")
    import os
    home = Path(os.environ["COWORK_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "policy.toml").write_text('[[rules]]\noutcome = "deny"\npath = "secret/**"\n')
    (repo / "secret").mkdir()
    steps = [[("bash", {"command": "ln -s secret s"}), ("write", {"path": "s/x.txt", "content": "x"})], "done"]
    events = await _turn(runtime, repo, "yolo", steps, lambda ev: "once")
    write = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"
             and e.item.name == "write"][-1]
    assert write.status == "denied" and not (repo / "secret" / "x.txt").exists()


# -- interrupt races ------------------------------------------------------------------------------


async def _running_sleep(runtime, ws: Path):
    runtime.use_model(MODEL, Script([("bash", {"command": "sleep 30"})], "done").model)
    session = await runtime.create_session(ws, MODEL, "yolo")
    started = await runtime.start_turn(session.id, "go")
    events: list = []

    async def follow() -> None:
        async for ev in runtime.subscribe(session.id):
            events.append(ev)
            if ev.type == "item.started" and getattr(ev.item, "name", None) == "bash":
                return

    await asyncio.wait_for(follow(), 20)
    await asyncio.sleep(0.3)  # the command is running
    return session, started.turn_id


async def _terminal_events(runtime, session_id: str) -> list:
    return [e for e in await runtime.store.events_after(session_id) if is_terminal(e)]


async def test_concurrent_interrupts_end_the_turn_exactly_once(runtime, ws):
    need(support().backend if support().backend != "none" else "bwrap")
    session, turn_id = await _running_sleep(runtime, ws)

    async def later(i: int) -> bool:  # in flight together: some arrive while the end is being written
        await asyncio.sleep(0.005 * i)
        return await runtime.interrupt(session.id)

    answers = await asyncio.wait_for(asyncio.gather(*(later(i) for i in range(40))), 20)
    # the first wins; those in flight with it give the same answer; those after the end find nothing
    assert answers[0] is True and answers == sorted(answers, reverse=True)
    terminal = await _terminal_events(runtime, session.id)
    assert [(e.type, e.turn_id) for e in terminal] == [("turn.interrupted", turn_id)]
    assert (await runtime.store.get_turn_status(turn_id))[1] == "interrupted"
    assert runtime.running_turn(session.id) is None
    assert await runtime.interrupt(session.id) is False  # nothing left to interrupt
    runtime.use_model(MODEL, Script("again").model)
    await runtime.start_turn(session.id, "next")  # accepted: the old turn is finished
    await collect(runtime, session.id, after_seq=terminal[0].seq)
    assert len(await _terminal_events(runtime, session.id)) == 2


async def test_interrupts_racing_each_step_of_the_turn_end_it_exactly_once(runtime, ws):
    """Interrupts fired while the turn starts, streams, runs its tool and ends, repeatedly."""
    for delay in (0.0, 0.001, 0.01, 0.05):
        runtime.use_model(MODEL, Script([("ls", {})], "done").model)
        session = await runtime.create_session(ws, MODEL, "yolo")
        started = await runtime.start_turn(session.id, "go")

        async def later(d: float) -> bool:
            await asyncio.sleep(d)
            return await runtime.interrupt(session.id)

        answers = await asyncio.wait_for(asyncio.gather(*(later(delay * i) for i in range(6))), 20)
        await runtime.wait(session.id)
        terminal = await _terminal_events(runtime, session.id)
        assert len(terminal) == 1 and terminal[0].turn_id == started.turn_id, (delay, terminal)
        status = (await runtime.store.get_turn_status(started.turn_id))[1]
        assert status != "running" and status == terminal[0].type.split(".")[1], (delay, status)
        if terminal[0].type == "turn.interrupted":
            assert answers[0] is True


async def test_concurrent_interrupts_over_websocket_end_the_turn_once(tmp_path, ws, monkeypatch):
    need(support().backend if support().backend != "none" else "bwrap")
    from fakemodel import FakeModelServer, reply, tool_call
    from server_support import Rpc, running_server

    monkeypatch.setenv("COWORK_HOME", str(tmp_path / "home"))
    with FakeModelServer() as fake:
        fake.script(reply(tool_call("bash", {"command": "sleep 30"})), reply("done"))
        async with running_server(tmp_path / "cowork.db", fake.base_url) as server:
            async with Rpc.open(server.ws_url) as rpc:
                session_id = await rpc.create_session(ws, mode="yolo")
                await rpc.ok("session/subscribe", {"sessionId": session_id})
                turn_id = await rpc.start(session_id, "go")
                await rpc.wait_event(lambda e: e.get("type") == "item.updated" or (
                    e.get("type") == "item.started" and e["item"].get("name") == "bash"), timeout=20)
                await asyncio.sleep(0.3)

                async def later(i: int) -> dict:
                    await asyncio.sleep(0.002 * i)
                    return await rpc.call("turn/interrupt", {"sessionId": session_id}, timeout=20)

                results = await asyncio.gather(*(later(i) for i in range(8)))
                answers = [r.get("result", {}).get("interrupted") for r in results]
                assert answers[0] is True and all(a in (True, False) for a in answers), json.dumps(results)
                terminal = [e for e in await server.runtime.store.events_after(session_id) if is_terminal(e)]
                assert [(e.type, e.turn_id) for e in terminal] == [("turn.interrupted", turn_id)]
                assert (await server.runtime.store.get_turn_status(turn_id))[1] == "interrupted"


async def test_recovery_never_journals_an_end_after_a_later_turns_events(tmp_path, ws):
    """A turn left ``running`` in the store (its end lost to a race) while a later turn ran: the
    next start fixes its row and journals nothing after the later turn's events."""
    from cowork.engine import Runtime
    from cowork.engine.journal import Journal
    from cowork.protocol import TurnCompleted, TurnStarted
    from cowork.store import Store

    url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
    store = await Store.open(url)
    journal = Journal(store)
    session = await store.create_session(ws, MODEL, "yolo")
    await store.start_turn(session.id, "turn_a", "a", MODEL)
    await journal.emit(session.id, "turn_a", TurnStarted, model=MODEL, text="a")
    await store.start_turn(session.id, "turn_b", "b", MODEL)
    await journal.emit(session.id, "turn_b", TurnStarted, model=MODEL, text="b")
    await journal.emit(session.id, "turn_b", TurnCompleted, usage={}, stop_reason="end_turn", duration_ms=1)
    await store.end_turn("turn_b", "completed", 0, 0)
    await journal.drain()
    before = await store.last_seq(session.id)
    await store.close()

    rt = await Runtime.open(url)
    try:
        events = await rt.store.events_after(session.id)
        assert events[-1].turn_id == "turn_b" and await rt.store.last_seq(session.id) == before
        assert (await rt.store.get_turn_status("turn_a"))[1] == "interrupted"
    finally:
        await rt.close()
