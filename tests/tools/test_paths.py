"""Workspace confinement: resolve_in_workspace, display_path and the shared glob dialect."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cowork.tools.base import ToolError
from cowork.tools.paths import display_path, glob_to_regex, resolve_in_workspace


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("print(1)\n")
    return root.resolve()


def test_relative_and_empty_paths(ws: Path) -> None:
    assert resolve_in_workspace(ws, "src/a.py") == ws / "src" / "a.py"
    assert resolve_in_workspace(ws, "") == ws
    assert resolve_in_workspace(ws, ".") == ws
    assert resolve_in_workspace(ws, "src/../src/a.py") == ws / "src" / "a.py"
    assert resolve_in_workspace(ws, "new/file.txt") == ws / "new" / "file.txt"


def test_absolute_path_inside_is_allowed(ws: Path) -> None:
    assert resolve_in_workspace(ws, str(ws / "src" / "a.py")) == ws / "src" / "a.py"
    assert resolve_in_workspace(ws, str(ws)) == ws


def test_dotdot_is_refused_with_reason(ws: Path) -> None:
    with pytest.raises(ToolError) as err:
        resolve_in_workspace(ws, "../x")
    assert str(err.value) == f"'../x' is outside the workspace {ws}"
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_in_workspace(ws, "../../etc/passwd")
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_in_workspace(ws, "src/../../ws2/x")


def test_absolute_outside_is_refused_with_reason(ws: Path) -> None:
    with pytest.raises(ToolError) as err:
        resolve_in_workspace(ws, "/etc/passwd")
    assert str(err.value) == f"'/etc/passwd' is an absolute path outside the workspace {ws}"


def test_home_path_is_refused(ws: Path) -> None:
    with pytest.raises(ToolError, match="absolute path outside"):
        resolve_in_workspace(ws, "~/.ssh/id_rsa")


def test_symlink_to_outside_file_is_refused(ws: Path, outside: Path) -> None:
    (ws / "link").symlink_to(outside / "secret.txt")
    with pytest.raises(ToolError) as err:
        resolve_in_workspace(ws, "link")
    assert str(err.value) == (
        f"'link' is a symlink that leads to {outside / 'secret.txt'}, outside the workspace {ws}"
    )


def test_path_through_symlinked_directory_names_the_link(ws: Path, outside: Path) -> None:
    (ws / "src" / "out").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ToolError) as err:
        resolve_in_workspace(ws, "src/out/secret.txt")
    msg = str(err.value)
    assert "'src/out'" in msg and f"leads to {outside}" in msg and "outside the workspace" in msg
    # also for files that do not exist yet (a write target)
    with pytest.raises(ToolError, match="symlink"):
        resolve_in_workspace(ws, "src/out/new.txt")


def test_symlink_chain_and_dangling_symlink(ws: Path, outside: Path) -> None:
    (ws / "hop2").symlink_to(outside / "secret.txt")
    (ws / "hop1").symlink_to(ws / "hop2")
    with pytest.raises(ToolError, match="symlink that leads to .*secret.txt"):
        resolve_in_workspace(ws, "hop1")
    (ws / "dangling").symlink_to(outside / "not-yet.txt")
    with pytest.raises(ToolError, match="'dangling' is a symlink"):
        resolve_in_workspace(ws, "dangling")


def test_symlink_staying_inside_is_allowed(ws: Path) -> None:
    (ws / "alias").symlink_to(ws / "src", target_is_directory=True)
    assert resolve_in_workspace(ws, "alias/a.py") == ws / "src" / "a.py"


def test_workspace_given_through_a_symlink(ws: Path, tmp_path: Path) -> None:
    alias = tmp_path / "ws-alias"
    alias.symlink_to(ws, target_is_directory=True)
    assert resolve_in_workspace(alias, "src/a.py") == ws / "src" / "a.py"
    assert resolve_in_workspace(alias, str(alias / "src" / "a.py")) == ws / "src" / "a.py"
    with pytest.raises(ToolError):
        resolve_in_workspace(alias, "../ws-alias2/x")


def test_must_exist(ws: Path) -> None:
    with pytest.raises(ToolError, match="'nope.txt' not found"):
        resolve_in_workspace(ws, "nope.txt", must_exist=True)
    assert resolve_in_workspace(ws, "src", must_exist=True) == ws / "src"


def test_malformed_paths(ws: Path) -> None:
    with pytest.raises(ToolError, match="not a valid path"):
        resolve_in_workspace(ws, "a\0b")
    os.symlink("loop", ws / "loop")
    with pytest.raises(ToolError):
        resolve_in_workspace(ws, "loop/x", must_exist=True)


def test_display_path(ws: Path) -> None:
    assert display_path(ws, ws / "src" / "a.py") == "src/a.py"
    assert display_path(ws, ws) == "."
    assert display_path(ws, Path("src/a.py")) == "src/a.py"
    assert display_path(ws, Path("/elsewhere/x")) == "/elsewhere/x"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.py", "a.py", True),
        ("*.py", "src/a.py", False),
        ("**/*.py", "a.py", True),
        ("**/*.py", "src/deep/a.py", True),
        ("src/**/test_*.py", "src/test_x.py", True),
        ("src/**/test_*.py", "src/a/b/test_x.py", True),
        ("src/**/test_*.py", "lib/test_x.py", False),
        ("src/**", "src/a/b.txt", True),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("[ab].txt", "b.txt", True),
        ("[!ab].txt", "b.txt", False),
        ("[!ab].txt", "c.txt", True),
        ("a*", "a/b", False),
        ("./src/*.py", "src/a.py", True),
        ("*.(py)", "x.(py)", True),
    ],
)
def test_glob_to_regex(pattern: str, path: str, expected: bool) -> None:
    assert bool(glob_to_regex(pattern).fullmatch(path)) is expected
