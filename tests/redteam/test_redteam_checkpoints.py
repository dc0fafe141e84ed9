"""Red team: checkpoints and restore under attack — symlink swaps at any depth and racing the
restore, hard links to outside inodes, a file flipping into a FIFO while it is scanned, and a
huge sparse file (issue 11 items 2, 4, 10, 11)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cowork.checkpoints import CheckpointSettings
from cowork.checkpoints import restore as restoring
from cowork.checkpoints.shadow import ShadowRepo
from cowork.checkpoints.snapshot import Scanner


def make(tmp: Path, settings: CheckpointSettings | None = None) -> tuple[Path, ShadowRepo, Scanner, Path]:
    ws, out = tmp / "ws", tmp / "outside"
    ws.mkdir()
    out.mkdir()
    (out / "victim.txt").write_text("outside\n")
    shadow = ShadowRepo(tmp / "shadow", ws)
    return ws, shadow, Scanner(shadow, settings or CheckpointSettings()), out


def restore(shadow: ShadowRepo, scanner: Scanner, commit: bytes, paths: list[str] | None = None):
    return restoring.run(shadow, scanner, commit, paths, preview=False, overwrite=None, message="t", max_diffs=0)


def test_symlinks_at_every_depth_are_replaced_never_written_through(tmp_path: Path):
    import shutil

    ws, shadow, scanner, out = make(tmp_path)
    (ws / "a" / "b" / "c").mkdir(parents=True)
    for rel in ("a/x.txt", "a/b/y.txt", "a/b/c/z.txt"):
        (ws / rel).write_text(rel)
    first = scanner.scan("first").commit

    def swap(depth: str) -> None:  # the agent replaces the folder at ``depth`` by a link to elsewhere
        shutil.rmtree(ws / "a")
        (ws / depth).parent.mkdir(parents=True, exist_ok=True)
        (ws / depth).symlink_to(out)

    for depth in ("a/b/c", "a/b", "a"):
        for paths in (["a/b/c/z.txt"], None):
            swap(depth)
            done = restore(shadow, scanner, first, paths).applied
            assert done is not None
            assert sorted(os.listdir(out)) == ["victim.txt"], (depth, paths)
            assert (ws / "a" / "b" / "c" / "z.txt").read_text() == "a/b/c/z.txt" and not (ws / depth).is_symlink()


def test_a_folder_flipping_to_a_symlink_while_restores_run_never_leaks_a_write(tmp_path: Path):
    ws, shadow, scanner, out = make(tmp_path)
    (ws / "d").mkdir()
    for i in range(20):
        (ws / "d" / f"f{i}.txt").write_text(f"{i}\n")
    first = scanner.scan("first").commit
    stop = threading.Event()

    def flip() -> None:  # a second session swapping the folder for a link to elsewhere, over and over
        side = tmp_path / "side"
        while not stop.is_set():
            try:
                os.rename(ws / "d", side)
                os.symlink(out, ws / "d")
                os.unlink(ws / "d")
                os.rename(side, ws / "d")
            except OSError:
                pass

    t = threading.Thread(target=flip, daemon=True)
    for i in range(20):
        (ws / "d" / f"f{i}.txt").unlink(missing_ok=True)
    t.start()
    try:
        for _ in range(30):
            try:
                restore(shadow, scanner, first)
            except OSError:
                pass  # the workspace changed under the scan: refused, never written outside
    finally:
        stop.set()
        t.join(5)
    assert sorted(os.listdir(out)) == ["victim.txt"]
    assert (out / "victim.txt").read_text() == "outside\n"


def test_a_hard_link_to_an_outside_inode_is_replaced_not_written_in_place(tmp_path: Path):
    ws, shadow, scanner, out = make(tmp_path)
    (ws / "f.txt").write_text("checkpointed\n")
    first = scanner.scan("first").commit
    (ws / "f.txt").unlink()
    os.link(out / "victim.txt", ws / "f.txt")  # same inode as the outside file
    done = restore(shadow, scanner, first).applied
    assert done is not None and "f.txt" in done.restored
    assert (out / "victim.txt").read_text() == "outside\n" and (ws / "f.txt").read_text() == "checkpointed\n"


def test_a_file_flipping_into_a_fifo_never_blocks_the_scan(tmp_path: Path):
    ws, shadow, scanner, _ = make(tmp_path)
    stop = threading.Event()
    p = ws / "flip"

    def flip() -> None:
        while not stop.is_set():
            try:
                p.write_text("regular")
                os.unlink(p)
                os.mkfifo(p)
                os.unlink(p)
            except OSError:
                pass

    failed: list[BaseException] = []

    def scans() -> None:
        try:
            for _ in range(300):
                scanner.scan("race")
        except BaseException as exc:  # noqa: BLE001
            failed.append(exc)

    t = threading.Thread(target=flip, daemon=True)
    s = threading.Thread(target=scans, daemon=True)
    t.start()
    s.start()
    s.join(60)
    stop.set()
    t.join(5)
    assert not s.is_alive(), "a scan blocked on a FIFO"
    assert not failed


def test_a_sparse_terabyte_file_is_never_read(tmp_path: Path):
    ws, shadow, scanner, _ = make(tmp_path, CheckpointSettings(max_file_bytes=1 << 20))
    with open(ws / "huge", "wb") as f:
        f.truncate(1 << 40)
    done = threading.Event()
    snap: list[object] = []
    t = threading.Thread(target=lambda: (snap.append(scanner.scan("sparse")), done.set()), daemon=True)
    t.start()
    assert done.wait(30), "the scan read the sparse file"
    assert snap[0].hashed_bytes == 0 and snap[0].large == 1  # type: ignore[attr-defined]
