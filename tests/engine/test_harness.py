"""The compact harness's own parts: the workspace listing and the several-steps test."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowork.engine.harness import Harness, compact_instructions, several_steps, workspace_listing


def test_the_listing_shows_two_levels_folders_first_and_leaves_out_hidden_entries_and_the_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "ws"
    (ws / "docs" / "old" / "deep").mkdir(parents=True)
    (ws / "docs" / "old" / "deep" / "x.txt").write_text("x")
    (ws / "docs" / "a.md").write_text("a")
    (ws / "b.txt").write_text("b")
    (ws / ".git").mkdir()
    (ws / ".env").write_text("SECRET=1")
    (ws / "state").mkdir()
    monkeypatch.setenv("COWORK_HOME", str(ws / "state"))
    assert workspace_listing(ws).splitlines() == ["docs/", "docs/old/", "docs/a.md", "b.txt"]


def test_the_listing_is_capped_and_says_how_many_more(tmp_path: Path) -> None:
    for i in range(7):
        (tmp_path / f"f{i}.txt").write_text("")
    assert workspace_listing(tmp_path, limit=5).splitlines()[-1] == "... and 2 more"
    assert workspace_listing(tmp_path / "missing") == "(empty)"


@pytest.mark.parametrize("task, several", [
    ("Sort the files here into subfolders by type", False),
    ("Rename a.txt to b.txt.", False),
    ("Read config.json, then change the port.", True),
    ("1. read it\n2. fix it", True),
    ("Read it. Fix it. Run the tests.", True),
])
def test_several_steps(task: str, several: bool) -> None:
    assert several_steps(task) is several


def test_compact_instructions_do_not_name_the_workspace_path(tmp_path: Path) -> None:
    """The same task in another folder gets the same prompt (a fixed seed then repeats the run)."""
    (tmp_path / "a.txt").write_text("")

    class Small:
        harness = "compact"

    assert str(tmp_path) not in compact_instructions(workspace_listing(tmp_path))
    assert Harness(Small(), tmp_path, "task").compact and not Harness(object(), tmp_path, "task").compact
    assert str(tmp_path) in Harness(object(), tmp_path, "task").instructions()  # the full harness names it


def test_the_compact_harness_leaves_out_optional_listings_and_their_tools(tmp_path: Path) -> None:
    """A small model gets AGENTS.md and a skill hint, not the skills list; the ``skill`` tool
    (``on_demand``) only when a hint invites it. The full harness gets everything."""
    from dataclasses import replace

    from pydantic_ai.tools import ToolDefinition

    from cowork.engine import ContextSection
    from cowork.tools import Tool, ToolArgs
    from cowork.tools.base import READ_ONLY

    class Small:
        harness = "compact"

    class Load(Tool):
        name, description, Args, traits = "load", "Load a listed thing.", ToolArgs, replace(READ_ONLY, on_demand=True)

    class Look(Tool):
        name, description, Args, traits = "look", "Look.", ToolArgs, READ_ONLY

    tools = {"load": Load(), "look": Look()}
    defs = [ToolDefinition(name=n, parameters_json_schema={"type": "object"}) for n in tools]
    rules = ContextSection("agents_md", "Project instructions", "Use tabs.", str(tmp_path / "AGENTS.md"))
    listing = ContextSection("skills", "Skills (2)", "- alpha: one\n- beta: two", compact=False)
    hint = ContextSection("skill_hint", "Skill hint", "Call load(alpha) first.", invites_on_demand=True)

    small, full = Harness(Small(), tmp_path, "task"), Harness(object(), tmp_path, "task")
    for harness in (small, full):
        harness.sections = [rules, listing]
    assert "Use tabs." in small.instructions() and "alpha: one" not in small.instructions()
    assert "# Project instructions (AGENTS.md)" in small.instructions()  # the source relative to the workspace
    assert "alpha: one" in full.instructions()
    assert [d.name for d in small.definitions(tools, defs)] == ["look"]
    assert [d.name for d in full.definitions(tools, defs)] == ["load", "look"]
    small.sections = [rules, listing, hint]
    assert "Call load(alpha) first." in small.instructions()
    assert [d.name for d in small.definitions(tools, defs)] == ["load", "look"]
