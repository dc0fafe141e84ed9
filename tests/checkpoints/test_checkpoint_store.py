"""The shadow store: what a checkpoint captures and leaves out, the workspace's own git repository
left untouched, big files, racy writes, retention within budget, and the migration."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from checkpoint_support import Shadow, picture

from cowork.checkpoints import CheckpointSettings
from cowork.store.db import _alembic_config


def tree_hashes(root: Path) -> dict[str, tuple[int, str]]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            out[os.path.relpath(full, root)] = (st.st_mode, hashlib.sha256(Path(full).read_bytes()).hexdigest())
    return out


def git(ws: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=ws, check=True, capture_output=True, text=True).stdout


def test_a_git_workspace_keeps_its_git_folder_byte_identical(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    git(ws, "init", "-q")
    (ws / "tracked.txt").write_text("v1\n")
    git(ws, "add", "tracked.txt")
    git(ws, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "first")
    before = tree_hashes(ws / ".git")
    shadow = Shadow(ws, tmp_path / "home")
    first = shadow.checkpoint()
    (ws / "tracked.txt").write_text("v2\n")
    (ws / "new.txt").write_text("new\n")
    shadow.checkpoint()
    assert not shadow.restore(first).failed
    assert tree_hashes(ws / ".git") == before
    assert git(ws, "status", "--porcelain") == ""
    assert ".git" not in shadow.scanner.state().entries


def test_gitignore_and_coworkignore_are_respected_and_ignored_files_survive_a_restore(tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / "build").mkdir(parents=True)
    (ws / ".gitignore").write_text("*.log\nbuild/\n!keep.log\n")
    (ws / ".coworkignore").write_text("secrets/\n")
    (ws / "secrets").mkdir()
    (ws / "secrets" / "key").write_text("k")
    (ws / "app.log").write_text("log")
    (ws / "keep.log").write_text("kept")
    (ws / "build" / "out.o").write_text("o")
    (ws / "src.py").write_text("print()")
    shadow = Shadow(ws, tmp_path / "home")
    first = shadow.checkpoint()
    assert set(shadow.scanner.state().entries) == {".gitignore", ".coworkignore", "keep.log", "src.py"}
    (ws / "late.log").write_text("new log")
    (ws / "src.py").unlink()
    assert not shadow.restore(first).failed
    assert (ws / "src.py").exists() and (ws / "late.log").exists() and (ws / "secrets" / "key").exists()
    (ws / ".gitignore").write_text("")  # a changed ignore file takes effect at the next checkpoint
    shadow.checkpoint()
    assert "app.log" in shadow.scanner.state().entries and "build/out.o" in shadow.scanner.state().entries


def test_big_files_are_recorded_not_stored_and_a_restore_names_them(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "big.bin").write_bytes(b"x" * 5000)
    (ws / "small.txt").write_text("s")
    shadow = Shadow(ws, tmp_path / "home", CheckpointSettings(max_file_bytes=1000))
    first = shadow.checkpoint()
    state = shadow.repo.read(first)
    assert state.large["big.bin"][:2] == (5000, (ws / "big.bin").stat().st_mtime_ns)  # by size and mtime, unread
    assert shadow.scanner.scan("again").hashed_bytes < 5000  # (ws / "small.txt") may be re-read (racy), never big.bin
    assert "big.bin" not in state.entries
    (ws / "big.bin").write_bytes(b"y" * 5000)
    (ws / "small.txt").write_text("changed")
    applied = shadow.restore(first)
    assert (ws / "small.txt").read_text() == "s"
    from cowork.checkpoints import restore as restoring

    plan = restoring.plan(shadow.repo.read(first), shadow.scanner.state(), None)
    assert [p for p, _ in plan.not_restorable] == ["big.bin"]
    assert not applied.failed


def test_files_rewritten_within_one_timestamp_tick_are_never_missed(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    shadow = Shadow(ws, tmp_path / "home")
    for i in range(30):
        content = f"{i:04d}".encode()
        (ws / "f.txt").write_bytes(content)  # same size, same inode, often the same ctime
        commit = shadow.checkpoint()
        sha = shadow.repo.read(commit).entries["f.txt"][1]
        assert shadow.repo.blob(sha) == content


def test_an_unchanged_tree_reuses_the_commit_and_storage_grows_with_the_change(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    for i in range(200):
        (ws / f"f{i}.txt").write_bytes(os.urandom(2000))
    shadow = Shadow(ws, tmp_path / "home")
    first = shadow.checkpoint()
    size = shadow.repo.disk_bytes()
    assert shadow.checkpoint() == first
    (ws / "f1.txt").write_bytes(os.urandom(2000))
    shadow.checkpoint()
    grown = shadow.repo.disk_bytes() - size
    # the new blob (random bytes do not compress) and the one tree that changed (200 entries of ~30
    # bytes: names and binary ids), a small root tree, manifest and commit
    assert 2000 <= grown < 2000 + 200 * 30 + 2000


async def test_retention_keeps_the_store_within_count_and_size(runtime, workspace: Path, tmp_path: Path):
    from cowork.checkpoints import Checkpoints

    cps = Checkpoints(runtime.store, runtime.journal.emit,
                      CheckpointSettings(keep=3, max_bytes=60_000), tmp_path / "retention")
    session = await runtime.create_session(workspace, "openai:x", "yolo")
    for i in range(8):
        (workspace / f"chunk{i}.bin").write_bytes(os.urandom(20_000))
        await cps.create(session.id, str(workspace), f"turn_{i}", "turn")
    await cps.close()  # waits for the background retention (which skips a workspace it is already collecting)
    await cps.collect(str(workspace))
    listed = await cps.list(session.id)
    space = cps._space(str(workspace))
    assert len(listed) <= 3 and listed[0].turn_id == "turn_7"
    refs = list(space.shadow.repo.refs.keys(base=b"refs/checkpoints/"))
    assert sorted(r.decode() for r in refs) == sorted(c.id for c in listed)
    assert space.shadow.disk_bytes() <= 60_000 * 3  # the newest one alone is already ~160 kB of random data
    newest = await cps.restore(listed[0].id, preview=True)
    assert newest.changes == []  # what is kept still restores


def test_migration_0003_upgrades_and_downgrades_on_sqlite(tmp_path: Path):
    db = tmp_path / "m.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert "checkpoints" in sa.inspect(engine).get_table_names()
    assert "rewound_at" in {c["name"] for c in sa.inspect(engine).get_columns("turns")}
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    engine.dispose()
    engine = sa.create_engine(f"sqlite:///{db}")
    assert "checkpoints" not in sa.inspect(engine).get_table_names()
    assert "rewound_at" not in {c["name"] for c in sa.inspect(engine).get_columns("turns")}
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    engine.dispose()


def test_picture_helper_sees_modes(tmp_path: Path):
    (tmp_path / "x").write_text("1")
    os.chmod(tmp_path / "x", 0o600)
    assert picture(tmp_path)["x"] == ("f", 0o600, b"1")
