"""Budgets: steps, tokens, wall time and cost, per turn and per session, over the scripted fake
model (real HTTP, real OpenAI SDK) and a real SQLite store.

Prices: ``openai:gpt-4o-mini`` costs $0.15 per million input tokens in genai-prices, so a reply
with ``usage=(1_000_000, 0)`` costs $0.15; the fake server's ``fake-model`` has no price.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakemodel import hang, reply, text, tool_call
from safety_support import cowork, open_runtime

from cowork.engine.budget import LIMITS, Limit, parse_budget_flags

PRICED = "openai:gpt-4o-mini"
MILLION = 1_000_000


async def turn(rt, session_id: str, message: str = "go") -> list:
    """Start a turn and return its events, up to its terminal one."""
    after = (await rt.get_session(session_id)).last_seq
    await rt.start_turn(session_id, message)
    await rt.wait(session_id)
    events = []
    last = (await rt.get_session(session_id)).last_seq
    async for ev in rt.subscribe(session_id, after):
        events.append(ev)
        if ev.seq >= last:
            break
    return events


def calls(events: list) -> list:
    return [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]


async def session_of(tmp_path: Path, srv, workspace: Path, model: str = PRICED, **limits):
    rt = await open_runtime(tmp_path, srv.base_url, **limits)
    return rt, await rt.create_session(workspace, model, "yolo")


def assert_budget_failure(events: list, setting: str) -> str:
    end = events[-1]
    assert end.type == "turn.failed", end
    assert end.error.code == "budget_exceeded"
    limit = next(lim for lim in LIMITS if lim.setting == setting)
    assert setting in end.error.message and limit.env in end.error.message and f"--budget {limit.flag}=" in end.error.message
    return end.error.message


async def assert_history_still_valid(rt, session_id: str, srv) -> None:
    """With the limits lifted, the next turn runs: every call in the history was answered."""
    rt.settings = type(rt.settings)(max_steps=10, stream_timeout=5, max_retries=0)
    srv.script(reply(text("fine")))
    events = await turn(rt, session_id, "next")
    assert events[-1].type == "turn.completed"
    sent = srv.requests[-1]["messages"]
    asked = {c["id"] for m in sent for c in m.get("tool_calls") or []}
    answered = {m["tool_call_id"] for m in sent if m.get("role") == "tool"}
    assert asked == answered


# -- per turn --------------------------------------------------------------------------------------


async def test_turn_tokens_stop_the_turn_before_the_next_tools_run(tmp_path, srv, workspace_dir) -> None:
    srv.script(reply(tool_call("ls", {"path": "."}), usage=(100, 20)),
               reply(tool_call("write", {"path": "late.txt", "content": "x"}), usage=(200, 20)))
    rt, session = await session_of(tmp_path, srv, workspace_dir, turn_max_tokens=300)
    try:
        events = await turn(rt, session.id)
        message = assert_budget_failure(events, "turn_max_tokens")
        assert "340 tokens" in message and "300 tokens" in message
        assert events[-1].usage.input_tokens == 300 and events[-1].usage.output_tokens == 40
        ls, write = calls(events)
        assert ls.status == "completed"
        assert write.status == "failed" and write.output.startswith("Not run: turn tokens budget reached")
        assert not (workspace_dir / "late.txt").exists()
        assert len(srv.requests) == 2
        await assert_history_still_valid(rt, session.id, srv)
    finally:
        await rt.close()


async def test_a_response_that_answers_is_kept_even_past_the_limit(tmp_path, srv, workspace_dir) -> None:
    srv.script(reply(text("all done"), usage=(500, 20)))
    rt, session = await session_of(tmp_path, srv, workspace_dir, turn_max_tokens=100)
    try:
        events = await turn(rt, session.id)
        assert events[-1].type == "turn.completed" and events[-1].stop_reason == "end_turn"
    finally:
        await rt.close()


async def test_turn_cost_is_priced_and_limited(tmp_path, srv, workspace_dir) -> None:
    srv.script(reply(tool_call("ls", {"path": "."}), usage=(MILLION, 0)),
               reply(tool_call("ls", {"path": "."}), usage=(MILLION, 0)))
    rt, session = await session_of(tmp_path, srv, workspace_dir, turn_max_cost=0.2)
    try:
        events = await turn(rt, session.id)
        message = assert_budget_failure(events, "turn_max_cost")
        assert "$0.3000" in message and "$0.2000" in message
        assert events[-1].usage.cost == pytest.approx(0.30)
        assert [c.status for c in calls(events)] == ["completed", "failed"]
    finally:
        await rt.close()


async def test_without_a_known_price_cost_is_null_and_cost_limits_do_not_apply(tmp_path, srv, workspace_dir) -> None:
    srv.script(reply(tool_call("ls", {"path": "."}), usage=(MILLION, 0)), reply(text("ok"), usage=(MILLION, 0)))
    rt, session = await session_of(tmp_path, srv, workspace_dir, model="openai:fake-model", turn_max_cost=0.0001)
    try:
        events = await turn(rt, session.id)
        assert events[-1].type == "turn.completed" and events[-1].usage.cost is None
        notes = [e.item for e in events if e.type == "item.completed" and e.item.type == "error"]
        assert [n.code for n in notes] == ["cost_unknown"] and "openai:fake-model" in notes[0].message
    finally:
        await rt.close()


async def test_turn_seconds_cut_a_silent_stream(tmp_path, srv, workspace_dir) -> None:
    srv.script(hang(after_chunks=2, reply=reply(text("partial answer that never ends"))))
    rt, session = await session_of(tmp_path, srv, workspace_dir, turn_max_seconds=0.5, stream_timeout=30)
    try:
        events = await turn(rt, session.id)
        assert "turn seconds budget reached" in assert_budget_failure(events, "turn_max_seconds")
        await assert_history_still_valid(rt, session.id, srv)
    finally:
        await rt.close()


async def test_turn_seconds_stop_a_running_command(tmp_path, srv, workspace_dir) -> None:
    srv.script(reply(tool_call("bash", {"command": "sleep 30; touch finished"})))
    rt, session = await session_of(tmp_path, srv, workspace_dir, turn_max_seconds=2.0)
    try:
        events = await turn(rt, session.id)
        assert_budget_failure(events, "turn_max_seconds")
        (bash,) = calls(events)
        assert bash.status == "interrupted" and "time budget ran out" in bash.output
        await assert_history_still_valid(rt, session.id, srv)
        assert not (workspace_dir / "finished").exists()
    finally:
        await rt.close()


# -- per session -------------------------------------------------------------------------------------


async def test_session_steps_count_every_turn(tmp_path, srv, workspace_dir) -> None:
    srv.script(reply(tool_call("ls", {"path": "."})), reply(text("first done")),
               reply(tool_call("ls", {"path": "."})))
    rt, session = await session_of(tmp_path, srv, workspace_dir, session_max_steps=3)
    try:
        assert (await turn(rt, session.id))[-1].type == "turn.completed"
        events = await turn(rt, session.id)
        assert "this session used 3 steps" in assert_budget_failure(events, "session_max_steps")
        assert [c.status for c in calls(events)] == ["failed"]
        assert len(srv.requests) == 3
        again = await turn(rt, session.id)  # nothing left: fails before asking the model
        assert_budget_failure(again, "session_max_steps")
        assert len(srv.requests) == 3
        await assert_history_still_valid(rt, session.id, srv)
    finally:
        await rt.close()


async def test_session_tokens_and_cost_add_up_over_turns(tmp_path, srv, workspace_dir) -> None:
    srv.script(reply(text("one"), usage=(MILLION, 0)), reply(text("two"), usage=(MILLION, 0)))
    rt, session = await session_of(tmp_path, srv, workspace_dir, session_max_cost=0.25,
                                   session_max_tokens=10 * MILLION)
    try:
        first = await turn(rt, session.id)
        assert first[-1].type == "turn.completed" and first[-1].usage.cost == pytest.approx(0.15)
        assert (await turn(rt, session.id))[-1].type == "turn.completed"  # 0.15 < 0.25 before it asked
        third = await turn(rt, session.id)
        assert "$0.3000" in assert_budget_failure(third, "session_max_cost")
        assert len(srv.requests) == 2
        rt.settings = type(rt.settings)(session_max_tokens=2 * MILLION)
        fourth = await turn(rt, session.id)
        assert "2,000,000 tokens" in assert_budget_failure(fourth, "session_max_tokens")
    finally:
        await rt.close()


async def test_session_seconds_include_earlier_turns(tmp_path, srv, workspace_dir) -> None:
    srv.script(hang())
    rt, session = await session_of(tmp_path, srv, workspace_dir, session_max_seconds=0.5, stream_timeout=30)
    try:
        first = await turn(rt, session.id)
        assert "session seconds budget reached" in assert_budget_failure(first, "session_max_seconds")
        second = await turn(rt, session.id)
        assert_budget_failure(second, "session_max_seconds")
        assert len(srv.requests) == 1
    finally:
        await rt.close()


# -- settings and the command line ---------------------------------------------------------------------


def test_budget_flags_map_to_settings_and_variables() -> None:
    parsed = parse_budget_flags(["turn-tokens=20000", "session-cost=2.5", "turn-steps=7"])
    assert parsed == {Limit("turn", "tokens"): 20000, Limit("session", "cost"): 2.5, Limit("turn", "steps"): 7}
    assert [lim.env for lim in parsed] == ["COWORK_TURN_MAX_TOKENS", "COWORK_SESSION_MAX_COST", "COWORK_MAX_STEPS"]
    for bad, why in [("tokens=5", "one of turn-steps"), ("turn-tokens=1.5", "whole number"),
                     ("turn-cost=-1", "positive"), ("turn-seconds", "LIMIT=N")]:
        with pytest.raises(ValueError, match=why):
            parse_budget_flags([bad])


def test_budget_variables_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from cowork.config import EngineSettings

    monkeypatch.setenv("COWORK_SESSION_MAX_TOKENS", "1000")
    monkeypatch.setenv("COWORK_TURN_MAX_SECONDS", "2.5")
    settings = EngineSettings.from_env()
    assert settings.session_max_tokens == 1000 and settings.turn_max_seconds == 2.5
    monkeypatch.setenv("COWORK_TURN_MAX_COST", "0")
    with pytest.raises(ValueError, match="COWORK_TURN_MAX_COST must be a positive number"):
        EngineSettings.from_env()


def test_cowork_run_budget_flag_fails_the_turn_with_the_reason(home, srv, workspace_dir) -> None:
    srv.script(reply(tool_call("ls", {"path": "."}), usage=(50, 10)))
    done = cowork("run", "--json", "-y", "-C", str(workspace_dir), "-m", "openai:fake-model", "--budget",
                  "turn-tokens=40", "hi", home=home, OPENAI_BASE_URL=srv.base_url)
    assert done.returncode == 1, done.stderr
    end = [json.loads(line) for line in done.stdout.splitlines() if line.strip()][-1]
    assert end["type"] == "turn.failed" and end["error"]["code"] == "budget_exceeded"
    assert "--budget turn-tokens=N" in end["error"]["message"]


def test_cowork_run_rejects_bad_budgets(home, workspace_dir) -> None:
    bad = cowork("run", "-C", str(workspace_dir), "--budget", "tokens=5", "hi", home=home)
    assert bad.returncode == 2 and "turn-tokens" in bad.stderr and "Traceback" not in bad.stderr
    remote = cowork("run", "-C", str(workspace_dir), "--budget", "turn-tokens=5", "--server", "http://127.0.0.1:9",
                    "hi", home=home)
    assert remote.returncode == 2 and "cowork serve --budget" in remote.stderr
    env = cowork("run", "-C", str(workspace_dir), "hi", home=home, COWORK_SESSION_MAX_STEPS="many")
    assert env.returncode == 2 and "COWORK_SESSION_MAX_STEPS must be a number" in env.stderr
