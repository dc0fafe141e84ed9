"""The move tool against real files: renames, folders, refusals, symlinks, the policy, and undo
through a real turn's checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from engine_support import MODEL, Script, collect

from cowork.policy import load_policy
from cowork.tools import BUILTIN_TOOLS, get_tool
from cowork.tools.base import ToolContext, ToolError, ToolResult
from cowork.tools.move import MoveArgs, _renameat2, rename_noreplace

MOVE = get_tool("move")


async def move(ctx: ToolContext, source: str, destination: str) -> ToolResult:
    assert MOVE is not None
    return await MOVE.run(MoveArgs(source=source, destination=destination), ctx)


async def refused(ctx: ToolContext, source: str, destination: str) -> str:
    with pytest.raises(ToolError) as info:
        await move(ctx, source, destination)
    return str(info.value)


def tree(root: Path) -> dict[str, str]:
    """Every entry under ``root``: file content, ``dir``, or ``-> target`` for a link."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            rel = full.relative_to(root).as_posix()
            out[rel] = f"-> {os.readlink(full)}" if full.is_symlink() else "dir" if full.is_dir() else full.read_text()
    return out


# ------------------------------------------------------------------------------------ moves


async def test_rename_a_file(ws: Path, ctx: ToolContext) -> None:
    (ws / "expenses.csv").write_text("a,b\n")
    res = await move(ctx, "expenses.csv", "spending.csv")
    assert res.output == "Moved expenses.csv → spending.csv" and not res.is_error
    assert res.metadata == {"path": "spending.csv", "source": "expenses.csv"}
    assert tree(ws) == {"spending.csv": "a,b\n"}


async def test_into_an_existing_folder_keeps_the_name(ws: Path, ctx: ToolContext) -> None:
    (ws / "expenses.csv").write_text("a,b\n")
    (ws / "data").mkdir()
    res = await move(ctx, "expenses.csv", "data")
    assert res.output == "Moved expenses.csv → data/expenses.csv"
    assert tree(ws) == {"data": "dir", "data/expenses.csv": "a,b\n"}


async def test_a_trailing_slash_means_a_folder_made_if_missing(ws: Path, ctx: ToolContext) -> None:
    (ws / "a.txt").write_text("A")
    res = await move(ctx, "a.txt", "docs/")
    assert res.output == "Moved a.txt → docs/a.txt"
    assert tree(ws) == {"docs": "dir", "docs/a.txt": "A"}
    (ws / "b.txt").write_text("B")
    await move(ctx, str(ws / "b.txt"), str(ws / "docs") + "/")  # absolute paths inside work too
    assert (ws / "docs/b.txt").read_text() == "B"


async def test_missing_parent_folders_are_created(ws: Path, ctx: ToolContext) -> None:
    (ws / "a.txt").write_text("A")
    res = await move(ctx, "a.txt", "x/y/z.txt")
    assert res.output == "Moved a.txt → x/y/z.txt"
    assert tree(ws) == {"x": "dir", "x/y": "dir", "x/y/z.txt": "A"}


async def test_a_folder_moves_with_its_content(ws: Path, ctx: ToolContext) -> None:
    (ws / "old/deep").mkdir(parents=True)
    (ws / "old/deep/f.txt").write_text("F")
    res = await move(ctx, "old", "archive/2024")
    assert res.output == "Moved old → archive/2024" and res.summary.startswith("moved folder")
    assert tree(ws) == {"archive": "dir", "archive/2024": "dir", "archive/2024/deep": "dir",
                        "archive/2024/deep/f.txt": "F"}


async def test_to_the_workspace_top(ws: Path, ctx: ToolContext) -> None:
    (ws / "docs").mkdir()
    (ws / "docs/a.txt").write_text("A")
    assert (await move(ctx, "docs/a.txt", ".")).output == "Moved docs/a.txt → a.txt"
    assert tree(ws) == {"docs": "dir", "a.txt": "A"}


# ---------------------------------------------------------------------------------- refusals


async def test_never_overwrites(ws: Path, ctx: ToolContext) -> None:
    (ws / "a.txt").write_text("new")
    (ws / "b.txt").write_text("keep")
    (ws / "docs").mkdir()
    (ws / "docs/a.txt").write_text("keep too")
    before = tree(ws)
    assert "destination 'b.txt' already exists; move never overwrites" in await refused(ctx, "a.txt", "b.txt")
    assert "'docs/a.txt' already exists" in await refused(ctx, "a.txt", "docs/")
    assert "'docs/a.txt' already exists" in await refused(ctx, "a.txt", "docs")
    (ws / "to-docs").symlink_to("docs")  # a symlink is a name that exists, never a folder to enter
    before = tree(ws)
    assert "'to-docs' already exists" in await refused(ctx, "a.txt", "./to-docs")
    assert tree(ws) == before


def test_the_rename_itself_never_replaces(ws: Path) -> None:
    """Past every check, the rename is RENAME_NOREPLACE: a destination that appeared meanwhile stays."""
    assert _renameat2() is not None  # Linux with glibc: the race-free path is the one taken
    (ws / "a").write_text("A")
    (ws / "b").write_text("B")
    fd = os.open(ws, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(FileExistsError):
            rename_noreplace(fd, "a", fd, "b")
        rename_noreplace(fd, "a", fd, "c")
    finally:
        os.close(fd)
    assert tree(ws) == {"b": "B", "c": "A"}


async def test_a_missing_source(ws: Path, ctx: ToolContext) -> None:
    assert "source 'nope.txt' not found in the workspace" in await refused(ctx, "nope.txt", "b.txt")
    assert "not found in the workspace" in await refused(ctx, "no/such/dir.txt", "b.txt")
    assert tree(ws) == {}


async def test_paths_outside_or_the_workspace_itself(ws: Path, outside: Path, ctx: ToolContext) -> None:
    (ws / "a.txt").write_text("A")
    (ws / "sub").mkdir()
    before, out_before = tree(ws), tree(outside)
    assert "outside the workspace" in await refused(ctx, "a.txt", "../a.txt")
    assert "outside the workspace" in await refused(ctx, "a.txt", "sub/../../a.txt")
    assert "outside the workspace" in await refused(ctx, "../outside/secret.txt", "stolen.txt")
    assert "absolute path outside the workspace" in await refused(ctx, "a.txt", str(outside / "a.txt"))
    assert "absolute path outside the workspace" in await refused(ctx, str(outside / "secret.txt"), "s.txt")
    assert "outside the workspace" in await refused(ctx, "a.txt", "..")
    assert "is the workspace itself" in await refused(ctx, ".", "sub/")
    assert "is the workspace itself" in await refused(ctx, str(ws), "sub/")
    assert "is the workspace itself" in await refused(ctx, "sub/..", "x")
    (ws / "sub/x").mkdir()
    before = tree(ws)
    assert "ends with '..'; name the file or folder itself ('sub')" in await refused(ctx, "sub/x/..", "y")
    assert "destination is empty" in await refused(ctx, "a.txt", " ")
    assert tree(ws) == before and tree(outside) == out_before


async def test_a_folder_into_itself(ws: Path, ctx: ToolContext) -> None:
    (ws / "docs/sub").mkdir(parents=True)
    assert "cannot move the folder 'docs' into itself ('docs/sub/docs')" in await refused(ctx, "docs", "docs/sub/")
    assert "into itself ('docs/new/place')" in await refused(ctx, "docs", "docs/new/place")
    assert "into itself" in await refused(ctx, "docs", "docs/")
    assert "into itself ('docs/docs')" in await refused(ctx, "docs", "./docs/../docs")  # an existing folder
    (ws / "a.txt").write_text("A")
    assert "same path ('a.txt')" in await refused(ctx, "a.txt", "./sub/../a.txt")
    assert tree(ws) == {"docs": "dir", "docs/sub": "dir", "a.txt": "A"}  # docs/new was not created


async def test_cowork_home_inside_the_workspace(ws: Path, ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    (ws / "data/state").mkdir(parents=True)
    (ws / "data/state/cowork.db").write_text("db")
    (ws / "a.txt").write_text("A")
    monkeypatch.setenv("COWORK_HOME", str(ws / "data/state"))
    before = tree(ws)
    for source, destination in [("data/state", "moved"), ("data/state/cowork.db", "db"), ("data", "elsewhere"),
                                ("a.txt", "data/state/a.txt"), ("a.txt", "data/state/"), ("a.txt", "data/state")]:
        message = await refused(ctx, source, destination)
        assert "$COWORK_HOME" in message, (source, destination, message)
    assert tree(ws) == before


async def test_credential_stores(ws: Path, ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(ws))  # the workspace is the home: its .ssh is a credential store
    (ws / ".ssh").mkdir()
    (ws / ".ssh/id_ed25519").write_text("key")
    (ws / ".netrc").write_text("machine x password y")
    (ws / "a.txt").write_text("A")
    before = tree(ws)
    for source, destination in [(".ssh", "keys"), (".ssh/id_ed25519", "k"), (".netrc", "netrc.txt"),
                                ("a.txt", ".ssh/authorized_keys"), ("a.txt", ".ssh/")]:
        message = await refused(ctx, source, destination)
        assert "credential store" in message, (source, destination, message)
    assert tree(ws) == before


# ---------------------------------------------------------------------------------- symlinks


async def test_a_symlinked_folder_on_the_way_is_refused(ws: Path, outside: Path, ctx: ToolContext) -> None:
    (ws / "out").symlink_to(outside)
    (ws / "real").mkdir()
    (ws / "inner").symlink_to("real")
    (ws / "a.txt").write_text("A")
    before, out_before = tree(ws), tree(outside)
    assert "goes through 'out', a symlink" in await refused(ctx, "out/secret.txt", "got.txt")
    assert "goes through 'out', a symlink" in await refused(ctx, "a.txt", "out/a.txt")
    assert "goes through 'out', a symlink" in await refused(ctx, "a.txt", "out/new/a.txt")
    message = await refused(ctx, "a.txt", "inner/a.txt")  # even one that stays inside
    assert "goes through 'inner', a symlink (to real)" in message and "('real')" in message
    assert tree(ws) == before and tree(outside) == out_before


async def test_a_symlink_itself_is_moved_not_its_target(ws: Path, outside: Path, ctx: ToolContext) -> None:
    (ws / "link").symlink_to(outside / "secret.txt")
    res = await move(ctx, "link", "links/secret-link")
    assert res.output == "Moved link → links/secret-link" and res.summary.startswith("moved symlink")
    assert tree(ws) == {"links": "dir", "links/secret-link": f"-> {outside / 'secret.txt'}"}
    assert tree(outside) == {"secret.txt": "top secret\n"}


# ---------------------------------------------------------------------------------- preview


def test_preview_shows_the_move_and_changes_nothing(ws: Path) -> None:
    assert MOVE is not None
    (ws / "expenses.csv").write_text("x")
    (ws / "data").mkdir()
    assert MOVE.preview(MoveArgs(source="expenses.csv", destination="data"), ws) == "move expenses.csv → data/expenses.csv"
    assert MOVE.preview(MoveArgs(source="expenses.csv", destination="new/x.csv"), ws) == "move expenses.csv → new/x.csv"
    assert MOVE.preview(MoveArgs(source="nope", destination="x"), ws) is None
    assert tree(ws) == {"expenses.csv": "x", "data": "dir"}


# ------------------------------------------------------------------------------------ policy


@pytest.mark.parametrize("mode, outcome", [("default", "ask"), ("accept-edits", "allow"), ("read-only", "deny")])
def test_policy_by_mode(ws: Path, tmp_path: Path, mode: str, outcome: str) -> None:
    (ws / "expenses.csv").write_text("x")
    home, state = tmp_path / "home", tmp_path / "state"
    home.mkdir(), state.mkdir()
    policy = load_policy(ws, home=home, state=state)
    traits = BUILTIN_TOOLS["move"].traits
    decision = policy.decide("move", {"source": "expenses.csv", "destination": "data/"}, traits=traits, mode=mode)
    assert decision.outcome == outcome, decision
    if mode == "accept-edits":  # inside only: a destination outside still asks, as a hard deny
        out = policy.decide("move", {"source": "expenses.csv", "destination": str(home / "x.csv")},
                            traits=traits, mode=mode)
        assert out.outcome == "ask" and out.hard, out


# ------------------------------------------------------------------------------ checkpoints


async def test_a_turns_move_is_undone_by_its_checkpoint(runtime, workspace: Path) -> None:
    script = Script([("move", {"source": "notes.txt", "destination": "archive/"})], "moved it")
    runtime.use_model(MODEL, script.model)
    session = await runtime.create_session(workspace, MODEL, "accept-edits")
    started = await runtime.start_turn(session.id, "tidy up")
    events = await collect(runtime, session.id)
    done = [e for e in events if e.type == "item.completed" and getattr(e.item, "type", "") == "tool_call"]
    assert done and done[-1].item.output == "Moved notes.txt → archive/notes.txt", events
    assert (workspace / "archive/notes.txt").read_text() == "alpha\nbeta\n" and not (workspace / "notes.txt").exists()
    assert "tool:move" in [c.kind for c in await runtime.checkpoints.list(session.id)]

    await runtime.rewind_turn(session.id, started.turn_id, "code")
    assert (workspace / "notes.txt").read_text() == "alpha\nbeta\n"
    assert not (workspace / "archive").exists()
