"""The extension seam (:mod:`cowork.engine.extensions`): what an extension brings reaches the
turn, and its life follows the runtime's."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import MODEL, Script, collect

from cowork.engine import ContextSection, Extension, NoHooks, Runtime
from cowork.tools import StaticToolset, Tool, ToolArgs, ToolContext, ToolResult
from cowork.tools.base import READ_ONLY


class PingArgs(ToolArgs):
    pass


class Ping(Tool):
    name = "ping_ext"
    description = "Answer pong."
    Args = PingArgs
    traits = READ_ONLY

    async def run(self, args: PingArgs, ctx: ToolContext) -> ToolResult:
        return ToolResult("pong")


class Rules:
    name = "rules"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.prompts: list[str | None] = []

    def sections(self, session_id: str, workspace: Path, prompt: str | None):
        self.prompts.append(prompt)
        if self.fail:
            raise OSError("disk gone")
        return [ContextSection("agents_md", "AGENTS.md", "Always answer in French.", str(workspace / "AGENTS.md"))]

    def notes_for_paths(self, session_id, workspace, paths):
        return []


def _instructions(script: Script) -> str:
    messages, _ = script.calls[0]
    return "\n".join(m.instructions or "" for m in messages if getattr(m, "instructions", None))


async def test_an_extension_brings_tools_and_instructions(tmp_path: Path) -> None:
    log: list[str] = []

    async def start() -> None:
        log.append("start")

    async def close() -> None:
        log.append("close")

    rules = Rules()
    ext = Extension("test", toolsets=[StaticToolset("test", [Ping()])], context_sources=[rules], start=start, close=close)
    rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", extensions=[ext])
    assert log == ["start"] and rt.extension("test") is ext and rt.extension("other") is None
    script = Script([("ping_ext", {})], "done")
    rt.use_model(MODEL, script.model)
    session = await rt.create_session(tmp_path, MODEL, "yolo")
    await rt.start_turn(session.id, "ping please")
    events = await collect(rt, session.id)
    assert events[-1].type == "turn.completed"
    assert "# AGENTS.md (" in _instructions(script) and "Always answer in French." in _instructions(script)
    assert rules.prompts == ["ping please"]
    assert "ping_ext" in [t.name for t in script.calls[0][1].function_tools]
    assert [s.text for s in await rt.context(session)] == ["Always answer in French."]
    await rt.close()
    assert log == ["start", "close"]


async def test_a_failing_context_source_is_left_out(tmp_path: Path) -> None:
    rt = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
                            extensions=[Extension("broken", context_sources=[Rules(fail=True)])])
    script = Script("done")
    rt.use_model(MODEL, script.model)
    session = await rt.create_session(tmp_path, MODEL, "yolo")
    await rt.start_turn(session.id, "hi")
    events = await collect(rt, session.id)
    assert events[-1].type == "turn.completed"
    assert "French" not in _instructions(script)
    await rt.close()


def test_names_are_unique_and_only_one_extension_brings_hooks() -> None:
    with pytest.raises(ValueError, match="unique"):
        Runtime(None, extensions=[Extension("a"), Extension("a")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hooks"):
        Runtime(None, extensions=[Extension("a", hooks=NoHooks()), Extension("b", hooks=NoHooks())])  # type: ignore[arg-type]
