"""Runs (cowork.jobs.runs): the queue in the store, the dispatcher and its limits, the approval
policies of a run nobody watches, cancelling, and what a restart leaves — over a real SQLite store
and real turns, with a scripted model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cowork.checkpoints import CheckpointSettings
from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.jobs import POLICY, RunLimits, Runs
from cowork.protocol import ApprovalRequested, ApprovalResolved
from cowork.store import NotFound

from engine_support import MODEL, Script, tool_returns
from fakemodel import FakeModelServer, reply, text, tool_call

FAST = RunLimits(total=4, per_workspace=1, poll_seconds=0.05)


async def open_runtime(db: Path, base_url: str | None = None) -> Runtime:
    return await Runtime.open(f"sqlite+aiosqlite:///{db}", settings=EngineSettings(max_steps=6, stream_timeout=5),
                              checkpoint_settings=CheckpointSettings(), openai_base_url=base_url)


@pytest.fixture
async def rt(tmp_path: Path):
    runtime = await open_runtime(tmp_path / "cowork.db")
    yield runtime
    await runtime.close()


def folder(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    return path


async def events_of(rt: Runtime, session_id: str) -> list:
    page = await rt.journal_page(session_id, 0)
    from cowork.protocol import EventAdapter
    return [EventAdapter.validate_json(s.data) for s in page]


async def until(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.02)


async def test_a_run_is_queued_then_runs_to_its_end_and_keeps_the_answer(rt, tmp_path):
    script = Script([("read", {"path": "notes.txt"})], "The notes say alpha and beta.")
    rt.use_model(MODEL, script.model)
    ws = folder(tmp_path, "ws")
    (ws / "notes.txt").write_text("alpha\nbeta\n")
    runs = Runs(rt, limits=FAST)
    run = await runs.submit(ws, "What do the notes say?", model=MODEL)
    assert run.state == "queued" and run.reason == "person" and run.turn_id is None
    assert (await rt.get_session(run.session_id)).title == "Run: What do the notes say?"
    await runs.start()
    try:
        done = await runs.wait(run.id, 10)
    finally:
        await runs.close()
    assert done.state == "completed" and done.stop_reason == "end_turn"
    assert done.result == "The notes say alpha and beta." and done.turn_id and done.ended_at >= done.started_at
    assert "alpha" in tool_returns(script.calls[-1][0])[0].content


async def test_deny_policy_answers_at_once_in_the_journal_and_the_model_reads_why(rt, tmp_path):
    script = Script([("write", {"path": "a.txt", "content": "x"})], "I could not write it.")
    rt.use_model(MODEL, script.model)
    ws = folder(tmp_path, "ws")
    runs = Runs(rt, limits=FAST)
    await runs.start()
    try:
        run = await runs.submit(ws, "Write a.txt", model=MODEL, approvals="deny")
        done = await runs.wait(run.id, 10)
    finally:
        await runs.close()
    assert done.state == "completed" and not (ws / "a.txt").exists()
    events = await events_of(rt, run.session_id)
    asked = [e for e in events if isinstance(e, ApprovalRequested)]
    answered = [e for e in events if isinstance(e, ApprovalResolved)]
    assert len(asked) == 1 and len(answered) == 1  # asked in the open, answered by the policy, both journaled
    assert answered[0].decision == "deny" and answered[0].answered_by == POLICY
    assert "approval policy is deny" in answered[0].reason
    assert "approval policy is deny" in tool_returns(script.calls[-1][0])[0].content


async def test_wait_policy_keeps_the_approval_pending_for_a_person_who_answers(rt, tmp_path):
    rt.use_model(MODEL, Script([("write", {"path": "a.txt", "content": "x"})], "Written.").model)
    ws = folder(tmp_path, "ws")
    runs = Runs(rt, limits=FAST)
    await runs.start()
    try:
        run = await runs.submit(ws, "Write a.txt", model=MODEL, approvals="wait", approval_timeout=60)

        async def waiting() -> bool:
            return (await runs.get(run.id)).state == "waiting_for_approval"

        await until(waiting)
        listed = await runs.list(states=["waiting_for_approval"])
        assert [r.id for r in listed] == [run.id] and listed[0].pending_approvals == 1
        asked = [e for e in await events_of(rt, run.session_id) if isinstance(e, ApprovalRequested)][0]
        await rt.answer_approval(asked.approval_id, "once", answered_by="cowork-web 1")
        done = await runs.wait(run.id, 10)
    finally:
        await runs.close()
    assert done.state == "completed" and (ws / "a.txt").read_text() == "x"
    resolved = [e for e in await events_of(rt, run.session_id) if isinstance(e, ApprovalResolved)]
    assert [(r.decision, r.answered_by) for r in resolved] == [("once", "cowork-web 1")]


async def test_wait_policy_denies_at_the_deadline_and_never_blocks_forever(rt, tmp_path):
    script = Script([("write", {"path": "a.txt", "content": "x"})], "Nobody answered, so nothing was written.")
    rt.use_model(MODEL, script.model)
    ws = folder(tmp_path, "ws")
    runs = Runs(rt, limits=FAST)
    await runs.start()
    try:
        run = await runs.submit(ws, "Write a.txt", model=MODEL, approvals="wait", approval_timeout=0.3)
        done = await runs.wait(run.id, 10)
    finally:
        await runs.close()
    assert done.state == "completed" and not (ws / "a.txt").exists()
    resolved = [e for e in await events_of(rt, run.session_id) if isinstance(e, ApprovalResolved)]
    assert resolved[0].decision == "deny" and resolved[0].answered_by == POLICY
    assert "nobody answered within 0.3 s" in resolved[0].reason


async def test_pre_granted_rules_run_what_they_cover_without_asking(rt, tmp_path):
    rt.use_model(MODEL, Script([("write", {"path": "a.txt", "content": "x"})], "Written.").model)
    ws = folder(tmp_path, "ws")
    runs = Runs(rt, limits=FAST)
    await runs.start()
    try:
        run = await runs.submit(ws, "Write a.txt", model=MODEL, approvals="deny", allow=["write"])
        done = await runs.wait(run.id, 10)
    finally:
        await runs.close()
    assert done.state == "completed" and (ws / "a.txt").read_text() == "x"
    assert not [e for e in await events_of(rt, run.session_id) if isinstance(e, ApprovalRequested)]
    assert await rt.allowed_tools(run.session_id) == ["write"]


async def test_bad_submissions_are_refused_and_queue_nothing(rt, tmp_path):
    ws = folder(tmp_path, "ws")
    runs = Runs(rt, dispatch=False)
    with pytest.raises(ValueError, match="bad session pattern"):
        await runs.submit(ws, "x", model=MODEL, allow=["bash:"])
    with pytest.raises(ValueError, match="empty"):
        await runs.submit(ws, "   ", model=MODEL)
    with pytest.raises(ValueError, match="deny or wait"):
        await runs.submit(ws, "x", model=MODEL, approvals="ask")
    other = await rt.create_session(folder(tmp_path, "other"), MODEL)
    with pytest.raises(ValueError, match="is of"):
        await runs.submit(ws, "x", session_id=other.id)
    with pytest.raises(NotFound):
        await runs.get("run_nope")
    assert await runs.list() == []


async def test_limits_hold_runs_of_one_workspace_in_order_and_let_others_run(rt, tmp_path):
    def reply(messages, info):
        return [("write", {"path": "out.txt", "content": "x"})] if len(messages) == 1 else "done"

    rt.use_model(MODEL, Script(*[reply] * 20).model)
    a, b = folder(tmp_path, "a"), folder(tmp_path, "b")
    runs = Runs(rt, limits=FAST)
    await runs.start()
    try:
        first = await runs.submit(a, "one", model=MODEL, approvals="wait", approval_timeout=60)
        second = await runs.submit(a, "two", model=MODEL, approvals="deny")
        elsewhere = await runs.submit(b, "three", model=MODEL, approvals="deny")
        assert (await runs.wait(elsewhere.id, 10)).state == "completed"  # another workspace is not held up

        async def waiting() -> bool:
            return (await runs.get(first.id)).state == "waiting_for_approval"

        await until(waiting)
        await asyncio.sleep(0.3)  # several dispatcher polls
        assert (await runs.get(second.id)).state == "queued"  # one at a time in workspace a
        asked = [e for e in await events_of(rt, first.session_id) if isinstance(e, ApprovalRequested)][0]
        await rt.answer_approval(asked.approval_id, "deny", "not now")
        assert (await runs.wait(first.id, 10)).state == "completed"
        second_done = await runs.wait(second.id, 10)
    finally:
        await runs.close()
    assert second_done.state == "completed" and second_done.started_at >= (await runs.get(first.id)).ended_at


async def test_cancel_a_queued_run_and_a_running_one(rt, tmp_path):
    rt.use_model(MODEL, Script([("write", {"path": "a.txt", "content": "x"})], "done").model)
    ws = folder(tmp_path, "ws")
    queued = await Runs(rt, dispatch=False).submit(ws, "never", model=MODEL)
    runs = Runs(rt, limits=FAST)
    cancelled = await runs.cancel(queued.id)
    assert cancelled.state == "cancelled" and cancelled.turn_id is None and "before it started" in cancelled.error
    await runs.start()
    try:
        run = await runs.submit(ws, "Write a.txt", model=MODEL, approvals="wait", approval_timeout=60)

        async def waiting() -> bool:
            return (await runs.get(run.id)).state == "waiting_for_approval"

        await until(waiting)
        stopped = await runs.cancel(run.id)
        again = await runs.cancel(run.id)  # an ended run is returned as it is
    finally:
        await runs.close()
    assert stopped.state == "cancelled" and again.state == "cancelled" and not (ws / "a.txt").exists()
    assert await rt.store.get_turn_status(stopped.turn_id) == (run.session_id, "interrupted")
    assert (await runs.get(queued.id)).state == "cancelled"  # the queued one never started


async def test_the_queue_survives_a_restart_and_a_run_waiting_for_approval_resumes(tmp_path):
    # The wire-level scripted model (an OpenAI-compatible server): the turn resumed after the
    # restart reaches it by name, as it would a hosted model.
    db, ws = tmp_path / "cowork.db", folder(tmp_path, "ws")
    with FakeModelServer() as fake:
        fake.script(reply(tool_call("write", {"path": "a.txt", "content": "x"})), reply(text("Written.")),
                    reply(text("Answered.")))
        rt = await open_runtime(db, fake.base_url)
        runs = Runs(rt, limits=FAST)
        await runs.start()
        waiting = await runs.submit(ws, "Write a.txt", model="openai:fake", approvals="wait", approval_timeout=60)

        async def asked() -> bool:
            return (await runs.get(waiting.id)).state == "waiting_for_approval"

        await until(asked)
        later = await runs.submit(ws, "Then answer", model="openai:fake", approvals="deny")  # queued behind it
        await runs.close()  # the server stops: the dispatcher first, then the runtime
        await rt.close()

        rt = await open_runtime(db, fake.base_url)  # resumes the turn that waits for its approval
        try:
            assert (await Runs(rt, dispatch=False).get(later.id)).state == "queued"
            runs = Runs(rt, limits=FAST)
            await runs.start()
            try:
                await until(asked)
                approval = [e for e in await events_of(rt, waiting.session_id) if isinstance(e, ApprovalRequested)][0]
                await rt.answer_approval(approval.approval_id, "once")
                first = await runs.wait(waiting.id, 10)
                second = await runs.wait(later.id, 10)
            finally:
                await runs.close()
        finally:
            await rt.close()
    assert first.state == "completed" and (ws / "a.txt").read_text() == "x"
    assert second.state == "completed" and second.result == "Answered."


async def test_a_run_cut_off_by_shutdown_is_recorded_interrupted_at_the_next_start(tmp_path):
    db, ws = tmp_path / "cowork.db", folder(tmp_path, "ws")
    rt = await open_runtime(db)
    started = asyncio.Event()

    async def slow(messages, info):
        started.set()
        await asyncio.sleep(30)
        yield "never"

    from pydantic_ai.models.function import FunctionModel
    rt.use_model(MODEL, FunctionModel(stream_function=slow, model_name="slow"))
    runs = Runs(rt, limits=FAST)
    await runs.start()
    run = await runs.submit(ws, "Take your time", model=MODEL)
    await asyncio.wait_for(started.wait(), 10)
    await runs.close()
    await rt.close()  # journals the running turn as interrupted; nobody watched the run end

    rt = await open_runtime(db)
    try:
        runs = Runs(rt, limits=FAST)
        await runs.start()
        settled = await runs.get(run.id)
        await runs.close()
    finally:
        await rt.close()
    assert settled.state == "interrupted" and "shut down" in settled.error


async def test_two_servers_on_one_store_start_each_run_once(tmp_path):
    db = tmp_path / "cowork.db"
    first, second = await open_runtime(db), await open_runtime(db)
    try:
        for rt in (first, second):
            rt.use_model(MODEL, Script(*["done"] * 20).model)
        spaces = [folder(tmp_path, f"w{i}") for i in range(6)]
        submitted = [await Runs(first, dispatch=False).submit(ws, f"job {i}", model=MODEL)
                     for i, ws in enumerate(spaces)]
        a, b = Runs(first, limits=FAST), Runs(second, limits=FAST)
        await asyncio.gather(a.start(), b.start())
        try:
            ended = [await a.wait(r.id, 20) for r in submitted]
        finally:
            await asyncio.gather(a.close(), b.close())
        assert {r.state for r in ended} == {"completed"}
        for run in submitted:
            turns = [e for e in await events_of(first, run.session_id) if e.type == "turn.started"]
            assert len(turns) == 1, run.id
        owners = {(await records_owner(first, r.id)) for r in submitted}
        assert owners <= {a.owner, b.owner}
    finally:
        await first.close()
        await second.close()


async def records_owner(rt: Runtime, run_id: str) -> str | None:
    from cowork.store import runs as records
    return (await records.get_run(rt.store, run_id)).owner


def test_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("COWORK_MAX_RUNS", "8")
    monkeypatch.setenv("COWORK_MAX_RUNS_PER_WORKSPACE", "2")
    assert RunLimits.from_env() == RunLimits(total=8, per_workspace=2)
    monkeypatch.setenv("COWORK_MAX_RUNS", "0")
    with pytest.raises(ValueError, match="COWORK_MAX_RUNS must be a whole number"):
        RunLimits.from_env()


async def test_a_run_cancelled_through_another_server_is_stopped_by_the_one_running_it(tmp_path):
    db, ws = tmp_path / "cowork.db", folder(tmp_path, "ws")
    owner, other = await open_runtime(db), await open_runtime(db)
    try:
        owner.use_model(MODEL, Script([("write", {"path": "a.txt", "content": "x"})], "done").model)
        runs = Runs(owner, limits=FAST)
        await runs.start()
        try:
            run = await runs.submit(ws, "Write a.txt", model=MODEL, approvals="wait", approval_timeout=60)

            async def waiting() -> bool:
                return (await runs.get(run.id)).state == "waiting_for_approval"

            await until(waiting)
            cancelled = await Runs(other, dispatch=False).cancel(run.id)  # cowork runs cancel, another process
        finally:
            await runs.close()
        assert cancelled.state == "cancelled" and not (ws / "a.txt").exists()
    finally:
        await owner.close()
        await other.close()


async def test_a_pre_granted_tool_does_not_lift_a_hard_deny(rt, tmp_path):
    rt.use_model(MODEL, Script([("bash", {"command": "sudo true"})], "It was refused.").model)
    ws = folder(tmp_path, "ws")
    runs = Runs(rt, limits=FAST)
    await runs.start()
    try:
        run = await runs.submit(ws, "Use sudo", model=MODEL, approvals="deny", allow=["bash"])
        done = await runs.wait(run.id, 10)
    finally:
        await runs.close()
    events = await events_of(rt, run.session_id)
    [asked] = [e for e in events if isinstance(e, ApprovalRequested)]
    assert "session" not in asked.options  # a hard deny: only once or deny, and the policy denied it
    [answered] = [e for e in events if isinstance(e, ApprovalResolved)]
    assert done.state == "completed" and (answered.decision, answered.answered_by) == ("deny", POLICY)
