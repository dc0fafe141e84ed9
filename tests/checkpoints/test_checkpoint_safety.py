"""Checkpoints never leave the workspace nor hang on it: a restore does not write through a
symlink (issue 11 item 2), huge sparse files are recorded unread and a running checkpoint can be
cancelled and shut down (item 10), FIFOs are skipped and COWORK_HOME is never captured nor
restored into (items 11 and 1), and the manager answers domain types (issue 10 item 4)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from pathlib import Path

import pytest
from checkpoint_support import Shadow

from cowork.checkpoints import CheckpointSettings, Checkpoints, CheckpointUnavailable, Restored
from cowork.checkpoints import restore as restoring
from cowork.checkpoints.snapshot import Cancelled
from cowork.protocol.rpc import CheckpointRestoreResult


def outside_folder(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "keep.txt").write_text("outside\n")
    return out


async def test_a_partial_restore_replaces_a_symlinked_folder_and_never_writes_outside(runtime, workspace, tmp_path):
    (workspace / "d").mkdir()
    (workspace / "d" / "f.txt").write_text("mine\n")
    session = await runtime.create_session(workspace, "openai:x", "yolo")
    ckpt = await runtime.checkpoints.create(session.id, str(workspace), "turn_1", "turn")
    out = outside_folder(tmp_path)
    for p in (workspace / "d" / "f.txt", workspace / "d"):
        p.unlink() if p.is_file() else p.rmdir()
    (workspace / "d").symlink_to(out)  # the agent swaps the folder for a link to elsewhere

    done = await runtime.checkpoints.restore(ckpt.id, ["d/f.txt"], preview=False, force=True)
    assert not (out / "f.txt").exists() and sorted(os.listdir(out)) == ["keep.txt"]
    assert not (workspace / "d").is_symlink() and (workspace / "d" / "f.txt").read_text() == "mine\n"
    assert "d/f.txt" in done.restored and not done.not_restored


def test_a_folder_turned_symlink_after_planning_fails_instead_of_writing_through(tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / "a" / "b").mkdir(parents=True)
    (ws / "a" / "b" / "f.txt").write_text("one\n")
    (ws / "a" / "g.txt").write_text("g\n")
    shadow = Shadow(ws, tmp_path / "home")
    first = shadow.checkpoint()
    (ws / "a" / "b" / "f.txt").write_text("two\n")
    (ws / "a" / "g.txt").chmod(0o600)
    now = shadow.checkpoint()
    target, current = shadow.repo.differences(first, now)
    todo = restoring.plan(target, current, None)
    out = outside_folder(tmp_path)
    (out / "f.txt").write_text("outside f\n")
    (out / "g.txt").write_text("outside g\n")
    os.chmod(out / "g.txt", 0o640)
    (ws / "a" / "b" / "f.txt").unlink()
    (ws / "a" / "b").rmdir()
    (ws / "a" / "b").symlink_to(out)  # between the plan and the writes, at depth 2
    (ws / "a" / "g.txt").unlink()
    (ws / "a" / "g.txt").symlink_to(out / "g.txt")  # a chmod must not reach the link's target
    done = restoring.apply(shadow.repo, str(ws), target, current, todo, None)
    assert {p for p, _ in done.failed} == {"a/b/f.txt", "a/g.txt"}
    assert (out / "f.txt").read_text() == "outside f\n" and (out / "g.txt").stat().st_mode & 0o777 == 0o640


def test_a_huge_sparse_file_is_recorded_by_size_without_being_read(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    with open(ws / "big", "wb") as f:
        f.truncate(64 << 20)  # sparse: costs no disk
    shadow = Shadow(ws, tmp_path / "home")  # default limit 10 MiB
    snap = shadow.scanner.scan("first")
    assert snap.hashed_bytes == 0 and snap.large == 1
    assert shadow.repo.read(snap.commit).large["big"][0] == 64 << 20


async def test_a_two_terabyte_sparse_file_does_not_hold_the_checkpoint(runtime, workspace):
    with open(workspace / "big", "wb") as f:
        f.truncate(2 << 40)
    session = await runtime.create_session(workspace, "openai:x", "yolo")
    info = await asyncio.wait_for(runtime.checkpoints.create(session.id, str(workspace), "turn_1", "turn"), 30)
    assert info is not None and info.stats.large == 1 and info.stats.hashed_bytes < 1000


def test_a_scan_stops_when_cancelled(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    for i in range(50):
        (ws / f"f{i}.txt").write_text(str(i))
    shadow = Shadow(ws, tmp_path / "home")
    shadow.scanner.cancel.set()
    with pytest.raises(Cancelled):
        shadow.scanner.scan("cancelled")
    shadow.scanner.cancel.clear()
    assert len(shadow.scanner.state().entries) == 0  # nothing half-recorded
    shadow.checkpoint()
    assert len(shadow.scanner.state().entries) == 50


async def test_a_blocked_checkpoint_is_cancelled_by_an_interrupt_and_by_shutdown(runtime, workspace, tmp_path):
    cps = Checkpoints(runtime.store, runtime.journal.emit, CheckpointSettings(), tmp_path / "store")
    session = await runtime.create_session(workspace, "openai:x", "yolo")
    await cps.create(session.id, str(workspace), "turn_0", "turn")
    shadow = cps._space(str(workspace)).shadow
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another process's long scan, seen as the lock held
        with shadow.locked():
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait(5)
    try:
        task = asyncio.create_task(cps.create(session.id, str(workspace), "turn_1", "turn"))
        await asyncio.sleep(0.2)
        task.cancel()  # a turn's interrupt
        t0 = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - t0 < 3
        waiting = asyncio.create_task(cps.create(session.id, str(workspace), "turn_2", "turn"))
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        await asyncio.wait_for(cps.close(timeout=2), 10)  # shutdown does not wait for the lock
        assert time.monotonic() - t0 < 4
        with pytest.raises(CheckpointUnavailable):
            await asyncio.wait_for(waiting, 5)
    finally:
        release.set()
        holder.join(5)
    # once the lock is free again, the next turn's checkpoint goes through
    info = await asyncio.wait_for(cps.create(session.id, str(workspace), "turn_3", "turn"), 10)
    assert info is not None


async def test_a_fifo_and_a_socket_in_the_workspace_are_skipped(runtime, workspace):
    import socket

    os.mkfifo(workspace / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(workspace / "sock"))
    try:
        session = await runtime.create_session(workspace, "openai:x", "yolo")
        info = await asyncio.wait_for(runtime.checkpoints.create(session.id, str(workspace), "turn_1", "turn"), 30)
        diff = await runtime.checkpoints.diff(info.id)
        assert diff.changes == [] and info.stats.hashed_bytes == len("alpha\nbeta\n")
        assert set(runtime.checkpoints._space(str(workspace)).scanner.state().entries) == {"notes.txt"}
    finally:
        sock.close()


async def test_cowork_home_inside_the_workspace_is_never_captured_nor_restored_into(runtime, workspace, tmp_path,
                                                                                    monkeypatch):
    home = workspace / "dot-cowork"
    home.mkdir()
    (home / "key").write_text("secret\n")
    session = await runtime.create_session(workspace, "openai:x", "yolo")
    before = Checkpoints(runtime.store, runtime.journal.emit, CheckpointSettings(), tmp_path / "store-a")
    old = await before.create(session.id, str(workspace), "turn_1", "turn")  # home was elsewhere then
    (home / "key").unlink()

    monkeypatch.setenv("COWORK_HOME", str(home))
    cps = Checkpoints(runtime.store, runtime.journal.emit, CheckpointSettings(), tmp_path / "store-b")
    info = await cps.create(session.id, str(workspace), "turn_2", "turn")
    (home / "token").write_text("server token\n")
    await cps.create(session.id, str(workspace), "turn_3", "turn")
    assert info is not None
    space = cps._space(str(workspace))
    assert not any(p.startswith("dot-cowork") for p in space.scanner.state().entries)
    await before.close()
    cps2 = Checkpoints(runtime.store, runtime.journal.emit, CheckpointSettings(), tmp_path / "store-a")
    done = await cps2.restore(old.id, preview=False, force=True)  # an old checkpoint that holds the home
    assert not (home / "key").exists() and (home / "token").exists()
    assert {n.path for n in done.not_restored} >= {"dot-cowork/key"}
    await cps.close()
    await cps2.close()


async def test_the_manager_answers_domain_types_that_map_onto_the_protocol(runtime, workspace):
    session = await runtime.create_session(workspace, "openai:x", "yolo")
    ckpt = await runtime.checkpoints.create(session.id, str(workspace), "turn_1", "turn")
    (workspace / "notes.txt").write_text("changed\n")
    result = await runtime.checkpoints.restore(ckpt.id)
    assert type(result) is Restored
    wire = CheckpointRestoreResult.model_validate(result, from_attributes=True)
    assert wire.preview and [c.path for c in wire.changes] == ["notes.txt"] and "+changed" in wire.changes[0].diff


def test_grafting_restored_paths_onto_the_agent_state_equals_rebuilding_it(tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / "d").mkdir(parents=True)
    (ws / "e").mkdir()
    (ws / "a.txt").write_text("a\n")
    (ws / "d" / "x").write_text("x\n")
    (ws / "e" / "y").write_text("y\n")
    (ws / "e" / "y").chmod(0o600)
    (ws / "keep.txt").write_text("k\n")
    shadow = Shadow(ws, tmp_path / "home")
    agent = shadow.checkpoint()
    (ws / "a.txt").write_text("a2\n")
    (ws / "d" / "x").unlink()
    (ws / "d").rmdir()
    (ws / "f").mkdir()
    (ws / "f" / "z").write_text("z\n")
    (ws / "e" / "y").chmod(0o644)
    (ws / "keep.txt").write_text("a person's edit, not restored\n")
    after = shadow.checkpoint()
    paths = ["a.txt", "d/x", "d", "f", "f/z", "e/y"]
    grafted = shadow.repo.read(shadow.repo.graft(agent, after, paths, "t"))
    expected = restoring.settled(shadow.repo.read(agent), shadow.repo.read(after), paths)
    assert grafted.entries == expected.entries and grafted.large == expected.large


def test_fifos_named_like_ignore_files_do_not_block_the_scan(tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "sub" / "f.txt").write_text("f\n")
    os.mkfifo(ws / ".coworkignore")
    os.mkfifo(ws / "sub" / ".gitignore")
    shadow = Shadow(ws, tmp_path / "home")
    done = threading.Event()
    t = threading.Thread(target=lambda: (shadow.checkpoint(), done.set()), daemon=True)
    t.start()
    try:
        assert done.wait(20), "the scan blocked opening a FIFO as an ignore file"
        assert set(shadow.scanner.state().entries) == {"sub", "sub/f.txt"}
    finally:
        for fifo in (ws / ".coworkignore", ws / "sub" / ".gitignore"):  # free a blocked open, if any
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(5)


def test_the_stat_helper_process_sees_changes_in_its_half_and_a_dead_one_is_replaced_by_own_work(
        tmp_path: Path, monkeypatch):
    from cowork.checkpoints import statpool

    monkeypatch.setattr(statpool, "MIN_PATHS", 10)
    monkeypatch.setattr(statpool, "_pool", statpool._Pool())  # a helper of this test's own
    ws = tmp_path / "ws"
    for i in range(40):
        (ws / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (ws / f"d{i % 4}" / f"f{i}.txt").write_text(f"{i}\n")
    shadow = Shadow(ws, tmp_path / "home")
    shadow.checkpoint()
    time.sleep(0.1)  # past the racy window: the next scans check stats only
    shadow.checkpoint()
    helper = statpool._pool.proc
    assert helper is not None and helper.poll() is None and not statpool._pool.broken

    def edit_and_check(round_: int) -> None:
        for i in (0, 17, 39):  # in both halves of the path list
            (ws / f"d{i % 4}" / f"f{i}.txt").write_text(f"changed {round_} {i}\n")
        state = shadow.repo.read(shadow.checkpoint())
        for i in (0, 17, 39):
            assert shadow.repo.blob(state.entries[f"d{i % 4}/f{i}.txt"][1]) == f"changed {round_} {i}\n".encode()
        time.sleep(0.1)
        shadow.checkpoint()

    edit_and_check(1)
    helper.kill()
    helper.wait(5)
    edit_and_check(2)  # the helper is gone: the check does all the work itself
    assert statpool._pool.broken and statpool._pool.proc is None
