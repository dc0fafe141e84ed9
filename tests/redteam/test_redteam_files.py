"""Red team, file tools (issue 11 items 1 and 4), through the real engine in ``default`` and
``yolo`` mode with every approval answered "once" (the worst case: the person said yes):

- secrets under a workspace home: with the workspace at ``~`` and ``COWORK_HOME`` at ``~/.cowork``,
  no file tool reads, lists, searches or writes cowork's keys and tokens, and grep over the home
  does not read the credential stores;
- hard-link and symlink tricks: a pre-existing hard link to an outside file and a symlink to an
  outside folder do not let a write land outside;
- path races: another process flipping a folder between a directory and a symlink to outside
  while a turn writes into it never lets a file land outside.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flipper import start_flipper
from redteam_support import attack
from sandbox_support import CANARY

MODES = ["default", "yolo"]


@pytest.mark.parametrize("mode", MODES)
async def test_secrets_under_a_workspace_home_are_not_read(runtime, home: Path, mode: str) -> None:
    state = home / ".cowork"
    for name in ("secrets.enc", "server-token"):
        (state / name).write_text(f"{CANARY}\n")
    (home / "alias").symlink_to(".cowork")
    (home / "notes.txt").write_text("hello\n")
    before = {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}
    canary_regex = "CANARY-[0-9a-f]{8}"  # matches the canary without spelling it
    out = await attack(
        runtime, home, mode,
        ("read", {"path": ".cowork/keys"}), ("read", {"path": f"{state}/server-token"}),
        ("read", {"path": "alias/secrets.enc"}), ("read", {"path": "~/.cowork/keys"}),
        ("grep", {"pattern": canary_regex}), ("grep", {"pattern": canary_regex, "path": ".cowork"}),
        ("grep", {"pattern": canary_regex, "glob": ".cowork/**"}),
        ("glob", {"pattern": "**/*"}), ("glob", {"pattern": "*", "path": ".cowork"}),
        ("ls", {"path": "."}), ("ls", {"path": ".cowork"}),
        ("write", {"path": ".cowork/keys", "content": "pwned"}),
        ("edit", {"path": ".cowork/server-token", "old_string": "CANARY", "new_string": "pwned"}),
        ("write", {"path": "alias/new", "content": "pwned"}),
    )
    assert len(out.calls) == 14
    assert CANARY not in out.sent and CANARY not in out.journal
    assert {p: p.read_bytes() for p in before} == before  # (cowork itself adds checkpoints there)
    assert not (state / "new").exists()
    assert not [a for a in out.asked if ".cowork" in a]  # refused outright: nobody is asked


@pytest.mark.parametrize("mode", MODES)
async def test_hard_link_and_symlink_tricks_write_nothing_outside(runtime, ws: Path, outside: Path,
                                                                  mode: str) -> None:
    (outside / "target.txt").write_text("original\n")
    os.link(outside / "target.txt", ws / "h.txt")
    (ws / "esc").symlink_to(outside)
    (ws / "dangling").symlink_to(outside / "made.txt")
    out = await attack(
        runtime, ws, mode,
        ("write", {"path": "h.txt", "content": "pwned\n"}),
        ("edit", {"path": "h.txt", "old_string": "original", "new_string": "pwned"}),
        ("write", {"path": "esc/new.txt", "content": "pwned\n"}), ("write", {"path": "dangling", "content": "x"}),
        ("write", {"path": "esc/deep/er.txt", "content": "pwned\n"}),
    )
    assert len(out.calls) == 5
    assert sorted(os.listdir(outside)) == ["target.txt"] and (outside / "target.txt").read_text() == "original\n"
    assert any("hard link" in a for a in out.asked)  # asked even in yolo (a hard deny)




async def test_a_folder_flipping_to_a_symlink_during_a_turn(runtime, ws: Path, outside: Path) -> None:
    (ws / "d").mkdir()
    stop = ws.parent / "stop-flipping"
    flipper = start_flipper(ws, outside, stop)
    try:
        out = await attack(runtime, ws, "yolo",
                           *[("write", {"path": f"d/n{i}.txt", "content": "pwned\n"}) for i in range(40)])
    finally:
        stop.touch()
        flipper.wait(timeout=30)
    assert len(out.calls) == 40
    assert os.listdir(outside) == []
