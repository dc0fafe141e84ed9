"""Issue 11 items 1 and 4 at the tool level: ``$COWORK_HOME`` inside the workspace is never read,
listed or written by a file tool; a folder flipped between a directory and a symlink to outside
while the tools run never lets a write land (or a read come from) outside; a hard link to an
outside file is not written in place.

Each test fails on the code before the fix: the tools resolved a path, then opened it by name,
exempted ``$COWORK_HOME`` when it lay in the workspace, and wrote existing files in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flipper import start_flipper

from cowork.policy import load_policy
from cowork.tools import get_tool, search
from cowork.tools.base import ToolContext, ToolError, ToolResult

CANARY = "CANARY-cowork-home-7f3a"


async def call(name: str, ctx: ToolContext, **kwargs) -> ToolResult:
    tool = get_tool(name)
    assert tool is not None
    return await tool.run(tool.Args.model_validate(kwargs), ctx)


@pytest.fixture(params=["rg", "python"])
def grep_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "rg":
        if search.find_rg() is None:
            pytest.skip("rg is not installed")
    else:
        monkeypatch.setattr(search, "find_rg", lambda: None)
    return request.param


@pytest.fixture
def home_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace that is the person's home, with COWORK_HOME = WS/.cowork holding canaries
    (the default layout of ``cowork run --dir ~``)."""
    ws = (tmp_path / "home").resolve()
    state = ws / ".cowork"
    (state / "checkpoints").mkdir(parents=True)
    for name in ("keys", "secrets.enc", "server-token", "checkpoints/blob"):
        (state / name).write_text(f"{CANARY} {name}\n")
    (ws / "notes.txt").write_text(f"not a {CANARY[:6]} secret\n")
    (ws / "project").mkdir()
    (ws / "project" / "a.py").write_text("print('hi')\n")
    monkeypatch.setenv("COWORK_HOME", str(state))
    monkeypatch.setenv("HOME", str(ws))
    return ws


async def test_cowork_home_in_the_workspace_is_not_read(home_ws: Path) -> None:
    ctx = ToolContext(workspace=home_ws)
    (home_ws / "alias").symlink_to(".cowork")
    (home_ws / "key-link").symlink_to(".cowork/keys")
    for path in [".cowork/keys", str(home_ws / ".cowork" / "server-token"), "~/.cowork/secrets.enc",
                 "alias/keys", "key-link", "project/../.cowork/keys"]:
        with pytest.raises(ToolError, match=r"cowork's own state folder \(\$COWORK_HOME"):
            await call("read", ctx, path=path)


async def test_cowork_home_in_the_workspace_is_not_written(home_ws: Path) -> None:
    ctx = ToolContext(workspace=home_ws)
    before = {p: p.read_bytes() for p in (home_ws / ".cowork").rglob("*") if p.is_file()}
    for path in [".cowork/keys", ".cowork/new.txt", ".cowork/deep/er/x.txt", "~/.cowork/server-token"]:
        with pytest.raises(ToolError, match="cowork's own state folder"):
            await call("write", ctx, path=path, content="pwned")
    with pytest.raises(ToolError, match="cowork's own state folder"):
        await call("edit", ctx, path=".cowork/keys", old_string=CANARY, new_string="pwned")
    after = {p: p.read_bytes() for p in (home_ws / ".cowork").rglob("*") if p.is_file()}
    assert after == before and not (home_ws / ".cowork" / "deep").exists()


async def test_cowork_home_in_the_workspace_is_not_listed(home_ws: Path) -> None:
    ctx = ToolContext(workspace=home_ws)
    res = await call("ls", ctx)
    assert ".cowork/" not in res.output.split("\n") and "project/" in res.output
    with pytest.raises(ToolError, match="cowork's own state folder"):
        await call("ls", ctx, path=".cowork")
    res = await call("glob", ctx, pattern="**/*")
    assert sorted(res.output.split("\n")) == ["notes.txt", "project/a.py"]
    res = await call("glob", ctx, pattern=".cowork/**")
    assert "No files match" in res.output
    with pytest.raises(ToolError, match="cowork's own state folder"):
        await call("glob", ctx, pattern="*", path=".cowork/checkpoints")


async def test_cowork_home_in_the_workspace_is_not_searched(home_ws: Path, grep_backend: str) -> None:
    ctx = ToolContext(workspace=home_ws)
    for kwargs in [{}, {"glob": ".cowork/**"}, {"glob": "*"}, {"path": "~"}]:
        res = await call("grep", ctx, pattern=CANARY, **kwargs)
        assert res.output.startswith("No matches") and ":1:" not in res.output, (kwargs, res.output)
    res = await call("grep", ctx, pattern=CANARY[:6])
    assert res.output == f"notes.txt:1:not a {CANARY[:6]} secret"
    for path in [".cowork", ".cowork/keys", "~/.cowork/checkpoints"]:
        with pytest.raises(ToolError, match="cowork's own state folder"):
            await call("grep", ctx, pattern=CANARY, path=path)


async def test_cowork_home_nested_deeper_in_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         grep_backend: str) -> None:
    ws = (tmp_path / "ws").resolve()
    state = ws / "sub" / "state"
    state.mkdir(parents=True)
    (state / "keys").write_text(CANARY)
    monkeypatch.setenv("COWORK_HOME", str(state))
    ctx = ToolContext(workspace=ws)
    for path in (".", "sub"):
        res = await call("grep", ctx, pattern=CANARY, path=path)
        assert "No matches" in res.output
        res = await call("glob", ctx, pattern="**/*", path=path)
        assert "No files match" in res.output
    assert "state/" not in (await call("ls", ctx, path="sub")).output


async def test_credential_stores_in_the_workspace_are_left_out_of_walks(home_ws: Path, grep_backend: str) -> None:
    """grep and glob over a home do not read ~/.ssh or ~/.netrc (a direct read asks a person; a
    walk would read them without asking); naming the store itself searches it."""
    ctx = ToolContext(workspace=home_ws)
    (home_ws / ".ssh").mkdir()
    (home_ws / ".ssh" / "id_ed25519").write_text(f"{CANARY} ssh\n")
    (home_ws / ".netrc").write_text(f"{CANARY} netrc\n")
    res = await call("grep", ctx, pattern=CANARY)
    assert res.output.startswith("No matches"), res.output
    res = await call("glob", ctx, pattern="**/*")
    assert sorted(res.output.split("\n")) == ["notes.txt", "project/a.py"]
    res = await call("grep", ctx, pattern=CANARY, path=".ssh")
    assert res.output == f".ssh/id_ed25519:1:{CANARY} ssh"


def test_the_policy_refuses_cowork_home_for_file_tools_in_every_mode(home_ws: Path) -> None:
    policy = load_policy(home_ws, home=home_ws, state=home_ws / ".cowork")
    for tool, args in [("read", {"path": ".cowork/keys"}), ("grep", {"pattern": "x", "path": ".cowork"}),
                       ("ls", {"path": ".cowork"}), ("glob", {"pattern": "*", "path": ".cowork"}),
                       ("write", {"path": ".cowork/keys", "content": "x"})]:
        traits = get_tool(tool).traits
        for mode in ("default", "accept-edits", "yolo", "read-only"):
            decision = policy.decide(tool, args, mode=mode, traits=traits, session=[tool])
            assert (decision.outcome, decision.rule) == ("deny", "builtin:hard-deny:cowork-home"), (tool, mode)
    # the rest of the home is an ordinary workspace
    decision = policy.decide("read", {"path": "notes.txt"}, mode="default", traits=get_tool("read").traits)
    assert decision.outcome == "allow"


# ------------------------------------------------------------------------------------ hard links


async def test_a_hard_link_to_an_outside_file_is_not_written_in_place(ws: Path, outside: Path, ctx: ToolContext) -> None:
    target = outside / "target.txt"
    target.write_text("original\n")
    os.link(target, ws / "h.txt")
    res = await call("write", ctx, path="h.txt", content="replaced\n")
    assert target.read_text() == "original\n" and (ws / "h.txt").read_text() == "replaced\n"
    assert "2 hard links" in res.output and os.stat(ws / "h.txt").st_nlink == 1
    os.link(target, ws / "e.txt")
    res = await call("edit", ctx, path="e.txt", old_string="original", new_string="edited")
    assert target.read_text() == "original\n" and (ws / "e.txt").read_text() == "edited\n"
    assert "hard links" in res.output


async def test_replacing_keeps_the_mode_and_leaves_no_temporary_file(ws: Path, ctx: ToolContext) -> None:
    (ws / "run.sh").write_text("echo a\n")
    os.chmod(ws / "run.sh", 0o751)
    await call("edit", ctx, path="run.sh", old_string="a", new_string="b")
    assert (ws / "run.sh").stat().st_mode & 0o7777 == 0o751
    assert sorted(os.listdir(ws)) == ["run.sh"]


def test_the_policy_asks_a_person_before_writing_a_hard_linked_file(ws: Path, outside: Path) -> None:
    (outside / "t.txt").write_text("x")
    os.link(outside / "t.txt", ws / "h.txt")
    (ws / "plain.txt").write_text("x")
    policy = load_policy(ws, home=outside, state=outside / "state")
    traits = get_tool("write").traits
    decision = policy.decide("write", {"path": "h.txt", "content": "y"}, mode="yolo", traits=traits)
    assert (decision.outcome, decision.hard, decision.rule) == ("ask", True, "builtin:hard-deny:hard-link")
    assert policy.decide("write", {"path": "plain.txt", "content": "y"}, mode="yolo", traits=traits).outcome == "allow"
    assert policy.decide("read", {"path": "h.txt"}, mode="default", traits=get_tool("read").traits).outcome == "allow"


# ----------------------------------------------------------------------------------------- races





async def test_a_folder_flipping_to_a_symlink_never_lets_a_write_land_outside(ws: Path, outside: Path,
                                                                              ctx: ToolContext) -> None:
    (ws / "d").mkdir()
    (ws / "d" / "f.txt").write_text("inside\n")
    (outside / "f.txt").write_text("outside\n")
    before = sorted(os.listdir(outside))
    stop = ws.parent / "stop"
    flipper = start_flipper(ws, outside, stop)
    written = refused = 0
    try:
        for i in range(400):
            for tool, kwargs in [("write", {"path": f"d/new{i}.txt", "content": "pwned\n"}),
                                 ("write", {"path": "d/f.txt", "content": "pwned\n"}),
                                 ("edit", {"path": "d/f.txt", "old_string": "\n", "new_string": "\n\n"})]:
                try:
                    await call(tool, ctx, **kwargs)
                    written += 1
                except Exception:  # ToolError, or (before the fix) whatever the race raised
                    refused += 1
    finally:
        stop.touch()
        assert int(flipper.communicate(timeout=30)[0].split()[1]) > 10
    assert sorted(os.listdir(outside)) == before and (outside / "f.txt").read_text() == "outside\n"
    assert written and refused  # the race was really run: some calls met the symlink


async def test_a_folder_flipping_to_a_symlink_never_lets_a_read_come_from_outside(
        ws: Path, outside: Path, ctx: ToolContext, grep_backend: str) -> None:
    (ws / "d").mkdir()
    (ws / "d" / "f.txt").write_text("inside\n")
    (outside / "f.txt").write_text("top secret\n")
    stop = ws.parent / "stop"
    flipper = start_flipper(ws, outside, stop)
    seen: list[str] = []
    try:
        for _ in range(400):
            for tool, kwargs in [("read", {"path": "d/f.txt"}), ("ls", {"path": "d"}),
                                 ("glob", {"pattern": "*", "path": "d"}),
                                 ("grep", {"pattern": "secret|inside", "path": "d"}),
                                 ("grep", {"pattern": "secret|inside", "path": "d/f.txt"})]:
                try:
                    seen.append((await call(tool, ctx, **kwargs)).output)
                except Exception:  # ToolError, or (before the fix) whatever the race raised
                    pass
    finally:
        stop.touch()
        flipper.communicate(timeout=30)
    assert seen and not [s for s in seen if "top secret" in s or ":1:top" in s]
