"""Model faults (hangs, cut streams, 429, 5xx, malformed or unknown tool calls) during ``cowork run``.

After each fault the session must stay usable: ``cowork run --continue`` succeeds and the request
it sends carries the earlier history.
"""

from __future__ import annotations

import threading
import time

from e2e_support import Cowork, Result, all_text, assert_gapless, items, of_type, tool_messages
from fakemodel import FakeModelServer, cut, hang, http_error, reply, text, tool_call


def continue_session(cw: Cowork, srv: FakeModelServer, session_id: str, last_seq: int, *earlier: str,
                     check_ids: bool = True) -> Result:
    """Run a second turn with ``--continue``; check it succeeds and its request holds ``earlier``.

    With ``check_ids`` its events must belong to ``session_id`` and follow ``last_seq`` without a gap.
    """
    srv.script(reply(text("Continuing fine.")))
    before = len(srv.requests)
    res = cw.task("What happened before?", "--continue", "--yes", model=None)
    assert res.code == 0, res.explain()
    assert len({e["session_id"] for e in res.events}) == 1
    if check_ids:
        assert res.events[0]["session_id"] == session_id
        assert_gapless(res.events, first=last_seq + 1)
    else:
        assert_gapless(res.events)
    assert res.terminal()["type"] == "turn.completed"
    assert [a["text"] for a in items(res.events, "assistant_message")] == ["Continuing fine."]
    reqs = srv.requests[before:]
    assert len(reqs) == 1
    history = all_text(reqs[0])
    for needle in earlier:
        assert needle in history, f"{needle!r} missing from the continued request:\n{history}"
    users = [m for m in reqs[0]["messages"] if m["role"] == "user"]
    assert "What happened before?" in str(users[-1]["content"])
    return res


def test_hang_is_retried_then_session_continues(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(hang(), reply(text("Recovered after a hang.")))
    res = cw.task("say something", "--yes", env={"COWORK_STREAM_TIMEOUT": "1"})
    assert res.code == 0, res.explain()
    ev = res.events
    assert_gapless(ev, first=1)
    assert len(srv.requests) == 2
    (err,) = items(ev, "error")
    assert err["code"] == "model_retry"
    assert "sent nothing for 1s" in err["message"]  # abandoned after COWORK_STREAM_TIMEOUT of silence
    assert [a["text"] for a in items(ev, "assistant_message")] == ["Recovered after a hang."]
    end = res.terminal()
    assert end["type"] == "turn.completed" and end["usage"]["requests"] == 1

    session_id = ev[0]["session_id"]
    continue_session(cw, srv, session_id, ev[-1]["seq"], "say something", "Recovered after a hang.")
    journal = cw.journal(session_id)
    assert_gapless(journal, first=1)
    first_turn = [e for e in journal if e["turn_id"] == ev[0]["turn_id"]]
    assert [e["seq"] for e in first_turn] == [e["seq"] for e in ev]
    assert [i["code"] for i in items(first_turn, "error")] == ["model_retry"]


def test_cut_stream_is_retried_then_session_continues(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(
        cut(reply(text("This answer will break off midway", chunk_size=4)), after_chunks=3),
        reply(text("The complete answer.")),
    )
    res = cw.task("answer me", "--yes")
    assert res.code == 0, res.explain()
    ev = res.events
    assert_gapless(ev, first=1)
    assert len(srv.requests) == 2
    assert [e["code"] for e in items(ev, "error")] == ["model_retry"]
    texts = [a["text"] for a in items(ev, "assistant_message")]
    assert texts[-1] == "The complete answer."
    assert res.terminal()["type"] == "turn.completed"
    continue_session(cw, srv, ev[0]["session_id"], ev[-1]["seq"], "answer me", "The complete answer.")
    # The broken-off response is not part of the model's history.
    assert "break off" not in all_text(srv.requests[-1])


def test_rate_limit_honours_retry_after(cw: Cowork, srv: FakeModelServer) -> None:
    arrivals: list[float] = []
    queue = [http_error(429, retry_after=1), reply(text("Made it after the rate limit."))]
    lock = threading.Lock()

    def handler(body: dict):  # asked on each request's arrival (the script is empty)
        with lock:
            arrivals.append(time.monotonic())
            return queue.pop(0) if queue else None

    srv.handler = handler
    res = cw.task("hello", "--yes")
    assert res.code == 0, res.explain()
    assert len(arrivals) == 2 and len(srv.requests) == 2
    waited = arrivals[1] - arrivals[0]
    assert waited >= 0.9, f"retried after {waited:.2f}s, Retry-After said 1s"
    assert waited < 5
    (err,) = items(res.events, "error")
    assert err["code"] == "model_retry" and "429" in err["message"]
    assert res.terminal()["type"] == "turn.completed"
    srv.handler = None
    continue_session(cw, srv, res.events[0]["session_id"], res.events[-1]["seq"], "hello",
                     "Made it after the rate limit.")


def test_server_error_forever_fails_turn_after_retries(cw: Cowork, srv: FakeModelServer) -> None:
    srv.default = http_error(500, message="the fake backend is on fire")
    res = cw.task("try hard", "--yes", json_out=False, env={"COWORK_MAX_RETRIES": "2"})
    assert res.code == 1, res.explain()
    assert len(srv.requests) == 3  # the first try and two retries
    out = res.stdout
    assert "turn failed" in out and "provider_unavailable" in out
    assert "500" in out and "the fake backend is on fire" in out

    srv.default = reply(text("unused default"))
    # The failed turn left the session usable; its journal ends the first turn with turn.failed.
    first_user = "try hard"
    later = continue_session(cw, srv, "", 0, first_user, check_ids=False)
    session_id = later.events[0]["session_id"]
    journal = cw.journal(session_id)
    assert_gapless(journal, first=1)
    failed = [e for e in journal if e["turn_id"] != later.events[0]["turn_id"]]
    assert failed and failed[-1]["type"] == "turn.failed"
    assert failed[-1]["error"]["code"] == "provider_unavailable"
    assert "500" in failed[-1]["error"]["message"]
    assert failed[-1]["usage"]["requests"] == 0
    assert [i["code"] for i in items(failed, "error")] == ["model_retry", "model_retry"]
    assert later.events[0]["seq"] == failed[-1]["seq"] + 1


def test_malformed_tool_call_json_fails_the_call_not_the_turn(cw: Cowork, srv: FakeModelServer) -> None:
    bad_args = '{"path": "bad.txt", "content": "x"'  # cut short: not valid JSON
    srv.script(
        reply(tool_call("write", '{"path": ', id="call_bad1"), tool_call("write", bad_args, id="call_bad2")),
        reply(text("My tool calls were broken, sorry.")),
    )
    res = cw.task("write bad.txt", "--yes")
    assert res.code == 0, res.explain()
    ev = res.events
    assert_gapless(ev, first=1)
    calls = items(ev, "tool_call")
    assert [(c["call_id"], c["status"]) for c in calls] == [("call_bad1", "failed"), ("call_bad2", "failed")]
    assert [c["arguments"] for c in calls] == ['{"path": ', bad_args]
    for c in calls:
        assert "not valid JSON" in c["output"]
    assert not (cw.workspace / "bad.txt").exists()
    assert list(cw.workspace.iterdir()) == []

    results = {m["tool_call_id"]: m["content"] for m in tool_messages(srv.requests[1])}
    assert set(results) == {"call_bad1", "call_bad2"}
    for content in results.values():
        assert "not valid JSON" in content and "write" in content
    assert res.terminal()["type"] == "turn.completed"
    continue_session(cw, srv, ev[0]["session_id"], ev[-1]["seq"], "write bad.txt", "not valid JSON",
                     "My tool calls were broken, sorry.")


def test_unknown_tool_is_reported_to_the_model(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(
        reply(tool_call("frobnicate", {"level": 11}, id="call_unk")),
        reply(text("That tool does not exist; never mind.")),
    )
    res = cw.task("frobnicate it", "--yes")
    assert res.code == 0, res.explain()
    ev = res.events
    assert_gapless(ev, first=1)
    (call,) = items(ev, "tool_call")
    assert call["name"] == "frobnicate" and call["status"] == "failed"
    (tm,) = tool_messages(srv.requests[1])
    assert tm["tool_call_id"] == "call_unk"
    assert "Unknown tool 'frobnicate'" in tm["content"]
    for name in ("bash", "read", "write", "edit", "ls", "grep"):
        assert name in tm["content"]
    assert not of_type(ev, "turn.failed")
    continue_session(cw, srv, ev[0]["session_id"], ev[-1]["seq"], "frobnicate it", "Unknown tool")
