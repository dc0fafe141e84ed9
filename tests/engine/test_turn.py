"""The turn engine, driven by pydantic-ai FunctionModels over a real SQLite store and real tools."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from engine_support import MODEL, Script, collect, tool_returns, user_texts
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelRequest, ToolReturnPart

from cowork.engine import TurnInProgress
from cowork.engine.context import LAST_STEP_NOTE


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


async def start(rt, workspace: Path, script: Script, mode: str = "yolo", text: str = "do it"):
    rt.use_model(MODEL, script.model)
    session = await rt.create_session(workspace, MODEL, mode)
    started = await rt.start_turn(session.id, text)
    return session, started.turn_id


async def test_text_answer_is_journaled_with_gapless_seq(runtime, workspace):
    session, turn_id = await start(runtime, workspace, Script("Hello there, person."))
    events = await collect(runtime, session.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].type == "turn.started" and events[-1].type == "turn.completed"
    assert all(e.turn_id == turn_id and e.ts.utcoffset().total_seconds() == 0 for e in events)
    answer = [e.item for e in events if e.type == "item.completed" and e.item.type == "assistant_message"]
    assert answer[0].text == "Hello there, person."
    deltas = "".join(e.delta for e in events if e.type == "item.delta")
    assert deltas == "Hello there, person."
    assert events[-1].stop_reason == "end_turn" and events[-1].usage.requests == 1
    assert len(await runtime.store.history(session.id)) == 2


async def test_several_tool_calls_in_one_response_run_in_order_and_feed_back(runtime, workspace):
    script = Script([("read", {"path": "notes.txt"}), ("ls", {"path": "."})], "Read and listed.")
    session, _ = await start(runtime, workspace, script)
    events = await collect(runtime, session.id)
    calls = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    assert [(c.name, c.status) for c in calls] == [("read", "completed"), ("ls", "completed")]
    assert "alpha" in calls[0].output
    sent_back = tool_returns(script.calls[1][0])
    assert [r.tool_name for r in sent_back] == ["read", "ls"]
    assert "alpha" in sent_back[0].content and "notes.txt" in sent_back[1].content


async def test_step_limit_asks_for_an_answer_without_tools(runtime, workspace):
    runtime.settings = type(runtime.settings)(max_steps=3, stream_timeout=5, max_retries=0, retry_base_delay=0.01)
    script = Script(*([[("ls", {})]] * 5))
    session, _ = await start(runtime, workspace, script)
    events = await collect(runtime, session.id)
    assert events[-1].type == "turn.completed" and events[-1].stop_reason == "max_steps"
    assert len(script.calls) == 3
    last_messages, last_info = script.calls[-1]
    assert last_info.function_tools == []
    assert LAST_STEP_NOTE in user_texts(last_messages)
    assert script.calls[0][1].function_tools  # earlier steps had tools


async def test_denied_approval_reaches_the_model_and_nothing_is_written(runtime, workspace):
    script = Script([("write", {"path": "new.txt", "content": "x"})], "ok")

    async def answer(ev):
        if ev.type == "approval.requested":
            assert ev.tool == "write" and ev.arguments == {"path": "new.txt", "content": "x"}
            runtime.respond_approval(ev.approval_id, "deny", "not in this folder")

    session, _ = await start(runtime, workspace, script, mode="default")
    events = await collect(runtime, session.id, on_event=answer)
    types = [e.type for e in events]
    assert "approval.requested" in types and "approval.resolved" in types
    call = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"][0]
    assert call.status == "denied"
    assert not (workspace / "new.txt").exists()
    denial = tool_returns(script.calls[1][0])[0]
    assert denial.outcome == "denied" and "not in this folder" in denial.content


async def test_session_approval_is_remembered(runtime, workspace):
    script = Script([("write", {"path": "a.txt", "content": "1"})], [("write", {"path": "b.txt", "content": "2"})], "ok")
    asked = []

    def answer(ev):
        if ev.type == "approval.requested":
            asked.append(ev.tool)
            runtime.respond_approval(ev.approval_id, "session")

    session, _ = await start(runtime, workspace, script, mode="default")
    await collect(runtime, session.id, on_event=answer)
    assert asked == ["write"]
    assert (workspace / "a.txt").read_text() == "1" and (workspace / "b.txt").read_text() == "2"
    assert await runtime.store.allowed_tools(session.id) == ["write"]
    with pytest.raises(LookupError):
        runtime.respond_approval("apr_unknown", "once")


async def test_read_only_denies_without_asking(runtime, workspace):
    script = Script([("bash", {"command": "touch x"}), ("read", {"path": "notes.txt"})], "ok")
    session, _ = await start(runtime, workspace, script, mode="read-only")
    events = await collect(runtime, session.id)
    assert "approval.requested" not in [e.type for e in events]
    calls = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    assert [c.status for c in calls] == ["denied", "completed"]
    assert not (workspace / "x").exists()


async def test_interrupt_kills_the_tool_and_keeps_the_session_usable(runtime, workspace):
    script = Script([("bash", {"command": "echo started > pid; sleep 30.4321"})], "second turn answer")
    session, _ = await start(runtime, workspace, script)

    async def interrupt_when_running(ev):
        if ev.type == "item.started" and ev.item.type == "tool_call":
            for _ in range(100):
                if (workspace / "pid").exists() and (workspace / "pid").read_text().strip():
                    break
                await asyncio.sleep(0.05)
            asyncio.get_running_loop().create_task(runtime.interrupt(session.id))

    events = await collect(runtime, session.id, on_event=interrupt_when_running)
    assert events[-1].type == "turn.interrupted"
    call = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"][0]
    assert call.status == "interrupted"
    await asyncio.sleep(0.2)  # pids inside the sandbox mean nothing here: look for the command line
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if b"30.4321" in _read(p)]
    # The next turn works and the model sees the interrupted call answered.
    await runtime.start_turn(session.id, "again")
    events2 = await collect(runtime, session.id, after_seq=events[-1].seq)
    assert events2[-1].type == "turn.completed"
    returns = tool_returns(script.calls[-1][0])
    assert returns and returns[0].outcome == "interrupted"


async def test_large_tool_output_is_truncated_with_head_and_tail(runtime, workspace):
    script = Script([("bash", {"command": "seq 1 200000"})], "ok")
    rt = runtime
    rt.use_model(MODEL, script.model, context_window=8000)
    session = await rt.create_session(workspace, MODEL, "yolo")
    await rt.start_turn(session.id, "count")
    events = await collect(rt, session.id)
    call = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"][0]
    assert "characters truncated" in call.output
    assert len(call.output) <= 8000 + 100
    assert "\n1\n" in call.output and "200000" in call.output


async def test_history_is_compacted_when_it_outgrows_the_window(runtime, workspace):
    big = "word " * 1500  # ~7,500 characters, ~1,900 tokens per answer
    summaries = []

    def answer(messages, _info):
        if any("Summarize the conversation" in t for t in user_texts(messages)):
            summaries.append(f"SUMMARY-{len(summaries)}")
            return summaries[-1]
        return big

    script = Script(*[answer] * 20)
    rt = runtime
    rt.use_model(MODEL, script.model, context_window=3000)
    session = await rt.create_session(workspace, MODEL, "yolo")
    last = 0
    for i in range(4):
        await rt.start_turn(session.id, f"question {i}")
        events = await collect(rt, session.id, after_seq=last)
        assert events[-1].type == "turn.completed"
        last = events[-1].seq
    assert summaries, "a summary was requested"
    history = await rt.store.history(session.id)
    texts = user_texts(history)
    assert texts[0] == "[Summary of the earlier conversation, written when it was compacted]\n" + summaries[-1]
    assert "question 3" in texts and "question 0" not in texts
    # Every request the model received fit the window again after compaction.
    from cowork.engine.context import estimate_tokens

    assert all(estimate_tokens(m) <= 3000 for m, _ in script.calls)
    # The journal still has every turn.
    journal = await rt.store.events_after(session.id, 0, 10_000)
    assert [e.text for e in journal if e.type == "turn.started"] == [f"question {i}" for i in range(4)]


async def test_retryable_errors_are_retried_then_fail_clearly(runtime, workspace):
    def fail(_m, _i):
        raise ModelHTTPError(status_code=503, model_name="scripted", body={"message": "overloaded"})

    script = Script(fail, "recovered")
    session, _ = await start(runtime, workspace, script)
    events = await collect(runtime, session.id)
    retries = [e.item for e in events if e.type == "item.completed" and e.item.type == "error"]
    assert len(retries) == 1 and "HTTP 503" in retries[0].message
    assert events[-1].type == "turn.completed"

    script2 = Script(fail, fail, fail, fail)
    runtime.use_model(MODEL, script2.model)
    await runtime.start_turn(session.id, "again")
    events = await collect(runtime, session.id, after_seq=events[-1].seq)
    assert events[-1].type == "turn.failed" and events[-1].error.code == "provider_unavailable"
    assert len(script2.calls) == 3  # first try + max_retries (2)


async def test_non_retryable_provider_error_fails_at_once(runtime, workspace):
    def unauthorized(_m, _i):
        raise ModelHTTPError(status_code=401, model_name="scripted", body={"message": "bad key"})

    script = Script(unauthorized)
    session, _ = await start(runtime, workspace, script)
    events = await collect(runtime, session.id)
    assert events[-1].type == "turn.failed" and events[-1].error.code == "provider_error"
    assert "bad key" in events[-1].error.message and len(script.calls) == 1


async def test_bad_tool_calls_become_results_the_model_reads(runtime, workspace):
    script = Script([("write", '{"path": '), ("nope", {}), ("read", {"path": "notes.txt", "bogus": 1})], "ok")
    session, _ = await start(runtime, workspace, script)
    events = await collect(runtime, session.id)
    calls = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    assert [c.status for c in calls] == ["failed", "failed", "failed"]
    returns = tool_returns(script.calls[1][0])
    assert "not valid JSON" in returns[0].content
    assert "Unknown tool 'nope'" in returns[1].content and "read" in returns[1].content
    assert "bogus" in returns[2].content
    assert events[-1].type == "turn.completed"


async def test_one_turn_at_a_time(runtime, workspace):
    script = Script([("bash", {"command": "sleep 2"})], "ok")
    session, _ = await start(runtime, workspace, script)
    with pytest.raises(TurnInProgress):
        await runtime.start_turn(session.id, "second")
    await runtime.interrupt(session.id)


async def test_subscribe_after_seq_resumes_without_gap_or_duplicate(runtime, workspace):
    script = Script([("ls", {})], "finished")
    session, _ = await start(runtime, workspace, script)
    full = await collect(runtime, session.id)
    tail = await collect(runtime, session.id, after_seq=5)
    assert [e.seq for e in tail] == [e.seq for e in full if e.seq > 5]


async def test_crashed_turn_is_journaled_as_interrupted_on_restart(tmp_path, workspace):
    from cowork.engine import Runtime
    from cowork.store import Store

    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    store = await Store.open(url)
    session = await store.create_session(workspace, MODEL, "yolo")
    await store.start_turn(session.id, "turn_x", "hello", MODEL)
    await store.close()

    rt = await Runtime.open(url)
    try:
        events = await rt.store.events_after(session.id)
        assert events[-1].type == "turn.interrupted" and events[-1].turn_id == "turn_x"
        assert (await rt.get_session(session.id)).status == "idle"
    finally:
        await rt.close()


async def test_recovery_leaves_turns_of_live_processes_alone(tmp_path, workspace):
    import socket
    import subprocess

    from cowork.engine import Runtime
    from cowork.store import Store
    from cowork.store.leases import SqlTurnLeases, _pid_namespace

    url = f"sqlite+aiosqlite:///{tmp_path / 'owners.db'}"
    store = await Store.open(url)
    session = await store.create_session(workspace, MODEL, "yolo")
    alive = subprocess.Popen(["sleep", "30"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    host, ns = socket.gethostname(), _pid_namespace()
    owners = {"turn_alive": f"{host}:{ns}:{alive.pid}:a", "turn_dead": f"{host}:{ns}:{dead.pid}:d",
              "turn_elsewhere": "another-host:1:1:e"}
    for turn_id, owner in owners.items():  # leases that hold for an hour (see tests/store/test_leases.py)
        await SqlTurnLeases(store, ttl=3600, owner=owner).acquire(turn_id)
        await store.start_turn(session.id, turn_id, "hello", MODEL)
    await store.close()

    rt = await Runtime.open(url)
    try:
        interrupted = {e.turn_id for e in await rt.store.events_after(session.id) if e.type == "turn.interrupted"}
        assert interrupted == {"turn_dead"}
        assert (await rt.store.get_turn_status("turn_alive"))[1] == "running"
        assert (await rt.store.get_turn_status("turn_elsewhere"))[1] == "running"
    finally:
        alive.kill()
        alive.wait()
        await rt.close()


def test_repair_answers_dangling_tool_calls():
    from pydantic_ai.messages import ModelResponse, ToolCallPart, UserPromptPart

    from cowork.engine.context import repair

    history = [
        ModelRequest(parts=[UserPromptPart("hi")]),
        ModelResponse(parts=[ToolCallPart("bash", {"command": "ls"}, "c1"), ToolCallPart("ls", {}, "c2")]),
        ModelRequest(parts=[ToolReturnPart("bash", "ok", "c1")]),
    ]
    fixed = repair(history)
    returns = [p for p in fixed[2].parts if isinstance(p, ToolReturnPart)]
    assert {r.tool_call_id: r.outcome for r in returns} == {"c1": "success", "c2": "interrupted"}
    dangling = repair(history[:2])
    assert len(dangling) == 3 and all(p.outcome == "interrupted" for p in dangling[2].parts)


async def test_a_client_that_saw_the_turn_end_can_rewind_or_delete_at_once(runtime, workspace):
    """Between a turn's terminal event and the end of its task, rewind and delete wait for the
    task instead of refusing with "has a running turn" (a client acts on ``turn.completed``)."""
    for act in ("rewind", "delete"):
        script = Script("done")
        runtime.use_model(MODEL, script.model)
        session = await runtime.create_session(workspace, MODEL)
        started = await runtime.start_turn(session.id, "hello")
        turn = runtime._turns[session.id]
        while not turn.ending:  # the end is recorded; the task may still be finishing
            await asyncio.sleep(0)
        if act == "rewind":
            rewound = await runtime.rewind_turn(session.id, started.turn_id, restore="conversation")
            assert rewound.rewound_turn_ids == [started.turn_id]
        else:
            await runtime.delete_session(session.id)
