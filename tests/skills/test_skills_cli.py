"""``cowork skills list | show | validate`` and ``/NAME`` in ``cowork chat`` (the real console
script; the chat's in-process server is extended as ``cowork serve`` is; the scripted model)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from e2e_support import MODEL, Cowork
from fakemodel import FakeModelServer, reply, text


@pytest.fixture
def srv():
    with FakeModelServer() as s:
        yield s


@pytest.fixture
def cw(tmp_path: Path, srv: FakeModelServer) -> Cowork:
    cw = Cowork(tmp_path, srv)
    root = cw.workspace / ".agents" / "skills"
    for name, desc, body in (("release-notes", "Write release notes from the git log.", "1. Run `git log`.\n2. Group by type."),
                             ("Bad", "Broken name.", "")):
        (root / name).mkdir(parents=True)
        (root / name / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {desc}\n---\n{body}\n")
    user = cw.home / "skills" / "release-notes"
    user.mkdir(parents=True)
    (user / "SKILL.md").write_text("---\nname: release-notes\ndescription: The user's copy.\n---\nold\n")
    os.symlink("/etc", root / "etc")
    return cw


def test_list_shows_scopes_shadowing_and_invalid_skills(cw: Cowork) -> None:
    res = cw.run("skills", "list", "--dir", str(cw.workspace), "--json")
    assert res.code == 0, res.explain()
    entries = {(e["name"], e["scope"]): e for e in json.loads(res.stdout)}
    mine = entries[("release-notes", "workspace")]
    assert mine["description"] == "Write release notes from the git log." and not mine["errors"]
    assert entries[("release-notes", "user")]["shadowed_by"] == mine["path"]
    assert "must be lowercase" in " ".join(entries[("Bad", "workspace")]["errors"])
    assert "outside the skills folder" in " ".join(entries[("etc", "workspace")]["errors"])
    table = cw.run("skills", "list", "-C", str(cw.workspace))
    flat = " ".join(table.stdout.split())
    assert table.code == 0 and "release-notes workspace" in flat and "shadowed by" in flat and "invalid:" in flat


def test_show_prints_front_matter_and_body_and_refuses_unknown_names(cw: Cowork) -> None:
    res = cw.run("skills", "show", "release-notes", "--dir", str(cw.workspace))
    assert res.code == 0, res.explain()
    assert "description: Write release notes from the git log." in res.stdout and "2. Group by type." in res.stdout
    assert "shadows " in res.stdout
    missing = cw.run("skills", "show", "nope", "--dir", str(cw.workspace))
    assert missing.code == 2 and "no skill named 'nope'" in missing.stderr and "release-notes" in missing.stderr
    bad = cw.run("skills", "show", "Bad", "--dir", str(cw.workspace))
    assert bad.code == 2 and "is invalid" in bad.stderr


def test_validate_exits_1_with_the_reasons(cw: Cowork, tmp_path: Path) -> None:
    good = cw.run("skills", "validate", str(cw.workspace / ".agents/skills/release-notes"))
    assert good.code == 0 and "valid skill" in good.stdout
    bad = cw.run("skills", "validate", str(cw.workspace / ".agents/skills/Bad/SKILL.md"))
    assert bad.code == 1 and "must be lowercase" in bad.stderr and "is not a valid skill" in bad.stderr
    gone = cw.run("skills", "validate", str(tmp_path / "nowhere"))
    assert gone.code == 1 and "Path does not exist" in gone.stderr


def _user_text(body: dict) -> str:
    return "\n".join(m["content"] if isinstance(m["content"], str) else str(m["content"])
                     for m in body["messages"] if m["role"] == "user")


def test_slash_name_in_chat_invokes_the_skill_with_its_body(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(reply(text("Here are the notes for v2.1.")))
    res = cw.run("chat", "--dir", str(cw.workspace), "--model", MODEL, input="/release-notes for v2.1\n/nothing-here\n")
    assert res.code == 0, res.explain()
    assert "using skill release-notes (workspace)" in res.stdout and "Here are the notes for v2.1." in res.stdout
    assert "unknown command /nothing-here" in " ".join(res.stdout.split())
    asked = _user_text(srv.requests[0])
    assert asked.startswith("Use the skill release-notes for this request: for v2.1")
    assert "1. Run `git log`.\n2. Group by type." in asked and "old" not in asked.split("\n")
    assert len(srv.requests) == 1
