"""AGENTS.md in real turns: the instructions a model is sent (over HTTP to the scripted
OpenAI-compatible server), the note a subfolder's AGENTS.md adds to a tool result (once per turn),
the compact harness of small models, and ``session/context`` over a real server."""

from __future__ import annotations

from pathlib import Path

from engine_support import collect
from fakemodel import FakeModelServer, reply, system_text, text, tool_call
from server_support import FAST, MODEL, Rpc

from cowork.engine import Runtime
from cowork.engine.harness import Harness
from cowork.server import InProcessServer
from cowork.skills import agents_md_extension


def _tool_messages(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "AGENTS.md").write_text("Always run `make check` before you finish.\n")
    (ws / "sub" / "AGENTS.md").write_text("Files in sub/ use CRLF line endings.\n")
    (ws / "sub" / "file.txt").write_text("first file\n")
    (ws / "sub" / "other.txt").write_text("second file\n")
    (ws / "top.txt").write_text("top file\n")
    return ws


async def test_a_turn_carries_agents_md_and_a_subfolder_note_once(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("COWORK_HOME", str(home))
    (home / "AGENTS.md").write_text("The user prefers British spelling.\n")
    ws = _workspace(tmp_path)
    with FakeModelServer() as srv:
        srv.script(reply(tool_call("read", {"path": "top.txt"})),
                   reply(tool_call("read", {"path": "sub/file.txt"})),
                   reply(tool_call("read", {"path": "sub/other.txt"})),
                   reply(text("All read.")))
        rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", settings=FAST,
                                openai_base_url=srv.base_url, extensions=[agents_md_extension()])
        try:
            session = await rt.create_session(ws, MODEL, "yolo")
            await rt.start_turn(session.id, "read the files")
            events = await collect(rt, session.id)
            assert events[-1].type == "turn.completed", events[-1]
            requests = srv.requests
        finally:
            await rt.close()
    assert len(requests) == 4
    system = system_text(requests[0])
    user_at, project_at = system.index("British spelling"), system.index("make check")
    assert user_at < project_at  # the user's first, the workspace's (nearer) last
    assert "# Project instructions (AGENTS.md)" in system
    assert "CRLF" not in system  # a subfolder's file comes only when the agent works there
    assert all(system_text(r) == system for r in requests)  # the same instructions at every step

    top, first, second = _tool_messages(requests[3])
    assert "top file" in top and "CRLF" not in top
    assert first.count("Files in sub/ use CRLF line endings.") == 1
    assert first.index("first file") < first.index("[Instructions for sub/")  # the tool's output, then the note
    assert "[Instructions for sub/ from sub/AGENTS.md" in first
    assert "second file" in second and "CRLF" not in second  # once per turn
    done = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    assert done[1].metadata["notes"] == [{"source": str(ws / "sub" / "AGENTS.md"), "truncated": False,
                                          "title": done[1].metadata["notes"][0]["title"]}]
    assert "CRLF" not in (done[1].output or "")  # the journaled output is the tool's own
    assert "notes" not in done[0].metadata and "notes" not in done[2].metadata


async def test_the_next_turn_gets_the_note_again(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    with FakeModelServer() as srv:
        srv.script(reply(tool_call("read", {"path": "sub/file.txt"})), reply(text("one")),
                   reply(tool_call("read", {"path": "sub/file.txt"})), reply(text("two")))
        rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", settings=FAST,
                                openai_base_url=srv.base_url, extensions=[agents_md_extension()])
        try:
            session = await rt.create_session(ws, MODEL, "yolo")
            await rt.start_turn(session.id, "first")
            events = await collect(rt, session.id)
            await rt.start_turn(session.id, "second")
            await collect(rt, session.id, events[-1].seq)
            requests = srv.requests
        finally:
            await rt.close()
    notes = [m.count("CRLF line endings") for m in _tool_messages(requests[3])]
    assert notes == [1, 1]


def test_the_compact_harness_carries_a_short_agents_md(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)

    class Small:
        harness = "compact"

    harness = Harness(Small(), ws, "fix the tests")
    harness.sections = list(agents_md_extension(tmp_path / "nohome").context_sources[0].sections("s", ws, None))
    out = harness.instructions()
    assert out.startswith("You are cowork")
    assert out.endswith(f"# Project instructions (AGENTS.md)\nAlways run `make check` before you finish.")
    assert len(out) < 1500  # short instructions stay short


async def test_session_context_over_a_real_server(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    (ws / "AGENTS.md").write_text("x" * 40_000)
    rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", settings=FAST,
                            openai_base_url="http://127.0.0.1:9/v1", extensions=[agents_md_extension()])
    server = await InProcessServer.start(rt)
    try:
        async with Rpc.open(server.url.replace("http://", "ws://") + "/ws") as rpc:
            session_id = await rpc.create_session(ws)
            result = await rpc.ok("session/context", {"sessionId": session_id})
            [entry] = result["sections"]
            assert entry["kind"] == "agents_md" and entry["title"] == "Project instructions"
            assert entry["source"] == str(ws / "AGENTS.md") and entry["truncated"] is True
            assert 32 * 1024 < entry["chars"] < 32 * 1024 + 200  # the cap, and the mark
            (ws / "AGENTS.md").unlink()
            assert (await rpc.ok("session/context", {"sessionId": session_id}))["sections"] == []
            error = await rpc.error("session/context", {"sessionId": "ses_nope"})
            assert error["code"] == -32004
            error = await rpc.error("session/context", {})
            assert error["code"] == -32602
    finally:
        await server.stop()  # closes the runtime too
