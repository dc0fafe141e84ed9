"""AGENTS.md loading (:mod:`cowork.skills.agents_md`) on real files: which files, in which order,
their caps, and the files it refuses (symlinks out of the workspace, FIFOs, binary data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cowork.skills.agents_md import FILE_CAP, TRUNCATED, AgentsMd, agents_md_extension, decode, folders_of


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def test_user_then_workspace_and_claude_md_only_without_agents_md(ws: Path, home: Path) -> None:
    source = AgentsMd(home)
    assert source.sections("s", ws, None) == []
    (ws / "CLAUDE.md").write_text("From CLAUDE.md.\n")
    [only] = source.sections("s", ws, "hi")
    assert (only.kind, only.title, only.source, only.text) == (
        "agents_md", "Project instructions", str(ws / "CLAUDE.md"), "From CLAUDE.md.\n")

    (ws / "AGENTS.md").write_text("Run `make test`.\n")
    (home / "AGENTS.md").write_text("Answer briefly.\n")
    user, project = source.sections("s", ws, None)
    assert (user.title, user.source, user.text) == ("User instructions", str(home / "AGENTS.md"), "Answer briefly.\n")
    assert (project.source, project.text) == (str(ws / "AGENTS.md"), "Run `make test`.\n")  # CLAUDE.md is not read
    assert not user.truncated and not project.truncated


def test_home_defaults_to_cowork_home(ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other-home"
    other.mkdir()
    (other / "AGENTS.md").write_text("mine\n")
    monkeypatch.setenv("COWORK_HOME", str(other))
    ext = agents_md_extension()
    assert ext.name == "agents_md" and ext.service is ext.context_sources[0]
    [user] = ext.context_sources[0].sections("s", ws, None)
    assert user.source == str(other / "AGENTS.md")


def test_a_big_file_is_cut_at_the_cap_with_a_visible_mark(ws: Path, home: Path) -> None:
    line = "- rule número ünïcode " * 3 + "\n"  # multi-byte characters: the cut never splits one
    (ws / "AGENTS.md").write_text(line * 5000)  # about 350 KB
    [project] = AgentsMd(home).sections("s", ws, None)
    assert project.truncated
    body, mark, rest = project.text.rpartition(TRUNCATED)
    assert mark and "AGENTS.md is" in rest and "bytes; only the first" in rest
    assert len(body.encode()) <= FILE_CAP
    assert "\ufffd" not in body and body.rstrip().endswith("ünïcode")  # cut at a line's end
    assert body.startswith(line)


def test_the_total_cap_serves_the_workspace_first(ws: Path, home: Path) -> None:
    (ws / "AGENTS.md").write_text("w" * 70 + "\n")
    (home / "AGENTS.md").write_text("u" * 70 + "\n")
    user, project = AgentsMd(home, file_cap=100, total_cap=120).sections("s", ws, None)
    assert not project.truncated and project.text == "w" * 70 + "\n"
    assert user.truncated and user.text.startswith("u" * 49 + "\n\n" + TRUNCATED)  # 120 - 71 bytes left
    [project] = AgentsMd(home, file_cap=100, total_cap=71).sections("s", ws, None)  # nothing left for the user's
    assert project.source == str(ws / "AGENTS.md")
    with pytest.raises(ValueError, match="at least 1 byte"):
        AgentsMd(home, file_cap=0)


def test_a_symlink_out_of_the_workspace_is_not_read(ws: Path, home: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("SECRET outside the workspace\n")
    (ws / "AGENTS.md").symlink_to(secret)
    (ws / "CLAUDE.md").write_text("not a fallback for a refused AGENTS.md\n")
    assert AgentsMd(home).sections("s", ws, None) == []

    # a symlink that stays inside the workspace is followed
    (ws / "AGENTS.md").unlink()
    (ws / "docs").mkdir()
    (ws / "docs" / "agents.md").write_text("inside\n")
    (ws / "AGENTS.md").symlink_to("docs/agents.md")
    [project] = AgentsMd(home).sections("s", ws, None)
    assert project.text == "inside\n"

    # a subfolder that is a symlink to elsewhere: its AGENTS.md is not read either
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "AGENTS.md").write_text("SECRET via a folder link\n")
    (ws / "linked").symlink_to(outside)
    assert AgentsMd(home).notes_for_paths("s", ws, [ws / "linked" / "file.txt"]) == []
    # an absolute symlink into the workspace is fine
    (ws / "abs").symlink_to(ws / "docs")
    (ws / "docs" / "AGENTS.md").write_text("docs rules\n")
    [note] = AgentsMd(home).notes_for_paths("s", ws, [ws / "abs" / "x.txt"])
    assert note.text == "docs rules\n"


def test_the_users_own_file_may_be_a_symlink(ws: Path, home: Path, tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "AGENTS.md").write_text("from my dotfiles\n")
    (home / "AGENTS.md").symlink_to(dotfiles / "AGENTS.md")
    [user] = AgentsMd(home).sections("s", ws, None)
    assert user.text == "from my dotfiles\n"


def test_the_same_file_is_not_loaded_twice(home: Path) -> None:
    (home / "AGENTS.md").write_text("once\n")
    [only] = AgentsMd(home).sections("s", home, None)  # a session working in cowork's home folder itself
    assert only.title == "Project instructions"


def test_bad_files_are_left_out_never_a_crash(ws: Path, home: Path) -> None:
    os.mkfifo(ws / "AGENTS.md")  # opening a FIFO for reading would block: it is never read from
    assert AgentsMd(home).sections("s", ws, None) == []
    os.unlink(ws / "AGENTS.md")
    (ws / "AGENTS.md").mkdir()
    assert AgentsMd(home).sections("s", ws, None) == []
    os.rmdir(ws / "AGENTS.md")
    (ws / "AGENTS.md").write_bytes(b"\x7fELF\x00\x00binary")
    assert AgentsMd(home).sections("s", ws, None) == []
    (ws / "AGENTS.md").write_bytes("caf\xe9 latin-1 and ok\n".encode("latin-1"))
    [project] = AgentsMd(home).sections("s", ws, None)
    assert project.text == "caf\ufffd latin-1 and ok\n"
    (ws / "AGENTS.md").write_text("Wide rules ✓\n", encoding="utf-16")  # with a byte-order mark
    [project] = AgentsMd(home).sections("s", ws, None)
    assert project.text == "Wide rules ✓\n"
    (ws / "AGENTS.md").write_bytes(b"\xef\xbb\xbfBOM dropped\n")
    assert AgentsMd(home).sections("s", ws, None)[0].text == "BOM dropped\n"
    (ws / "AGENTS.md").chmod(0)
    if os.geteuid() != 0:  # root reads anything
        assert AgentsMd(home).sections("s", ws, None) == []


def test_decode() -> None:
    assert decode(b"plain") == "plain"
    assert decode(b"a\x00b") is None
    assert decode(b"\xfe\xff" + "ü".encode("utf-16-be")) == "ü"


def test_notes_are_the_folders_between_the_path_and_the_root(ws: Path, home: Path) -> None:
    (ws / "AGENTS.md").write_text("root\n")
    (ws / "a" / "b" / "c").mkdir(parents=True)
    (ws / "a" / "AGENTS.md").write_text("a rules\n")
    (ws / "a" / "b" / "c" / "CLAUDE.md").write_text("c rules (CLAUDE.md)\n")
    source = AgentsMd(home)
    notes = source.notes_for_paths("s", ws, [ws / "a" / "b" / "c" / "deep.txt"])
    assert [n.source for n in notes] == [str(ws / "a" / "AGENTS.md"), str(ws / "a" / "b" / "c" / "CLAUDE.md")]
    assert notes[0].title.startswith("Instructions for a/ from a/AGENTS.md")
    assert "precedence" in notes[1].title
    # a folder counts itself; a file only its folders; the root's own file is never a note
    assert [n.text for n in source.notes_for_paths("s", ws, [ws / "a"])] == ["a rules\n"]
    assert source.notes_for_paths("s", ws, [ws / "top.txt", ws, ws / "AGENTS.md"]) == []
    # each folder once, even when several paths lie in it; a path not there yet counts its folder
    notes = source.notes_for_paths("s", ws, [ws / "a" / "x.txt", ws / "a" / "new" / "y.txt", ws / "a" / "z"])
    assert [n.text for n in notes] == ["a rules\n"]
    # outside the workspace: nothing
    assert source.notes_for_paths("s", ws, [ws.parent / "elsewhere" / "f.txt", Path("/etc/passwd")]) == []


def test_cowork_home_inside_the_workspace_is_not_read(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inner = ws / "state"
    inner.mkdir()
    (inner / "AGENTS.md").write_text("cowork's own folder\n")
    monkeypatch.setenv("COWORK_HOME", str(inner))
    source = AgentsMd(ws / "nowhere")
    assert source.notes_for_paths("s", ws, [inner / "cowork.db"]) == []


def test_folders_of(ws: Path) -> None:
    (ws / "x" / "y").mkdir(parents=True)
    assert folders_of(ws, ws / "x" / "y") == ["x", "x/y"]
    assert folders_of(ws, ws / "x" / "y" / "f.txt") == ["x", "x/y"]
    assert folders_of(ws, ws / "x" / ".." / "x" / "f") == ["x"]
    assert folders_of(ws, ws / "f") == [] and folders_of(ws, ws) == []
    assert folders_of(ws, ws / ".." / "ws2" / "f") == []
