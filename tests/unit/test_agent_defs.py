"""Defined agents (:mod:`cowork.engine.agent_defs`): the file format, its errors, and where files
are looked for (the workspace's win; bad files and escaping symlinks are skipped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowork.engine.agent_defs import AgentFileError, load_agents, parse_agent_file

GOOD = "---\nname: reviewer\ndescription: Reviews changes.\ntools: read, grep\nmode: read-only\n---\nBe careful.\n"


def test_a_file_gives_its_definition_with_tools_as_a_list_or_a_comma_string(tmp_path: Path):
    d = parse_agent_file(GOOD, tmp_path / "reviewer.md")
    assert (d.name, d.description, d.tools, d.mode, d.model, d.instructions) == (
        "reviewer", "Reviews changes.", ("read", "grep"), "read-only", None, "Be careful.")
    listed = parse_agent_file("---\ndescription: x\ntools: [read, ls]\n---\nDo it.\n", tmp_path / "tester.md")
    assert listed.name == "tester" and listed.tools == ("read", "ls")  # the name defaults to the file's


@pytest.mark.parametrize(("text", "why"), [
    ("no front matter\n", "must start with YAML front matter"),
    ("---\ndescription: x\n", "not closed"),
    ("---\ndescription: [unclosed\n---\nbody\n", "invalid YAML"),
    ("---\n- a list\n---\nbody\n", "must be a mapping"),
    ("---\ndescription: x\nshell: yes\n---\nbody\n", "unknown front-matter key(s): shell"),
    ("---\nname: Bad Name\ndescription: x\n---\nbody\n", "must be lower-case"),
    ("---\nname: ok\n---\nbody\n", "description is required"),
    ("---\ndescription: x\ntools: 3\n---\nbody\n", "tools must be"),
    ("---\ndescription: x\n---\n\n", "instructions"),
])
def test_a_bad_file_says_what_is_wrong(tmp_path: Path, text: str, why: str):
    with pytest.raises(AgentFileError, match=why.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_agent_file(text, tmp_path / "agent.md")


def test_the_workspace_wins_and_bad_files_and_escaping_symlinks_are_skipped(tmp_path: Path):
    workspace, home = tmp_path / "ws", tmp_path / "home"
    (workspace / ".cowork" / "agents").mkdir(parents=True)
    (home / "agents").mkdir(parents=True)
    (workspace / ".cowork" / "agents" / "reviewer.md").write_text(GOOD)
    (home / "agents" / "reviewer.md").write_text(GOOD.replace("Reviews changes.", "the home one"))
    (home / "agents" / "tester.md").write_text("---\ndescription: Runs the tests.\n---\nRun them.\n")
    (home / "agents" / "broken.md").write_text("nothing here\n")
    (home / "agents" / "notes.txt").write_text(GOOD)  # not .md
    secret = tmp_path / "outside.md"
    secret.write_text(GOOD.replace("reviewer", "outsider"))
    (home / "agents" / "outsider.md").symlink_to(secret)
    (home / "agents" / "huge.md").write_text(GOOD + "x" * 70_000)
    agents = load_agents(workspace, home)
    assert list(agents) == ["reviewer", "tester"]
    assert agents["reviewer"].description == "Reviews changes."
    assert load_agents(tmp_path / "nowhere", tmp_path / "nobody") == {}
