"""Skills in real turns: a Runtime with the skills extension, the scripted OpenAI-compatible model
server (tests/fakemodel.py, real HTTP), the context section in the request the model receives,
the ``skill`` tool's answer; ``skills/list`` and ``skills/get`` over a real WebSocket server."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import collect
from fakemodel import FakeModelServer, reply, system_text, text, tool_call, tool_texts

from cowork.client import AsyncClient, CoworkError
from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.protocol.rpc import ErrorCode
from cowork.server import InProcessServer
from cowork.skills import extension

SETTINGS = EngineSettings(max_steps=6, stream_timeout=10, max_retries=0, retry_base_delay=0.01)
REPORT = "Make PDF reports from CSV tables, with a chart per column."


def _skill(root: Path, name: str, description: str, body: str) -> Path:
    d = root / name
    (d / "scripts").mkdir(parents=True)
    (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {description}\n---\n{body}")
    (d / "scripts" / "build.py").write_text("print('built')\n")
    return d


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    ws, home = tmp_path / "ws", tmp_path / "home"
    ws.mkdir()
    home.mkdir()
    monkeypatch.setenv("COWORK_HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    _skill(ws / ".cowork" / "skills", "csv-report", REPORT, "# CSV report\n1. Run `{python} {skill_dir}/scripts/build.py`.")
    _skill(home / "skills", "csv-report", "The user's older copy.", "old body")
    _skill(home / "skills", "haiku", "Write a haiku about the code.", "Five, seven, five.")
    bad = home / "skills" / "broken"
    bad.mkdir()
    (bad / "SKILL.md").write_text("---\nname: Broken\n---\n")
    return ws, home


async def test_the_model_sees_the_list_and_the_hint_and_loads_a_skill(places, tmp_path: Path) -> None:
    ws, _ = places
    with FakeModelServer() as fake:
        fake.script(reply(tool_call("skill", {"name": "csv-report"})), reply(text("Report plan ready.")))
        rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", settings=SETTINGS,
                                openai_base_url=fake.base_url, extensions=[extension(builtin=False)])
        try:
            session = await rt.create_session(ws, "openai:fake", "default")
            await rt.start_turn(session.id, "Turn sales.csv into a PDF report with charts")
            events = await collect(rt, session.id)
            assert events[-1].type == "turn.completed"
            first, second = fake.requests[:2]
        finally:
            await rt.close()
    system = system_text(first)
    assert "# Skills (2)" in system
    assert f"- csv-report: {REPORT}" in system and "- haiku: Write a haiku about the code." in system
    assert "broken" not in system.lower() and "older copy" not in system  # invalid and shadowed: left out
    assert "This request looks like a job for skill csv-report: call skill(name=csv-report) first." in system
    assert "skill" in [t["function"]["name"] for t in first["tools"]]
    (result,) = tool_texts(second)
    assert "# CSV report" in result and "{python}" not in result and "{skill_dir}" not in result
    folder = (ws / ".cowork" / "skills" / "csv-report").resolve()
    assert f"Skill folder: {folder}" in result and "- scripts/build.py" in result
    assert "read its files with read (e.g. .cowork/skills/csv-report/FILE)" in result
    calls = [e for e in events if e.type == "item.completed" and getattr(e.item, "type", "") == "tool_call"]
    assert calls and calls[0].item.status == "completed"  # read-only: not asked in default mode


async def test_no_hint_for_an_unrelated_prompt_and_a_file_read_through_the_tool(places, tmp_path: Path) -> None:
    ws, home = places
    (home / "skills" / "haiku" / "references").mkdir()
    (home / "skills" / "haiku" / "references" / "forms.md").write_text("Haiku: 5-7-5 syllables.")
    with FakeModelServer() as fake:
        fake.script(reply(tool_call("skill", {"name": "haiku", "file": "references/forms.md"})),
                    reply(tool_call("skill", {"name": "haiku", "file": "../csv-report/SKILL.md"})),
                    reply(tool_call("skill", {"name": "nope"})),
                    reply(tool_call("skill", {"name": "Haiku"})),
                    reply(text("done")))
        rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", settings=SETTINGS,
                                openai_base_url=fake.base_url, extensions=[extension(builtin=False)])
        try:
            session = await rt.create_session(ws, "openai:fake", "default")
            await rt.start_turn(session.id, "Fix the failing unit test")
            await collect(rt, session.id)
            requests = fake.requests
        finally:
            await rt.close()
    assert "looks like a job for skill" not in system_text(requests[0])
    assert tool_texts(requests[1]) == ["Haiku: 5-7-5 syllables."]
    assert "leads outside the skill's folder" in tool_texts(requests[2])[-1]
    assert "no skill named 'nope'" in tool_texts(requests[3])[-1] and "csv-report, haiku" in tool_texts(requests[3])[-1]
    assert "Five, seven, five." in tool_texts(requests[4])[-1]  # a name's case is forgiven


async def test_a_workspace_without_skills_gets_no_section_and_no_tool(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    ws = tmp_path / "ws"
    ws.mkdir()
    with FakeModelServer() as fake:
        fake.script(reply(text("hi")))
        rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", settings=SETTINGS,
                                openai_base_url=fake.base_url, extensions=[extension(builtin=False)])
        try:
            session = await rt.create_session(ws, "openai:fake", "default")
            await rt.start_turn(session.id, "make a PDF")
            await collect(rt, session.id)
        finally:
            await rt.close()
    assert "# Skills" not in system_text(fake.requests[0])
    assert "skill" not in [t["function"]["name"] for t in fake.requests[0].get("tools", [])]


async def test_skills_list_and_get_over_the_server(places, tmp_path: Path) -> None:
    ws, home = places
    rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", settings=SETTINGS,
                            extensions=[extension(builtin=False)])
    server = await InProcessServer.start(rt)
    try:
        async with AsyncClient(server.url) as client:
            session = await client.create_session(str(ws), model="openai:fake")
            found = (await client.skills_list(session_id=session.id)).skills
            by = {(s.name, s.scope): s for s in found}
            assert list(by) == [("csv-report", "workspace"), ("haiku", "user"), ("csv-report", "user"),
                                ("broken", "user")]
            winner, hidden = by[("csv-report", "workspace")], by[("csv-report", "user")]
            assert hidden.shadowed_by == winner.path and winner.shadows == [hidden.path]
            assert by[("broken", "user")].errors and not by[("haiku", "user")].errors
            outside = (await client.skills_list()).skills  # no workspace: the user's only
            assert [(s.name, s.scope) for s in outside if not s.errors] == [("csv-report", "user"), ("haiku", "user")]
            same = (await client.skills_list(workspace=str(ws))).skills
            assert [s.path for s in same] == [s.path for s in found]

            got = await client.skills_get(name="csv-report", session_id=session.id, request="sales.csv please")
            assert got.skill.scope == "workspace" and "{python}" not in got.body and "# CSV report" in got.body
            assert got.message.startswith("Use the skill csv-report for this request: sales.csv please")
            assert got.body in got.message
            with pytest.raises(CoworkError) as info:
                await client.skills_get(name="broken", session_id=session.id)
            assert info.value.code == ErrorCode.NOT_FOUND
            with pytest.raises(CoworkError) as info:
                await client.skills_list(workspace="relative/path")
            assert info.value.code == ErrorCode.INVALID_PARAMS
    finally:
        await server.stop()
