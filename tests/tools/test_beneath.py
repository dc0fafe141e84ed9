"""cowork._util.beneath: every component opened relative to a directory descriptor with no-follow
semantics; in-root symlinks followed by the walk, links leading out refused; excluded folders
refused by identity; atomic replacement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cowork._util.beneath import (
    EscapesRoot, Excluded, identities, mkdirs_beneath, open_beneath, open_dir_beneath, parent_of, read_beneath,
    replace_beneath, resolve_beneath, stat_beneath, symlink_beneath, unlink_beneath,
)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root, out = tmp_path / "root", tmp_path / "out"
    (root / "a").mkdir(parents=True)
    out.mkdir()
    (root / "a" / "f").write_text("hi")
    (out / "secret").write_text("top secret")
    (root / "in").symlink_to("a")
    (root / "abs").symlink_to(root / "a")
    (root / "a" / "back").symlink_to("../a/f")
    (root / "esc").symlink_to(out)
    (root / "up").symlink_to("../out")
    (root / "loop").symlink_to("loop")
    return root, out


def test_symlinks_inside_the_root_are_followed_by_the_walk(tree) -> None:
    root, _ = tree
    for rel in ["a/f", "in/f", "abs/f", "a/back", "a/../a/f", "in/../in/f", "./a//f"]:
        assert read_beneath(root, rel) == b"hi", rel
    assert resolve_beneath(root, "in/f") == "a/f" and resolve_beneath(root, "a/back") == "a/f"
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_beneath(fd, "abs/f") == b"hi"  # a descriptor root knows its real path too
    finally:
        os.close(fd)


def test_leaving_the_root_is_refused_and_named(tree) -> None:
    root, out = tree
    with pytest.raises(EscapesRoot) as err:
        read_beneath(root, "esc/secret")
    assert (err.value.link, err.value.target) == ("esc", str(out))
    with pytest.raises(EscapesRoot) as err:
        read_beneath(root, "up/secret")
    assert (err.value.link, err.value.target) == ("up", "../out")
    for rel in ["../out/secret", "a/../../out/secret", "/etc/passwd"]:
        with pytest.raises(EscapesRoot):
            read_beneath(root, rel)
    with pytest.raises(OSError, match="too many levels"):
        read_beneath(root, "loop")


def test_follow_false_refuses_every_symlink(tree) -> None:
    root, _ = tree
    for rel in ["in/f", "a/back", "abs/f"]:
        with pytest.raises(EscapesRoot, match="symlinks are not followed"):
            read_beneath(root, rel, follow=False)
    assert stat_beneath(root, "esc", follow=False).st_size > 0  # lstat of the link itself
    with pytest.raises(EscapesRoot):
        stat_beneath(root, "esc/secret", follow=False)


def test_nothing_is_created_through_a_link_leading_out(tree) -> None:
    root, out = tree
    for fn in (lambda: replace_beneath(root, "esc/new", b"x", create_dirs=True),
               lambda: mkdirs_beneath(root, "esc/deeper/still"),
               lambda: open_beneath(root, "up/new", os.O_WRONLY | os.O_CREAT, create_dirs=True),
               lambda: symlink_beneath(root, "esc/l", "/etc"),
               lambda: unlink_beneath(root, "esc/secret")):
        with pytest.raises(EscapesRoot):
            fn()
    assert sorted(os.listdir(out)) == ["secret"]


def test_excluded_folders_are_refused_by_identity(tree) -> None:
    root, _ = tree
    ids = identities([root / "a", root / "missing"])
    for rel in ["a/f", "in/f", "abs/f", "a"]:
        with pytest.raises(Excluded):
            read_beneath(root, rel, exclude=ids)
    with pytest.raises(Excluded):
        open_dir_beneath(root, "in", exclude=ids)
    os.rename(root / "a", root / "renamed")  # another name does not get round it
    with pytest.raises(Excluded):
        read_beneath(root, "renamed/f", exclude=ids)


def test_replace_is_atomic_and_never_writes_a_shared_inode(tree) -> None:
    root, out = tree
    os.link(out / "secret", root / "hard")
    os.chmod(root / "hard", 0o640)
    replace_beneath(root, "hard", b"new")
    assert (out / "secret").read_text() == "top secret" and (root / "hard").read_bytes() == b"new"
    assert (root / "hard").stat().st_mode & 0o777 == 0o640 and (root / "hard").stat().st_nlink == 1
    replace_beneath(root, "in/f", b"via link")  # an in-root link: its target is replaced
    assert (root / "a" / "f").read_bytes() == b"via link" and (root / "in").is_symlink()
    replace_beneath(root, "n/e/w", b"x", create_dirs=True)
    assert (root / "n" / "e" / "w").read_bytes() == b"x"
    with pytest.raises(IsADirectoryError):
        replace_beneath(root, "a", b"x")
    os.mkfifo(root / "fifo")
    with pytest.raises(OSError, match="not a regular file"):
        replace_beneath(root, "fifo", b"x")
    with pytest.raises(OSError, match="not a regular file"):
        read_beneath(root, "fifo")  # never blocks on the pipe
    assert not [n for n in os.listdir(root) if n.endswith(".tmp")]


def test_entries_are_made_and_removed_without_following(tree) -> None:
    root, _ = tree
    symlink_beneath(root, "a/l", "/etc")
    assert os.readlink(root / "a" / "l") == "/etc"
    fd, name = parent_of(root, "a/l")
    try:
        assert name == "l" and os.readlink(name, dir_fd=fd) == "/etc"
    finally:
        os.close(fd)
    unlink_beneath(root, "a/l")
    unlink_beneath(root, "esc")  # the link, not what it points to
    assert not (root / "esc").exists() and not (root / "a" / "l").exists()
    os.close(mkdirs_beneath(root, "x/y"))
    unlink_beneath(root, "x/y")
    assert (root / "x").is_dir() and not (root / "x" / "y").exists()
