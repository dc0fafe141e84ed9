"""Memory in real turns and over the protocol: the scripted OpenAI-compatible model server
(tests/fakemodel.py, real HTTP) saves a preference with the ``memory`` tool in one session and the
next session's request carries it; private memories reach local models only and never a
read-only token; the request to save before a history is compacted; ``memory/*`` over a real
WebSocket server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_support import collect
from fakemodel import FakeModelServer, reply, system_text, text, tool_call, tool_texts
from server_support import Rpc

from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.memory import COMPACTION_PROMPT, WordLlamaEmbedder, extension
from cowork.protocol.rpc import ErrorCode
from cowork.server import Auth, InProcessServer

SETTINGS = EngineSettings(max_steps=6, stream_timeout=10, max_retries=0, retry_base_delay=0.01)
_EMBEDDER = WordLlamaEmbedder()


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    folder = tmp_path / "ws"
    folder.mkdir()
    return folder


async def _runtime(tmp_path: Path, fake: FakeModelServer, **settings: object) -> Runtime:
    return await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", openai_base_url=fake.base_url,
                              settings=EngineSettings(**{**SETTINGS.__dict__, **settings}) if settings else SETTINGS,
                              extensions=[extension(embedder=_EMBEDDER)])


async def test_a_preference_saved_in_one_session_is_applied_in_the_next(ws: Path, tmp_path: Path) -> None:
    with FakeModelServer() as fake:
        fake.script(
            reply(tool_call("memory", {"action": "save", "text": "The user wants every answer in French",
                                       "kind": "preference", "scope": "user"})),
            reply(text("Noted: I will answer in French from now on.")),
            reply(text("Voici les fichiers.")),
        )
        rt = await _runtime(tmp_path, fake)
        try:
            first = await rt.create_session(ws, "openai:fake", "default")
            await rt.start_turn(first.id, "From now on, always answer me in French.")
            events = await collect(rt, first.id)
            assert events[-1].type == "turn.completed"
            call = next(e.item for e in events if e.type == "item.completed" and getattr(e.item, "type", "") == "tool_call")
            assert call.status == "completed"  # the memory tool is not asked about in default mode
            other = tmp_path / "other"
            other.mkdir()
            second = await rt.create_session(other, "openai:fake", "default")  # another session, another workspace
            await rt.start_turn(second.id, "List the files here.")
            assert (await collect(rt, second.id))[-1].type == "turn.completed"
            service = rt.extension("memory").service
            (saved,) = await service.list()
        finally:
            await rt.close()
    save_request, _, next_session = fake.requests
    assert "memory" in [t["function"]["name"] for t in save_request["tools"]]
    assert f"Remembered (preference, user) as {saved.id}" in tool_texts(fake.requests[1])[0]
    assert saved.session_id == first.id and saved.turn_id == events[0].turn_id
    system = system_text(next_session)
    assert "# Memories (1)" in system and "- [preference] The user wants every answer in French" in system


async def test_a_credential_is_refused_to_the_model(ws: Path, tmp_path: Path) -> None:
    with FakeModelServer() as fake:
        fake.script(reply(tool_call("memory", {"action": "save", "text": "deploy with ghp_abcdefghijklmnopqrstuvwxyz0123456789"})),
                    reply(text("I did not store the token.")))
        rt = await _runtime(tmp_path, fake)
        try:
            session = await rt.create_session(ws, "openai:fake", "default")
            await rt.start_turn(session.id, "remember my github token")
            await collect(rt, session.id)
            assert await rt.extension("memory").service.list() == []
        finally:
            await rt.close()
    (result,) = tool_texts(fake.requests[1])
    assert "looks like a credential (GitHub Token)" in result and "ghp_" not in result


async def test_private_memories_reach_local_models_only(ws: Path, tmp_path: Path) -> None:
    with FakeModelServer() as fake:
        fake.script(reply(text("ok")), reply(tool_call("memory", {"action": "search", "query": "dentist appointment"})),
                    reply(text("nothing")))
        rt = await _runtime(tmp_path, fake)
        try:
            service = rt.extension("memory").service
            await service.save("The user's dentist appointment is on Tuesday", kind="fact", scope="user", private=True)
            await service.save("The user likes concise answers", kind="preference", scope="user")
            hosted = await rt.create_session(ws, "openai:fake", "default")
            await rt.start_turn(hosted.id, "When is my dentist appointment?")
            first = await collect(rt, hosted.id)
            await rt.start_turn(hosted.id, "Search your memory")
            await collect(rt, hosted.id, after_seq=first[-1].seq)
            local_view = await rt.extension("memory").context_sources[0].select(ws, "dentist appointment",
                                                                                include_private=True)
        finally:
            await rt.close()
    assert "dentist" not in system_text(fake.requests[0]) and "concise answers" in system_text(fake.requests[0])
    assert "memor" in tool_texts(fake.requests[2])[-1] and "dentist" not in tool_texts(fake.requests[2])[-1]
    assert any("dentist" in m.text for m in local_view)


async def test_before_compaction_the_model_is_asked_to_save_what_matters(ws: Path, tmp_path: Path) -> None:
    filler = "x" * 1200
    with FakeModelServer() as fake:
        fake.script(
            reply(tool_call("read", {"path": "notes.md"})),
            reply(tool_call("memory", {"action": "save", "text": "The project's notes live in notes.md"})),
            reply(text("summary of the early part")),
            reply(text("done")),
        )
        (ws / "notes.md").write_text(filler)
        rt = await _runtime(tmp_path, fake)
        rt.use_model("openai:fake", rt.model("openai:fake"), context_window=1000)
        try:
            session = await rt.create_session(ws, "openai:fake", "default")
            await rt.start_turn(session.id, "Read notes.md and tell me about it. Background: " + "y" * 2000)
            events = await collect(rt, session.id)
            saved = await rt.extension("memory").service.list()
        finally:
            await rt.close()
    assert events[-1].type == "turn.completed"
    flush = fake.requests[1]
    assert flush["messages"][-1]["content"] == COMPACTION_PROMPT
    assert [t["function"]["name"] for t in flush["tools"]] == ["memory"]  # only the memory tool is offered then
    assert [m.text for m in saved] == ["The project's notes live in notes.md"]
    summary_request, after = fake.requests[2:]
    assert COMPACTION_PROMPT not in json.dumps(after["messages"])  # the exchange stays out of the history
    assert after["messages"][1]["content"].startswith("[Summary of the earlier conversation")


async def test_memory_methods_over_websocket_and_the_read_only_view(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "tokens").mkdir()
    auth, _ = Auth.for_bind("0.0.0.0", tmp_path / "tokens")
    with FakeModelServer() as fake:
        rt = await _runtime(tmp_path, fake)
        srv = await InProcessServer.start(rt, auth)
        url = srv.url.replace("http://", "ws://") + "/ws"
        try:
            async with Rpc.open(url, initialize=False) as c:
                await c.ok("initialize", {"protocolVersion": "1", "clientInfo": {"name": "t"}, "authToken": auth.full_token})
                shared = (await c.ok("memory/save", {"text": "Tests run with pytest -q", "workspace": str(ws)}))["memory"]
                hidden = (await c.ok("memory/save", {"text": "The user's bank is Acme", "scope": "user",
                                                     "private": True}))["memory"]
                assert (await c.error("memory/save", {"text": "x", "scope": "workspace"}))["code"] == ErrorCode.INVALID_PARAMS
                refused = await c.error("memory/save", {"text": "key AKIAIOSFODNN7EXAMPLE", "scope": "user"})
                assert refused["code"] == ErrorCode.INVALID_PARAMS and "credential" in refused["message"]
                listed = await c.ok("memory/list", {"workspace": str(ws)})
                assert {m["id"] for m in listed["memories"]} == {shared["id"], hidden["id"]}
                assert listed["index"]["state"] in ("ready", "indexing")
                found = await c.ok("memory/search", {"query": "how are tests run", "workspace": str(ws)})
                assert found["hits"][0]["memory"]["id"] == shared["id"]
                updated = await c.ok("memory/update", {"memoryId": shared["id"][:12], "kind": "rule"})  # a prefix
                assert updated["memory"]["kind"] == "rule"
                exported = await c.ok("memory/export", {"includePrivate": True})
                assert exported["count"] == 2 and "Acme" in exported["markdown"]
            async with Rpc.open(url, initialize=False) as ro:
                await ro.ok("initialize", {"protocolVersion": "1", "clientInfo": {"name": "ro"},
                                           "authToken": auth.read_only_token})
                assert [m["id"] for m in (await ro.ok("memory/list"))["memories"]] == [shared["id"]]
                seen = (await ro.ok("memory/search", {"query": "bank Acme"}))["hits"]
                assert hidden["id"] not in [h["memory"]["id"] for h in seen] and "Acme" not in json.dumps(seen)
                assert (await ro.error("memory/get", {"memoryId": hidden["id"]}))["code"] == ErrorCode.NOT_FOUND
                assert "Acme" not in (await ro.ok("memory/export", {"includePrivate": True}))["markdown"]
                for method, params in (("memory/forget", {"memoryId": shared["id"]}),
                                       ("memory/save", {"text": "x", "scope": "user"}),
                                       ("memory/import", {"markdown": "## fact · user\nx\n"})):
                    assert (await ro.error(method, params))["code"] == ErrorCode.READ_ONLY
        finally:
            await srv.stop()
